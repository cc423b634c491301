"""Figures of a chaos test (:mod:`balanced.perturb`): divergence of a perturbed run from its
reference, and the two rasters on one axis. Nothing is computed here."""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes

from .plots import color


def plot_divergence(
    ax: Axes,
    bin_edges_ms: np.ndarray,
    unmatched_perturbed: np.ndarray,
    unmatched_reference: np.ndarray | None = None,
    unmatched_tol: np.ndarray | None = None,
    tol_ms: float = 1.0,
) -> Axes:
    """Fraction of spikes without an exact (neuron, step) match in the other run, per bin after
    the perturbation."""
    edges = np.asarray(bin_edges_ms, dtype=float)
    centers = 0.5 * (edges[:-1] + edges[1:])
    ax.step(
        centers,
        np.asarray(unmatched_perturbed, dtype=float),
        where="mid",
        color=color("E"),
        label="perturbed-run spikes not in reference",
    )
    if unmatched_reference is not None:
        ax.step(
            centers,
            np.asarray(unmatched_reference, dtype=float),
            where="mid",
            color=color("I"),
            lw=0.7,
            label="reference spikes not in perturbed run",
        )
    if unmatched_tol is not None:
        ax.step(
            centers,
            np.asarray(unmatched_tol, dtype=float),
            where="mid",
            color=color("net"),
            lw=0.7,
            ls="--",
            label=f"no spike of the same neuron within {tol_ms:g} ms",
        )
    ax.axhline(0.5, color="#999999", lw=0.6, ls=":")
    ax.axvline(50.0, color="#999999", lw=0.6, ls="--")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlim(0, min(edges[-1], 300.0))
    ax.set_xlabel("time after the extra spike (ms)")
    ax.set_ylabel("unmatched fraction")
    ax.legend(loc="lower right")
    return ax


def plot_raster_pair(
    ax: Axes,
    ref_time: np.ndarray,
    ref_neuron: np.ndarray,
    pert_time: np.ndarray,
    pert_neuron: np.ndarray,
    t_perturb_ms: float,
) -> Axes:
    """Reference spikes (grey) and perturbed-run spikes (colour) on one raster."""
    ax.scatter(ref_time, ref_neuron, c="#aaaaaa", marker="o", s=6, linewidths=0, label="reference", rasterized=True)
    ax.scatter(
        pert_time, pert_neuron, c=color("E"), marker="|", s=8, linewidths=0.6, label="perturbed", rasterized=True
    )
    ax.axvline(t_perturb_ms, color="#c0392b", lw=0.6, ls="--")
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("neuron")
    ax.legend(loc="upper right", markerscale=2)
    return ax


__all__ = ["plot_divergence", "plot_raster_pair"]
