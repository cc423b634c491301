"""What a sweep point costs, cut without changing a number: the statistics computed
without Elephant equal Elephant's own functions and the per-train definitions to the last
bit, the analysis of a point imports neither Elephant nor quantities, and the points'
processes run with one BLAS thread.

No NEST here (synthetic spikes); the sweeps that run NEST are in tests/test_sweep.py.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import warnings

import numpy as np
import pytest
import quantities as pq
from elephant import kernels
from elephant.conversion import BinnedSpikeTrain
from elephant.spike_train_correlation import correlation_coefficient
from synthetic_runs import poisson_run, poisson_spikes

from balanced.analysis import stats
from balanced.analysis.poprate import default_box_kernel_hz
from balanced.analysis.synchrony import CHI_BLOCK_TRAINS, binned_counts, correlation_coefficient_counts
from balanced.params import replace, resolve
from balanced.rundir import Population, read_manifest, write_manifest
from balanced.sweep.runner import worker_env


# --------------------------------------------------------------------------- references
def chi_one_train_at_a_time(trains, t_start, t_stop, bin_ms=1.0, window_ms=5.0) -> float:
    """Golomb's chi as first written: each train binned and boxed on its own (np.convolve)."""
    n_bins = stats.n_bins_of(t_start, t_stop, bin_ms)
    w = max(1, int(round(window_ms / bin_ms)))
    if len(trains) == 0 or n_bins < w + 1:
        return float("nan")
    box = np.ones(w)
    total = np.zeros(n_bins - w + 1)
    var_sum = 0.0
    for times in trains:
        times = np.asarray(times, dtype=np.float64)
        b = stats.bin_index(times[(times >= t_start) & (times < t_stop)], t_start, bin_ms)
        x = np.convolve(np.bincount(b[b < n_bins], minlength=n_bins).astype(np.float64), box, mode="valid")
        total += x
        var_sum += x.var()
    if var_sum <= 0:
        return float("nan")
    n = len(trains)
    return float(math.sqrt((total / n).var() / (var_sum / n)))


def elephant_correlations(counts: np.ndarray, t_start: float, bin_ms: float) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return correlation_coefficient(BinnedSpikeTrain(counts, bin_size=bin_ms * pq.ms, t_start=t_start * pq.ms))


def population(rate_hz: float, n: int = 400, seed: int = 0, t_stop: float = 1000.0):
    neuron, time = poisson_spikes(n, rate_hz, t_stop, seed=seed)
    order = np.lexsort((neuron, time))
    return stats.select_population(neuron[order], time[order], Population("E", 0, n), 100.0, t_stop - 50.0)


# 1 Hz and 4 Hz in 10 ms bins: Elephant's sparse formula; 15 and 40 Hz: its np.corrcoef branch
RATES = (1.0, 4.0, 15.0, 40.0)


# --------------------------------------------------------------------------- correlations
@pytest.mark.parametrize("rate", RATES)
def test_correlations_are_elephants_to_the_last_bit(rate):
    ps = population(rate, seed=int(rate))
    sub = stats.active_subsample(ps, 200, seed=1)
    n_bins = stats.n_bins_of(ps.t_start, ps.t_stop, 10.0)
    counts = np.zeros((len(sub), n_bins), dtype=np.int64)
    for row, i in enumerate(sub):  # the counts as first built: one train at a time
        b = stats.bin_index(ps.train_times(int(i)), ps.t_start, 10.0)
        np.add.at(counts[row], b[b < n_bins], 1)
    times, rows = stats.subsample_spikes(ps, sub)
    np.testing.assert_array_equal(binned_counts(times, rows, len(sub), ps.t_start, 10.0, n_bins), counts)
    dense = np.count_nonzero(counts) / counts.size > 0.1
    assert dense == (rate > 10), (rate, np.count_nonzero(counts) / counts.size)  # both of Elephant's branches
    ref = elephant_correlations(counts, ps.t_start, 10.0)
    mine = correlation_coefficient_counts(counts)
    np.testing.assert_array_equal(mine, ref)  # bitwise, NaN where NaN
    iu = np.triu_indices(len(sub), 1)
    np.testing.assert_array_equal(stats.pairwise_correlations(ps, sub, 10.0), ref[iu])


