"""Figures of a sweep. Nothing is computed here: every Axes-level function takes columns of
the results table (:mod:`balanced.sweep.table`: a list of row dicts) or the fits that
:func:`balanced.sweep.fits.sweep_fits` computed, and draws them. Style: ``balanced.analysis.plots``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..analysis.plots import color, style

LABEL_STYLE = {
    "AI": {"color": "#2e8b57", "marker": "o"},
    "AR": {"color": "#8fbc8f", "marker": "D"},
    "SI": {"color": "#e67e22", "marker": "s"},
    "SR": {"color": "#c0392b", "marker": "^"},
    "Q": {"color": "#999999", "marker": "x"},
    "failed": {"color": "#000000", "marker": "$?$"},
}


def column(rows: list[dict[str, Any]], key: str) -> np.ndarray:
    """A numeric column of the table (NaN where missing)."""
    out = []
    for r in rows:
        v = r.get(key)
        out.append(float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and v is not None else math.nan)
    return np.array(out)


def _active(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r.get("label") not in ("failed",)]


def plot_rates_vs(
    ax: Axes, rows: list[dict[str, Any]], x: str, xlabel: str | None = None, logx: bool = False, theory: bool = True
) -> Axes:
    """Measured E and I rates (markers) against column ``x``; balance (dashed) and finite-K mean
    field (dotted) predictions as lines."""
    rows = sorted(_active(rows), key=lambda r: r.get(x, 0))
    xs = column(rows, x)
    for pop in ("E", "I"):
        ax.plot(xs, column(rows, f"rate_{pop}"), "o", color=color(pop), label=f"{pop} (NEST)")
        if theory:
            ax.plot(xs, column(rows, f"balance_rate_{pop}"), "--", color=color(pop), label=f"{pop} balance")
            ax.plot(xs, column(rows, f"mf_rate_{pop}"), ":", color=color(pop), label=f"{pop} mean field")
    if logx:
        ax.set_xscale("log", base=2)
        ax.set_xticks(xs, [f"{v:g}" for v in xs])
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel("rate (Hz)")
    ax.set_ylim(bottom=0)
    ax.legend(ncols=2)
    return ax


def plot_inputs_vs_sqrtk(ax: Axes, rows: list[dict[str, Any]], pop: str = "E") -> Axes:
    """Mean excitatory (drive + recurrent E), inhibitory and net input of ``pop`` vs sqrt(K)."""
    rows = sorted(_active(rows), key=lambda r: r.get("K", 0))
    s = np.sqrt(column(rows, "K"))
    ax.plot(s, column(rows, f"exc_input_{pop}"), "o-", color=color("E"), label="excitatory (drive + E)")
    ax.plot(s, column(rows, f"inh_input_{pop}"), "s-", color=color("I"), label="inhibitory")
    ax.plot(s, column(rows, f"net_input_{pop}"), "^-", color=color("net"), label="net")
    ax.axhline(0.0, color="#bbbbbb", lw=0.6)
    ax.set_xlabel(r"$\sqrt{K}$")
    ax.set_ylabel(f"mean input to {pop} (mV)")
    ax.legend()
    return ax


def plot_deviation_loglog(ax: Axes, fits_k: dict[str, Any], against: str = "balance") -> Axes:
    """Relative deviation |rate - theory| / theory vs K (log-log) with the fitted power laws
    (``fits_k`` = ``sweep_fits(...)["K"]``; ``against`` = 'balance' or 'mf')."""
    K = np.asarray(fits_k["K"], dtype=float)
    key = "deviation" if against == "balance" else "deviation_mf"
    for pop in ("E", "I"):
        dev = np.asarray(fits_k[f"{key}_{pop}"], dtype=float)
        fit = fits_k[f"fit_{against}_{pop}"]
        lab = pop
        ax.loglog(K, dev, "o", color=color(pop))
        if fit.get("exponent") is not None:
            kk = np.geomspace(K.min(), K.max(), 20)
            lab = f"{pop}: slope {fit['exponent']:.2f}"
            ax.loglog(kk, fit["prefactor"] * kk ** fit["exponent"], "-", color=color(pop), label=lab)
    k0 = K.min()
    dev0 = np.nanmax([np.asarray(fits_k[f"{key}_{p}"], dtype=float)[np.argmin(K)] for p in ("E", "I")])
    kk = np.geomspace(K.min(), K.max(), 20)
    if np.isfinite(dev0) and dev0 > 0:
        ax.loglog(kk, dev0 * (kk / k0) ** -0.5, ":", color="#777777", label=r"$K^{-1/2}$")
    ax.set_xticks(K, [f"{v:g}" for v in K])
    ax.minorticks_off()
    ax.set_xlabel("K")
    ax.set_ylabel("|rate - " + ("balance" if against == "balance" else "mean field") + "| / theory")
    ax.legend()
    return ax


def plot_phase_diagram(ax: Axes, rows: list[dict[str, Any]], x: str = "g", y: str = "d", annotate: bool = True) -> Axes:
    """One marker per point, coloured and shaped by its label; mean rate and CV written next to it."""
    xs, ys = column(rows, x), column(rows, y)
    seen = set()
    for r, xv, yv in zip(rows, xs, ys, strict=True):
        lab = r.get("label", "failed")
        st = LABEL_STYLE.get(lab, LABEL_STYLE["failed"])
        ax.scatter([xv], [yv], s=70, c=st["color"], marker=st["marker"], label=None if lab in seen else lab, zorder=3)
        seen.add(lab)
        if annotate and lab != "failed":
            rate, cv = r.get("rate_mean"), r.get("cv_mean")
            txt = f"{rate:.3g} Hz" if isinstance(rate, float) and math.isfinite(rate) else ""
            if isinstance(cv, float) and math.isfinite(cv):
                txt += f"\nCV {cv:.2f}"
            ax.annotate(txt, (xv, yv), textcoords="offset points", xytext=(6, -2), fontsize=6, va="top")
    _log_grid_axes(ax, xs, ys)
    ax.set_xlabel(f"{x} (inhibition factor)" if x == "g" else x)
    ax.set_ylabel(f"{y} (drive factor)" if y == "d" else y)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), title="label")
    return ax


def _log_grid_axes(ax: Axes, xs: np.ndarray, ys: np.ndarray) -> None:
    """Log axes ticked at the grid's own values (the sweep's factors), no minor ticks."""
    ax.set_xscale("log")
    ax.set_yscale("log")
    ux, uy = np.unique(xs[np.isfinite(xs)]), np.unique(ys[np.isfinite(ys)])
    ax.set_xticks(ux, [f"{u:g}" for u in ux])
    ax.set_yticks(uy, [f"{u:g}" for u in uy])
    ax.minorticks_off()


def plot_scalar_map(
    ax: Axes, rows: list[dict[str, Any]], key: str, x: str = "g", y: str = "d", cmap: str = "viridis", log: bool = False
) -> Axes:
    """Values of column ``key`` on the (x, y) grid as coloured squares."""
    import matplotlib.colors as mcolors

    xs, ys, v = column(rows, x), column(rows, y), column(rows, key)
    norm = None
    if log:
        pos = v[np.isfinite(v) & (v > 0)]
        if len(pos):
            norm = mcolors.LogNorm(vmin=max(pos.min(), 1e-2), vmax=pos.max())
            v = np.where(v > 0, v, np.nan)
    sc = ax.scatter(xs, ys, c=v, s=160, marker="s", cmap=cmap, norm=norm)
    ax.figure.colorbar(sc, ax=ax, label=key)
    _log_grid_axes(ax, xs, ys)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    return ax


# --------------------------------------------------------------------------- figure sets
def sweep_figures(
    rows: list[dict[str, Any]], fits: dict[str, Any], swept: tuple[str, ...], title: str = ""
) -> dict[str, Figure]:
    """The figures that the swept keys call for: {file stem: Figure}.

    K swept: ``k_rates`` (rate vs K with theory), ``k_inputs`` (inputs vs sqrt K),
    ``k_deviation`` (log-log deviation with fitted slope). d swept (alone): ``drive_rates``.
    g and d swept: ``phase_diagram`` (labels, rate and CV per point) and ``phase_maps``.
    Any other single key: ``rates`` against it.
    """
    import matplotlib.pyplot as plt

    figs: dict[str, Figure] = {}
    with style():
        if "K" in swept:
            fig, ax = plt.subplots(figsize=(4.2, 3.2))
            plot_rates_vs(ax, rows, "K", logx=True)
            ax.set_title(f"{title}: rate vs K" if title else "rate vs K")
            figs["k_rates"] = fig
            fig, ax = plt.subplots(figsize=(4.2, 3.2))
            plot_inputs_vs_sqrtk(ax, rows, "E")
            ax.set_title("mean inputs to E neurons")
            figs["k_inputs"] = fig
            if "K" in fits:
                fig, axes = plt.subplots(1, 2, figsize=(8.0, 3.2))
                plot_deviation_loglog(axes[0], fits["K"], "balance")
                axes[0].set_title("deviation from the balance solution")
                plot_deviation_loglog(axes[1], fits["K"], "mf")
                axes[1].set_title("deviation from the finite-K mean field")
                fig.tight_layout()
                figs["k_deviation"] = fig
        if "g" in swept and "d" in swept:
            fig, ax = plt.subplots(figsize=(5.6, 4.2))
            plot_phase_diagram(ax, rows, "g", "d")
            ax.set_title(f"{title}: regimes" if title else "regimes")
            figs["phase_diagram"] = fig
            fig, axes = plt.subplots(1, 3, figsize=(12.0, 3.4))
            plot_scalar_map(axes[0], rows, "rate_mean", log=True)
            axes[0].set_title("mean rate (Hz)")
            plot_scalar_map(axes[1], rows, "cv_mean", cmap="magma")
            axes[1].set_title("ISI CV")
            plot_scalar_map(axes[2], rows, "corr_mean", cmap="cividis")
            axes[2].set_title("mean count correlation")
            fig.tight_layout()
            figs["phase_maps"] = fig
        elif "d" in swept:
            fig, ax = plt.subplots(figsize=(4.2, 3.2))
            plot_rates_vs(ax, rows, "d", xlabel="drive factor d (i = d i_preset)")
            d = fits.get("d")
            if d:
                dd = np.linspace(0, max(column(rows, "d")), 20)
                for pop in ("E", "I"):
                    ax.plot(
                        dd, d[f"intercept_{pop}"] + d[f"slope_{pop}"] * dd, "-", lw=0.6, color=color(pop), alpha=0.6
                    )
                ax.set_xlim(left=0)
            ax.set_title(f"{title}: rate vs drive" if title else "rate vs drive")
            figs["drive_rates"] = fig
        if not figs and len(swept) >= 1:
            fig, ax = plt.subplots(figsize=(4.2, 3.2))
            plot_rates_vs(ax, rows, swept[0])
            ax.set_title(title or "rates")
            figs["rates"] = fig
    return figs


def write_figures(
    sweep_dir: Path,
    rows: list[dict[str, Any]],
    fits: dict[str, Any],
    swept: tuple[str, ...],
    title: str = "",
    formats: tuple[str, ...] = ("png", "pdf"),
) -> list[str]:
    """Draw :func:`sweep_figures` into ``SWEEP_DIR/figures`` (each file written atomically);
    return the file names."""
    from ..analysis.plots import save_figure

    out = sweep_dir / "figures"
    out.mkdir(exist_ok=True)
    written = []
    for stem, fig in sweep_figures(rows, fits, swept, title=title).items():
        written += save_figure(fig, out, stem, tuple(formats))
    return written


__all__ = [
    "column",
    "plot_rates_vs",
    "plot_inputs_vs_sqrtk",
    "plot_deviation_loglog",
    "plot_phase_diagram",
    "plot_scalar_map",
    "sweep_figures",
    "write_figures",
]
