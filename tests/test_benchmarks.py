"""The benchmark suite runs (``benchmarks/run_all.py --small``) and writes a sensible table.

Checks the rows, the columns and that values are plausible (positive, consistent with the
network); never a speed threshold: CI machines differ and are shared.
"""

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = {
    "size",
    "N",
    "K",
    "model",
    "threads",
    "ranks",
    "synapse_model",
    "synapses",
    "build_s",
    "simulate_s",
    "e2e_s",
    "peak_rss_mb",
    "bytes_per_synapse",
    "events_per_s",
    "import_kernel_s",
    "write_merge_s",
    "analysis_s",
    "huge_pages",
    "huge_pages_s",
}


@pytest.fixture(scope="module")
def small(tmp_path_factory, built_model):
    out = tmp_path_factory.mktemp("bench")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run_all.py"), "--small", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    md = sorted(out.glob("small-*.md"))
    js = sorted(out.glob("small-*.json"))
    assert len(md) == 1 and len(js) == 1, list(out.iterdir())
    return proc.stdout, md[0].read_text(), json.loads(js[0].read_text())


def test_table_rows_and_columns(small):
    stdout, md, data = small
    table = data["table"]
    assert {(r["size"], r["model"], r["threads"]) for r in table} == {("1e3", "nestml", 1), ("1e3", "builtin", 1)}
    for row in table:
        assert COLUMNS <= set(row), COLUMNS - set(row)
    header = md.split("## Results")[1].strip().splitlines()[0]
    for col in (
        "size",
        "model",
        "threads",
        "ranks",
        "build_s",
        "simulate_s",
        "e2e_s",
        "peak_rss_mb",
        "bytes_per_synapse",
        "events_per_s",
    ):
        assert f" {col} " in header
    assert "## Where the time goes" in md and "## NESTML vs built-in" in md
    assert "| 1e3 |" in stdout
    assert data["machine"]["cores"] >= 1 and data["machine"]["cpu"]


def test_values_plausible(small):
    _, _, data = small
    for row in data["table"]:
        assert row["N"] == 1000 and row["K"] == 50 and row["ranks"] == 1
        assert row["synapses"] == 100_000  # 1000 neurons x (50 E + 50 I) inputs
        assert row["spikes"] > 1000  # the tutorial network fires at ~40 Hz
        assert 0 < row["build_s"] < row["e2e_s"]
        assert 0 < row["simulate_s"] < row["e2e_s"]
        assert row["analysis_s"] > 0 and row["import_kernel_s"] > 0
        assert 50 < row["peak_rss_mb"] < 24_000
        assert row["bytes_per_synapse"] > 0
        assert row["events_per_s"] > 0
    # same network, same seed: the NESTML model and the built-in give the same spikes
    counts = {r["model"]: r["spikes"] for r in data["table"]}
    assert counts["nestml"] == counts["builtin"]
    assert data["nestml_vs_builtin"][0]["ratio"] > 0


def test_ab_checkouts_measures_the_package_of_each_python(tmp_path, built_model):
    # started from a folder holding another `balanced` package (as from a checkout's root),
    # each command still runs the package its Python has installed; a Python given by a
    # path relative to that folder is found there (the commands run elsewhere)
    shadow = tmp_path / "elsewhere"
    (shadow / "balanced").mkdir(parents=True)
    for name in ("__init__.py", "__main__.py"):
        (shadow / "balanced" / name).write_text("raise SystemExit('the shadowing package ran')\n")
    record = tmp_path / "ab.json"
    relative = os.path.relpath(sys.executable, shadow)
    argv = [sys.executable, str(ROOT / "benchmarks" / "ab_checkouts.py"), sys.executable, relative]
    argv += ["--pairs", "1", "--warmup", "0", "--json", str(record), "--", "run", "--set", "T=20", "--no-analysis"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=shadow)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    assert f"imports {ROOT / 'balanced'}" in proc.stdout, proc.stdout
    data = json.loads(record.read_text())
    assert len(data["times_s"]["A"]) == len(data["times_s"]["B"]) == 1
    assert data["commits"]["A"] == data["commits"]["B"] != "unknown"
    # the time from the complete run's manifest to the command's end: part of the wall time
    for key in ("A", "B"):
        assert 0 <= data["after_run_s"][key][0] < data["times_s"][key][0]


