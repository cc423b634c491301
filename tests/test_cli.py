"""The command line end to end: config round trip, build --json, run -> stats and figures,
analyze, doctor, and the error paths (clear message, non-zero exit, no traceback)."""

import json
import subprocess
import sys
import tomllib

import pytest
from test_notebook import check_executed, execute_notebook

from balanced import params as P


def balanced(*args, check=True, timeout=600):
    proc = subprocess.run([sys.executable, "-m", "balanced", *args], capture_output=True, text=True, timeout=timeout)
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.mark.parametrize("preset", ["tutorial", "balanced"])
def test_config_show_round_trip(tmp_path, preset):
    out = balanced("config", "show", "--preset", preset, "--set", "seed=3").stdout
    tomllib.loads(out)  # valid TOML, diagnosis included as comments
    assert "# regime:" in out
    path = tmp_path / "p.toml"
    path.write_text(out)
    again = balanced("config", "show", "--config", str(path)).stdout
    assert tomllib.loads(again) == tomllib.loads(out)
    assert P.resolve(config=path) == P.resolve(preset, overrides=["seed=3"])
    assert f"(preset: {preset}, then 1 --set)" in out.splitlines()[0]
    assert "(preset: tutorial, then config: p.toml)" in again.splitlines()[0]  # the file's values over the default


def test_config_show_diagnoses_both_presets():
    tutorial = balanced("config", "show").stdout
    assert "regime: mean-driven" in tutorial and "singular balance equations" in tutorial
    bal = balanced("config", "show", "--preset", "balanced").stdout
    assert "regime: fluctuation-driven" in bal and "nu_E = 10 Hz, nu_I = 15 Hz" in bal


def test_build_json():
    first = json.loads(balanced("build", "--json").stdout)
    assert set(first) >= {"module", "model", "cached"}
    assert first["model"] == "lif_psc_exp_nestml" and first["cached"] is True


def test_run_end_to_end_then_notebook(tmp_path):
    out = tmp_path / "run"
    proc = balanced("run", "--set", "T=400", "--out", str(out), "--quiet")
    assert "rate" in proc.stdout.lower() and "stats.json" in proc.stdout
    stats = json.loads((out / "analysis" / "stats.json").read_text())
    assert 39 < stats["E"]["rate_mean_hz"] < 44 and stats["E"]["cv_isi_mean"] < 0.05
    assert (out / "analysis" / "raster_rate.png").is_file() and (out / "analysis" / "raster_rate.pdf").is_file()
    check_executed(execute_notebook(out))
    # analyze again with another window
    again = balanced("analyze", str(out), "--t-start", "100", "--t-stop", "300", "--no-figures")
    assert json.loads((out / "analysis" / "stats.json").read_text())["window_ms"] == [100.0, 300.0]
    assert "Traceback" not in again.stderr


def test_doctor():
    text = balanced("doctor").stdout
    assert "NEST      3.10.0" in text and "current yes" in text and text.rstrip().endswith("ready to run")
    status = json.loads(balanced("doctor", "--json").stdout)
    assert status["nest_importable"] is True and status["module_current"] is True
    hp = status["huge_pages"]
    assert set(hp) == {"thp", "kernel", "collapse"} and "huge pages  transparent: " in text
    assert ("runs can collapse" in text) == hp["collapse"]
    assert status["memory"]["limit_bytes"] > 0 and f"GiB ({status['memory']['source']})" in text


