"""Pairwise count correlations and Golomb's synchrony chi, on a subsample of neurons.

Both bin every chosen train at once (one ``bincount`` of ``row * n_bins + bin``) instead of
train by train. The correlation coefficients are
``elephant.spike_train_correlation.correlation_coefficient`` of a ``BinnedSpikeTrain``
of those counts, computed here with the same operations in the same order (both of
Elephant's branches), so the numbers are Elephant's to the last bit
(``tests/test_sweep_point_cost.py`` compares them) without importing Elephant.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from .selection import PopulationSpikes, bin_index, n_bins_of

# Elephant's correlation_coefficient uses np.corrcoef on the dense counts above this
# fraction of non-empty bins, and its sparse formula below it
# (elephant.spike_train_correlation._SPARSITY_MEMORY_EFFICIENT_THR).
DENSE_CORRCOEF_SPARSITY = 0.1
# trains binned at once by the chi: at most this many, and at most CHI_BLOCK_VALUES bins
# in all (16 MiB per float64 array, however long the run)
CHI_BLOCK_TRAINS = 64
CHI_BLOCK_VALUES = 1 << 21


def active_subsample(ps: PopulationSpikes, n: int, seed: int) -> np.ndarray:
    """Up to ``n`` population indices drawn without replacement (seeded) among the neurons
    that fire in the window, sorted."""
    active = np.flatnonzero(ps.counts() > 0)
    if len(active) <= n:
        return active
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(active, size=n, replace=False))


def subsample_spikes(ps: PopulationSpikes, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(times ms, row) of the spikes of the neurons ``indices`` (sorted, unique): row ``r``
    is neuron ``indices[r]``; rows ascending, each neuron's times in order."""
    indices = np.asarray(indices, dtype=np.int64)
    mask = np.isin(ps.index, indices)
    return ps.time[mask], np.searchsorted(indices, ps.index[mask])


def binned_counts(
    times: np.ndarray, rows: np.ndarray, n_rows: int, t_start: float, bin_ms: float, n_bins: int
) -> np.ndarray:
    """Spike counts (n_rows, n_bins) int64: Elephant's bin of each time (:func:`bin_index`);
    times before ``t_start`` must be removed first, those past the last whole bin are dropped
    (as ``BinnedSpikeTrain`` drops a last partial bin)."""
    b = bin_index(times, t_start, bin_ms)
    ok = b < n_bins
    flat = np.bincount(np.asarray(rows, np.int64)[ok] * n_bins + b[ok], minlength=n_rows * n_bins)
    return flat.reshape(n_rows, n_bins)


def correlation_coefficient_counts(counts: np.ndarray) -> np.ndarray:
    """``correlation_coefficient(BinnedSpikeTrain(counts, ...))`` of Elephant 1.2 (``binary
    = False``, ``fast = True``): the (n, n) Pearson coefficients of the rows of ``counts``,
    NaN rows and columns for empty trains."""
    import scipy.sparse as sps

    counts = np.asarray(counts)
    n_bins = counts.shape[1]
    if np.count_nonzero(counts) / counts.size > DENSE_CORRCOEF_SPARSITY:
        return np.corrcoef(counts)
    # Elephant's _covariance_sparse on its int32 CSR matrix (sparse products: fast for long runs)
    spmat = sps.csr_matrix(counts, dtype=np.int32)
    n_spikes = np.asarray(spmat.sum(axis=1))  # (n, 1) int64: the outer product below is exact
    res = spmat.dot(spmat.T).toarray() - n_spikes * n_spikes.T / n_bins
    with np.errstate(invalid="ignore", divide="ignore"):
        std = np.expand_dims(np.sqrt(res.diagonal()), axis=0)
        res /= std.T * std
    return np.squeeze(res)


