"""Pairwise count correlations (Elephant, on a subsample) and Golomb's synchrony chi."""

from __future__ import annotations

import math
import warnings

import numpy as np

from .selection import PopulationSpikes, bin_index, n_bins_of


def active_subsample(ps: PopulationSpikes, n: int, seed: int) -> np.ndarray:
    """Up to ``n`` population indices drawn without replacement (seeded) among the neurons
    that fire in the window, sorted."""
    active = np.flatnonzero(ps.counts() > 0)
    if len(active) <= n:
        return active
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(active, size=n, replace=False))


def pairwise_correlations(ps: PopulationSpikes, indices: np.ndarray, bin_ms: float = 10.0) -> np.ndarray:
    """Correlation coefficients of all distinct pairs of ``indices`` (upper triangle) from
    ``elephant.spike_train_correlation.correlation_coefficient`` on a BinnedSpikeTrain.

    The counts are binned here (:func:`bin_index`, Elephant's rule, tested equal) and
    handed to ``BinnedSpikeTrain`` as a matrix: building it from neo SpikeTrains costs
    0.3 s at the tutorial size in unit checks alone, half of this function's time.
    """
    n_bins = n_bins_of(ps.t_start, ps.t_stop, bin_ms)
    if len(indices) < 2 or n_bins < 2:
        return np.empty(0)
    import quantities as pq
    from elephant.conversion import BinnedSpikeTrain
    from elephant.spike_train_correlation import correlation_coefficient

    counts = np.zeros((len(indices), n_bins), dtype=np.int64)
    for row, i in enumerate(indices):
        b = bin_index(ps.train_times(int(i)), ps.t_start, bin_ms)
        np.add.at(counts[row], b[b < n_bins], 1)  # spikes in a last partial bin are dropped, as Elephant does
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        binned = BinnedSpikeTrain(counts, bin_size=bin_ms * pq.ms, t_start=ps.t_start * pq.ms)
        cc = correlation_coefficient(binned)
    iu = np.triu_indices(len(indices), k=1)
    return np.asarray(cc)[iu]


def golomb_chi_trains(
    trains: list[np.ndarray], t_start: float, t_stop: float, bin_ms: float = 1.0, window_ms: float = 5.0
) -> float:
    """Golomb's chi from spike trains (arrays of times in ms): x_i(t) = spikes of train i
    in a sliding ``window_ms`` box sampled every ``bin_ms`` over ``[t_start, t_stop)``;
    chi^2 = Var_t(mean_i x_i) / mean_i Var_t(x_i) (variances ddof 0).

    Memory O(bins): the trains are binned one at a time. NaN if every train is flat.
    """
    n_bins = n_bins_of(t_start, t_stop, bin_ms)
    w = max(1, int(round(window_ms / bin_ms)))
    if len(trains) == 0 or n_bins < w + 1:
        return float("nan")
    box = np.ones(w)
    total = np.zeros(n_bins - w + 1)
    var_sum = 0.0
    for times in trains:
        times = np.asarray(times, dtype=np.float64)
        b = bin_index(times[(times >= t_start) & (times < t_stop)], t_start, bin_ms)
        x = np.convolve(np.bincount(b[b < n_bins], minlength=n_bins).astype(np.float64), box, mode="valid")
        total += x
        var_sum += x.var()
    if var_sum <= 0:
        return float("nan")
    n = len(trains)
    return float(math.sqrt((total / n).var() / (var_sum / n)))


def golomb_chi_spikes(ps: PopulationSpikes, indices: np.ndarray, bin_ms: float = 1.0, window_ms: float = 5.0) -> float:
    """:func:`golomb_chi_trains` of the chosen neurons of a population."""
    return golomb_chi_trains([ps.train_times(int(i)) for i in indices], ps.t_start, ps.t_stop, bin_ms, window_ms)


def golomb_chi_signal(x: np.ndarray) -> float:
    """Golomb's chi of signals ``x`` (neurons x times), NaN samples ignored."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] < 2:
        return float("nan")
    denom = np.nanmean(np.nanvar(x, axis=1))
    if not denom > 0:
        return float("nan")
    return float(math.sqrt(np.nanvar(np.nanmean(x, axis=0)) / denom))
