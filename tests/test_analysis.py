"""Analysis (balanced.analysis): known answers on synthetic spikes, equality with Elephant's
own functions on subsets, the stats.json schema, refusal of incomplete / corrupted runs."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import neo
import numpy as np
import pytest
import quantities as pq
from elephant import kernels
from elephant import statistics as es
from elephant.conversion import BinnedSpikeTrain
from elephant.spike_train_correlation import correlation_coefficient
from elephant.spike_train_generation import StationaryGammaProcess, StationaryPoissonProcess
from synthetic_runs import poisson_run, regular_spikes, synthetic_state, write_run

from balanced.analysis import report, stats
from balanced.rundir import Population, RunDirError, load_run

# Elephant 1.2.1's isi() passes copy= to quantities 0.16, which warns on every call.
pytestmark = pytest.mark.filterwarnings("ignore:The 'copy' argument in Quantity is deprecated")

DOCS = Path(__file__).resolve().parents[1] / "docs" / "analysis.md"


# --------------------------------------------------------------------------- helpers
def flat(trains: list, first: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """neo trains -> flat (neuron, time ms) arrays."""
    neuron = np.concatenate([np.full(len(st), first + i, np.int32) for i, st in enumerate(trains)])
    time = np.concatenate([st.rescale(pq.ms).magnitude for st in trains])
    return neuron, time


def elephant_poisson(n: int, rate_hz: float, t_stop_ms: float, seed: int) -> list:
    np.random.seed(seed)  # Elephant's generators take no seed
    return StationaryPoissonProcess(
        rate=rate_hz * pq.Hz, t_start=0 * pq.ms, t_stop=t_stop_ms * pq.ms
    ).generate_n_spiketrains(n)


def mixed_trains(n: int, t_stop_ms: float, seed: int) -> list:
    """Trains with nontrivial variability: Poisson, gamma (regular-ish) and few-spike ones."""
    np.random.seed(seed)
    trains = []
    for i in range(n):
        if i % 3 == 0:
            proc = StationaryGammaProcess(
                rate=15 * pq.Hz, shape_factor=3.0, t_start=0 * pq.ms, t_stop=t_stop_ms * pq.ms
            )
        else:
            proc = StationaryPoissonProcess(rate=(2 + i % 17) * pq.Hz, t_start=0 * pq.ms, t_stop=t_stop_ms * pq.ms)
        trains.append(proc.generate_spiketrain())
    trains[1] = neo.SpikeTrain([], units="ms", t_stop=t_stop_ms)  # silent
    trains[2] = neo.SpikeTrain([300.0, 700.0], units="ms", t_stop=t_stop_ms)  # two spikes: excluded from CV
    return trains


def window_train(st, t0: float, t1: float) -> neo.SpikeTrain:
    """The part of a train in [t0, t1) as Elephant sees a window."""
    t = st.rescale(pq.ms).magnitude
    return neo.SpikeTrain(t[(t >= t0) & (t < t1)] * pq.ms, t_start=t0 * pq.ms, t_stop=t1 * pq.ms)


def no_nan_json(path: Path) -> dict:
    def bad(token):
        raise AssertionError(f"{path} holds {token}: not valid JSON")

    return json.loads(path.read_text(), parse_constant=bad)


# --------------------------------------------------------------------------- known answers
def test_regular_trains_have_zero_cv_and_fano():
    n, period, T = 50, 20.0, 2000.0
    neuron, time = regular_spikes(n, period, T, seed=3)
    ps = stats.select_population(neuron, time, Population("E", 0, n), 50.0, 1950.0)
    v = stats.isi_variability(ps)
    assert np.all(v.included)
    np.testing.assert_allclose(v.cv, 0.0, atol=1e-9)
    np.testing.assert_allclose(v.lv, 0.0, atol=1e-9)
    np.testing.assert_allclose(v.cv2, 0.0, atol=1e-9)
    fano, n_win = stats.fano_factors(ps, 100.0)
    assert n_win == 19
    np.testing.assert_allclose(fano, 0.0, atol=1e-12)  # 5 spikes in every 100 ms window
    np.testing.assert_allclose(stats.firing_rates(ps), 50.0, rtol=0.02)

    # a period that does not divide the window: counts 4 or 5, Fano near 0
    neuron, time = regular_spikes(n, 24.0, T, seed=4)
    ps = stats.select_population(neuron, time, Population("E", 0, n), 50.0, 1950.0)
    fano, _ = stats.fano_factors(ps, 100.0)
    assert np.nanmean(fano) < 0.05


def test_poisson_trains_cv_fano_correlation():
    n, T = 300, 20000.0
    trains = elephant_poisson(n, 20.0, T, seed=12)
    neuron, time = flat(trains)
    ps = stats.select_population(neuron, time, Population("E", 0, n), 50.0, T - 50.0)
    v = stats.isi_variability(ps)
    assert abs(np.nanmean(v.cv) - 1.0) < 0.05
    assert abs(np.nanmean(v.lv) - 1.0) < 0.05
    assert abs(np.nanmean(v.cv2) - 1.0) < 0.05
    fano, _ = stats.fano_factors(ps, 100.0)
    assert abs(np.nanmean(fano) - 1.0) < 0.05
    sub = stats.active_subsample(ps, 200, seed=0)
    assert len(sub) == 200
    corr = stats.pairwise_correlations(ps, sub, 10.0)
    assert len(corr) == 200 * 199 // 2
    n_bins = stats.n_bins_of(50.0, T - 50.0, 10.0)
    assert abs(corr.mean()) < 1.0 / math.sqrt(n_bins)
    chi = stats.golomb_chi_spikes(ps, sub)
    assert chi < 3.0 / math.sqrt(len(sub))  # independent: about 1/sqrt(n)


def test_identical_trains_correlate_at_one_and_are_synchronous():
    t = elephant_poisson(1, 20.0, 2000.0, seed=5)[0].magnitude
    n = 10
    neuron = np.repeat(np.arange(n, dtype=np.int32), len(t))
    time = np.tile(t, n)
    ps = stats.select_population(neuron, time, Population("E", 0, n), 50.0, 1950.0)
    sub = np.arange(n)
    np.testing.assert_allclose(stats.pairwise_correlations(ps, sub, 10.0), 1.0, rtol=1e-12)
    assert stats.golomb_chi_spikes(ps, sub) == pytest.approx(1.0, rel=1e-12)
    x = np.tile(np.sin(np.linspace(0, 20, 500)), (4, 1))
    assert stats.golomb_chi_signal(x) == pytest.approx(1.0, rel=1e-12)


@pytest.mark.parametrize("n", [1, 7, 100, 1001, 9000])
@pytest.mark.parametrize("taps", [1, 2, 51, 145, 2000])
def test_fft_convolution_is_scipys(n, taps):
    import scipy.signal

    from balanced.analysis.poprate import fft_convolve_same

    rng = np.random.default_rng(n * 7919 + taps)
    x, k = rng.poisson(3.0, size=n).astype(float), rng.uniform(size=taps)
    ref = scipy.signal.fftconvolve(x, k, mode="same")
    mine = fft_convolve_same(x, k)
    assert mine.shape == ref.shape
    np.testing.assert_allclose(mine, ref, rtol=0, atol=1e-13 * np.abs(ref).max())
    assert fft_convolve_same(np.empty(0), k).shape == (0,)


@pytest.mark.parametrize("n", [1, 2, 9, 640, 10_000])
@pytest.mark.parametrize("nperseg", [1, 2, 8, 255, 256, 1000])
def test_welch_is_scipys(n, nperseg):
    import scipy.signal

    from balanced.analysis.poprate import welch_psd

    x = 5.0 + np.random.default_rng(n + nperseg).normal(size=n)
    freqs, psd = welch_psd(x, 10_000.0, nperseg)
    ref_freqs, ref_psd = scipy.signal.welch(x, fs=10_000.0, nperseg=min(nperseg, n))
    np.testing.assert_array_equal(freqs, ref_freqs)
    np.testing.assert_allclose(psd, ref_psd, rtol=0, atol=1e-13 * max(np.abs(ref_psd).max(), 1e-300))


def test_dominant_frequency_of_an_oscillating_population():
    rng = np.random.default_rng(0)
    n, T, f = 2000, 3000.0, 40.0
    # inhomogeneous Poisson by thinning: rate 20 (1 + 0.8 sin(2 pi f t))
    cand = rng.uniform(0, T, size=int(n * 36 * T / 1000))
    keep = rng.uniform(0, 36, size=len(cand)) < 20 * (1 + 0.8 * np.sin(2 * np.pi * f * cand / 1000))
    time = cand[keep]
    neuron = rng.integers(0, n, size=len(time)).astype(np.int32)
    half = n // 2
    run_neuron = neuron
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        run = load_run(write_run(tmp, run_neuron, time, half, n - half, T))
        s = stats.compute_statistics(run)
    assert s.network.peak_freq_hz == pytest.approx(f, abs=1.5)
    assert s.populations["E"].rates_hz.mean() == pytest.approx(20.0, rel=0.05)


# --------------------------------------------------------------------------- equal to Elephant on subsets
@pytest.fixture(scope="module")
def mixed():
    n, T = 120, 3000.0
    trains = mixed_trains(n, T, seed=7)
    neuron, time = flat(trains)
    t0, t1 = 50.0, T - 50.0
    ps = stats.select_population(neuron, time, Population("E", 0, n), t0, t1)
    return trains, neuron, time, ps, (t0, t1)


def test_rates_cv_lv_cv2_equal_elephant(mixed):
    trains, _, _, ps, (t0, t1) = mixed
    rates = stats.firing_rates(ps)
    v = stats.isi_variability(ps)
    checked = 0
    for i, st in enumerate(trains):
        w = window_train(st, t0, t1)
        if len(w) == 0:  # Elephant raises on an empty train; a silent neuron is 0 Hz here
            assert rates[i] == 0.0
        else:
            assert rates[i] == pytest.approx(
                es.mean_firing_rate(w, t_start=t0 * pq.ms, t_stop=t1 * pq.ms).rescale(pq.Hz).magnitude, rel=1e-12
            )
        if len(w) < 3:
            assert np.isnan(v.cv[i]) and np.isnan(v.lv[i]) and np.isnan(v.cv2[i])
            continue
        intervals = es.isi(w).magnitude
        assert v.cv[i] == pytest.approx(es.cv(intervals), rel=1e-10, abs=1e-14)
        assert v.lv[i] == pytest.approx(es.lv(intervals), rel=1e-10)
        assert v.cv2[i] == pytest.approx(es.cv2(intervals), rel=1e-10)
        checked += 1
    assert checked > 100
    assert rates[1] == 0.0 and np.isnan(v.cv[1]) and np.isnan(v.cv[2])


def test_fano_equals_elephant_binned_counts(mixed):
    trains, _, _, ps, (t0, t1) = mixed
    fano, n_win = stats.fano_factors(ps, 100.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        binned = BinnedSpikeTrain(
            [window_train(st, t0, t1) for st in trains], bin_size=100 * pq.ms, t_start=t0 * pq.ms, t_stop=t1 * pq.ms
        ).to_array()
    assert binned.shape[1] == n_win
    mean = binned.mean(axis=1)
    expected = np.where(mean > 0, binned.var(axis=1) / np.where(mean > 0, mean, 1), np.nan)
    np.testing.assert_allclose(fano, expected, rtol=1e-10, equal_nan=True)
    # Elephant's fanofactor over a neuron's consecutive windows taken as a list of trains
    for i in (0, 3, 4):
        st = window_train(trains[i], t0, t1)
        pieces = [st.time_slice((t0 + 100 * k) * pq.ms, (t0 + 100 * (k + 1)) * pq.ms) for k in range(n_win)]
        assert fano[i] == pytest.approx(es.fanofactor(pieces), rel=1e-10)


def test_binning_on_the_grid_matches_elephant_edges():
    """NEST times sit on the 0.1 ms grid, many exactly on bin edges: same bins as Elephant."""
    rng = np.random.default_rng(1)
    n = 30
    steps = rng.integers(500, 9500, size=(n, 60))
    steps[:, :10] = np.arange(1, 11) * 500 + 500  # exact 100 ms edges: 100.0, 150.0, ... in ms
    trains = [np.unique(s) * 0.1 for s in steps]
    neuron = np.concatenate([np.full(len(t), i, np.int32) for i, t in enumerate(trains)])
    time = np.concatenate(trains)
    t0, t1 = 50.0, 950.0
    ps = stats.select_population(neuron, time, Population("E", 0, n), t0, t1)
    for bin_ms in (100.0, 10.0, 0.1 * 3):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = BinnedSpikeTrain(
                [
                    neo.SpikeTrain(t[(t >= t0) & (t < t1)] * pq.ms, t_start=t0 * pq.ms, t_stop=t1 * pq.ms)
                    for t in trains
                ],
                bin_size=bin_ms * pq.ms,
                t_start=t0 * pq.ms,
                t_stop=t1 * pq.ms,
            ).to_array()
        nb = stats.n_bins_of(t0, t1, bin_ms)
        assert nb == ref.shape[1]
        b = stats.bin_index(ps.time, t0, bin_ms)
        mine = np.zeros_like(ref)
        ok = b < nb
        np.add.at(mine, (ps.index[ok], b[ok]), 1)
        np.testing.assert_array_equal(mine, ref)


def test_correlations_equal_elephant(mixed):
    trains, _, _, ps, (t0, t1) = mixed
    sub = stats.active_subsample(ps, 40, seed=3)
    assert np.all(ps.counts()[sub] > 0)
    mine = stats.pairwise_correlations(ps, sub, 10.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = correlation_coefficient(
            BinnedSpikeTrain(
                [window_train(trains[i], t0, t1) for i in sub],
                bin_size=10 * pq.ms,
                t_start=t0 * pq.ms,
                t_stop=t1 * pq.ms,
            )
        )
    np.testing.assert_allclose(mine, ref[np.triu_indices(len(sub), 1)], rtol=1e-12)
    # the subsample is seeded and never includes the silent neuron
    np.testing.assert_array_equal(sub, stats.active_subsample(ps, 40, seed=3))
    assert 1 not in stats.active_subsample(ps, 1000, seed=0)


@pytest.mark.parametrize("kernel", [None, kernels.GaussianKernel(sigma=3 * pq.ms)])
def test_population_rate_equals_elephant_instantaneous_rate(mixed, kernel):
    trains, _, time, ps, (t0, t1) = mixed
    sub = trains[:50]
    sub_time = np.concatenate([window_train(st, t0, t1).magnitude for st in sub])
    times, mine = stats.population_rate_kernel(sub_time, len(sub), t0, t1, 0.1, kernel=kernel)
    ref_kernel = kernel if kernel is not None else kernels.RectangularKernel(sigma=5 / (2 * np.sqrt(3)) * pq.ms)
    ref = es.instantaneous_rate(
        [window_train(st, t0, t1) for st in sub], sampling_period=0.1 * pq.ms, kernel=ref_kernel, pool_spike_trains=True
    )
    assert len(ref.times) == len(times)
    np.testing.assert_allclose(times, ref.times.rescale(pq.ms).magnitude, atol=1e-9)
    np.testing.assert_allclose(mine, ref.magnitude.ravel(), rtol=1e-9, atol=1e-9)
    # Elephant's kernel rate integrates to the spike count (+2 % for the 5.1 ms sampled box)
    factor = 1.02 if kernel is None else 1.0
    assert mine.mean() == pytest.approx(factor * len(sub_time) / len(sub) / ((t1 - t0) / 1000), rel=0.01)


def test_tutorial_rate_equals_brainpy_definition():
    """bp.measure.firing_rate(spikes, 5.) on the dense (steps x neurons) spike matrix."""
    rng = np.random.default_rng(3)
    n, T, dt = 40, 300.0, 0.1
    steps = int(round(T / dt))
    dense = rng.uniform(size=(steps + 1, n)) < 0.004
    dense[0] = False
    j, i = np.nonzero(dense)
    time = j * dt  # NEST-like times on the grid
    width1 = int(5.0 / 2 / dt) * 2 + 1
    ref = np.convolve(np.mean(dense, axis=1), np.ones(width1) * 1000 / 5.0, mode="same")
    mine = stats.tutorial_rate(stats.grid_histogram(time, T, dt), n, dt, 5.0)
    np.testing.assert_allclose(mine, ref, rtol=1e-12, atol=1e-12)


def test_window_defaults_and_errors():
    assert stats.resolve_window(1000.0, None, None) == (50.0, 950.0)
    assert stats.resolve_window(10000.0, 100.0, None) == (100.0, 9950.0)
    assert stats.resolve_window(80.0, None, None) == (0.0, 80.0)
    with pytest.raises(ValueError, match="analysis window"):
        stats.resolve_window(1000.0, 900.0, 100.0)


# --------------------------------------------------------------------------- report and stats.json
REQUIRED_POP = (
    "rate_mean_hz",
    "rate_sd_hz",
    "cv_isi_mean",
    "lv_mean",
    "fano_mean",
    "corr_mean",
    "corr_sd",
    "cv2_mean",
    "n_neurons",
    "n_spikes",
    "n_cv_neurons",
)
REQUIRED_NET = ("chi", "pop_rate_mean_hz", "pop_rate_sd_hz", "peak_freq_hz")
REQUIRED_BAL = ("mean_exc_input", "mean_inh_input", "mean_net_input", "v_mean", "v_sd")


def test_stats_json_schema_and_figures(tmp_path):
    run_dir = poisson_run(tmp_path / "run", t_stop_ms=1000.0, diagnosis=["regime: asynchronous irregular", "ok"])
    out = report.analyze_run(run_dir)
    path = run_dir / "analysis" / "stats.json"
    data = no_nan_json(path)
    assert data == out
    for pop in ("E", "I"):
        for key in REQUIRED_POP:
            assert isinstance(data[pop][key], (int, float)) and not isinstance(data[pop][key], bool), (pop, key)
    for key in REQUIRED_NET:
        assert isinstance(data["network"][key], float), key
    for key in REQUIRED_BAL:
        assert isinstance(data["balance"][key], float), key
    assert data["window_ms"] == [50.0, 950.0]
    assert data["meta"]["preset"] == "synthetic" and data["meta"]["seed"] == 1
    assert data["meta"]["run_id"] == "run"
    assert data["meta"]["analysis"]["fano_window_ms"] == 100.0
    assert data["diagnosis"] == ["regime: asynchronous irregular", "ok"]
    for stem in ("raster_rate", "distributions", "spectrum", "balance"):
        for fmt in ("png", "pdf"):
            f = run_dir / "analysis" / f"{stem}.{fmt}"
            assert f.is_file() and f.stat().st_size > 1000, f
    assert not list((run_dir / "analysis").glob("*.tmp")) and not list((run_dir / "analysis").glob(".*"))
    assert sorted(data["figures"]) == sorted(
        f"{s}.{f}" for s in ("raster_rate", "distributions", "spectrum", "balance") for f in ("png", "pdf")
    )
    table = report.format_table(data)
    assert "rate mean (Hz)" in table and "diagnosis:" in table and "regime: asynchronous irregular" in table
    assert f"{data['E']['rate_mean_hz']:.4g}" in table

    # balance numbers are the plain means of the recorded traces in the window
    run = load_run(run_dir)
    cols = (run.state.time >= 50.0) & (run.state.time < 950.0)
    assert data["balance"]["mean_exc_input"] == pytest.approx(run.state.I_syn_ex[:, cols].mean(), rel=1e-12)
    assert data["balance"]["mean_inh_input"] == pytest.approx(run.state.I_syn_in[:, cols].mean(), rel=1e-12)
    assert data["balance"]["v_sd"] == pytest.approx(run.state.V_m[:, cols].std(axis=1).mean(), rel=1e-12)
    assert data["balance"]["mean_net_input"] == pytest.approx(
        data["balance"]["mean_exc_input"] + data["balance"]["mean_inh_input"], abs=1e-12
    )


def test_figures_at_150_dpi_with_legends_beside_the_data(tmp_path):
    from PIL import Image

    from balanced.analysis import plots

    run_dir = poisson_run(tmp_path / "run", t_stop_ms=600.0)
    report.analyze_run(run_dir)
    figs = plots.report_figures(stats.compute_statistics(load_run(run_dir)))
    for stem, fig in figs.items():
        with Image.open(run_dir / "analysis" / f"{stem}.png") as im:
            assert im.size == tuple(round(150 * x) for x in fig.get_size_inches()), stem
            assert round(im.info["dpi"][0]) == 150, stem
        fig.canvas.draw()
        box = fig.bbox
        legends = [*fig.legends, *(a.get_legend() for a in fig.axes if a.get_legend() is not None)]
        assert legends or stem in ("raster_rate", "spectrum"), stem
        for legend in legends:
            ext = legend.get_window_extent()
            assert box.x0 <= ext.x0 and ext.x1 <= box.x1 and box.y0 <= ext.y0 and ext.y1 <= box.y1, stem
            for ax in fig.axes:  # never on top of a panel's data area
                assert not ext.overlaps(ax.get_window_extent()), stem


def test_stats_json_nulls_instead_of_nan(tmp_path):
    """A silent I population and no state: undefined statistics are null, JSON stays valid."""
    neuron, time = regular_spikes(50, 20.0, 1000.0, seed=1)
    run_dir = write_run(tmp_path / "run", neuron, time, 50, 20, 1000.0)
    data = report.analyze_run(run_dir, figures=False, t_start=100.0, t_stop=900.0)
    on_disk = no_nan_json(run_dir / "analysis" / "stats.json")
    assert on_disk == data
    assert data["window_ms"] == [100.0, 900.0]
    assert data["I"]["rate_mean_hz"] == 0.0 and data["I"]["n_silent"] == 20
    assert data["I"]["cv_isi_mean"] is None and data["I"]["corr_mean"] is None and data["I"]["fano_mean"] is None
    assert data["E"]["cv_isi_mean"] == pytest.approx(0.0, abs=1e-9)
    assert "balance" not in data and "diagnosis" not in data
    assert data["figures"] == []
    assert not list((run_dir / "analysis").glob("*.png"))


def test_every_stats_key_is_documented(tmp_path):
    run_dir = poisson_run(tmp_path / "run", t_stop_ms=600.0, diagnosis=["x"])
    data = report.analyze_run(run_dir, figures=False)
    doc = DOCS.read_text()
    assert stats.keys_markdown() in doc, "docs/analysis.md is out of date: paste stats.keys_markdown()"
    documented = " ".join(k for k, _, _ in stats.STATS_KEYS)
    for section in ("E", "network", "balance"):
        for key in data[section]:
            assert key in documented, f"{section}.{key} missing from STATS_KEYS / docs/analysis.md"
    for key in ("window_ms", "diagnosis", "meta"):
        assert key in documented


def test_incomplete_run_is_refused_without_output(tmp_path):
    neuron, time = regular_spikes(20, 20.0, 500.0)
    run_dir = write_run(tmp_path / "run", neuron, time, 10, 10, 500.0, status="running")
    before = sorted(p.name for p in run_dir.iterdir())
    with pytest.raises(RunDirError, match=r"status is 'running', not 'complete'"):
        report.analyze_run(run_dir)
    assert sorted(p.name for p in run_dir.iterdir()) == before
    assert not (run_dir / "analysis").exists()


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_corrupted_spike_file_is_refused_without_output(tmp_path, damage):
    run_dir = poisson_run(tmp_path / "run", t_stop_ms=500.0, with_state=False)
    spikes = run_dir / "spikes.npz"
    raw = spikes.read_bytes()
    spikes.write_bytes(raw[: len(raw) // 2] if damage == "truncated" else b"\x00garbage\xff" * 100)
    out_dir = tmp_path / "elsewhere"
    with pytest.raises(RunDirError, match="spikes.npz.*corrupted"):
        report.analyze_run(run_dir, out_dir=out_dir)
    assert not (run_dir / "analysis").exists()
    assert not out_dir.exists()


def test_state_window_and_per_population_balance(tmp_path):
    neuron, time = regular_spikes(20, 25.0, 1000.0)
    state = synthetic_state(np.array([0, 1, 10, 11]), 1000.0, sample_ms=0.5, seed=2)
    state["I_syn_ex"][2:] += 1.0  # the I neurons get more excitation
    run_dir = write_run(tmp_path / "run", neuron, time, 10, 10, 1000.0, state=state)
    s = stats.compute_statistics(load_run(run_dir))
    b = s.balance
    cols = (state["time"] >= 50) & (state["time"] < 950)
    assert len(b.times_ms) == cols.sum()
    assert b.per_population["I"]["mean_exc_input"] == pytest.approx(state["I_syn_ex"][2:, cols].mean())
    assert b.per_population["E"]["mean_exc_input"] == pytest.approx(state["I_syn_ex"][:2, cols].mean())
    np.testing.assert_allclose(b.net_trace, state["I_syn_ex"][:, cols].mean(0) + state["I_syn_in"][:, cols].mean(0))
    assert b.v_mean == pytest.approx(state["V_m"][:, cols].mean(axis=1).mean())


def test_select_population_sorts_like_a_stable_argsort():
    rng = np.random.default_rng(9)
    neuron = rng.integers(0, 500, 20000).astype(np.int32)
    time = np.sort(rng.uniform(0, 1000, 20000))
    time[::7] = time[::7].round(0)  # ties in time
    ps = stats.select_population(neuron, time, Population("I", 100, 300), 10.0, 990.0)
    mask = (neuron >= 100) & (neuron < 400) & (time >= 10.0) & (time < 990.0)
    order = np.lexsort((time[mask], neuron[mask]))
    np.testing.assert_array_equal(ps.index, neuron[mask][order] - 100)
    np.testing.assert_array_equal(ps.time, time[mask][order])
    # unsorted input gives the same result
    perm = rng.permutation(len(time))
    ps2 = stats.select_population(neuron[perm], time[perm], Population("I", 100, 300), 10.0, 990.0)
    np.testing.assert_array_equal(ps2.index, ps.index)
    np.testing.assert_array_equal(ps2.time, ps.time)


def test_correlations_equal_elephant_on_a_grid_with_edge_spikes():
    # NEST's spike times lie on the 0.1 ms grid, so many fall exactly on (or within rounding
    # of) a 10 ms bin edge, and some in the last partial bin: the counts binned here must
    # give Elephant's coefficients from neo SpikeTrains exactly.
    rng = np.random.default_rng(4)
    n, t0, t1 = 30, 50.0, 955.0  # 90 whole bins and a 5 ms partial one
    neuron, time = [], []
    for i in range(n):
        t = np.round(rng.uniform(0.0, 1000.0, 25 + i) / 0.1) * 0.1
        t = np.concatenate([t, [60.0, 70.0 - 1e-12, 0.1 * 1000, 950.0, 954.9]])  # edges, near-edges, partial bin
        neuron.append(np.full(len(t), i))
        time.append(t)
    neuron, time = np.concatenate(neuron), np.concatenate(time)
    ps = stats.select_population(neuron, time, Population("E", 0, n), t0, t1)
    sub = np.arange(n)
    mine = stats.pairwise_correlations(ps, sub, 10.0)
    trains = [neo.SpikeTrain(ps.train_times(i) * pq.ms, t_start=t0 * pq.ms, t_stop=t1 * pq.ms) for i in sub]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = correlation_coefficient(
            BinnedSpikeTrain(trains, bin_size=10 * pq.ms, t_start=t0 * pq.ms, t_stop=t1 * pq.ms)
        )
    np.testing.assert_allclose(mine, ref[np.triu_indices(n, 1)], rtol=1e-12, atol=1e-15)


# --------------------------------------------------------------------------- the worker's figure process
def test_formats_saved_in_a_forked_child_equal_those_saved_here(tmp_path):
    """``fork_formats`` (the figure process's way: the PDF saved in a forked child while
    the PNG is saved here) gives the same files, and a child that fails leaves its formats
    to this process (its status, not its pipe, decides)."""
    import os
    import pickle

    run_dir = poisson_run(tmp_path / "run", t_stop_ms=1000.0)
    result, _ = report.compute_report(run_dir)
    stems = ("raster_rate", "spectrum")
    here = report.render_figures(result, stems)
    forked = report.render_figures(result, stems, fork_formats=True)
    assert list(forked) == list(here) == [f"{s}.{f}" for s in stems for f in ("png", "pdf")]
    for stem in stems:
        assert forked[f"{stem}.png"] == here[f"{stem}.png"], stem
        assert forked[f"{stem}.pdf"][:5] == b"%PDF-" and len(forked[f"{stem}.pdf"]) > 1000

    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # a child that sends a complete reply, then fails
        os.write(write_fd, pickle.dumps({"raster_rate.pdf": b"partial"}))
        os._exit(3)
    os.close(write_fd)
    assert report._collect_child(pid, read_fd) is None


def _no_process_left():
    """What fork raises without a process left (EAGAIN)."""
    raise BlockingIOError(11, "Resource temporarily unavailable")


def test_formats_are_saved_here_when_no_child_can_be_forked(tmp_path, monkeypatch):
    """A fork that fails (EAGAIN: no process left; as root the process limit cannot make
    it fail, so the failure is injected) leaves every format to this process."""
    import os

    run_dir = poisson_run(tmp_path / "run", t_stop_ms=1000.0)
    result, _ = report.compute_report(run_dir)
    here = report.render_figures(result, ("spectrum",))
    fds_before = len(os.listdir("/proc/self/fd"))

    monkeypatch.setattr(os, "fork", _no_process_left)
    files = report.render_figures(result, ("spectrum",), fork_formats=True)
    assert list(files) == ["spectrum.png", "spectrum.pdf"] and files["spectrum.png"] == here["spectrum.png"]
    assert files["spectrum.pdf"][:5] == b"%PDF-"
    assert len(os.listdir("/proc/self/fd")) == fds_before  # the pipe was closed


def test_worker_without_a_figure_process_when_none_can_be_forked(monkeypatch):
    """The worker's figure process is optional: a fork that fails (injected, see above)
    leaves no pipe open, and the worker then draws the figures itself (``render=None``)."""
    import os

    from balanced.analysis import worker

    fds_before = len(os.listdir("/proc/self/fd"))

    monkeypatch.setattr(os, "fork", _no_process_left)
    monkeypatch.setattr(worker.sys, "platform", "linux")
    assert worker._start_figure_process() is None
    assert len(os.listdir("/proc/self/fd")) == fds_before


@pytest.mark.parametrize("fork", [True, False], ids=["forked", "new-interpreter"])
def test_figure_process_draws_what_this_process_draws(tmp_path, fork):
    """The analysis worker's figure process (a real child, matplotlib imported at low
    priority; forked, as the worker starts it on Linux, or a new interpreter) returns the
    same PNG bytes as drawing here; if it is gone, the figures are drawn here instead;
    without a request it exits by itself."""
    from balanced.analysis.worker import FigureProcess

    run_dir = poisson_run(tmp_path / "run", t_stop_ms=1000.0)
    result, _ = report.compute_report(run_dir)
    stems = ("raster_rate", "spectrum")
    here = report.render_figures(result, stems)
    figures = FigureProcess(fork=fork)
    try:
        there = figures.render(result, stems)
    finally:
        figures.close()
    assert sorted(there) == sorted(here) == sorted(f"{s}.{f}" for s in stems for f in ("png", "pdf"))
    for stem in stems:
        assert there[f"{stem}.png"] == here[f"{stem}.png"], stem
        assert there[f"{stem}.pdf"][:5] == b"%PDF-" and len(there[f"{stem}.pdf"]) > 1000

    gone = FigureProcess(fork=fork)
    gone.close()  # killed while importing
    assert sorted(gone.render(result, ("raster_rate",))) == ["raster_rate.pdf", "raster_rate.png"]

    idle = FigureProcess(fork=fork)
    idle._requests.close()  # no request: the process ends on its own, status 0
    assert idle.wait(timeout=60) == 0
    idle.close()
