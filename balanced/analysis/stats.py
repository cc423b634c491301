"""Statistics of a run, per population, on flat spike arrays (Elephant's definitions).

Imports no NEST and draws nothing. Every function takes the flat arrays a run directory
holds (``neuron``: int32 global index, ``time``: float64 ms; see docs/design.md) and
returns numbers or numpy arrays. neo / Elephant objects are built only for the small
subsets analysed pairwise (correlations), because one ``neo.SpikeTrain`` costs about
0.1-0.4 ms and ``instantaneous_rate`` / ``correlation_coefficient`` allocate N x bins and
N x N arrays. Everything per neuron is vectorised with numpy on the spikes sorted by
neuron, with the definitions of Elephant 1.2 reproduced exactly; ``tests/test_analysis.py``
checks each against Elephant's own function called on a subset of neurons.

Conventions (all documented key by key in ``docs/analysis.md`` / :data:`STATS_KEYS`):

* Analysis window ``[t_start, t_stop)`` in ms, half-open: a spike at ``t`` counts if
  ``t_start <= t < t_stop``. Default ``t_start = 50 ms``, ``t_stop = T - 50 ms`` (the
  tutorial's 50-950 ms window at T = 1000 ms); ``(0, T)`` if T <= 100 ms.
* Firing rate of a neuron: spikes in the window / window length (Hz); silent neurons
  count as 0 Hz (``elephant.statistics.mean_firing_rate``).
* ISI CV: ``elephant.statistics.cv(isi(train))`` = SD / mean of the ISIs, ddof 0; LV and
  CV2: ``elephant.statistics.lv`` / ``cv2`` of the ISIs. Only neurons with at least
  3 spikes in the window (2 ISIs) enter, for all three.
* Temporal Fano factor of a neuron: var / mean (ddof 0) of its spike counts in
  consecutive windows of ``fano_window_ms`` (default 100 ms) tiling the analysis window
  (a last partial window is dropped; binning as ``elephant.conversion.BinnedSpikeTrain``);
  neurons with a nonzero mean count only. ``fano_mean`` is the mean over those neurons.
* Pairwise correlations: ``elephant.spike_train_correlation.correlation_coefficient`` on a
  ``BinnedSpikeTrain`` (bins of ``corr_bin_ms``, default 10 ms) of a seeded subsample of
  ``corr_n_neurons`` (default 200) neurons per population drawn among the neurons that
  fire in the window (silent neurons have no defined coefficient); all distinct pairs.
* Population rate: histogram of all spike times of a population on the simulation grid
  (sample ``j`` counts the spikes whose time rounds to ``j dt``), divided by N dt, and
  smoothed exactly as the tutorial's ``bp.measure.firing_rate(spikes, 5.)``: a box of
  ``int(width / 2 / dt) * 2 + 1`` samples of height 1000 / width, ``np.convolve(...,
  'same')``, over the whole run then cut to the window. Sampled at 0.1 ms, the 5 ms box
  spans 5.1 ms, so it over-counts by 2 % as the tutorial's does. Elephant's kernel
  definition (``instantaneous_rate(..., pool_spike_trains=True)``) is computed too, from
  the same pooled histogram (never N x bins): :func:`population_rate_kernel`.
* Golomb's synchrony chi: ``chi^2 = Var_t(mean_i x_i(t)) / mean_i Var_t(x_i(t))`` where
  ``x_i(t)`` is neuron i's spike count in a sliding ``chi_window_ms`` (default 5 ms) box,
  sampled every ``chi_bin_ms`` (1 ms), over the window, for the correlation subsample
  (active neurons only). chi is about 1/sqrt(n) for independent neurons, 1 for fully
  synchronous ones. ``chi_v`` is the same measure with ``x_i = V_m`` of the recorded
  neurons.
* Dominant frequency: peak of the Welch PSD (Hann, segments of 1 s or the whole window
  if shorter) of the network's unsmoothed population rate in ``psd_bin_ms`` (1 ms) bins
  (Nyquist 500 Hz, far above the network's rhythms), ignoring
  frequencies below ``psd_min_freq_hz`` (2 Hz).
* Balance (when ``state.npz`` was recorded): means over the recorded neurons and the
  window samples of ``I_syn_ex``, ``I_syn_in`` and their sum, in pA (= mV here); ``v_mean``
  is the mean over neurons of each neuron's temporal mean of V_m, ``v_sd`` the mean over
  neurons of each neuron's temporal SD (ddof 0): the typical size of one neuron's
  membrane-potential fluctuations, not the spread across neurons.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from balanced.rundir import Population, Run, State

# Elephant's tolerance for spikes that sit on a bin edge up to floating-point error
# (elephant.utils.round_binning_errors): such spikes go into the following bin.
BINNING_TOLERANCE = 1e-8


# --------------------------------------------------------------------------- parameters
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
        raise ValueError(f"analysis window ({t_start}, {t_stop}) ms must satisfy 0 <= t_start < t_stop <= T = {t_total_ms} ms")
    if t_stop - t_start < MIN_WINDOW_MS - 1e-9:
        raise ValueError(f"analysis window ({t_start:g}, {t_stop:g}) ms: must span at least {MIN_WINDOW_MS:g} ms "
                         "(the population rate's bin)")
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


def select_population(neuron: np.ndarray, time: np.ndarray, population: Population,
                      t_start: float, t_stop: float) -> PopulationSpikes:
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


# --------------------------------------------------------------------------- per-neuron statistics
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
    ss = np.bincount(owner, weights=dev * dev, minlength=ps.size) + (n_win - n_nonempty) * mean ** 2
    fano[active] = (ss[active] / n_win) / mean[active]
    return fano, n_win


# --------------------------------------------------------------------------- pairwise (subsample, Elephant)
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


def golomb_chi_trains(trains: list[np.ndarray], t_start: float, t_stop: float, bin_ms: float = 1.0,
                      window_ms: float = 5.0) -> float:
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


def golomb_chi_spikes(ps: PopulationSpikes, indices: np.ndarray, bin_ms: float = 1.0,
                      window_ms: float = 5.0) -> float:
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


# --------------------------------------------------------------------------- population rate
def grid_histogram(time: np.ndarray, t_total_ms: float, dt: float) -> np.ndarray:
    """Spikes per simulation step: sample ``j`` (time ``j dt``, j = 0 .. T/dt) counts the
    spikes whose time rounds to ``j dt``. NEST times sit on the grid, so no spike is
    split by floating-point error."""
    n = int(round(t_total_ms / dt)) + 1
    j = np.rint(np.asarray(time) / dt).astype(np.int64)
    np.clip(j, 0, n - 1, out=j)
    return np.bincount(j, minlength=n)


def tutorial_rate(hist: np.ndarray, n_neurons: int, dt: float, width_ms: float = 5.0) -> np.ndarray:
    """``bp.measure.firing_rate(spikes, width)`` from the per-step spike histogram of a
    population of ``n_neurons``: box of ``int(width / 2 / dt) * 2 + 1`` samples, height
    1000 / width Hz, ``np.convolve(mean spikes per neuron, box, 'same')``."""
    width1 = int(width_ms / 2 / dt) * 2 + 1
    window = np.ones(width1) * 1000.0 / width_ms
    return np.convolve(hist / max(n_neurons, 1), window, mode="same")


def population_rate_kernel(time: np.ndarray, n_neurons: int, t_start: float, t_stop: float,
                           sampling_period_ms: float, kernel=None, cutoff: float = 5.0) -> tuple[np.ndarray, np.ndarray]:
    """Elephant's ``instantaneous_rate(trains, sampling_period, kernel,
    pool_spike_trains=True)`` for the population, from one histogram of all its spike
    times (Elephant builds N x bins; the convolution is linear, so the mean of the
    per-train rates is the rate of the pooled histogram divided by N).

    ``kernel``: an ``elephant.kernels.Kernel``; default a 5 ms box
    (``RectangularKernel(sigma = 5 ms / (2 sqrt 3))``). Returns (times_ms, rate_hz):
    Elephant's samples start at ``t_start``, one per ``sampling_period_ms``.
    """
    import quantities as pq
    import scipy.signal
    from elephant import kernels

    if kernel is None:
        kernel = kernels.RectangularKernel(sigma=5.0 / (2.0 * math.sqrt(3.0)) * pq.ms)
    n_bins = int((t_stop - t_start) / sampling_period_ms)
    hist_end = t_start + n_bins * sampling_period_ms
    hist, _ = np.histogram(np.asarray(time), bins=n_bins, range=(t_start, hist_end))
    sigma_ms = float(kernel.sigma.rescale(pq.ms).magnitude)
    cutoff = max(cutoff, kernel.min_cutoff)
    median_ms = float(kernel.icdf(0.5).rescale(pq.ms).magnitude)
    half = math.ceil(cutoff * sigma_ms / sampling_period_ms)
    t_arr = np.linspace(-cutoff * sigma_ms + median_ms, cutoff * sigma_ms + median_ms, num=2 * half + 1, endpoint=True)
    k = kernel(t_arr * pq.ms).rescale(pq.Hz).magnitude
    rate = scipy.signal.fftconvolve(hist.astype(np.float64), k, mode="same") / max(n_neurons, 1)
    np.clip(rate, 0.0, None, out=rate)
    times = t_start + sampling_period_ms * np.arange(n_bins)
    return times, rate


def dominant_frequency(rate_hz: np.ndarray, dt_ms: float, min_freq_hz: float = 2.0,
                       segment_ms: float = 1000.0) -> tuple[float, np.ndarray, np.ndarray]:
    """Peak of the Welch PSD of a rate signal sampled every ``dt_ms``, ignoring
    frequencies below ``min_freq_hz``. Returns (peak_hz, freqs_hz, psd)."""
    import scipy.signal

    rate_hz = np.asarray(rate_hz, dtype=np.float64)
    if len(rate_hz) < 8 or not np.any(rate_hz != rate_hz[0]):
        return float("nan"), np.empty(0), np.empty(0)
    nperseg = min(len(rate_hz), max(8, int(round(segment_ms / dt_ms))))
    freqs, psd = scipy.signal.welch(rate_hz, fs=1000.0 / dt_ms, nperseg=nperseg)
    sel = freqs >= min_freq_hz
    if not np.any(sel):
        return float("nan"), freqs, psd
    return float(freqs[sel][np.argmax(psd[sel])]), freqs, psd


# --------------------------------------------------------------------------- balance (state)
@dataclass
class BalanceStats:
    """Input balance from the recorded neurons, over the window (pA = mV; mV for V)."""

    n_neurons: int
    times_ms: np.ndarray
    exc_trace: np.ndarray  # mean over recorded neurons of I_syn_ex, per sample
    inh_trace: np.ndarray
    net_trace: np.ndarray
    mean_exc_input: float
    mean_inh_input: float
    mean_net_input: float
    v_mean: float
    v_sd: float
    chi_v: float
    per_population: dict[str, dict[str, float]] = field(default_factory=dict)


def _balance_numbers(ex: np.ndarray, inh: np.ndarray, v: np.ndarray) -> dict[str, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean_ex = float(np.nanmean(ex)) if ex.size else float("nan")
        mean_in = float(np.nanmean(inh)) if inh.size else float("nan")
        return {
            "n_neurons": int(v.shape[0]),
            "mean_exc_input": mean_ex,
            "mean_inh_input": mean_in,
            "mean_net_input": mean_ex + mean_in,
            "v_mean": float(np.nanmean(np.nanmean(v, axis=1))) if v.size else float("nan"),
            "v_sd": float(np.nanmean(np.nanstd(v, axis=1))) if v.size else float("nan"),
            "chi_v": golomb_chi_signal(v),
        }


def balance_statistics(state: State, populations: list[Population], t_start: float, t_stop: float) -> BalanceStats:
    """Mean E, I and net synaptic input, mean and SD of V_m (see the module docstring)."""
    cols = (state.time >= t_start) & (state.time < t_stop)
    ex, inh, v = state.I_syn_ex[:, cols], state.I_syn_in[:, cols], state.V_m[:, cols]
    whole = _balance_numbers(ex, inh, v)
    per_pop = {}
    for pop in populations:
        rows = (state.neuron >= pop.first) & (state.neuron < pop.stop)
        if np.any(rows):
            per_pop[pop.name] = _balance_numbers(ex[rows], inh[rows], v[rows])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        exc_trace = np.nanmean(ex, axis=0) if ex.shape[0] else np.empty(0)
        inh_trace = np.nanmean(inh, axis=0) if inh.shape[0] else np.empty(0)
    return BalanceStats(
        n_neurons=whole["n_neurons"], times_ms=state.time[cols], exc_trace=exc_trace, inh_trace=inh_trace,
        net_trace=exc_trace + inh_trace, mean_exc_input=whole["mean_exc_input"],
        mean_inh_input=whole["mean_inh_input"], mean_net_input=whole["mean_net_input"],
        v_mean=whole["v_mean"], v_sd=whole["v_sd"], chi_v=whole["chi_v"], per_population=per_pop)


# --------------------------------------------------------------------------- whole-run statistics
def _nanmean(x: np.ndarray) -> float:
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    return float(x.mean()) if len(x) else float("nan")


def _nansd(x: np.ndarray) -> float:
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    return float(x.std()) if len(x) else float("nan")


@dataclass
class PopulationStats:
    """Statistics of one population over the window. Arrays are per neuron (size,) unless
    said otherwise; NaN marks neurons a statistic excludes."""

    name: str
    first: int
    size: int
    n_spikes: int
    rates_hz: np.ndarray
    cv: np.ndarray
    lv: np.ndarray
    cv2: np.ndarray
    fano: np.ndarray
    fano_n_windows: int
    corr: np.ndarray  # pair coefficients of the subsample
    corr_neurons: np.ndarray  # global indices of the subsample
    chi: float
    isi_hist_counts: np.ndarray
    isi_hist_edges_ms: np.ndarray
    pop_rate_hz: np.ndarray  # tutorial's 5 ms box, on NetworkStats.times_ms
    pop_rate_kernel_hz: np.ndarray  # Elephant kernel rate, on NetworkStats.kernel_times_ms
    raster_neuron: np.ndarray  # spikes of the first raster_max_neurons neurons (global index)
    raster_time_ms: np.ndarray

    def summary(self) -> dict[str, Any]:
        rates = self.rates_hz
        return {
            "n_neurons": int(self.size),
            "n_spikes": int(self.n_spikes),
            "rate_mean_hz": float(rates.mean()) if len(rates) else float("nan"),
            "rate_sd_hz": float(rates.std()) if len(rates) else float("nan"),
            "n_silent": int(np.sum(rates == 0)),
            "cv_isi_mean": _nanmean(self.cv),
            "cv_isi_sd": _nansd(self.cv),
            "lv_mean": _nanmean(self.lv),
            "cv2_mean": _nanmean(self.cv2),
            "n_cv_neurons": int(np.sum(np.isfinite(self.cv))),
            "fano_mean": _nanmean(self.fano),
            "n_fano_neurons": int(np.sum(np.isfinite(self.fano))),
            "corr_mean": _nanmean(self.corr),
            "corr_sd": _nansd(self.corr),
            "n_corr_neurons": int(len(self.corr_neurons)),
            "n_corr_pairs": int(np.sum(np.isfinite(self.corr))),
            "chi": float(self.chi),
            "pop_rate_mean_hz": _nanmean(self.pop_rate_hz),
            "pop_rate_sd_hz": _nansd(self.pop_rate_hz),
            "pop_rate_kernel_sd_hz": _nansd(self.pop_rate_kernel_hz),
        }


@dataclass
class NetworkStats:
    """Whole-network quantities; the time axes are shared with the population rates."""

    times_ms: np.ndarray
    pop_rate_hz: np.ndarray
    kernel_times_ms: np.ndarray
    pop_rate_kernel_hz: np.ndarray
    chi: float
    n_chi_neurons: int
    peak_freq_hz: float
    psd_freqs_hz: np.ndarray
    psd: np.ndarray

    def summary(self) -> dict[str, Any]:
        return {
            "chi": float(self.chi),
            "n_chi_neurons": int(self.n_chi_neurons),
            "pop_rate_mean_hz": _nanmean(self.pop_rate_hz),
            "pop_rate_sd_hz": _nansd(self.pop_rate_hz),
            "pop_rate_kernel_mean_hz": _nanmean(self.pop_rate_kernel_hz),
            "pop_rate_kernel_sd_hz": _nansd(self.pop_rate_kernel_hz),
            "peak_freq_hz": float(self.peak_freq_hz),
        }


@dataclass
class RunStatistics:
    """Everything :func:`compute_statistics` finds; :meth:`summary` gives stats.json."""

    window_ms: tuple[float, float]
    dt_ms: float
    params: AnalysisParams
    populations: dict[str, PopulationStats]
    network: NetworkStats
    balance: BalanceStats | None
    meta: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """Scalars only, JSON-ready except for NaN (the report turns NaN into null)."""
        out: dict[str, Any] = {name: p.summary() for name, p in self.populations.items()}
        out["network"] = self.network.summary()
        if self.balance is not None:
            b = self.balance
            out["balance"] = {
                "n_neurons": int(b.n_neurons),
                "mean_exc_input": b.mean_exc_input,
                "mean_inh_input": b.mean_inh_input,
                "mean_net_input": b.mean_net_input,
                "v_mean": b.v_mean,
                "v_sd": b.v_sd,
                "chi_v": b.chi_v,
                "per_population": b.per_population,
            }
        out["window_ms"] = [float(self.window_ms[0]), float(self.window_ms[1])]
        out["meta"] = {**self.meta, "analysis": self.params.to_dict(), "dt_ms": float(self.dt_ms)}
        return out


def population_statistics(neuron: np.ndarray, time: np.ndarray, population: Population, t_start: float,
                          t_stop: float, dt: float, t_total_ms: float,
                          params: AnalysisParams = AnalysisParams()) -> tuple[PopulationStats, PopulationSpikes, np.ndarray]:
    """All per-population statistics; also returns the sorted spikes and the subsample."""
    ps = select_population(neuron, time, population, t_start, t_stop)
    isi = isi_variability(ps)
    fano, n_win = fano_factors(ps, params.fano_window_ms)
    seed = params.seed + 1000 * population.first  # distinct per population, reproducible
    sub = active_subsample(ps, params.corr_n_neurons, seed)
    corr = pairwise_correlations(ps, sub, params.corr_bin_ms)
    chi = golomb_chi_spikes(ps, sub, params.chi_bin_ms, params.chi_window_ms)
    counts, edges = isi_histogram(ps, params.isi_hist_bins)

    pop_mask = (neuron >= population.first) & (neuron < population.stop)
    pop_times = time[pop_mask]
    del pop_mask
    grid_t, rate = _windowed_tutorial_rate(pop_times, population.size, t_start, t_stop, dt, t_total_ms, params)
    _, krate = population_rate_kernel(pop_times[(pop_times >= t_start) & (pop_times < t_stop)], population.size,
                                      t_start, t_stop, dt)
    del pop_times
    rmask = ps.index < params.raster_max_neurons
    stats = PopulationStats(
        name=population.name, first=population.first, size=population.size, n_spikes=int(len(ps.time)),
        rates_hz=firing_rates(ps), cv=isi.cv, lv=isi.lv, cv2=isi.cv2, fano=fano, fano_n_windows=n_win,
        corr=corr, corr_neurons=sub + population.first, chi=chi, isi_hist_counts=counts,
        isi_hist_edges_ms=edges, pop_rate_hz=rate, pop_rate_kernel_hz=krate,
        raster_neuron=ps.index[rmask] + population.first, raster_time_ms=ps.time[rmask])
    return stats, ps, sub


def _windowed_tutorial_rate(times: np.ndarray, n: int, t_start: float, t_stop: float, dt: float,
                            t_total_ms: float, params: AnalysisParams) -> tuple[np.ndarray, np.ndarray]:
    hist = grid_histogram(times, t_total_ms, dt)
    rate = tutorial_rate(hist, n, dt, params.rate_box_ms)
    grid = np.arange(len(hist)) * dt
    sel = (grid >= t_start - 1e-9) & (grid < t_stop - 1e-9)
    return grid[sel], rate[sel]


def compute_statistics(run: Run, t_start: float | None = None, t_stop: float | None = None,
                       params: AnalysisParams | None = None) -> RunStatistics:
    """Full statistics of an opened run (``balanced.rundir.load_run``)."""
    params = params or AnalysisParams()
    t_total, dt = run.t_stop_ms, run.dt_ms
    t_start, t_stop = resolve_window(t_total, t_start, t_stop)
    neuron, time = run.spikes.neuron, run.spikes.time
    pops: dict[str, PopulationStats] = {}
    chi_parts: list[tuple[PopulationSpikes, np.ndarray]] = []
    for pop in run.populations:
        stats, ps, sub = population_statistics(neuron, time, pop, t_start, t_stop, dt, t_total, params)
        pops[pop.name] = stats
        chi_parts.append((ps, sub))

    n_total = sum(p.size for p in run.populations)
    grid_t, net_rate = _windowed_tutorial_rate(time, n_total, t_start, t_stop, dt, t_total, params)
    in_win = time[(time >= t_start) & (time < t_stop)]
    k_t, k_rate = population_rate_kernel(in_win, n_total, t_start, t_stop, dt)
    n_psd = n_bins_of(t_start, t_stop, params.psd_bin_ms)
    b = bin_index(in_win, t_start, params.psd_bin_ms)
    raw = np.bincount(b[b < n_psd], minlength=n_psd) / (n_total * params.psd_bin_ms / 1000.0)
    del in_win, b
    peak, freqs, psd = dominant_frequency(raw, params.psd_bin_ms, params.psd_min_freq_hz, params.psd_segment_ms)
    chi, n_chi = _network_chi(chi_parts, params)
    network = NetworkStats(times_ms=grid_t, pop_rate_hz=net_rate, kernel_times_ms=k_t, pop_rate_kernel_hz=k_rate,
                           chi=chi, n_chi_neurons=n_chi, peak_freq_hz=peak, psd_freqs_hz=freqs, psd=psd)
    balance = balance_statistics(run.state, run.populations, t_start, t_stop) if run.state is not None else None
    m = run.manifest
    meta = {"run_dir": str(run.path), "run_id": m.get("run_id", run.path.name), "preset": m.get("preset"),
            "seed": m.get("seed"), "status": m.get("status"), "n_neurons": n_total,
            "n_spikes_total": int(len(time))}
    if m.get("diagnosis") is not None:
        meta["diagnosis"] = list(m["diagnosis"])
    return RunStatistics(window_ms=(t_start, t_stop), dt_ms=dt, params=params, populations=pops,
                         network=network, balance=balance, meta=meta)


def _network_chi(parts: list[tuple[PopulationSpikes, np.ndarray]], params: AnalysisParams) -> tuple[float, int]:
    """Golomb's chi over the union of the populations' subsamples."""
    trains = [ps.train_times(int(i)) for ps, sub in parts for i in sub]
    if not trains:
        return float("nan"), 0
    ps0 = parts[0][0]
    return golomb_chi_trains(trains, ps0.t_start, ps0.t_stop, params.chi_bin_ms, params.chi_window_ms), len(trains)


# --------------------------------------------------------------------------- key documentation
#: (key, unit, definition) of every stats.json entry; docs/analysis.md shows the same table.
STATS_KEYS: list[tuple[str, str, str]] = [
    ("E.n_neurons / I.n_neurons", "1", "size of the population"),
    ("<pop>.n_spikes", "1", "spikes of the population in the window"),
    ("<pop>.rate_mean_hz", "Hz", "mean over all neurons of (spikes in window / window length); silent neurons count as 0 Hz"),
    ("<pop>.rate_sd_hz", "Hz", "SD (ddof 0) across neurons of the same per-neuron rates"),
    ("<pop>.n_silent", "1", "neurons without a spike in the window"),
    ("<pop>.cv_isi_mean", "1", "mean over neurons with >= 3 spikes of elephant.statistics.cv(isi(train)) (SD/mean of ISIs, ddof 0)"),
    ("<pop>.cv_isi_sd", "1", "SD across those neurons of the ISI CV"),
    ("<pop>.lv_mean", "1", "mean over neurons with >= 3 spikes of elephant.statistics.lv(isi(train))"),
    ("<pop>.cv2_mean", "1", "mean over neurons with >= 3 spikes of elephant.statistics.cv2(isi(train))"),
    ("<pop>.n_cv_neurons", "1", "neurons entering cv/lv/cv2 (>= 3 spikes in the window)"),
    ("<pop>.fano_mean", "1", "mean over neurons with nonzero mean count of var/mean (ddof 0) of the neuron's counts in consecutive fano_window_ms windows (100 ms)"),
    ("<pop>.n_fano_neurons", "1", "neurons entering fano_mean"),
    ("<pop>.corr_mean", "1", "mean over all distinct pairs of a seeded subsample of corr_n_neurons (200) active neurons of elephant correlation_coefficient on corr_bin_ms (10 ms) bins"),
    ("<pop>.corr_sd", "1", "SD (ddof 0) of those pair coefficients"),
    ("<pop>.n_corr_neurons / n_corr_pairs", "1", "size of the correlation subsample / number of pairs"),
    ("<pop>.chi", "1", "Golomb's synchrony chi of the same subsample: sqrt(Var_t(mean_i x_i) / mean_i Var_t(x_i)), x_i = spike count in a sliding chi_window_ms (5 ms) box sampled every chi_bin_ms (1 ms)"),
    ("<pop>.pop_rate_mean_hz", "Hz", "time mean of the population rate smoothed as the tutorial (bp.measure.firing_rate, 5 ms box, +2 % at dt = 0.1 ms)"),
    ("<pop>.pop_rate_sd_hz", "Hz", "time SD of that smoothed population rate"),
    ("<pop>.pop_rate_kernel_sd_hz", "Hz", "time SD of elephant instantaneous_rate (pooled, 5 ms RectangularKernel, sampled at dt) of the population"),
    ("network.chi", "1", "Golomb's chi over the union of the E and I subsamples"),
    ("network.n_chi_neurons", "1", "neurons entering network.chi"),
    ("network.pop_rate_mean_hz", "Hz", "time mean of the tutorial-smoothed rate of all neurons"),
    ("network.pop_rate_sd_hz", "Hz", "time SD of the tutorial-smoothed rate of all neurons"),
    ("network.pop_rate_kernel_mean_hz / _sd_hz", "Hz", "time mean / SD of elephant instantaneous_rate of all neurons (5 ms box kernel)"),
    ("network.peak_freq_hz", "Hz", "frequency of the maximum of the Welch PSD (Hann, 1 s segments or the whole window) of the unsmoothed all-neuron rate in psd_bin_ms (1 ms) bins, frequencies >= psd_min_freq_hz (2 Hz)"),
    ("balance.n_neurons", "1", "neurons with recorded state (state.npz)"),
    ("balance.mean_exc_input", "pA (= mV)", "mean over recorded neurons and window samples of I_syn_ex"),
    ("balance.mean_inh_input", "pA (= mV)", "mean over recorded neurons and window samples of I_syn_in (negative)"),
    ("balance.mean_net_input", "pA (= mV)", "mean_exc_input + mean_inh_input (recurrent synaptic input; the constant drive is not included)"),
    ("balance.v_mean", "mV", "mean over recorded neurons of each neuron's temporal mean of V_m"),
    ("balance.v_sd", "mV", "mean over recorded neurons of each neuron's temporal SD (ddof 0) of V_m"),
    ("balance.chi_v", "1", "Golomb's chi of V_m of the recorded neurons"),
    ("balance.per_population.<pop>.*", "as above", "the same balance numbers restricted to one population's recorded neurons"),
    ("window_ms", "ms", "[t_start, t_stop]: spikes with t_start <= t < t_stop are analysed; default [50, T - 50]"),
    ("diagnosis", "-", "the regime diagnosis the run wrote into its manifest (list of strings), when present"),
    ("meta.run_id / preset / seed / status", "-", "from the manifest (run_id defaults to the directory name)"),
    ("meta.n_neurons / n_spikes_total / dt_ms", "1 / 1 / ms", "network size, all spikes of the run, simulation step"),
    ("meta.analysis", "-", "the AnalysisParams used (bins, windows, subsample sizes, seed)"),
    ("meta.run_dir", "-", "path of the analysed run directory"),
]


def keys_markdown() -> str:
    """The stats.json key table as Markdown (for docs/analysis.md and the README)."""
    lines = ["| key | unit | definition |", "|---|---|---|"]
    lines += [f"| `{k}` | {u} | {d} |" for k, u, d in STATS_KEYS]
    return "\n".join(lines) + "\n"