def pairwise_correlations(ps: PopulationSpikes, indices: np.ndarray, bin_ms: float = 10.0) -> np.ndarray:
    """Correlation coefficients of all distinct pairs of ``indices`` (upper triangle), as
    ``elephant.spike_train_correlation.correlation_coefficient`` gives them on a
    BinnedSpikeTrain of ``bin_ms`` bins over the window (:func:`correlation_coefficient_counts`)."""
    n_bins = n_bins_of(ps.t_start, ps.t_stop, bin_ms)
    if len(indices) < 2 or n_bins < 2:
        return np.empty(0)
    times, rows = subsample_spikes(ps, indices)
    counts = binned_counts(times, rows, len(indices), ps.t_start, bin_ms, n_bins)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cc = correlation_coefficient_counts(counts)
    iu = np.triu_indices(len(indices), k=1)
    return np.asarray(cc)[iu]


def golomb_chi_binned(
    times: np.ndarray,
    rows: np.ndarray,
    n_rows: int,
    t_start: float,
    t_stop: float,
    bin_ms: float = 1.0,
    window_ms: float = 5.0,
) -> float:
    """Golomb's chi of ``n_rows`` trains given as flat (times ms, row) arrays: x_i(t) =
    spikes of train i in a sliding ``window_ms`` box sampled every ``bin_ms`` over
    ``[t_start, t_stop)``; chi^2 = Var_t(mean_i x_i) / mean_i Var_t(x_i) (variances ddof 0).

    Memory: a few arrays of :data:`CHI_BLOCK_VALUES` values at most (blocks of trains). The
    variances are summed train by train in row order, so the result does not depend on the
    block size. NaN if every train is flat.
    """
    n_bins = n_bins_of(t_start, t_stop, bin_ms)
    w = max(1, int(round(window_ms / bin_ms)))
    if n_rows == 0 or n_bins < w + 1:
        return float("nan")
    times = np.asarray(times, dtype=np.float64)
    rows = np.asarray(rows, dtype=np.int64)
    keep = (times >= t_start) & (times < t_stop)
    times, rows = times[keep], rows[keep]
    order = np.argsort(rows, kind="stable")
    times, rows = times[order], rows[order]
    total = np.zeros(n_bins - w + 1)
    var_sum = 0.0
    block = max(1, min(CHI_BLOCK_TRAINS, CHI_BLOCK_VALUES // (n_bins + 1)))
    for r0 in range(0, n_rows, block):
        r1 = min(n_rows, r0 + block)
        lo, hi = np.searchsorted(rows, [r0, r1])
        counts = binned_counts(times[lo:hi], rows[lo:hi] - r0, r1 - r0, t_start, bin_ms, n_bins)
        cum = np.zeros((r1 - r0, n_bins + 1), dtype=np.int64)
        np.cumsum(counts, axis=1, out=cum[:, 1:])
        x = (cum[:, w:] - cum[:, :-w]).astype(np.float64)  # the box sums; integers, so exact
        total += x.sum(axis=0)
        for v in x.var(axis=1):
            var_sum += float(v)
    if var_sum <= 0:
        return float("nan")
    return float(math.sqrt((total / n_rows).var() / (var_sum / n_rows)))


def golomb_chi_trains(
    trains: list[np.ndarray], t_start: float, t_stop: float, bin_ms: float = 1.0, window_ms: float = 5.0
) -> float:
    """:func:`golomb_chi_binned` of spike trains (arrays of times in ms)."""
    if len(trains) == 0:
        return float("nan")
    times = np.concatenate([np.asarray(t, dtype=np.float64) for t in trains])
    rows = np.repeat(np.arange(len(trains)), [len(t) for t in trains])
    return golomb_chi_binned(times, rows, len(trains), t_start, t_stop, bin_ms, window_ms)


def golomb_chi_spikes(ps: PopulationSpikes, indices: np.ndarray, bin_ms: float = 1.0, window_ms: float = 5.0) -> float:
    """:func:`golomb_chi_binned` of the chosen neurons of a population."""
    times, rows = subsample_spikes(ps, indices)
    return golomb_chi_binned(times, rows, len(indices), ps.t_start, ps.t_stop, bin_ms, window_ms)


def golomb_chi_signal(x: np.ndarray) -> float:
    """Golomb's chi of signals ``x`` (neurons x times), NaN samples ignored."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] < 2:
        return float("nan")
    denom = np.nanmean(np.nanvar(x, axis=1))
    if not denom > 0:
        return float("nan")
    return float(math.sqrt(np.nanvar(np.nanmean(x, axis=0)) / denom))
