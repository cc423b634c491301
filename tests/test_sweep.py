"""Sweeps: specification checks, safe names, seed replicates, grid points, labels, a tiny
sweep end to end, resuming after the process was killed, long-lived workers against fresh
processes (identical spikes), the SLURM plan, and the CLI's error handling.

The runs are tiny (N_E = N_I = 300, K = 60, 300 ms: about 3-4 s per point in a fresh
process, most of it importing NEST). The SLURM sweeps are in tests/test_sweep_slurm.py.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import pytest
from memory_probe import status_bytes

from balanced import cli
from balanced.params import ParamError, resolve
from balanced.sweep import (
    SlurmOptions,
    SweepError,
    apply_point,
    classify,
    is_safe_name,
    load_spec,
    parse_spec,
    point_status,
    points,
    run_sweep,
)

REPO = Path(__file__).resolve().parents[1]
TINY = """
name = "tiny"
preset = "balanced"
[fixed]
N_E = 300
N_I = 300
K = 60
T = 300.0
record_n = 5
[sweep]
d = {values}
[analysis]
t_start = 50.0
"""


def write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# ----------------------------------------------------------------------------- specification
def test_shipped_sweeps_parse():
    for name, n in (("k_sweep", 4), ("drive_sweep", 6), ("phase_diagram", 25), ("tiny", 2)):
        spec = load_spec(REPO / "sweeps" / f"{name}.toml")
        assert len(points(spec)) == n


def test_sweep_factors():
    base = resolve("balanced")
    p = apply_point(base, {"g": 0.5, "d": 2.0})
    assert (p.j_EI, p.j_II, p.j_EE, p.j_IE) == (-30.0, -37.5, 30.0, 60.0)
    assert (p.i_E, p.i_I) == pytest.approx((2.4, 2.1))
    p = apply_point(base, {"K": 100})
    assert (p.K, p.N_E, p.N_I) == (100, 1000, 1000)  # K/N = 400/4000 kept
    p = apply_point(base, {"K": 100}, scale_N_with_K=False)
    assert (p.K, p.N_E) == (100, 4000)
    t = apply_point(resolve("tutorial"), {"g": 2.0, "d": 0.5})
    assert t.J_I == pytest.approx(-2 * 0.1414213562373095) and t.Ib == 1.5


@pytest.mark.parametrize(
    "text, message",
    [
        ("preset = 'balanced'\n", "no [sweep] table"),
        ("preset = 'balanced'\n[sweep]\nfoo = [1, 2]\n", "unknown swept key 'foo'"),
        ("preset = 'balanced'\n[fixed]\nbar = 1\n[sweep]\nd = [1.0]\n", "unknown parameter 'bar' in [fixed]"),
        ("preset = 'balanced'\nextra = 1\n[sweep]\nd = [1.0]\n", "unknown top-level key 'extra'"),
        ("preset = 'balanced'\n[sweep]\nd = 1.0\n", "must be a non-empty list"),
        ("preset = 'balanced'\n[sweep]\nd = [1.0, 1.0]\n", "repeated values"),
        ("preset = 'balanced'\n[sweep]\ng = [1.0]\nj_EI = [-60.0]\n", "do not sweep 'j_EI'"),
        ("preset = 'balanced'\n[sweep]\nK = [100]\nN_E = [1000]\n", "do not sweep 'N_E'"),
        ("preset = 'balanced'\n[sweep]\nK = [100.5]\n", "K values must be integers"),
        ("preset = 'tutorial'\n[sweep]\nK = [100]\n", 'needs coupling = "scaled"'),
        ("preset = 'balanced'\n[sweep]\nN_E = [-5]\n", "point N_E=-5"),
        ("preset = 'nope'\n[sweep]\nd = [1.0]\n", "preset 'nope' does not exist"),
        ("preset = 'balanced'\n[options]\nfast = true\n[sweep]\nd = [1.0]\n", "unknown option 'fast'"),
        ("preset = 'balanced'\n[analysis]\nt_start = 'x'\n[sweep]\nd = [1.0]\n", "analysis.t_start must be a number"),
        ("this is = not toml [", "not valid TOML"),
        ("preset = 'balanced'\n[options]\nseeds = 0\n[sweep]\nd = [1.0]\n", "options.seeds = 0: must be an integer"),
        ("preset = 'balanced'\n[options]\nseeds = [3, 3]\n[sweep]\nd = [1.0]\n", "repeated seeds"),
        ("preset = 'balanced'\n[options]\nseeds = [1.5]\n[sweep]\nd = [1.0]\n", "options.seeds = [1.5]"),
        ("preset = 'balanced'\n[options]\nseeds = 2\n[sweep]\nseed = [1, 2]\n", "give one of them"),
    ],
)
def test_bad_specs_give_clear_errors(tmp_path, text, message):
    with pytest.raises(ParamError, match=None) as err:
        load_spec(write(tmp_path, text))
    assert message in str(err.value), str(err.value)


def test_bad_spec_on_the_command_line_exits_2(tmp_path, capsys):
    path = write(tmp_path, "preset = 'balanced'\n[sweep]\nfoo = [1]\n")
    assert cli.main(["sweep", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "unknown swept key 'foo'" in err and "Traceback" not in err
    assert cli.main(["sweep", str(tmp_path / "missing.toml")]) == 2


# ----------------------------------------------------------------------------- names stay data
@pytest.mark.parametrize(
    "name", ["../x", "../../../x", "a/b", "/abs", "", "..", ".", ".hidden", "x..y", "-rf", "a b", "a\\b", "x\ny"]
)
def test_unsafe_sweep_names_are_refused_naming_the_field(tmp_path, name):
    path = write(tmp_path, TINY.format(values="[1.0]").replace('name = "tiny"', f"name = {json.dumps(name)}"))
    with pytest.raises(ParamError) as err:
        load_spec(path)
    msg = str(err.value)
    assert f"name = {name!r}: must be one folder name" in msg and "\n" not in msg, msg


def test_unsafe_name_on_the_command_line_writes_nothing(tmp_path, capsys):
    work = tmp_path / "work"
    (work / "sweeps").mkdir(parents=True)
    path = write(work / "sweeps", TINY.format(values="[1.0]").replace('name = "tiny"', 'name = "../x"'))
    cwd = os.getcwd()
    os.chdir(work)
    try:
        assert cli.main(["sweep", str(path)]) == 2
    finally:
        os.chdir(cwd)
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "name = '../x'" in err and "Traceback" not in err, err
    assert sorted(p.name for p in work.iterdir()) == ["sweeps"]  # no runs/ folder, nothing beside it
    # the default name comes from the file name, which must be safe too
    bad = write(tmp_path, TINY.format(values="[1.0]").replace('name = "tiny"\n', ""), name="a..b.toml")
    with pytest.raises(ParamError, match="name \\(from the file name\\) = 'a..b'"):
        load_spec(bad)


def test_point_names_from_values_stay_inside_points():
    for text in ("K = [100, 200]", "g = [0.5, 1e-05]", "d = [0, 2.5]", "neuron_model = ['nestml', 'iaf_psc_exp']"):
        spec = parse_spec(tomllib.loads(f"preset = 'balanced'\n[sweep]\n{text}\n"))
        for p in points(spec):
            assert is_safe_name(p.name) and "/" not in p.name, p.name
    for good in ("k_sweep", "tiny", "K=100__seed=3", "g=0.5__d=1e-05"):
        assert is_safe_name(good)


# ----------------------------------------------------------------------------- seed replicates
def test_seed_replicates_expand_each_point():
    spec = parse_spec(tomllib.loads(TINY.format(values="[0.5, 1.0]") + "[options]\nseeds = 2\n"))
    pts = points(spec)
    assert [p.name for p in pts] == ["d=0.5__seed=12345", "d=0.5__seed=12346", "d=1__seed=12345", "d=1__seed=12346"]
    assert [p.params.seed for p in pts] == [12345, 12346, 12345, 12346]
    assert [p.group for p in pts] == ["d=0.5", "d=0.5", "d=1", "d=1"]
    spec = parse_spec(tomllib.loads(TINY.format(values="[1.0]") + "[options]\nseeds = [7, 3]\n"))
    assert [p.params.seed for p in points(spec)] == [7, 3]
    assert spec.as_dict()["options"]["seeds"] == [7, 3]


def test_labels():
    # (rate_mean, silent_fraction, cv, corr, pop_rate_cv_1ms, chi, n_chi)
    assert classify(0.1, 0.0, 0.9, 0.0, 0.2, 0.05, 400) == "Q"
    assert classify(5.0, 0.95, 0.9, 0.0, 0.2, 0.05, 400) == "Q"
    assert classify(10.0, 0.0, 0.9, 0.001, 0.2, 0.05, 400) == "AI"
    assert classify(10.0, 0.0, 0.3, 0.001, 0.2, 0.05, 400) == "AR"
    assert classify(60.0, 0.0, 0.27, 0.09, 0.5, 0.2, 400) == "SR"
    assert classify(10.0, 0.0, 0.9, 0.001, 1.5, 0.05, 400) == "SI"
    assert classify(10.0, 0.0, 0.9, 0.001, 0.2, 0.5, 400) == "SI"
    assert classify(10.0, 0.0, 0.9, 0.001, 0.2, 0.5, 100) == "AI"  # chi from too few neurons is ignored


# ----------------------------------------------------------------------------- end to end
def test_tiny_sweep_runs_tabulates_and_plots(tmp_path, built_model):
    spec = parse_spec(tomllib.loads(TINY.format(values="[0.5, 1.0]")), source="tiny")
    logs: list[str] = []
    res = run_sweep(spec, tmp_path / "sw", jobs=2, log=logs.append)
    assert sorted(res.ran) == ["d=0.5", "d=1"] and not res.failed
    rows = list(csv.DictReader((tmp_path / "sw" / "results.csv").open()))
    assert [r["point"] for r in rows] == ["d=0.5", "d=1"]
    doc = json.loads((tmp_path / "sw" / "results.json").read_text())
    for row in doc["rows"]:
        assert row["status"] == "complete" and row["label"] in ("AI", "AR")
        # at K = 60 the balance solution d (10, 15) Hz is off by up to a third (finite K; measured
        # +10..+33 %), the finite-K mean field by less: measured -6..-9 %; 20 % leaves room
        assert row["rate_E"] == pytest.approx(row["mf_rate_E"], rel=0.2)
        assert row["rate_I"] == pytest.approx(row["mf_rate_I"], rel=0.2)
        assert row["rate_E"] == pytest.approx(row["balance_rate_E"], rel=0.5)
        assert row["exc_input_E"] > 0 > row["inh_input_E"]
    assert "d" in doc["fits"] and doc["fits"]["d"]["slope_E"] > 0
    for f in ("drive_rates.png", "drive_rates.pdf"):
        assert (tmp_path / "sw" / "figures" / f).stat().st_size > 1000
    # every point again: all skipped, nothing rerun
    logs.clear()
    res = run_sweep(spec, tmp_path / "sw", jobs=1, log=logs.append, figures=False)
    assert res.ran == [] and sorted(res.skipped) == ["d=0.5", "d=1"]
    assert all(": skip (complete, parameters match)" in line for line in logs)
    # a changed parameter makes the points stale
    spec2 = parse_spec(tomllib.loads(TINY.format(values="[0.5, 1.0]").replace("T = 300.0", "T = 200.0")))
    assert point_status(tmp_path / "sw" / "points" / "d=1", points(spec2)[1].params)[0] == "run"


def test_sweep_resumes_after_being_killed(tmp_path, built_model):
    spec_path = write(tmp_path, TINY.format(values="[0.5, 1.0, 1.5]"))
    out = tmp_path / "sw"
    proc = subprocess.Popen(
        [sys.executable, "-m", "balanced", "sweep", str(spec_path), "--out", str(out), "--no-figures"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    first = out / "points" / "d=0.5"
    deadline = time.monotonic() + 120
    try:
        while not (first / "analysis" / "sweep_point.json").exists():
            assert proc.poll() is None, "the sweep ended before its first point was analysed"
            assert time.monotonic() < deadline, "first point not done within 120 s"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its running point: a hard interruption
        proc.wait()
    statuses = [
        json.loads(m.read_text())["status"] if m.exists() else None
        for m in (out / "points" / n / "manifest.json" for n in ("d=0.5", "d=1", "d=1.5"))
    ]
    assert statuses[0] == "complete" and statuses[1:] != ["complete", "complete"], statuses
    mtime = (first / "manifest.json").stat().st_mtime_ns

    logs: list[str] = []
    res = run_sweep(load_spec(spec_path), out, log=logs.append, figures=False)
    assert res.skipped == ["d=0.5"] and sorted(res.ran) == ["d=1", "d=1.5"]
    assert any(line.startswith("[1/3] d=0.5: skip") for line in logs), logs
    assert (first / "manifest.json").stat().st_mtime_ns == mtime  # not rerun
    if statuses[1] == "running":  # the killed point was rerun from scratch
        assert any("d=1: run (status 'running')" in line for line in logs), logs
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert len(rows) == 3 and all(r["status"] == "complete" and r["label"] != "failed" for r in rows)


def test_failed_points_raise_sweep_error_and_exit_1(tmp_path, capsys):
    spec = parse_spec(tomllib.loads(TINY.format(values="[1.0]")), source="tiny")
    with pytest.raises(SweepError, match="1 of 1 points failed"):
        run_sweep(spec, tmp_path / "sw", python="/bin/false", log=lambda s: None, figures=False)
    rows = json.loads((tmp_path / "sw" / "results.json").read_text())["rows"]
    assert rows[0]["label"] == "failed"


# ----------------------------------------------------------------------------- workers
def test_workers_give_the_spikes_of_fresh_processes(tmp_path, built_model):
    """One long-lived worker runs all four points in one process (built-in model, then the
    NESTML module installed again after each kernel reset): every point's spikes and
    recorded state equal those of a fresh process per point, and so does the table."""
    text = (
        TINY.format(values="[0.5, 1.0]")
        .replace("T = 300.0", "T = 200.0")
        .replace("[sweep]\n", "[sweep]\nneuron_model = ['iaf_psc_exp', 'nestml']\n")
    )
    spec = parse_spec(tomllib.loads(text), source="tiny")
    fresh = run_sweep(spec, tmp_path / "fresh", jobs=2, fresh=True, log=lambda s: None, figures=False)
    logs: list[str] = []
    work = run_sweep(spec, tmp_path / "work", jobs=1, log=logs.append, figures=False)
    names = [p.name for p in points(spec)]
    assert sorted(fresh.ran) == sorted(work.ran) == sorted(names) and len(names) == 4
    for name in names:
        a, b = (np.load(tmp_path / d / "points" / name / "spikes.npz") for d in ("fresh", "work"))
        assert len(a["time"]) > 100, name
        for key in ("neuron", "time"):
            np.testing.assert_array_equal(a[key], b[key], err_msg=f"{name}: {key}")
        sa, sb = (np.load(tmp_path / d / "points" / name / "state.npz") for d in ("fresh", "work"))
        for key in sa.files:
            np.testing.assert_array_equal(sa[key], sb[key], err_msg=f"{name}: state {key}")
    assert (tmp_path / "fresh" / "results.csv").read_text() == (tmp_path / "work" / "results.csv").read_text()


def _refuse_process_starts(monkeypatch, refused=lambda n: False) -> list[subprocess.Popen | None]:
    """Record the sweep's starts of point processes (the real processes), and make the n-th
    fail as fork does without a process left (EAGAIN), for every n in ``refused`` (1-based;
    root is exempt from the process limit, so the failure is injected); returns one entry
    per start made, None for a refused one."""
    start = subprocess.Popen
    starts: list[subprocess.Popen | None] = []

    def popen(argv, *args, **kwargs):
        if "balanced.sweep.worker" not in argv:
            return start(argv, *args, **kwargs)
        if refused(len(starts) + 1):
            starts.append(None)
            raise BlockingIOError(11, "Resource temporarily unavailable")
        starts.append(start(argv, *args, **kwargs))
        return starts[-1]

    monkeypatch.setattr(subprocess, "Popen", popen)
    return starts


@pytest.mark.parametrize("fresh", [False, True], ids=["workers", "fresh-processes"])
def test_a_process_that_cannot_be_started_leaves_fewer_at_once(tmp_path, built_model, monkeypatch, fresh):
    """With no process left for the second of two jobs the sweep goes on with one at a
    time (fresh processes: the refused point is tried again when a slot frees)."""
    spec = parse_spec(tomllib.loads(TINY.format(values="[0.5, 1.0, 1.5]").replace("T = 300.0", "T = 100.0")))
    starts = _refuse_process_starts(monkeypatch, lambda n: n == 2)
    logs: list[str] = []
    res = run_sweep(spec, tmp_path / "sw", jobs=2, fresh=fresh, log=logs.append, figures=False)
    assert sorted(res.ran) == ["d=0.5", "d=1", "d=1.5"] and not res.failed, logs
    assert len(starts) == (4 if fresh else 2), starts  # fresh: 3 points + the refused start
    assert fresh or any("only 1 of 2 workers could be started" in line for line in logs), logs


def test_a_killed_worker_fails_its_point_and_a_new_one_runs_the_rest(tmp_path, built_model, monkeypatch):
    """SIGKILL of the worker in the middle of its first point (as the kernel's OOM killer
    ends it): that point is reported failed, a new worker is started for the others, and
    they complete; the sweep run again completes the killed point over its stale lock and
    staging folder and leaves neither."""
    import threading

    long = TINY.format(values="[0.5, 1.0, 1.5]").replace("T = 300.0", "T = 3000.0")  # about 1 s to kill it in
    spec = parse_spec(tomllib.loads(long), source="tiny")
    workers = _refuse_process_starts(monkeypatch)
    points_dir = tmp_path / "sw" / "points"

    def staging_exists() -> bool:  # the run directory's transaction has begun
        return points_dir.is_dir() and any(p.name.startswith(".") for p in points_dir.iterdir())

    def kill_first_worker_mid_point():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (workers and staging_exists()):
            time.sleep(0.005)
        workers[0].send_signal(signal.SIGKILL)

    killer = threading.Thread(target=kill_first_worker_mid_point)
    killer.start()
    logs: list[str] = []
    with pytest.raises(SweepError, match="1 of 3 points failed \\(d=0.5\\)"):
        run_sweep(spec, tmp_path / "sw", jobs=1, log=logs.append, figures=False)
    killer.join()
    assert len(workers) == 2, workers
    assert any("d=0.5: FAILED (worker exited with -9)" in line for line in logs), logs
    for name in ("d=1", "d=1.5"):
        assert json.loads((tmp_path / "sw" / "points" / name / "manifest.json").read_text())["status"] == "complete"
    assert not (tmp_path / "sw" / "points" / "d=0.5" / "manifest.json").exists()
    again = run_sweep(spec, tmp_path / "sw", jobs=1, log=logs.append, figures=False)  # the killed one's lock is stale
    assert again.ran == ["d=0.5"] and not again.failed, logs
    assert sorted(p.name for p in points_dir.iterdir()) == ["d=0.5", "d=1", "d=1.5"]


@pytest.mark.parametrize("fresh", [False, True], ids=["workers", "fresh-processes"])
def test_points_that_do_not_fit_together_run_one_at_a_time(tmp_path, built_model, monkeypatch, fresh):
    """A 15 MiB allocation (SLURM_MEM_PER_NODE, as ``sbatch --mem=15``): each tiny point
    (about 9.7 MB estimated) fits alone, two do not, so with two jobs the points run one
    after the other (each starts after the one before it finished), all complete, and
    only one worker is started."""
    monkeypatch.setenv("SLURM_MEM_PER_NODE", "15")
    spec = parse_spec(tomllib.loads(TINY.format(values="[0.5, 1.0, 1.5]").replace("T = 300.0", "T = 100.0")))
    starts = _refuse_process_starts(monkeypatch)
    logs: list[str] = []
    res = run_sweep(spec, tmp_path / "sw", jobs=2, fresh=fresh, log=logs.append, figures=False)
    assert sorted(res.ran) == ["d=0.5", "d=1", "d=1.5"] and not res.failed, logs
    assert len(starts) == (3 if fresh else 1), starts  # one point at a time: one worker
    waits = [line for line in logs if "waits for memory" in line]
    assert [w.split(":")[0] for w in waits] == ["d=1", "d=1.5"], logs  # once per point
    assert "GiB free (SLURM_MEM_PER_NODE=15)" in waits[0], waits
    manifests = [json.loads((tmp_path / "sw" / "points" / n / "manifest.json").read_text()) for n in res.ran]
    for before, after in itertools.pairwise(manifests):
        assert after["created"] >= before["finished"], (before["finished"], after["created"])


def test_memory_gate_admits_alone_or_while_all_fit():
    from balanced.memory import MemoryBudget
    from balanced.sweep.admission import MemoryGate, point_memory_bytes

    gate = MemoryGate(MemoryBudget(limit=10e9, available=8e9, source="the machine"))
    assert gate.admits("a", 20e9)  # alone always: the point's own check refuses it
    gate.take("a", 5e9)
    assert gate.admits("b", 3e9) and not gate.admits("c", 3.5e9)
    line = gate.waiting_line("c", 3.5e9)
    assert line == (
        "c: waits for memory: about 3.26 GiB, with the 4.66 GiB of the points running, "
        "would exceed the 7.45 GiB free (the machine)"
    )
    assert gate.waiting_line("c", 3.5e9) is None  # said once
    gate.release("a")
    assert gate.admits("c", 3.5e9)
    # the estimate is the point's own: N = 600, K = 60 from each population, 24 B/synapse
    # (static_synapse would not fit in half of 15 MiB) and 13 KiB per neuron
    params = points(parse_spec(tomllib.loads(TINY.format(values="[1.0]"))))[0].params
    small = MemoryBudget(15 * 2**20, 15 * 2**20, "SLURM_MEM_PER_NODE=15")
    assert point_memory_bytes(params, small) == pytest.approx(600 * 120 * 24 + 600 * 13 * 1024, rel=0.05)
    large = MemoryBudget(1e12, 1e12, "the machine")
    assert point_memory_bytes(params, large) == pytest.approx(600 * 120 * 48 + 600 * 13 * 1024, rel=0.05)


def test_no_process_for_any_point_is_one_line_and_exit_1(tmp_path, monkeypatch, capsys):
    spec_path = write(tmp_path, TINY.format(values="[1.0]"))
    _refuse_process_starts(monkeypatch, lambda n: True)
    assert cli.main(["sweep", str(spec_path), "--out", str(tmp_path / "sw"), "--no-figures"]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("balanced:")]
    assert len(errors) == 1 and errors[0].startswith("balanced: error: no system resources left"), errors
    assert "ulimit" in errors[0]


def test_a_failing_point_does_not_stop_the_worker(tmp_path, built_model):
    """A point that fails inside a worker (here: its run directory is a file) is reported
    failed; the same worker then runs the next point."""
    spec = parse_spec(tomllib.loads(TINY.format(values="[0.5, 1.0]").replace("T = 300.0", "T = 100.0")), source="tiny")
    (tmp_path / "sw" / "points").mkdir(parents=True)
    (tmp_path / "sw" / "points" / "d=0.5").write_text("not a folder")
    with pytest.raises(SweepError, match="1 of 2 points failed \\(d=0.5\\)"):
        run_sweep(spec, tmp_path / "sw", jobs=1, log=lambda s: None, figures=False)
    assert "Error" in (tmp_path / "sw" / "logs" / "d=0.5.log").read_text()
    assert json.loads((tmp_path / "sw" / "points" / "d=1" / "manifest.json").read_text())["status"] == "complete"


def test_a_waiting_worker_holds_no_network(tmp_path, built_model):
    """The sweep counts a finished point's memory free when its worker answers: by then the
    worker has reset NEST and trimmed its heap (6.4e6 synapses: about 340 MB otherwise kept
    until its next point)."""
    from balanced.sweep.runner import job_file, prepare, worker_env

    text = TINY.format(values="[1.0]").replace("N_E = 300\nN_I = 300\nK = 60", "N_E = 2000\nN_I = 2000\nK = 800")
    spec = parse_spec(tomllib.loads(text.replace("T = 300.0", "T = 60.0")), source="big")
    _, todo, _ = prepare(spec, tmp_path / "sw", log=lambda s: None)
    job = job_file(tmp_path / "sw", spec, todo[0])
    worker = subprocess.Popen(
        [sys.executable, "-m", "balanced.sweep.worker", "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=worker_env(),
    )
    try:
        worker.stdin.write(f"{job}\n")
        worker.stdin.flush()
        answer = worker.stdout.readline()
        assert answer.startswith("ok d=1 run "), answer + (tmp_path / "sw" / "logs" / "d=1.log").read_text()
        rss, peak = (status_bytes(key, worker.pid) / 2**20 for key in ("VmRSS", "VmHWM"))
        assert peak > 300 and rss < 0.4 * peak, (rss, peak)
    finally:
        worker.stdin.close()
        worker.wait(timeout=60)
    assert worker.returncode == 0


def test_a_worker_runs_a_point_without_nests_optional_imports(tmp_path, built_model):
    """A point run by the worker in a process of its own (as ``python -m balanced.sweep.worker
    JOB`` runs it) imports none of the libraries PyNEST would import for nothing, and
    still writes its analysis; they stay importable in that process afterwards."""
    from balanced.sweep.runner import job_file, prepare

    spec = parse_spec(tomllib.loads(TINY.format(values="[1.0]").replace("T = 300.0", "T = 100.0")), source="tiny")
    _, todo, _ = prepare(spec, tmp_path / "sw", log=lambda s: None)
    job = job_file(tmp_path / "sw", spec, todo[0])
    code = (
        "import sys; from balanced.sweep.worker import run_job; print(run_job(sys.argv[1])); "
        "print(sorted(m for m in ('pandas', 'matplotlib', 'h5py') if m in sys.modules)); import pandas"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(job)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr + (tmp_path / "sw" / "logs" / "d=1.log").read_text()
    assert proc.stdout.split("\n")[:2] == ["run", "[]"], proc.stdout
    assert point_status(tmp_path / "sw" / "points" / "d=1", todo[0].params)[0] == "done"


# ----------------------------------------------------------------------------- SLURM plan
def test_a_sweep_never_writes_among_a_users_files(tmp_path, capsys):
    spec_path = write(tmp_path, TINY.format(values="[0.5, 1.0]"))
    user = tmp_path / "user"
    (user / "points").mkdir(parents=True)
    (user / "notes.txt").write_text("keep")
    for options in (["--executor", "local"], ["--executor", "slurm", "--plan"]):
        assert cli.main(["sweep", str(spec_path), "--out", str(user), *options]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"balanced: error: --out {user}: exists and is not a sweep folder of balanced"), err
        assert "notes.txt" in err and len(err.splitlines()) == 1, err
    assert sorted(p.name for p in user.iterdir()) == ["notes.txt", "points"] and not any((user / "points").iterdir())


def test_slurm_sweep_without_slurm_is_one_line_and_writes_nothing(tmp_path, monkeypatch, capsys):
    spec_path = write(tmp_path, TINY.format(values="[0.5, 1.0]"))
    monkeypatch.setenv("PATH", str(tmp_path / "no-slurm-here"))
    out = tmp_path / "sw"
    assert cli.main(["sweep", str(spec_path), "--out", str(out), "--executor", "slurm"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("balanced: error: --executor slurm: 'sbatch' not found on PATH"), err
    assert len(err.splitlines()) == 1 and not out.exists(), err


def test_plan_writes_the_job_array_and_submits_nothing(tmp_path, capsys):
    spec_path = write(tmp_path, TINY.format(values="[0.5, 1.0, 1.5]") + "[options]\nseeds = 2\n")
    out = tmp_path / "sw"
    env_path = os.environ.get("PATH", "")
    os.environ["PATH"] = "/nonexistent"  # no sbatch anywhere: --plan must not need SLURM
    try:
        code = cli.main(
            [
                "sweep",
                str(spec_path),
                "--out",
                str(out),
                "--executor",
                "slurm",
                "--plan",
                "--partition",
                "short",
                "--time",
                "0:30:00",
                "--cpus-per-task",
                "2",
                "--mem",
                "2G",
                "--points-per-task",
                "4",
                "--sbatch-line=--account=lab",
                "--sbatch-line=--qos=low",
            ]
        )
    finally:
        os.environ["PATH"] = env_path
    assert code == 0
    err = capsys.readouterr().err
    script = (out / "slurm" / "array.sh").resolve()
    assert f"sbatch --parsable {script}" in err and "6 points in 2 array tasks" in err, err
    text = script.read_text()
    for line in (
        "#SBATCH --array=0-1",
        "#SBATCH --partition=short",
        "#SBATCH --time=0:30:00",
        "#SBATCH --cpus-per-task=2",
        "#SBATCH --mem=2G",
        "#SBATCH --account=lab",
        "#SBATCH --qos=low",
        "#SBATCH --job-name=balanced-sweep-tiny",
        f"-m balanced.sweep.worker --array {out.resolve()}/slurm/tasks.json",
    ):
        assert line in text, (line, text)
    tasks = json.loads((out / "slurm" / "tasks.json").read_text())["tasks"]
    assert [len(t) for t in tasks] == [4, 2]
    assert [Path(j).stem for t in tasks for j in t] == [p.name for p in points(load_spec(spec_path))]
    assert not (out / "slurm" / "job.json").exists() and not any((out / "points").iterdir())


@pytest.mark.parametrize(
    "args, message",
    [
        (["--time", "soon"], "--time 'soon': must be a SLURM time"),
        (["--mem", "lots"], "--mem 'lots': must be a size"),
        (["--cpus-per-task", "0"], "--cpus-per-task 0: must be an integer >= 1"),
        (["--points-per-task", "0"], "--points-per-task 0"),
        (["--partition", "a b"], "--partition 'a b'"),
        (["--sbatch-line=account=x"], "--sbatch-line 'account=x': must be one sbatch option"),
    ],
)
def test_bad_slurm_options_exit_2_naming_the_option(tmp_path, capsys, args, message):
    spec_path = write(tmp_path, TINY.format(values="[1.0]"))
    assert (
        cli.main(["sweep", str(spec_path), "--out", str(tmp_path / "sw"), "--executor", "slurm", "--plan", *args]) == 2
    )
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err, err


def test_worker_command_line_usage():
    from balanced.sweep.worker import main

    assert main([]) == 2 and main(["--array"]) == 2 and main(["--bogus"]) == 2
    env = {k: v for k, v in os.environ.items() if k != "SLURM_ARRAY_TASK_ID"}
    proc = subprocess.run(
        [sys.executable, "-m", "balanced.sweep.worker", "--array", "/nonexistent.json"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "SLURM_ARRAY_TASK_ID" in proc.stderr
    assert SlurmOptions().points_per_task == 1


def test_worker_writes_only_inside_its_sweep_folder(tmp_path):
    """Where a job writes follows from the job file's place, and a task list may name only
    job files of its own sweep: a tampered tasks.json or a job file elsewhere is refused."""
    from balanced.sweep.worker import main, run_job

    sweep = tmp_path / "sw"
    (sweep / "slurm").mkdir(parents=True)
    (sweep / "jobs").mkdir()
    stray = tmp_path / "elsewhere" / "jobs" / "x.json"
    stray.parent.mkdir(parents=True)
    stray.write_text("{}")
    (sweep / "slurm" / "tasks.json").write_text(
        json.dumps({"tasks": [[str(sweep / "jobs" / ".." / ".." / "elsewhere" / "jobs" / "x.json")]]})
    )
    assert main(["--array", str(sweep / "slurm" / "tasks.json"), "--index", "0"]) == 2
    bad = tmp_path / "job.json"
    bad.write_text("{}")
    with pytest.raises(ValueError, match="must be SWEEP_DIR/jobs/NAME.json"):
        run_job(bad)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere", "job.json", "sw"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--plan"], "--plan: only with --executor slurm"),
        (["--partition", "short"], "only with --executor slurm"),
        (["--executor", "slurm", "--plan", "--fresh-processes"], "--fresh-processes: only with --executor local"),
    ],
)
def test_options_of_the_other_executor_are_refused(tmp_path, capsys, args, message):
    spec_path = write(tmp_path, TINY.format(values="[1.0]"))
    assert cli.main(["sweep", str(spec_path), "--out", str(tmp_path / "sw"), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "sw").exists()


def test_throughput_benchmark_runs(tmp_path, built_model):
    """benchmarks/sweep_throughput.py at its smallest: both modes, identical spikes, a ratio,
    the CPU time per point of each mode and the cost model."""
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "sweep_throughput.py"),
            "--tiny",
            "--points",
            "1",
            "--t",
            "100",
            "--phases",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "identical" in proc.stdout and "median ratio workers / fresh" in proc.stdout, proc.stdout
    doc = json.loads(out.read_text())
    row = doc["rows"][0]
    assert row["identical_spikes"] and row["fresh_points_per_min"] > 0 and row["workers_points_per_min"] > 0
    assert row["fresh_cpu_s_per_point"] > 0 and row["workers_cpu_s_per_point"] > 0, row  # one point: alike
    model = doc["cost_model"]
    assert model["F_fresh_cpu_s"] > model["P_worker_point_cpu_s"] > 0 and model["expected_ratio_many_points"] > 1
    assert model["points_per_worker"] == 1 and model["expected_ratio"] == 1.0, model  # one point: a fresh process
    n, (f, w) = model["points_per_worker_for_twice"], (model["F_fresh_cpu_s"], model["P_worker_point_cpu_s"])
    assert "twice the points per minute" in proc.stdout, proc.stdout
    assert (n * f / (f - w + n * w) >= 1.99) if n else (f <= 2 * w), model  # the threshold the model gives
    assert set(doc["startup_cpu_s"]) == {"interpreter", "worker module", "NEST", "statistics (SciPy)", "theory"}, doc
