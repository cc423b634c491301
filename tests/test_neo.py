"""The Neo bridge (balanced.analysis.neo): trains equal the run's spikes, Elephant on them
gives the numbers of stats.json, signals carry units, annotations carry the run."""

from __future__ import annotations

import json
import warnings

import neo
import numpy as np
import pytest
import quantities as pq
from elephant import statistics as es
from elephant.conversion import BinnedSpikeTrain
from synthetic_runs import poisson_spikes, synthetic_state, write_run

from balanced.analysis.neo import to_neo
from balanced.analysis.report import analyze_run
from balanced.rundir import load_run

pytestmark = pytest.mark.filterwarnings("ignore:The 'copy' argument in Quantity is deprecated")

N_E, N_I, T = 160, 40, 1000.0


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Poisson spikes on the 0.1 ms grid, with spikes stamped exactly at 0 < t = 50 ms and t = T
    (NEST's end-of-step stamp of the last step), and a few silent neurons."""
    neuron, time = poisson_spikes(N_E + N_I, 12.0, T, seed=5)
    time = np.round(time, 1)
    keep = ~np.isin(neuron, [3, N_E + 7])  # silent neurons
    neuron = np.r_[neuron[keep], 1, 2, N_E]
    time = np.r_[time[keep], T, 50.0, T]
    state = synthetic_state(np.array([0, 1, N_E, N_E + 1, N_E + 2]), T, sample_ms=0.5, seed=2)
    d = write_run(tmp_path_factory.mktemp("neo") / "run", neuron, time, N_E, N_I, T, state=state, seed=17)
    return load_run(d)


def expected_trains(run, t0: float, t1: float) -> list[np.ndarray]:
    n, t = run.spikes.neuron, run.spikes.time
    return [np.sort(t[(n == g) & (t >= t0) & (t < t1)]) for g in range(N_E + N_I)]


@pytest.mark.parametrize("window", [(None, None), (50.0, 950.0), (123.4, 500.0)])
def test_trains_equal_the_runs_spikes(run, window):
    block = to_neo(run, *window)
    t0, t1 = window[0] or 0.0, window[1] or T
    trains = block.segments[0].spiketrains
    assert len(trains) == N_E + N_I
    for g, (st, want) in enumerate(zip(trains, expected_trains(run, t0, t1), strict=True)):
        assert st.units == pq.ms and float(st.t_start) == t0 and float(st.t_stop) == t1
        np.testing.assert_array_equal(st.magnitude, want)
        pop, idx = ("E", g) if g < N_E else ("I", g - N_E)
        assert st.annotations == {"neuron": g, "index": idx, "population": pop}
    total = sum(len(st) for st in trains)
    assert total == np.sum((run.spikes.time >= t0) & (run.spikes.time < t1))
    if window == (None, None):  # the spikes stamped at T are outside [0, T)
        n_at_T = int(np.sum(run.spikes.time == T))
        assert n_at_T >= 2 and total == len(run.spikes) - n_at_T
    # the groups hold the same objects, by population
    e, i = block.groups
    assert (e.name, i.name) == ("E", "I")
    assert [st.annotations["neuron"] for st in e.spiketrains] == list(range(N_E))
    assert all(a is b for a, b in zip(i.spiketrains, trains[N_E:], strict=True))
    # each train has its own annotations
    trains[0].annotate(extra=1)
    assert "extra" not in trains[1].annotations


def test_elephant_on_the_trains_equals_stats_json(run, tmp_path):
    summary = analyze_run(run.path, out_dir=tmp_path, figures=False)
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats == summary
    t0, t1 = stats["window_ms"]
    block = to_neo(run, t0, t1)
    for group in block.groups:
        trains = group.spiketrains
        rates = [float(es.mean_firing_rate(st).rescale(pq.Hz)) for st in trains]
        cvs = [es.cv(es.isi(st)) for st in trains if len(st) >= 3]
        s = stats[group.name]
        assert np.mean(rates) == pytest.approx(s["rate_mean_hz"], rel=1e-12)
        assert np.std(rates) == pytest.approx(s["rate_sd_hz"], rel=1e-12)
        assert np.mean(cvs) == pytest.approx(s["cv_isi_mean"], rel=1e-12)
        assert len(cvs) == s["n_cv_neurons"]
        assert sum(len(st) for st in trains) == s["n_spikes"]


def test_no_binning_warning_at_the_window_edge(run):
    """The half-open window keeps the spike stamped at T out, so Elephant drops nothing."""
    trains = to_neo(run).segments[0].spiketrains
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        binned = BinnedSpikeTrain(trains, bin_size=10 * pq.ms)
    assert not [w for w in caught if "discard" in str(w.message).lower()]
    assert binned.to_array().sum() == sum(len(st) for st in trains)


def test_signals_units_and_values(run):
    block = to_neo(run, 100.0, 600.0)
    sigs = {s.name: s for s in block.segments[0].analogsignals}
    assert set(sigs) == {"V_m", "I_syn_ex", "I_syn_in"}
    assert sigs["V_m"].units == pq.mV and sigs["I_syn_ex"].units == pq.pA
    cols = (run.state.time >= 100.0) & (run.state.time < 600.0)
    for key, sig in sigs.items():
        np.testing.assert_array_equal(sig.magnitude, getattr(run.state, key)[:, cols].T)
        np.testing.assert_array_equal(sig.times.rescale(pq.ms).magnitude, run.state.time[cols])
        np.testing.assert_array_equal(sig.array_annotations["neuron"], run.state.neuron)
    e_views = block.groups[0].channelviews
    assert [v.obj.name for v in e_views] == ["V_m", "I_syn_ex", "I_syn_in"]
    np.testing.assert_array_equal(e_views[0].index, [0, 1])
    np.testing.assert_array_equal(block.groups[1].channelviews[0].index, [2, 3, 4])
    assert len(to_neo(run, state=False).segments[0].analogsignals) == 0


def test_block_annotations_and_window_errors(run):
    block = to_neo(run, 50.0, 950.0)
    a = block.annotations
    assert a["seed"] == 17 and a["params"]["N_E"] == N_E and a["versions"] == {"balanced": "test"}
    assert a["window_ms"] == [50.0, 950.0] and a["T_ms"] == T and a["dt_ms"] == 0.1
    assert isinstance(block.segments[0], neo.Segment) and len(block.segments) == 1
    with pytest.raises(ValueError, match=r"window: \(500, 100\) ms; allowed: 0 <= t_start < t_stop <= T = 1000 ms"):
        to_neo(run, 500.0, 100.0)
    with pytest.raises(ValueError, match="allowed"):
        to_neo(run, 0.0, 2000.0)


def test_benchmark_prints_the_conversion_time_of_1e4_neurons():
    import subprocess
    import sys
    from pathlib import Path

    bench = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_neo.py"
    proc = subprocess.run(
        [sys.executable, str(bench), "--neurons", "1e4", "--t-ms", "200", "--repeat", "1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    header, row = proc.stdout.strip().splitlines()
    assert header.split() == ["neurons", "spikes", "|", "trains", "s", "block", "s", "us/train"]
    cells = row.split()
    assert cells[0] == "10000" and int(cells[1]) > 10000 and float(cells[3]) > 0 and float(cells[4]) > 0


def test_the_elephant_page_runs(run, capsys):
    """docs/elephant.md's example, on the synthetic run instead of runs/tutorial."""
    import re
    from pathlib import Path

    page = (Path(__file__).resolve().parents[1] / "docs" / "elephant.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", page, flags=re.S)
    assert len(blocks) == 1
    code = blocks[0].replace('"runs/tutorial"', repr(str(run.path)))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # "Binning discarded ..." would fail here
        exec(compile(code, "docs/elephant.md", "exec"), {})
    out = capsys.readouterr().out
    assert f"{N_E} E and {N_I} I trains, seed 17" in out
    assert "CCH of neurons" in out and "Victor-Purpura mean" in out
    # the PSTH's mean rate per neuron is the mean firing rate (a unit slip prints 0.0 Hz)
    rate = float(re.search(r"E rate ([0-9.]+) Hz", out).group(1))
    psth_mean = float(re.search(r"E population rate: mean ([0-9.]+) Hz", out).group(1))
    assert abs(psth_mean - rate) <= 0.02 * rate + 0.05, (psth_mean, rate)