def test_ab_checkouts_times_a_sweep_with_only_its_own_options(tmp_path, built_model):
    # a sweep takes neither --overwrite nor --quiet (which the run gets); it runs into a new
    # folder each time, so the timed sweep after the warm-up computes its points again
    spec = tmp_path / "two.toml"
    spec.write_text(
        'name = "two"\npreset = "balanced"\n[fixed]\nN_E = 100\nN_I = 100\nK = 20\nT = 50.0\n'
        "record_n = 5\n[sweep]\nd = [0.9, 1.1]\n[analysis]\nt_start = 10.0\n"
    )
    record = tmp_path / "ab.json"
    argv = [sys.executable, str(ROOT / "benchmarks" / "ab_checkouts.py"), sys.executable, sys.executable]
    argv += ["--pairs", "1", "--warmup", "1", "--json", str(record), "--", "sweep", str(spec), "--no-figures"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    data = json.loads(record.read_text())
    assert len(data["times_s"]["A"]) == len(data["times_s"]["B"]) == 1
    for key in ("A", "B"):
        assert any(line.startswith("2 points run, 0 skipped") for line in data["last_lines"][key]), data
        assert data["points_per_minute"][key] == pytest.approx(120 / data["median_s"][key])
    assert "points per minute: A " in proc.stdout, proc.stdout


def test_interleaved_ab_runs_and_reports(tmp_path, built_model):
    # the A/B harness at the tutorial size, two 20 ms chunks each, one with huge pages:
    # both networks simulate the same spikes, and the summary names both variants
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "interleaved.py"),
            "--size",
            "1e3",
            "--a",
            "builtin,off",
            "--b",
            "nestml,on",
            "--threads",
            "1",
            "--chunk-ms",
            "20",
            "--chunks",
            "3",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    assert "B/A (nestml,on / builtin,off)" in proc.stdout
    (path,) = tmp_path.glob("interleaved-1e3-*.json")
    data = json.loads(path.read_text())
    summary = data["summary"]
    assert summary["spikes"]["builtin,off"] == summary["spikes"]["nestml,on"] > 500
    assert len(data["chunks"]) == 3 and summary["ratio_total"] > 0
    assert all(c[v]["wall_s"] > 0 for c in data["chunks"] for v in ("builtin,off", "nestml,on"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SCHED_IDLE is Linux's")
def test_idle_neighbour_times_chunks_with_the_neighbour_running_and_stopped(tmp_path, built_model):
    # the tutorial network, 2 pairs of chunks with an interpreter loop at idle priority;
    # the neighbour (and its process group) is gone afterwards
    record = tmp_path / "idle.json"
    argv = [sys.executable, str(ROOT / "benchmarks" / "idle_neighbour.py"), "--size", "1e3", "--threads", "1"]
    argv += ["--chunks", "2", "--neighbour", "python", "--json", str(record)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    assert "neighbour python at SCHED_IDLE, 2 pairs of 100 ms" in proc.stdout
    data = json.loads(record.read_text())
    assert len(data["times_s"]["stopped"]) == len(data["times_s"]["running"]) == 2 and data["ratio"] > 0
    leftover = subprocess.run(["pgrep", "-f", "table = {i: str(i)"], capture_output=True, text=True)
    assert leftover.stdout == "", leftover.stdout


def test_interleaved_separate_mode_alternates_fresh_processes(tmp_path, built_model):
    # --separate: one fresh process per run, A then B in the first pair; each simulates
    # the same spikes, and the pair's ratio is B's steady simulate time over A's
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "interleaved.py"),
            "--separate",
            "--pairs",
            "1",
            "--size",
            "1e3",
            "--a",
            "builtin",
            "--b",
            "nestml",
            "--threads",
            "1",
            "--chunk-ms",
            "20",
            "--chunks",
            "2",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    assert "B/A (nestml,off / builtin,off), separate processes, 1 pairs" in proc.stdout
    (path,) = tmp_path.glob("separate-1e3-1t-*.json")
    data = json.loads(path.read_text())
    (pair,) = data["pairs"]
    a, b = pair["builtin,off"], pair["nestml,off"]
    assert a["spikes"] == b["spikes"] > 100 and data["summary"]["mode"] == "separate"
    assert (
        pair["ratio"] == pytest.approx(b["wall_s"] / a["wall_s"]) and data["summary"]["ratio_median"] == pair["ratio"]
    )


def _load_benchmark(name):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_interleaved_variant_may_name_a_checkout(tmp_path):
    interleaved = _load_benchmark("interleaved")
    v = interleaved.parse_variant(f"nestml,on@{ROOT}")
    assert v == {
        "model": "nestml",
        "huge_pages": "on",
        "module_rule": None,
        "label": f"nestml,on@{ROOT.name}",
        "src": str(ROOT),
    }
    assert interleaved.parse_variant("builtin")["src"] is None
    with pytest.raises(SystemExit, match="not a checkout of this package"):
        interleaved.parse_variant(f"builtin@{tmp_path}")
    # the connection builder, where given, in either place after the model
    rule = interleaved.parse_variant("builtin,module-rule")
    assert (rule["huge_pages"], rule["module_rule"], rule["label"]) == ("off", True, "builtin,off,module-rule")
    assert interleaved.parse_variant("nestml,nest-rule,on")["module_rule"] is False
    for bad in ("builtin,fast", "builtin,on,off", "builtin,nest-rule,module-rule"):
        with pytest.raises(SystemExit, match="expected MODEL"):
            interleaved.parse_variant(bad)


BUSY = "import time; t = time.process_time()\nwhile time.process_time() - t < {s}: pass"


def test_timesliced_runs_commands_in_turns_and_times_their_slices(tmp_path):
    # two commands that each need 0.6 s of CPU: taking turns, each is timed at 0.6 s of
    # active slices or more, and the two together take as long as both in a row (on 2
    # cores they would overlap if the stopped one kept running); no speed is asserted
    cmd = f"{sys.executable} -c {shlex.quote(BUSY.format(s=0.6))}"
    t0 = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "timesliced.py"),
            "--a",
            cmd,
            "--b",
            cmd,
            "--pairs",
            "1",
            "--slice-s",
            "0.15",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    wall = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    (path,) = tmp_path.glob("timesliced-A-vs-B-*.json")
    (pair,) = json.loads(path.read_text())["summary"]["pairs"]
    assert pair["a_s"] >= 0.6 and pair["b_s"] >= 0.6  # a command's CPU time only grows in its own slices
    assert wall >= 0.95 * (pair["a_s"] + pair["b_s"])


def test_timesliced_stops_at_a_failing_command(tmp_path):
    ok = f"{sys.executable} -c {shlex.quote(BUSY.format(s=0.3))}"
    bad = f"{sys.executable} -c {shlex.quote('raise SystemExit(3)')}"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "timesliced.py"),
            "--a",
            ok,
            "--b",
            bad,
            "--label-b",
            "broken",
            "--pairs",
            "1",
            "--slice-s",
            "0.1",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert proc.returncode != 0
    assert "broken failed (exit 3)" in proc.stderr
    assert not list(tmp_path.glob("*.json"))


