"""Analysis window, Elephant's binning rule, and one population's spikes sorted by neuron.

The ground every statistic of :mod:`balanced.analysis.stats` stands on: the window
``[t_start, t_stop)`` (ms, half-open), :class:`AnalysisParams`, the bin assignment of
``elephant.conversion.BinnedSpikeTrain`` reproduced on flat arrays, and
:func:`select_population`, which sorts a population's spikes by (neuron, time) once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from balanced.rundir import Population

# Elephant's tolerance for spikes that sit on a bin edge up to floating-point error
# (elephant.utils.round_binning_errors): such spikes go into the following bin.
BINNING_TOLERANCE = 1e-8


@dataclass(frozen=True)
class AnalysisParams:
    """Analysis parameters (times in ms). Recorded in stats.json under meta.analysis."""

    fano_window_ms: float = 100.0
    corr_bin_ms: float = 10.0
    corr_n_neurons: int = 200
    chi_bin_ms: float = 1.0
    chi_window_ms: float = 5.0
    rate_box_ms: float = 5.0
    psd_bin_ms: float = 1.0
    psd_min_freq_hz: float = 2.0
    psd_segment_ms: float = 1000.0
    isi_hist_bins: int = 100
    raster_max_neurons: int = 1000
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


MIN_WINDOW_MS = 1.0


def default_window(t_total_ms: float) -> tuple[float, float]:
    """The default analysis window: 50 ms after the start to 50 ms before the end."""
    if t_total_ms > 100.0:
        return 50.0, t_total_ms - 50.0
    return 0.0, float(t_total_ms)


def resolve_window(t_total_ms: float, t_start: float | None, t_stop: float | None) -> tuple[float, float]:
    d_start, d_stop = default_window(t_total_ms)
    t_start = d_start if t_start is None else float(t_start)
    t_stop = d_stop if t_stop is None else float(t_stop)
    if not (0.0 <= t_start < t_stop <= t_total_ms + 1e-9):
        raise ValueError(
            f"analysis window ({t_start}, {t_stop}) ms must satisfy 0 <= t_start < t_stop <= T = {t_total_ms} ms"
        )
    if t_stop - t_start < MIN_WINDOW_MS - 1e-9:
        raise ValueError(
            f"analysis window ({t_start:g}, {t_stop:g}) ms: must span at least {MIN_WINDOW_MS:g} ms "
            "(the population rate's bin)"
        )
    return t_start, t_stop


# --------------------------------------------------------------------------- binning helpers
def _round_binning(values: np.ndarray) -> np.ndarray:
    """``elephant.utils.round_binning_errors`` without the log message: floor, but a value
    within 1e-8 below the next integer goes up to it."""
    values = np.asarray(values, dtype=np.float64)
    correction = (1.0 - BINNING_TOLERANCE) <= values % 1
    if np.any(correction):
        values = values.copy()
        values[correction] += 0.5
    return values.astype(np.int64)


def n_bins_of(t_start: float, t_stop: float, bin_ms: float) -> int:
    """Number of whole bins in ``[t_start, t_stop)``, as BinnedSpikeTrain counts them."""
    return int(_round_binning(np.array([(t_stop - t_start) / bin_ms]))[0])


def bin_index(time: np.ndarray, t_start: float, bin_ms: float) -> np.ndarray:
    """Bin of each spike time, as ``BinnedSpikeTrain`` assigns it (edge spikes go right)."""
    return _round_binning((np.asarray(time) - t_start) / bin_ms)


# --------------------------------------------------------------------------- sorted per-population spikes
@dataclass(frozen=True)
class PopulationSpikes:
    """One population's spikes inside the window, sorted by (neuron, time).

    ``index`` is the neuron's index inside the population (0 .. size-1).
    """

    population: Population
    t_start: float
    t_stop: float
    index: np.ndarray  # int64, sorted
    time: np.ndarray  # float64, sorted by time within a neuron

    @property
    def size(self) -> int:
        return self.population.size

    @property
    def duration_s(self) -> float:
        return (self.t_stop - self.t_start) / 1000.0

    def counts(self) -> np.ndarray:
        return np.bincount(self.index, minlength=self.size)

    def train_times(self, i: int) -> np.ndarray:
        lo, hi = np.searchsorted(self.index, [i, i + 1])
        return self.time[lo:hi]


def select_population(
    neuron: np.ndarray, time: np.ndarray, population: Population, t_start: float, t_stop: float
) -> PopulationSpikes:
    """The spikes of ``population`` with ``t_start <= t < t_stop``, sorted by neuron then time.

    Input may be in any order; a stable sort on (neuron) after a sort on time is used, so
    the cost is one radix argsort of the neuron indices when the input is time-sorted
    (as ``spikes.npz`` is).
    """
    neuron = np.asarray(neuron)
    time = np.asarray(time, dtype=np.float64)
    mask = (neuron >= population.first) & (neuron < population.stop) & (time >= t_start) & (time < t_stop)
    idx = neuron[mask].astype(np.int64) - population.first
    t = time[mask]
    del mask
    if len(t) > 1 and np.any(np.diff(t) < 0):
        order = np.argsort(t, kind="stable")
        idx, t = idx[order], t[order]
    order = _stable_order(idx)
    return PopulationSpikes(population, float(t_start), float(t_stop), idx[order], t[order])


def _stable_order(idx: np.ndarray) -> np.ndarray:
    """``np.argsort(idx, kind="stable")`` for non-negative int indices, faster: one
    (vectorised, unstable) sort of unique keys ``idx << 32 | position``."""
    n = len(idx)
    if n >= 2**32 or (n and int(idx.max()) >= 2**31):
        return np.argsort(idx, kind="stable")
    key = (idx.astype(np.int64) << 32) | np.arange(n, dtype=np.int64)
    key.sort()
    key &= 0xFFFFFFFF
    return key
