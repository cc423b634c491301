"""Sweeps: specification checks, grid points, labels, a tiny sweep end to end, resuming
after the process was killed, and the CLI's error handling.

The runs are tiny (N_E = N_I = 300, K = 60, 300 ms: about 3-4 s per point, most of it
importing NEST in the point's fresh process).
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from balanced import cli
from balanced.params import ParamError, resolve
from balanced.sweep import (SweepError, apply_point, classify, load_spec, parse_spec, point_status, points,
                            run_sweep)

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


@pytest.mark.parametrize("text, message", [
    ("preset = 'balanced'\n", "no [sweep] table"),
    ("preset = 'balanced'\n[sweep]\nfoo = [1, 2]\n", "unknown swept key 'foo'"),
    ("preset = 'balanced'\n[fixed]\nbar = 1\n[sweep]\nd = [1.0]\n", "unknown parameter 'bar' in [fixed]"),
    ("preset = 'balanced'\nextra = 1\n[sweep]\nd = [1.0]\n", "unknown top-level key 'extra'"),
    ("preset = 'balanced'\n[sweep]\nd = 1.0\n", "must be a non-empty list"),
    ("preset = 'balanced'\n[sweep]\nd = [1.0, 1.0]\n", "repeated values"),
    ("preset = 'balanced'\n[sweep]\ng = [1.0]\nj_EI = [-60.0]\n", "do not sweep 'j_EI'"),
    ("preset = 'balanced'\n[sweep]\nK = [100]\nN_E = [1000]\n", "do not sweep 'N_E'"),
    ("preset = 'balanced'\n[sweep]\nK = [100.5]\n", "K values must be integers"),
    ("preset = 'tutorial'\n[sweep]\nK = [100]\n", "needs coupling = \"scaled\""),
    ("preset = 'balanced'\n[sweep]\nN_E = [-5]\n", "point N_E=-5"),
    ("preset = 'nope'\n[sweep]\nd = [1.0]\n", "preset 'nope' does not exist"),
    ("preset = 'balanced'\n[options]\nfast = true\n[sweep]\nd = [1.0]\n", "unknown option 'fast'"),
    ("preset = 'balanced'\n[analysis]\nt_start = 'x'\n[sweep]\nd = [1.0]\n", "analysis.t_start must be a number"),
    ("this is = not toml [", "not valid TOML"),
])
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
    proc = subprocess.Popen([sys.executable, "-m", "balanced", "sweep", str(spec_path), "--out", str(out),
                             "--no-figures"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
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
    statuses = [json.loads(m.read_text())["status"] if m.exists() else None
                for m in (out / "points" / n / "manifest.json" for n in ("d=0.5", "d=1", "d=1.5"))]
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
