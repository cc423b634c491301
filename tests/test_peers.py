"""The peer benchmark (``benchmarks/peers/compare.py``) runs and writes a sensible table.

A small configuration with the tools of the project's own environment: ``balanced run``
and plain PyNEST with NEST's defaults, both on this ``.venv``'s Python, the tutorial
network (N = 1e3, K = 50) for 0.5 s of model time. A tool whose environment is missing
is reported, not fatal. No timing assertion: CI machines differ and are shared.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# The tutorial network is mean-driven: the rate is set by the single-neuron f-I curve at
# the drive (Ib = 3 mV: 1 / (tau ln 11) = 41.7 Hz) and varies by well under 1 % between
# graphs (NEST's default graph allows repeated sources, balanced's does not); a 10 % error
# in the drive moves it by 11 %, so 5 % separates "the same network" from a different one.
RATE_RTOL = 0.05


@pytest.fixture(scope="module")
def compared(tmp_path_factory, built_model):
    out = tmp_path_factory.mktemp("peers")
    cmd = [sys.executable, str(ROOT / "benchmarks" / "peers" / "compare.py"), "--sizes", "1e3", "--repeats", "1"]
    cmd += ["--tools", "balanced,pynest,brainpy", "--T", "500", "--threads", "1", "--out", str(out)]
    cmd += ["--python", f"pynest={sys.executable}", "--python", f"brainpy={out / 'no-such-venv' / 'python'}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    md = sorted(out.glob("peers-*.md"))
    js = sorted(out.glob("peers-*.json"))
    assert len(md) == 1 and len(js) == 1, list(out.iterdir())
    return proc.stdout, md[0].read_text(), json.loads(js[0].read_text()), js[0].read_text(), out


def test_table_has_both_tools(compared):
    stdout, md, data, _, _ = compared
    header = stdout.splitlines()[0]
    for col in ("tool", "end-to-end s", "build s", "simulate s", "peak MB", "B/synapse", "events/s/core", "E rate Hz"):
        assert f" {col} " in header, header
    rows = {r["tool"]: r for r in data["rows"]}
    assert set(rows) == {"balanced", "pynest", "brainpy"}
    for tool in ("balanced", "pynest"):
        row = rows[tool]
        assert row["N"] == "1e3" and row["K"] == 50 and row["repeats"] == 1
        assert row["n_synapses"] == 1000 * 2 * 50  # K from E and K from I onto every neuron
        assert row["e2e_s"] > row["simulate_s"] > 0 and row["build_s"] > 0
        assert row["peak_mb"] > 0 and row["events_per_s_core"] > 0
        assert f"| {tool} | 1e3 | 50 | 1 |" in stdout and f"| {tool} | 1e3 | 50 | 1 |" in md
    assert rows["brainpy"]["e2e_s"] == "not installed (make bench-peers)"
    assert "| brainpy | 1e3 | 50 | - | not installed (make bench-peers) |" in md


def test_same_network_same_statistics(compared):
    _, _, data, _, _ = compared
    rows = {r["tool"]: r for r in data["rows"]}
    a, b = rows["balanced"]["rate_e_hz"], rows["pynest"]["rate_e_hz"]
    assert 38.0 < a < 45.0, a
    assert abs(a - b) <= RATE_RTOL * a, (a, b)
    for tool in ("balanced", "pynest"):
        assert 0.0 < rows[tool]["cv_e"] < 0.1, rows[tool]  # regular firing, as in the tutorial


def test_saved_with_machine_and_no_paths(compared):
    _, md, data, text, out = compared
    assert data["machine"]["cores"] >= 1 and data["machine"]["cpu"]
    measured = [r for r in data["records"] if r["tool"] in ("balanced", "pynest")]
    assert len(measured) == 2
    for rec in measured:  # the RSS before the network, which B/synapse subtracts, was seen
        assert 0 < rec["rss_base_kb"] < rec["peak_mb"] * 1024, rec
    for path in (str(ROOT), str(out)):  # saved files name no folder of this machine
        assert path not in text and path not in md
    assert "Machine:" in md and "cores" in md
