"""Per-neuron firing rates, ISI variability (CV, LV, CV2) and temporal Fano factors.

Vectorised over a whole population with numpy on spikes sorted by (neuron, time)
(:class:`balanced.analysis.selection.PopulationSpikes`), with the definitions of
``elephant.statistics`` reproduced exactly (``tests/test_analysis.py`` compares them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .selection import PopulationSpikes, bin_index, n_bins_of


def firing_rates(ps: PopulationSpikes) -> np.ndarray:
    """Rate of each neuron in Hz over the window (``mean_firing_rate``); silent = 0 Hz."""
    return ps.counts() / ps.duration_s


@dataclass
class IsiVariability:
    """Per-neuron ISI statistics; NaN for neurons with fewer than 3 spikes."""

    cv: np.ndarray
    lv: np.ndarray
    cv2: np.ndarray
    n_spikes: np.ndarray

    @property
    def included(self) -> np.ndarray:
        return self.n_spikes >= 3


def isi_variability(ps: PopulationSpikes) -> IsiVariability:
    """CV (``cv(isi(train))``, ddof 0), LV and CV2 of every neuron, vectorised.

    A neuron enters when it has at least 3 spikes in the window (2 ISIs), as ``lv`` and
    ``cv2`` need; others get NaN.
    """
    n = ps.size
    counts = ps.counts()
    out = IsiVariability(np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan), counts)
    if len(ps.time) < 3:
        return out
    same = ps.index[1:] == ps.index[:-1]
    isi = np.diff(ps.time)[same]
    owner = ps.index[1:][same]
    del same
    n_isi = np.bincount(owner, minlength=n).astype(np.float64)
    ok = n_isi >= 2
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(owner, weights=isi, minlength=n) / n_isi
        dev = isi - mean[owner]
        var = np.bincount(owner, weights=dev * dev, minlength=n) / n_isi
        del dev
        out.cv[ok] = np.sqrt(var[ok]) / mean[ok]
        # consecutive ISI pairs of the same neuron
        pair = owner[1:] == owner[:-1]
        a, b = isi[:-1][pair], isi[1:][pair]
        pown = owner[1:][pair]
        del pair
        ratio = (b - a) / (a + b)
        n_pair = np.bincount(pown, minlength=n).astype(np.float64)
        lv = 3.0 * np.bincount(pown, weights=ratio * ratio, minlength=n) / n_pair
        cv2 = 2.0 * np.bincount(pown, weights=np.abs(ratio), minlength=n) / n_pair
    out.lv[ok] = lv[ok]
    out.cv2[ok] = cv2[ok]
    return out


def isi_histogram(ps: PopulationSpikes, n_bins: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Histogram of all ISIs of the population (ms): (counts, edges), 0 to the 99th
    percentile (the long tail would flatten the plot)."""
    if len(ps.time) < 2:
        return np.zeros(n_bins, np.int64), np.linspace(0.0, 1.0, n_bins + 1)
    same = ps.index[1:] == ps.index[:-1]
    isi = np.diff(ps.time)[same]
    if len(isi) == 0:
        return np.zeros(n_bins, np.int64), np.linspace(0.0, 1.0, n_bins + 1)
    top = float(np.percentile(isi, 99.0))
    top = top if top > 0 else float(isi.max()) or 1.0
    counts, edges = np.histogram(isi, bins=n_bins, range=(0.0, top))
    return counts, edges


def fano_factors(ps: PopulationSpikes, window_ms: float = 100.0) -> tuple[np.ndarray, int]:
    """Temporal Fano factor of each neuron: var / mean (ddof 0) of its counts in
    consecutive ``window_ms`` windows tiling the analysis window; NaN where the mean is 0.

    Counts are formed only for (neuron, window) pairs that hold spikes (memory linear in
    spikes): the empty windows enter the moments as zeros. Returns (fano, n_windows).
    """
    n_win = n_bins_of(ps.t_start, ps.t_stop, window_ms)
    fano = np.full(ps.size, np.nan)
    if n_win < 1:
        return fano, 0
    win = bin_index(ps.time, ps.t_start, window_ms)
    keep = win < n_win
    idx, win = ps.index[keep], win[keep]
    if len(idx) == 0:
        return fano, n_win
    key = idx * n_win + win  # sorted, since spikes are sorted by (neuron, time)
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    c = np.diff(np.r_[starts, len(key)]).astype(np.float64)
    owner = idx[starts]
    s1 = np.bincount(owner, weights=c, minlength=ps.size)
    mean = s1 / n_win
    active = mean > 0
    # two-pass variance: sum over non-empty windows of (c - mean)^2 plus the empty ones
    dev = c - mean[owner]
    n_nonempty = np.bincount(owner, minlength=ps.size)
    ss = np.bincount(owner, weights=dev * dev, minlength=ps.size) + (n_win - n_nonempty) * mean**2
    fano[active] = (ss[active] / n_win) / mean[active]
    return fano, n_win