def _bench(script: str, args: list[str], out: Path, pattern: str) -> dict:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    files = sorted(out.glob(pattern))
    assert len(files) == 1, list(out.iterdir())
    return json.loads(files[0].read_text())


def test_memory_breakdown_phases_and_nest_sizes(tmp_path):
    res = _bench(
        "memory_breakdown.py",
        ["--n", "2000", "--k", "100", "--T", "20", "--model", "builtin", "--threads", "1"],
        tmp_path,
        "memory-*.json",
    )
    phases = [r["phase"] for r in res["phases"]]
    assert phases[:7] == [
        "python_start",
        "import_nest_kernel",
        "create",
        "connect E<-E",
        "connect I<-E",
        "connect E<-I",
        "connect I<-I",
    ]
    assert phases[-3:] == ["prepare (sort, target tables)", "first step", "simulate (chunks, recorders emptied)"]
    by_phase = {r["phase"]: r for r in res["phases"]}
    assert by_phase["connect I<-I"]["connections"] == res["synapses"] == 2000 * 200
    assert by_phase["create"]["rss_mb"] > by_phase["python_start"]["rss_mb"] > 0
    assert res["peak_mb"] >= max(r["rss_mb"] for r in res["phases"]) - 1
    # the sizes NEST's headers give: the smallest connection and a source-table entry
    assert res["sizes"]["static_synapse_hom_w_hpc"] == 8 and res["sizes"]["Source"] == 8
    assert res["sizes"]["static_synapse"] > res["sizes"]["static_synapse_hom_w"] > 8
    assert res["spikes"] > 0 and res["nest_kernel_flags"]["keep_source_table"] is True
    md = sorted(tmp_path.glob("memory-*.md"))[0].read_text()
    assert "| peak (VmHWM) |" in md and "| 4 recurrent Connect calls |" in md


def test_profile_scale_fractions_and_scatter_add(tmp_path):
    res = _bench(
        "profile_scale.py",
        ["--sizes", "2000", "--k", "100", "--T", "50", "--model", "builtin", "--threads", "1"]
        + ["--huge-pages", "off", "--scatter-ms", "20"],
        tmp_path,
        "profile-scale-*.json",
    )
    (row,) = res["rows"]
    assert row["synapses"] == 2000 * 200 and row["spikes"] > 0
    assert 0.99 < sum(row["phase_fractions"].values()) <= 1.01
    assert all(v >= 0 for v in row["phase_fractions"].values())
    assert 0 < row["nest_fractions_of_wall"]["simulate"] < 1
    sa = row["scatter_add"]
    assert sa["synapses"] == 2000 * 200 and sa["steps"] == 200
    # every spike reaches its whole out-degree: events = spikes x mean out-degree on average
    assert abs(sa["events"] / (sa["steps"] * sa["spikes_per_step"]) - 200) < 40
    assert sa["events_per_s"] > 0 and row["nest_events_per_cpu_s"] > 0
    assert not list(tmp_path.glob("run-*"))  # the run directories are removed


def test_connect_rule_compares_both_builders_on_the_same_network(tmp_path, built_model):
    out = tmp_path / "rule.json"
    args = ["--n", "2000", "--k", "100", "--T", "20", "--threads", "2", "--pairs", "2", "--json", str(out)]
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "connect_rule.py"), *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    records = json.loads(out.read_text())["records"]
    assert [r["builder"] for r in records] == ["module", "nest", "nest", "module"]  # turns alternate
    assert len({r["spikes"] for r in records}) == 1 and records[0]["spikes"] > 0
    assert "| build_s (median) |" in proc.stdout and "| run_s (median) |" in proc.stdout
    assert "run_s module / NEST in each pair:" in proc.stdout