def test_correlations_of_an_empty_train_are_nan_as_elephants():
    counts = np.array([[0, 1, 0, 2, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0, 0, 0], [1, 0, 0, 1, 0, 0, 0, 1]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mine = correlation_coefficient_counts(counts)
    np.testing.assert_array_equal(mine, elephant_correlations(counts, 0.0, 10.0))
    assert np.isnan(mine[1]).all() and np.isfinite(mine[0, 2])


# --------------------------------------------------------------------------- chi
@pytest.mark.parametrize("rate", RATES)
def test_chi_equals_the_per_train_definition_to_the_last_bit(rate):
    ps = population(rate, n=300, seed=7 + int(rate))
    sub = stats.active_subsample(ps, 3 * CHI_BLOCK_TRAINS + 5, seed=2)  # several blocks, a partial one
    trains = [ps.train_times(int(i)) for i in sub]
    ref = chi_one_train_at_a_time(trains, ps.t_start, ps.t_stop)
    assert stats.golomb_chi_spikes(ps, sub) == ref
    assert stats.golomb_chi_trains(trains, ps.t_start, ps.t_stop) == ref
    # trains given whole (spikes outside the window are dropped), an empty one among them
    whole = [np.r_[-5.0, t, ps.t_stop + 1.0] for t in trains] + [np.empty(0)]
    assert stats.golomb_chi_trains(whole, ps.t_start, ps.t_stop) == chi_one_train_at_a_time(
        whole, ps.t_start, ps.t_stop
    )
    assert math.isnan(stats.golomb_chi_trains([np.empty(0)] * 3, ps.t_start, ps.t_stop))


# --------------------------------------------------------------------------- kernel rate
@pytest.mark.parametrize("period", [0.1, 0.05, 0.25, 0.3, 1.0, 2.0])
def test_default_kernel_is_elephants_to_the_last_bit(period):
    kernel = kernels.RectangularKernel(sigma=5.0 / (2.0 * math.sqrt(3.0)) * pq.ms)
    sigma = float(kernel.sigma.rescale(pq.ms).magnitude)
    half = math.ceil(5.0 * sigma / period)
    t = np.linspace(-5.0 * sigma, 5.0 * sigma, num=2 * half + 1, endpoint=True)
    ref = kernel(t * pq.ms).rescale(pq.Hz).magnitude
    np.testing.assert_array_equal(default_box_kernel_hz(period), ref)
    ps = population(12.0)
    _, mine = stats.population_rate_kernel(ps.time, ps.size, ps.t_start, ps.t_stop, period)
    _, given = stats.population_rate_kernel(ps.time, ps.size, ps.t_start, ps.t_stop, period, kernel=kernel)
    np.testing.assert_array_equal(mine, given)


# --------------------------------------------------------------------------- a point's analysis
def test_a_points_analysis_imports_neither_elephant_nor_quantities(tmp_path):
    """stats.json and sweep_point.json of a point, in a fresh process: Elephant, neo and
    quantities stay unimported (they were most of a worker's start-up), and so do SciPy's
    signal and stats modules (half a second of import for a Welch spectrum and a
    convolution, :mod:`balanced.analysis.poprate`)."""
    run = poisson_run(tmp_path / "p", n_e=400, n_i=400, rate_hz=8.0, t_stop_ms=1000.0, seed=3)
    manifest = read_manifest(run)
    manifest["params"] = replace(resolve("balanced"), N_E=400, N_I=400, K=40, T=1000.0, record_n=5).to_dict()
    write_manifest(run, manifest)
    code = (
        "import sys, json; from pathlib import Path; from balanced.sweep.worker import analyze_point; "
        "s = analyze_point(Path(sys.argv[1]), 100.0, None); "
        "heavy = ('elephant', 'neo', 'quantities', 'scipy.signal', 'scipy.stats'); "
        "print(json.dumps([sorted(m for m in heavy if m in sys.modules), "
        "s['E']['corr_mean'], s['network']['chi']]))"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(run)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    loaded, corr, chi = json.loads(proc.stdout.strip().splitlines()[-1])
    assert loaded == [] and abs(corr) < 0.01 and 0 < chi < 0.3
    assert (run / "analysis" / "sweep_point.json").is_file() and (run / "analysis" / "stats.json").is_file()


# --------------------------------------------------------------------------- processes
def test_points_run_with_one_blas_thread_unless_the_user_chose(monkeypatch):
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    env = worker_env()
    assert env["OPENBLAS_NUM_THREADS"] == "1" and env["MKL_NUM_THREADS"] == "1"
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "4")
    assert worker_env()["OPENBLAS_NUM_THREADS"] == "4"


def test_the_analysis_worker_runs_with_one_thread_of_each_kind_unless_the_user_chose(monkeypatch):
    from balanced.analysis.worker import _child_env

    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)
    assert {v: _child_env()[v] for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")} == {
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert _child_env()["OMP_NUM_THREADS"] == "3"


def test_chi_of_a_long_run_bins_in_bounded_blocks():
    """100 s of 1 ms bins: fewer trains than CHI_BLOCK_TRAINS fit in a block; the same chi."""
    from balanced.analysis.synchrony import CHI_BLOCK_VALUES

    ps = population(5.0, n=80, seed=5, t_stop=100000.0)
    n_bins = stats.n_bins_of(ps.t_start, ps.t_stop, 1.0)
    assert CHI_BLOCK_VALUES // (n_bins + 1) < CHI_BLOCK_TRAINS < 80
    sub = stats.active_subsample(ps, 80, seed=0)
    trains = [ps.train_times(int(i)) for i in sub]
    assert stats.golomb_chi_spikes(ps, sub) == chi_one_train_at_a_time(trains, ps.t_start, ps.t_stop)
