"""Statistics of a run, per population, on flat spike arrays (Elephant's definitions).

This module assembles :class:`RunStatistics` (``stats.json``) from the sections, each a
module of its own: :mod:`.selection` (window, binning, sorted spikes), :mod:`.variability`
(rates, ISI, Fano), :mod:`.synchrony` (correlations, chi), :mod:`.poprate` (population
rate, spectrum), :mod:`.balance` (recorded state) and :mod:`.keys` (the key table); their
public names are importable from here.

Imports no NEST and draws nothing. Every function takes the flat arrays a run directory
holds (``neuron``: int32 global index, ``time``: float64 ms; see docs/design.md) and
returns numbers or numpy arrays. No neo or Elephant object is built (one ``neo.SpikeTrain``
costs about 0.1-0.4 ms, and ``instantaneous_rate`` / ``correlation_coefficient`` allocate
N x bins and N x N arrays), and neither is imported: everything is vectorised with numpy
on the spikes sorted by neuron, with the definitions of Elephant 1.2 reproduced exactly
(the correlation coefficients and the default kernel with Elephant's own operations, to
the last bit); ``tests/test_analysis.py`` and ``tests/test_sweep_point_cost.py``
check each against Elephant's own function.

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

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from balanced.rundir import Population, Run

from .balance import BalanceStats, balance_statistics
from .keys import STATS_KEYS, keys_markdown
from .poprate import dominant_frequency, grid_histogram, population_rate_kernel, tutorial_rate
from .selection import (
    BINNING_TOLERANCE,
    MIN_WINDOW_MS,
    AnalysisParams,
    PopulationSpikes,
    bin_index,
    default_window,
    n_bins_of,
    resolve_window,
    select_population,
)
from .synchrony import (
    active_subsample,
    golomb_chi_binned,
    golomb_chi_signal,
    golomb_chi_spikes,
    golomb_chi_trains,
    pairwise_correlations,
    subsample_spikes,
)
from .variability import IsiVariability, fano_factors, firing_rates, isi_histogram, isi_variability

__all__ = [
    "BINNING_TOLERANCE",
    "MIN_WINDOW_MS",
    "AnalysisParams",
    "BalanceStats",
    "IsiVariability",
    "NetworkStats",
    "PopulationSpikes",
    "PopulationStats",
    "RunStatistics",
    "STATS_KEYS",
    "active_subsample",
    "balance_statistics",
    "bin_index",
    "compute_statistics",
    "default_window",
    "dominant_frequency",
    "fano_factors",
    "firing_rates",
    "golomb_chi_signal",
    "golomb_chi_spikes",
    "golomb_chi_trains",
    "grid_histogram",
    "isi_histogram",
    "isi_variability",
    "keys_markdown",
    "n_bins_of",
    "pairwise_correlations",
    "population_rate_kernel",
    "population_statistics",
    "resolve_window",
    "select_population",
    "tutorial_rate",
]


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


def population_statistics(
    neuron: np.ndarray,
    time: np.ndarray,
    population: Population,
    t_start: float,
    t_stop: float,
    dt: float,
    t_total_ms: float,
    params: AnalysisParams | None = None,
) -> tuple[PopulationStats, PopulationSpikes, np.ndarray]:
    """All per-population statistics; also returns the sorted spikes and the subsample."""
    params = params or AnalysisParams()
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
    _, krate = population_rate_kernel(
        pop_times[(pop_times >= t_start) & (pop_times < t_stop)], population.size, t_start, t_stop, dt
    )
    del pop_times
    rmask = ps.index < params.raster_max_neurons
    stats = PopulationStats(
        name=population.name,
        first=population.first,
        size=population.size,
        n_spikes=int(len(ps.time)),
        rates_hz=firing_rates(ps),
        cv=isi.cv,
        lv=isi.lv,
        cv2=isi.cv2,
        fano=fano,
        fano_n_windows=n_win,
        corr=corr,
        corr_neurons=sub + population.first,
        chi=chi,
        isi_hist_counts=counts,
        isi_hist_edges_ms=edges,
        pop_rate_hz=rate,
        pop_rate_kernel_hz=krate,
        raster_neuron=ps.index[rmask] + population.first,
        raster_time_ms=ps.time[rmask],
    )
    return stats, ps, sub


def _windowed_tutorial_rate(
    times: np.ndarray, n: int, t_start: float, t_stop: float, dt: float, t_total_ms: float, params: AnalysisParams
) -> tuple[np.ndarray, np.ndarray]:
    hist = grid_histogram(times, t_total_ms, dt)
    rate = tutorial_rate(hist, n, dt, params.rate_box_ms)
    grid = np.arange(len(hist)) * dt
    sel = (grid >= t_start - 1e-9) & (grid < t_stop - 1e-9)
    return grid[sel], rate[sel]


def compute_statistics(
    run: Run, t_start: float | None = None, t_stop: float | None = None, params: AnalysisParams | None = None
) -> RunStatistics:
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
    network = NetworkStats(
        times_ms=grid_t,
        pop_rate_hz=net_rate,
        kernel_times_ms=k_t,
        pop_rate_kernel_hz=k_rate,
        chi=chi,
        n_chi_neurons=n_chi,
        peak_freq_hz=peak,
        psd_freqs_hz=freqs,
        psd=psd,
    )
    balance = balance_statistics(run.state, run.populations, t_start, t_stop) if run.state is not None else None
    m = run.manifest
    meta = {
        "run_dir": str(run.path),
        "run_id": m.get("run_id", run.path.name),
        "preset": m.get("preset"),
        "seed": m.get("seed"),
        "status": m.get("status"),
        "n_neurons": n_total,
        "n_spikes_total": int(len(time)),
    }
    if m.get("diagnosis") is not None:
        meta["diagnosis"] = list(m["diagnosis"])
    return RunStatistics(
        window_ms=(t_start, t_stop),
        dt_ms=dt,
        params=params,
        populations=pops,
        network=network,
        balance=balance,
        meta=meta,
    )


def _network_chi(parts: list[tuple[PopulationSpikes, np.ndarray]], params: AnalysisParams) -> tuple[float, int]:
    """Golomb's chi over the union of the populations' subsamples (rows in population order)."""
    n = sum(len(sub) for _, sub in parts)
    if not n:
        return float("nan"), 0
    times, rows, offset = [], [], 0
    for ps, sub in parts:
        t, r = subsample_spikes(ps, sub)
        times.append(t)
        rows.append(r + offset)
        offset += len(sub)
    ps0 = parts[0][0]
    chi = golomb_chi_binned(
        np.concatenate(times), np.concatenate(rows), n, ps0.t_start, ps0.t_stop, params.chi_bin_ms, params.chi_window_ms
    )
    return chi, n
