"""Figures from computed statistics. Nothing is computed here: every function takes data
(arrays or the objects of :mod:`balanced.analysis.stats`) and a matplotlib Axes.

The style lives in one place, :data:`STYLE` (rc parameters) and :data:`COLORS`; use
``with style(): ...`` around figure creation. The Agg backend is selected when there is
no display, so the module works on a cluster node and in tests.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any

import matplotlib

if "matplotlib.pyplot" not in sys.modules and not os.environ.get("DISPLAY") and "ipykernel" not in sys.modules:
    matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

# --------------------------------------------------------------------------- style
STYLE: dict = {
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "legend.fontsize": 8,
    "lines.linewidth": 1.0,
    # Type 3 (matplotlib's default) rather than embedded TrueType: embedding the font costs
    # the tutorial's figure more than its whole simulation (docs/performance.md)
    "pdf.fonttype": 3,
}
# PNGs with zlib's fastest level: a third faster to write for 40 % more bytes, on the path
# from a finished run to its figure (docs/performance.md)
SAVE_OPTIONS: dict[str, dict[str, Any]] = {"png": {"pil_kwargs": {"compress_level": 1}}}
COLORS = {"E": "#1f4e9c", "I": "#c0392b", "net": "#222222", "network": "#444444"}
RASTER_MARKER: dict[str, Any] = {"marker": "|", "s": 2.0, "linewidths": 0.5}


@contextlib.contextmanager
def style():
    """Context manager applying :data:`STYLE`.

    Only the keys of STYLE are saved and restored. (``matplotlib.rc_context`` restores every
    parameter: matplotlib picks its backend lazily at the first figure, a notebook's inline
    backend switches interactive mode on then, and rc_context would switch it off again on
    exit, so later figures would not be shown.)
    """
    rc = matplotlib.rcParams
    saved = {key: rc[key] for key in STYLE}
    rc.update(STYLE)
    try:
        yield
    finally:
        rc.update(saved)


def save_figure(fig: Figure, folder, stem: str, formats: tuple[str, ...] = ("png", "pdf")) -> list[str]:
    """Write ``fig`` as ``folder/stem.FMT`` for each format (atomically, at the style's
    dpi, cropped to what is drawn), close it, and return the file names written."""
    import io
    from pathlib import Path

    from balanced.rundir import atomic_write_bytes

    names = []
    try:
        for fmt in formats:
            buf = io.BytesIO()
            with style():  # savefig reads its dpi and the PDF font type from the rc parameters
                fig.savefig(buf, format=fmt, bbox_inches="tight", **SAVE_OPTIONS.get(fmt, {}))
            atomic_write_bytes(Path(folder) / f"{stem}.{fmt}", buf.getvalue())
            names.append(f"{stem}.{fmt}")
    finally:
        plt.close(fig)
    return names


def color(name: str) -> str:
    return COLORS.get(name, "#555555")


# --------------------------------------------------------------------------- Axes-level plots
def plot_raster(
    ax: Axes, times_ms: np.ndarray, neurons: np.ndarray, window_ms: tuple[float, float] | None = None, name: str = "E"
) -> Axes:
    """Spike raster (like ``bp.visualize.raster_plot``): one dot per spike."""
    dots = ax.scatter(times_ms, neurons, c=color(name), rasterized=True, **RASTER_MARKER)
    # Its extent is the axes' anyway; measuring tens of thousands of markers for the layout
    # costs seconds per figure.
    dots.set_in_layout(False)
    if window_ms is not None:
        ax.set_xlim(*window_ms)
    ax.set_ylabel("Neuron index")
    return ax


def plot_population_rate(
    ax: Axes,
    times_ms: np.ndarray,
    rate_hz: np.ndarray,
    window_ms: tuple[float, float] | None = None,
    name: str = "E",
    label: str | None = None,
) -> Axes:
    """Population rate against time (the tutorial's 5 ms smoothed firing rate)."""
    ax.plot(times_ms, rate_hz, color=color(name), label=label)
    if window_ms is not None:
        ax.set_xlim(*window_ms)
    ax.set_xlabel("Time (ms)")
    ax.set_ylabel("Rate (Hz)")
    return ax


def plot_distribution(
    ax: Axes, values: np.ndarray, xlabel: str, name: str = "E", bins: Any = 40, label: str | None = None
) -> Axes:
    """Histogram (probability density) of per-neuron or per-pair values; NaN ignored."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values):
        ax.hist(
            values,
            bins=bins,
            density=True,
            histtype="stepfilled",
            alpha=0.45,
            color=color(name),
            edgecolor=color(name),
            label=label if label is not None else name,
        )
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Density")
    return ax


def plot_isi_histogram(
    ax: Axes, counts: np.ndarray, edges_ms: np.ndarray, name: str = "E", label: str | None = None
) -> Axes:
    """ISI histogram from precomputed counts and bin edges (ms), normalised to a density."""
    counts = np.asarray(counts, dtype=np.float64)
    widths = np.diff(edges_ms)
    total = counts.sum()
    density = counts / (total * widths) if total > 0 else counts
    ax.stairs(density, edges_ms, fill=True, alpha=0.45, color=color(name), label=label if label is not None else name)
    ax.set_xlabel("ISI (ms)")
    ax.set_ylabel("Density (1/ms)")
    return ax


def plot_balance(ax: Axes, times_ms: np.ndarray, exc: np.ndarray, inh: np.ndarray, net: np.ndarray) -> Axes:
    """Mean excitatory, inhibitory and net synaptic input of the recorded neurons."""
    ax.plot(times_ms, exc, color=color("E"), label="excitatory")
    ax.plot(times_ms, inh, color=color("I"), label="inhibitory")
    ax.plot(times_ms, net, color=color("net"), label="net")
    ax.axhline(0.0, color="0.7", lw=0.5, zorder=0)
    ax.set_xlabel("Time (ms)")
    ax.set_ylabel("Synaptic input (pA = mV)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the traces, never over them
    return ax


def plot_psd(ax: Axes, freqs_hz: np.ndarray, psd: np.ndarray, peak_hz: float | None = None) -> Axes:
    """Power spectrum of the population rate (log scale), peak marked."""
    if len(freqs_hz) > 1:
        ax.semilogy(freqs_hz[1:], psd[1:], color=color("network"))
        if peak_hz is not None and np.isfinite(peak_hz):
            ax.axvline(peak_hz, color="0.5", ls="--", lw=0.7)
            ax.annotate(
                f"{peak_hz:.1f} Hz",
                (peak_hz, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(4, -2),
                textcoords="offset points",
                va="top",
                fontsize=8,
            )
    ax.set_xlabel("Frequency (Hz)")
    ax.set_ylabel("PSD (Hz$^2$/Hz)")
    return ax


# --------------------------------------------------------------------------- figures from RunStatistics
def _shared_bins(arrays: list[np.ndarray], n: int = 40) -> np.ndarray:
    """Common histogram edges for overlaid distributions (a layout choice, not a statistic)."""
    finite = [a[np.isfinite(a)] for a in (np.asarray(x, dtype=np.float64) for x in arrays)]
    finite = [a for a in finite if len(a)]
    if not finite:
        return np.linspace(0.0, 1.0, n + 1)
    lo, hi = min(a.min() for a in finite), max(a.max() for a in finite)
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    return np.linspace(lo, hi, n + 1)


# Fixed margins (fractions of the figure): a layout engine measures every artist and
# costs seconds per figure on a raster of tens of thousands of spikes.
MARGINS = {"left": 0.08, "right": 0.98, "bottom": 0.07, "top": 0.95}
WIDE_MARGINS = {"left": 0.06, "right": 0.99, "bottom": 0.17, "top": 0.88}


def tutorial_figure(stats, population: str = "E") -> Figure:
    """The tutorial's figure: the population's raster over the analysis window in the top
    three quarters, its 5 ms population rate below."""
    p = stats.populations[population]
    window = stats.window_ms
    with style():
        fig = plt.figure(figsize=(10, 8))
        gs = fig.add_gridspec(4, 1, **MARGINS, hspace=0.25)
        ax_r = fig.add_subplot(gs[:3, 0])
        plot_raster(ax_r, p.raster_time_ms, p.raster_neuron, window, population)
        shown = stats.params.raster_max_neurons
        ax_r.set_title(
            f"{population} population, {p.size} neurons" + (f" (the first {shown} shown)" if p.size > shown else "")
        )
        ax_r.tick_params(labelbottom=False)
        ax_p = fig.add_subplot(gs[3, 0], sharex=ax_r)
        plot_population_rate(ax_p, stats.network.times_ms, p.pop_rate_hz, window, population)
        fig.align_ylabels()
    return fig


def distributions_figure(stats) -> Figure:
    """Distributions of firing rates, ISI CVs and pairwise correlations, and the ISI
    histogram, E and I overlaid."""
    with style():
        fig, axes = plt.subplots(1, 4, figsize=(13, 3.2), gridspec_kw={**WIDE_MARGINS, "wspace": 0.3})
        pops = stats.populations.values()
        rate_bins = _shared_bins([p.rates_hz for p in pops])
        cv_bins = _shared_bins([p.cv for p in pops])
        corr_bins = _shared_bins([p.corr for p in pops])
        for name, p in stats.populations.items():
            plot_distribution(axes[0], p.rates_hz, "Firing rate (Hz)", name, bins=rate_bins)
            plot_distribution(axes[1], p.cv, "ISI CV", name, bins=cv_bins)
            plot_distribution(
                axes[2], p.corr, f"Count correlation ({stats.params.corr_bin_ms:g} ms bins)", name, bins=corr_bins
            )
            plot_isi_histogram(axes[3], p.isi_hist_counts, p.isi_hist_edges_ms, name)
        for ax, title in zip(axes, ("Rates", "Irregularity", "Correlations", "ISI"), strict=True):
            ax.set_title(title)
        # in the figure's top-left corner, above the panels: inside one it covers bars
        fig.legend(*axes[0].get_legend_handles_labels(), loc="upper left", bbox_to_anchor=(0.005, 0.995), ncol=2)
    return fig


def balance_figure(stats) -> Figure | None:
    """Mean E, I and net input over time of the recorded neurons; None if not recorded."""
    b = stats.balance
    if b is None or len(b.times_ms) == 0:
        return None
    with style():
        # the right margin holds the legend, which fixed margins would otherwise cut off
        fig, ax = plt.subplots(figsize=(10, 3.2), gridspec_kw={**WIDE_MARGINS, "left": 0.07, "right": 0.88})
        plot_balance(ax, b.times_ms, b.exc_trace, b.inh_trace, b.net_trace)
        ax.set_xlim(*stats.window_ms)
        ax.set_title(
            f"Input balance ({b.n_neurons} recorded neurons): E {b.mean_exc_input:+.3g}, "
            f"I {b.mean_inh_input:+.3g}, net {b.mean_net_input:+.3g} pA"
        )
    return fig


def spectrum_figure(stats) -> Figure:
    """Power spectrum of the network's population rate."""
    n = stats.network
    with style():
        fig, ax = plt.subplots(figsize=(5, 3.2), gridspec_kw={**WIDE_MARGINS, "left": 0.15, "right": 0.95})
        plot_psd(ax, n.psd_freqs_hz, n.psd, n.peak_freq_hz)
        ax.set_title("Population-rate spectrum")
    return fig


def report_figures(stats, stems=None) -> dict[str, Figure]:
    """Report figures by file stem: ``raster_rate`` (the tutorial's figure),
    ``distributions``, ``spectrum``, and ``balance`` when state was recorded.

    ``stems``: the stems to draw (default all); one that cannot be drawn (``balance``
    without recorded state) is left out.
    """
    makers = {
        "raster_rate": lambda: tutorial_figure(
            stats, "E" if "E" in stats.populations else next(iter(stats.populations))
        ),
        "distributions": lambda: distributions_figure(stats),
        "spectrum": lambda: spectrum_figure(stats),
        "balance": lambda: balance_figure(stats),
    }
    figs = {}
    for stem in makers if stems is None else stems:
        fig = makers[stem]()
        if fig is not None:
            figs[stem] = fig
    return figs
