"""`balanced export`: NWB (pynwb) and NIX (neo's NixIO) files that read back to the run's
spikes exactly, pass NWB validation, and are refused for an incomplete run."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import quantities as pq
from synthetic_runs import poisson_spikes, synthetic_state, write_run

from balanced.analysis.export import export_run
from balanced.rundir import RunDirError, load_run

# neo 0.14 reading ChannelViews back under NumPy 2 (upstream)
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

N_E, N_I, T = 48, 12, 500.0


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Spikes on the 0.1 ms grid, some stamped at exactly T, a silent neuron, state of 5 neurons."""
    neuron, time = poisson_spikes(N_E + N_I, 15.0, T, seed=3)
    time = np.round(time, 1)
    keep = neuron != 5
    neuron, time = np.r_[neuron[keep], 0, N_E + 1], np.r_[time[keep], T, T]
    state = synthetic_state(np.array([0, 2, N_E, N_E + 3, N_E + 11]), T, sample_ms=1.0, seed=4)
    return load_run(
        write_run(
            tmp_path_factory.mktemp("export") / "r1",
            neuron,
            time,
            N_E,
            N_I,
            T,
            state=state,
            seed=23,
            diagnosis=["balanced: yes"],
        )
    )


def trains_ms(run) -> list[np.ndarray]:
    n, t = run.spikes.neuron, run.spikes.time
    return [np.sort(t[n == g]) for g in range(N_E + N_I)]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "balanced", *args], capture_output=True, text=True, timeout=120)


def test_nwb_round_trip_and_validation(run, tmp_path):
    import pynwb

    path = export_run(run.path, "nwb", tmp_path / "run.nwb")
    assert pynwb.validate(path=str(path)) == []
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        f = io.read()
        units = f.units
        assert len(units) == N_E + N_I
        assert list(units["neuron"][:]) == list(range(N_E + N_I))
        assert list(units["population"][:]) == ["E"] * N_E + ["I"] * N_I
        assert list(units["index"][:]) == list(range(N_E)) + list(range(N_I))
        n_read = 0
        for g, want in enumerate(trains_ms(run)):
            got = np.asarray(units["spike_times"][g])
            np.testing.assert_array_equal(got, want / 1000.0)  # seconds, every spike
            n_read += len(got)
        assert n_read == len(run.spikes) and len(units["spike_times"][5]) == 0
        assert units.resolution == pytest.approx(1e-4)
        for key, unit, factor in (
            ("V_m", "volts", 1e-3),
            ("I_syn_ex", "amperes", 1e-12),
            ("I_syn_in", "amperes", 1e-12),
        ):
            ts = f.acquisition[key]
            assert (ts.unit, ts.conversion) == (unit, factor)
            np.testing.assert_array_equal(ts.data[:], getattr(run.state, key).T)
            np.testing.assert_array_equal(ts.timestamps[:], run.state.time / 1000.0)
        rec = f.acquisition["recorded_neurons"]
        assert list(rec["neuron"][:]) == [0, 2, N_E, N_E + 3, N_E + 11]
        assert list(rec["population"][:]) == ["E", "E", "I", "I", "I"]
        assert f.session_id == "r1" and "seed 23" in f.session_description
        notes = json.loads(f.notes)
        assert notes["params"] == run.manifest["params"] and notes["seed"] == 23
        assert notes["diagnosis"] == ["balanced: yes"]


def test_nix_round_trip(run, tmp_path):
    from neo.io import NixIO

    path = export_run(run.path, "nix", tmp_path / "run.nix")
    with NixIO(str(path), "ro") as io:
        block = io.read_block()
    seg = block.segments[0]
    trains = seg.spiketrains
    assert len(trains) == N_E + N_I
    by_neuron = {int(st.annotations["neuron"]): st for st in trains}
    for g, want in enumerate(trains_ms(run)):
        st = by_neuron[g]
        np.testing.assert_array_equal(st.rescale(pq.ms).magnitude, want)  # also the spikes at T
        assert st.annotations["population"] == ("E" if g < N_E else "I")
    assert sum(len(st) for st in trains) == len(run.spikes)
    sigs = {s.name: s for s in seg.analogsignals}
    np.testing.assert_array_equal(sigs["V_m"].rescale(pq.mV).magnitude, run.state.V_m.T)
    np.testing.assert_array_equal(sigs["I_syn_in"].rescale(pq.pA).magnitude, run.state.I_syn_in.T)
    assert {g.name for g in block.groups} == {"E", "I"}
    a = block.annotations
    assert a["seed"] == 23 and json.loads(a["params"]) == run.manifest["params"]


def test_cli_export_writes_the_default_path(run):
    proc = cli("export", str(run.path), "--format", "nwb")
    assert proc.returncode == 0, proc.stderr
    path = run.path / "export" / "r1.nwb"
    assert proc.stdout.strip() == f"nwb: {path}" and path.is_file()
    assert not list(path.parent.glob(".*"))  # no temporary file left


def test_cli_export_replaces_an_existing_file_only_with_overwrite(run, tmp_path):
    mine = tmp_path / "mine.nwb"
    mine.write_text("a user's file")
    proc = cli("export", str(run.path), "--format", "nwb", "--out", str(mine))
    assert proc.returncode == 2 and proc.stderr.strip() == (
        f"balanced: error: --out {mine}: exists; pass --overwrite to replace it, or choose another --out"
    ), proc.stderr
    assert mine.read_text() == "a user's file"
    proc = cli("export", str(run.path), "--format", "nwb", "--out", str(tmp_path))
    assert proc.returncode == 2 and "is a folder; name the file to write" in proc.stderr, proc.stderr
    proc = cli("export", str(run.path), "--format", "nwb", "--out", str(mine), "--overwrite")
    assert proc.returncode == 0 and mine.read_bytes()[:4] == b"\x89HDF", proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.nwb"]  # no temporary file left


def test_export_refuses_an_incomplete_run(tmp_path):
    neuron, time = poisson_spikes(10, 5.0, 100.0)
    d = write_run(tmp_path / "running", neuron, time, 8, 2, 100.0, status="running")
    with pytest.raises(RunDirError) as err:
        load_run(d)
    for fmt in ("nwb", "nix"):
        proc = cli("export", str(d), "--format", fmt)
        assert proc.returncode == 1
        assert proc.stderr.strip() == f"balanced: error: {err.value}"
        assert "Traceback" not in proc.stderr
    assert not (d / "export").exists() or not any((d / "export").iterdir())
    proc = cli("export", str(d), "--format", "csv")
    assert proc.returncode == 2 and "invalid choice: 'csv'" in proc.stderr