def test_doctor_lists_a_module_cache_that_is_a_file(tmp_path):
    import os

    plain = tmp_path / "cache"
    plain.write_text("x")
    proc = subprocess.run(
        [sys.executable, "-m", "balanced", "doctor"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "BALANCED_CACHE": str(plain)},
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert f"problems:\n  - the module cache BALANCED_CACHE={plain} is not a folder" in proc.stdout, proc.stdout
    assert "compiler  " in proc.stdout  # the rest is still reported


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["run", "--set", "N_E=-1"], 2, "parameter 'N_E' = -1: must be an integer > 0"),
        (["config", "show", "--set", "nope=1"], 2, "unknown parameter 'nope'"),
        (["config", "show", "--preset", "nope"], 2, "preset 'nope' does not exist"),
        (["config", "show", "--config", "/nonexistent.toml"], 2, "cannot be read"),
        (["analyze", "/nonexistent-run"], 1, "not a run directory"),
        (["sweep", "/nonexistent-sweep.toml"], 2, "/nonexistent-sweep.toml"),
    ],
)
def test_errors_are_clear(args, code, message):
    proc = balanced(*args, check=False)
    assert proc.returncode == code, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "argv, verbose, quiet, log_file",
    [
        (["run"], 0, 0, None),
        (["-v", "--log-file", "a.log", "run"], 1, 0, "a.log"),
        (["run", "-v", "--log-file", "a.log", "--quiet"], 1, 0, "a.log"),  # --quiet: run's, no bar
        (["--log-file", "a.log", "sweep", "s.toml", "-q"], 0, 1, "a.log"),  # kept when not repeated
        (["config", "show", "-vv"], 2, 0, None),
        (["-q", "experiment", "tracking", "--out", "d", "-v", "--log-file", "a.log"], 1, 1, "a.log"),
    ],
)
def test_logging_options_before_or_after_the_verb(argv, verbose, quiet, log_file):
    from balanced.cli.parser import parse_args

    args = parse_args(argv)
    assert (args.verbose, args.quiet_log, args.log_file) == (verbose, quiet, log_file)
    if args.verb == "experiment":  # the experiment gets only its own options
        assert args.args == ["--out", "d"]


def test_analyze_refuses_incomplete_run(tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    (out / "manifest.json").write_text(json.dumps({"status": "running", "params": {}}))
    proc = balanced("analyze", str(out), check=False)
    assert proc.returncode == 1 and "run status is 'running', not 'complete'" in proc.stderr
    assert not (out / "analysis").exists()


def test_rerun_refuses_without_overwrite(tmp_path):
    out = tmp_path / "r"
    balanced("run", "--set", "T=50", "--out", str(out), "--no-analysis", "--quiet")
    proc = balanced("run", "--set", "T=50", "--out", str(out), "--no-analysis", "--quiet", check=False)
    assert proc.returncode == 2 and "pass --overwrite" in proc.stderr and "Traceback" not in proc.stderr
    # with analysis: the analysis worker, already started, is stopped with the failed run
    proc = balanced("run", "--set", "T=50", "--out", str(out), "--quiet", check=False, timeout=60)
    assert proc.returncode == 2 and "pass --overwrite" in proc.stderr and "Traceback" not in proc.stderr
    assert not (out / "analysis").exists()


def test_analysis_worker_beside_the_run_and_paused_where_threads_take_every_core():
    from balanced.analysis.worker import worker_fits, worker_pauses

    assert worker_fits(cores=2, mpi_ranks=1) and not worker_pauses(threads=1, cores=2)
    assert worker_fits(cores=2, mpi_ranks=1) and worker_pauses(threads=2, cores=2)
    assert worker_pauses(threads=4, cores=2)
    assert not worker_fits(cores=1, mpi_ranks=1)
    assert not worker_fits(cores=16, mpi_ranks=2)


def test_figure_selection(tmp_path):
    out = tmp_path / "r"
    proc = balanced("run", "--set", "T=200", "--out", str(out), "--quiet", "--figures", "spectrum,distributions")
    assert "figures:" in proc.stdout
    made = sorted(p.name for p in (out / "analysis").iterdir())
    assert made == ["distributions.pdf", "distributions.png", "spectrum.pdf", "spectrum.png", "stats.json"]
    balanced("analyze", str(out))  # all: balance is drawn only when state was recorded (it is, by default)
    made = sorted(p.stem for p in (out / "analysis").glob("*.png"))
    assert made == ["balance", "distributions", "raster_rate", "spectrum"]
    balanced("analyze", str(out), "--figures", "none")
    assert sorted(p.stem for p in (out / "analysis").glob("*.png")) == made  # none drawn, none removed


@pytest.mark.parametrize("verb", ["run", "analyze"])
def test_unknown_figure_is_a_clear_error(tmp_path, verb):
    args = ["run", "--set", "T=50", "--out", str(tmp_path / "r")] if verb == "run" else ["analyze", str(tmp_path)]
    proc = balanced(*args, "--figures", "rasta", check=False)
    assert proc.returncode == 2, proc.stderr
    assert "unknown figure 'rasta'" in proc.stderr and "raster_rate" in proc.stderr
    assert not (tmp_path / "r").exists()


def test_the_analysis_diagnoses_the_regime_with_and_without_the_worker(tmp_path):
    # The diagnosis is a function of the parameters: the analysis computes it from the
    # manifest's parameters, in the worker or here; the run itself does not.
    from balanced.theory import diagnosis_lines

    expected = diagnosis_lines(P.resolve("tutorial", overrides=["T=100"]))
    balanced("run", "--set", "T=100", "--out", str(tmp_path / "worker"), "--quiet", "--figures", "none")
    balanced("run", "--set", "T=100", "--out", str(tmp_path / "here"), "--quiet", "--no-analysis")
    balanced("analyze", str(tmp_path / "here"), "--no-figures")
    for name in ("worker", "here"):
        assert "diagnosis" not in json.loads((tmp_path / name / "manifest.json").read_text())
        stats = json.loads((tmp_path / name / "analysis" / "stats.json").read_text())
        assert stats["diagnosis"] == expected and stats["figures"] == [], name


def test_the_paused_worker_analyses_as_balanced_analyze_does(tmp_path):
    # threads on every core: the worker is stopped while NEST's threads run, then analyses
    from balanced.kernel import usable_cores

    cores = usable_cores()
    assert cores >= 2, "the analysis worker needs a second core"
    run = tmp_path / "r"
    balanced("run", "--set", "T=200", "--threads", str(cores), "--out", str(run), "--quiet")
    files = {p.name: p.read_bytes() for p in (run / "analysis").iterdir()}
    assert sorted(files) == ["raster_rate.pdf", "raster_rate.png", "stats.json"]
    balanced("analyze", str(run), "--figures", "raster_rate")
    for name in ("stats.json", "raster_rate.png"):  # the PDF holds its creation time
        assert (run / "analysis" / name).read_bytes() == files[name], name


def test_nest_imported_without_its_optional_extras():
    # the command line imports NEST without matplotlib, pandas and h5py (PyNEST's plotting,
    # pandas output, SONATA: 0.3 s together); they stay importable afterwards
    code = (
        "import sys; from balanced.kernel import import_nest; import_nest(nest_extras=False); "
        "print(*[m in sys.modules for m in ('matplotlib', 'pandas', 'h5py')]); "
        "import matplotlib, pandas, h5py; print(matplotlib.__name__, pandas.__name__, h5py.__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.splitlines()[-2:] == ["False False False", "matplotlib pandas h5py"]


def _threads_after_numpy(prepare: str, env_value: str | None) -> int:
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    if env_value is not None:
        env["OPENBLAS_NUM_THREADS"] = env_value
    code = f"import os; {prepare}; import numpy; print(len(os.listdir('/proc/self/task')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    return int(out.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts threads in /proc")
def test_command_keeps_numpy_blas_to_one_thread_unless_the_user_chose():
    import os

    if len(os.sched_getaffinity(0)) < 2:
        pytest.fail("needs 2 cores: with one, OpenBLAS starts no extra thread and this test could not fail")
    prepare = "from balanced import blas; blas.single_thread_blas()"
    assert _threads_after_numpy("pass", None) > 1  # what NumPy's OpenBLAS does by itself
    assert _threads_after_numpy(prepare, None) == 1
    assert _threads_after_numpy(prepare, "2") == 2  # the user's setting wins


def test_experiments_are_verbs():
    from balanced.cli import EXPERIMENTS

    for name in EXPERIMENTS:
        proc = balanced("experiment", name, "--help")
        assert "--out" in proc.stdout, name
    proc = balanced("experiment", "chaos-rate", check=False)
    assert proc.returncode == 2 and "--out" in proc.stderr and "Traceback" not in proc.stderr
