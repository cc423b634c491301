"""Chaos: the same network twice (same seed), the second with one extra spike forced in one
neuron, and how far the two runs' spike trains diverge afterwards.

``run_perturbation(params, out)`` writes::

    OUT/reference/      run directory, no perturbation
    OUT/perturbed/      run directory, same parameters and seed, one extra spike
                        (:class:`OneSpikeKick`: V_m of neuron ``neuron`` set 1 mV above
                        threshold at ``time_ms``, so it fires in the next step)
    OUT/divergence.json the divergence table and both runs' statistics (below)
    OUT/divergence.png|pdf

Divergence measure: a spike is the pair (neuron, step) with step = round(t / dt) (NEST
reports spike times on the dt grid, so "same neuron, same time step" is an exact match,
i.e. a tolerance of 0.5 dt). In bins of ``bin_ms`` after the perturbation time we count
the spikes of the perturbed run and the fraction of them that are **not** in the
reference run (``unmatched_perturbed``), and the same the other way round
(``unmatched_reference``). The two runs must be identical before the perturbation
(``identical_before`` checks it). ``unmatched_at_50ms`` is ``unmatched_perturbed`` in the
bin that ends 50 ms after the perturbation; ``time_to_half_ms`` is the end of the first
bin where more than half of the perturbed run's spikes are unmatched (None if never).
Both runs' population statistics (rates, CV, Fano over the analysis window) are reported
side by side: chaos changes which neuron fires when, not the statistics.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import rundir
from .params import ParamError, Params
from .transaction import claim_experiment_folder

DIVERGENCE_FILE = "divergence.json"
HORIZON_MS = 50.0


def _steps(time_ms: np.ndarray, dt: float) -> np.ndarray:
    return np.rint(np.asarray(time_ms) / dt).astype(np.int64)


def spike_keys(neuron: np.ndarray, time_ms: np.ndarray, dt: float, n_total: int) -> np.ndarray:
    """One int64 per spike: step * n_total + neuron (unique per (neuron, step))."""
    return _steps(time_ms, dt) * np.int64(n_total) + np.asarray(neuron, dtype=np.int64)


@dataclass
class Divergence:
    bin_edges_ms: np.ndarray  # relative to the perturbation time
    n_reference: np.ndarray
    n_perturbed: np.ndarray
    unmatched_perturbed: np.ndarray  # fraction of the perturbed run's spikes absent from the reference
    unmatched_reference: np.ndarray
    identical_before: bool
    n_differences_before: int
    first_difference_ms: float | None  # relative to the perturbation time
    unmatched_perturbed_tol: np.ndarray | None = None  # no spike of the same neuron within +-tol_ms
    tol_ms: float = 1.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "bin_edges_ms": self.bin_edges_ms.tolist(),
            "n_reference": self.n_reference.tolist(),
            "n_perturbed": self.n_perturbed.tolist(),
            "unmatched_perturbed": self.unmatched_perturbed.tolist(),
            "unmatched_reference": self.unmatched_reference.tolist(),
            "identical_before": self.identical_before,
            "n_differences_before": self.n_differences_before,
            "first_difference_ms": self.first_difference_ms,
            "tol_ms": self.tol_ms,
            "unmatched_perturbed_tol": None
            if self.unmatched_perturbed_tol is None
            else self.unmatched_perturbed_tol.tolist(),
        }

    def at(self, t_rel_ms: float) -> float:
        """``unmatched_perturbed`` in the bin that ends at ``t_rel_ms`` after the perturbation."""
        i = int(np.searchsorted(self.bin_edges_ms, t_rel_ms - 1e-9)) - 1
        i = min(max(i, 0), len(self.unmatched_perturbed) - 1)
        return float(self.unmatched_perturbed[i])

    def time_to(self, fraction: float) -> float | None:
        over = np.flatnonzero(np.nan_to_num(self.unmatched_perturbed, nan=0.0) > fraction)
        return float(self.bin_edges_ms[over[0] + 1]) if len(over) else None


def _near(ref_neuron, ref_time, neuron, time, tol_ms: float, span_ms: float) -> np.ndarray:
    """For each (neuron, time): does the reference have a spike of that neuron within +-tol_ms?"""
    scale = span_ms + 10.0 * tol_ms + 1.0
    rk = np.sort(np.asarray(ref_neuron, dtype=np.float64) * scale + np.asarray(ref_time, dtype=np.float64))
    k = np.asarray(neuron, dtype=np.float64) * scale + np.asarray(time, dtype=np.float64)
    i = np.searchsorted(rk, k)
    best = np.full(len(k), np.inf)
    for j in (i - 1, i):
        ok = (j >= 0) & (j < len(rk))
        best[ok] = np.minimum(best[ok], np.abs(rk[j[ok]] - k[ok]))
    return best <= tol_ms + 1e-9


def divergence(
    ref_neuron: np.ndarray,
    ref_time: np.ndarray,
    pert_neuron: np.ndarray,
    pert_time: np.ndarray,
    t_perturb_ms: float,
    t_stop_ms: float,
    dt: float,
    n_total: int,
    bin_ms: float = 5.0,
    tol_ms: float = 1.0,
) -> Divergence:
    """Spike-train divergence of two runs, in bins after ``t_perturb_ms`` (see module docstring).

    Besides the exact (neuron, step) match, ``unmatched_perturbed_tol`` counts a perturbed-run
    spike as matched when the reference has a spike of the same neuron within ``tol_ms``:
    a looser measure that separates "shifted by a step or two" from "decorrelated" (at
    10 Hz, chance coincidences within +-1 ms are about 2 %).
    """
    kr = spike_keys(ref_neuron, ref_time, dt, n_total)
    kp = spike_keys(pert_neuron, pert_time, dt, n_total)
    step_p = int(round(t_perturb_ms / dt))
    before_r, before_p = kr[_steps(ref_time, dt) <= step_p], kp[_steps(pert_time, dt) <= step_p]
    n_diff_before = int(len(np.setxor1d(before_r, before_p)))
    in_p = np.isin(kp, kr)  # perturbed spike present in the reference
    in_r = np.isin(kr, kp)
    rel_p = np.asarray(pert_time) - t_perturb_ms
    rel_r = np.asarray(ref_time) - t_perturb_ms
    diff_times = np.concatenate([rel_p[~in_p], rel_r[~in_r]])
    first = float(diff_times.min()) if len(diff_times) else None
    n_bins = max(1, int(math.floor((t_stop_ms - t_perturb_ms) / bin_ms + 1e-9)))
    edges = np.arange(n_bins + 1) * bin_ms

    def hist(rel, mask=None):
        sel = (rel > 0) & (rel <= edges[-1] + 1e-9)  # (t_p, t_p + n bin_ms]: spikes after the perturbation
        if mask is not None:
            sel &= mask
        idx = np.minimum(np.ceil(rel[sel] / bin_ms - 1e-9).astype(np.int64) - 1, n_bins - 1)
        return np.bincount(np.maximum(idx, 0), minlength=n_bins)

    n_p, n_r = hist(rel_p), hist(rel_r)
    u_p, u_r = hist(rel_p, ~in_p), hist(rel_r, ~in_r)
    near = _near(ref_neuron, ref_time, pert_neuron, pert_time, tol_ms, t_stop_ms)
    u_t = hist(rel_p, ~near)
    with np.errstate(invalid="ignore", divide="ignore"):
        fp = np.where(n_p > 0, u_p / n_p, np.nan)
        fr = np.where(n_r > 0, u_r / n_r, np.nan)
        ft = np.where(n_p > 0, u_t / n_p, np.nan)
    return Divergence(edges, n_r, n_p, fp, fr, n_diff_before == 0, n_diff_before, first, ft, tol_ms)


def _pop_summary(stats: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pop in ("E", "I"):
        s = stats.get(pop, {})
        out[pop] = {k: s.get(k) for k in ("rate_mean_hz", "cv_isi_mean", "fano_mean", "corr_mean", "n_spikes")}
    out["window_ms"] = stats.get("window_ms")
    return out


@dataclass(frozen=True)
class OneSpikeKick:
    """A finite perturbation, as a run hook (:class:`balanced.run.RunHook`): at ``time_ms``
    set neuron ``neuron``'s V_m to ``V_mV`` (above threshold), which forces one extra spike
    in the next step (an infinitesimal nudge would be erased at the next reset)."""

    neuron: int
    time_ms: float
    V_mV: float

    def times(self, T_ms: float) -> list[float]:
        return [self.time_ms]

    def at(self, nest, net, t_ms: float) -> None:
        if abs(t_ms - self.time_ms) < 1e-6:
            nest.NodeCollection([net.first_id + self.neuron]).V_m = self.V_mV

    def describe(self) -> dict:
        return {"kind": "one_spike_kick", "neuron": self.neuron, "time_ms": self.time_ms, "V_m": self.V_mV}


def run_perturbation(
    params: Params,
    out: str | os.PathLike,
    *,
    neuron: int = 0,
    time_ms: float | None = None,
    bin_ms: float = 5.0,
    overwrite: bool = False,
    preset: str | None = None,
    threads: int = 1,
    figures: bool = True,
    perturb: bool = True,
    progress: bool = False,
) -> dict[str, Any]:
    """Run reference and perturbed networks under ``out``; write and return divergence.json's dict.

    ``perturb=False`` runs the second network without the extra spike (a control: the
    two runs must then be identical). ``time_ms`` defaults to T/4 rounded to the step.
    """
    from .analysis.report import analyze_run
    from .api import run_network
    from .theory import diagnosis_lines

    out = Path(out)
    n_total = params.N_E + params.N_I
    if not 0 <= neuron < n_total:
        raise ParamError(f"--neuron {neuron}: must be a neuron index 0 .. {n_total - 1} (E first, then I)")
    if time_ms is None:
        time_ms = round(params.T / 4 / params.dt) * params.dt
    if not (0 < time_ms < params.T - bin_ms):
        raise ParamError(
            f"--time {time_ms}: the perturbation must fall inside the run, 0 < time < T - bin = "
            f"{params.T - bin_ms:g} ms"
        )
    time_ms = round(time_ms / params.dt) * params.dt
    if bin_ms <= 0:
        raise ParamError(f"--bin {bin_ms}: must be > 0 ms")
    if (out / DIVERGENCE_FILE).exists() and not overwrite:
        raise ParamError(f"{out} already holds a perturbation experiment; pass --overwrite or choose another --out")
    claim_experiment_folder(out, "perturb", DIVERGENCE_FILE)
    diagnosis = diagnosis_lines(params)
    kick = [OneSpikeKick(neuron, time_ms, params.V_th + 1.0)] if perturb else []
    ref_dir, pert_dir = out / "reference", out / "perturbed"
    man_r = run_network(params, ref_dir, threads=threads, overwrite=True, preset=preset, progress=progress)
    man_p = run_network(params, pert_dir, threads=threads, overwrite=True, preset=preset, progress=progress, hooks=kick)
    r, p = rundir.load_spikes(ref_dir, man_r), rundir.load_spikes(pert_dir, man_p)
    div = divergence(r.neuron, r.time, p.neuron, p.time, time_ms, params.T, params.dt, n_total, bin_ms)
    stats_r = analyze_run(ref_dir, figures=False)
    stats_p = analyze_run(pert_dir, figures=False)
    pr, pp = _pop_summary(stats_r), _pop_summary(stats_p)
    rate_change = {
        pop: (pp[pop]["rate_mean_hz"] - pr[pop]["rate_mean_hz"]) / pr[pop]["rate_mean_hz"]
        if pr[pop]["rate_mean_hz"]
        else None
        for pop in ("E", "I")
    }
    horizon = min(HORIZON_MS, float(div.bin_edges_ms[-1]))
    tol = div.unmatched_perturbed_tol
    assert tol is not None  # divergence() always fills it
    result = {
        "perturbation": {
            "neuron": neuron,
            "population": "E" if neuron < params.N_E else "I",
            "time_ms": time_ms,
            "applied": perturb,
        },
        "params": params.to_dict(),
        "preset": preset,
        "bin_ms": bin_ms,
        "identical_before": div.identical_before,
        "n_differences_before": div.n_differences_before,
        "first_difference_ms": div.first_difference_ms,
        "identical": bool(
            len(r.time) == len(p.time) and np.array_equal(r.neuron, p.neuron) and np.array_equal(r.time, p.time)
        ),
        "horizon_ms": horizon,
        "unmatched_at_50ms": div.at(horizon),
        "unmatched_tol_at_50ms": float(
            tol[min(max(int(np.searchsorted(div.bin_edges_ms, horizon - 1e-9)) - 1, 0), len(tol) - 1)]
        ),
        "time_to_half_ms": div.time_to(0.5),
        "unmatched_last_bin": float(div.unmatched_perturbed[-1]),
        "unmatched_mean_after_100ms": (
            float(np.nanmean(div.unmatched_perturbed[div.bin_edges_ms[1:] > 100.0]))
            if np.any(div.bin_edges_ms[1:] > 100.0)
            else None
        ),
        "stats": {"reference": pr, "perturbed": pp, "rate_change": rate_change},
        "divergence": div.as_dict(),
        "diagnosis": diagnosis,
    }
    from .rundir import json_ready

    text = json.dumps(json_ready(result), indent=2) + "\n"
    if figures:
        _write_figure(out, div, r, p, result, params)
    rundir.atomic_write_text(out / DIVERGENCE_FILE, text)
    return json.loads(text)


def _write_figure(out: Path, div: Divergence, r, p, result: dict[str, Any], params: Params) -> None:
    import matplotlib.pyplot as plt

    from .analysis.chaos_plots import plot_divergence, plot_raster_pair
    from .analysis.plots import save_figure, style

    t0 = result["perturbation"]["time_ms"]
    with style():
        fig, axes = plt.subplots(1, 2, figsize=(9.0, 3.2))
        plot_divergence(
            axes[0],
            div.bin_edges_ms,
            div.unmatched_perturbed,
            div.unmatched_reference,
            div.unmatched_perturbed_tol,
            div.tol_ms,
        )
        sel = 200  # neurons shown in the raster
        window = (t0 - 20.0, min(t0 + 80.0, params.T))
        mr = (r.neuron < sel) & (r.time >= window[0]) & (r.time < window[1])
        mp = (p.neuron < sel) & (p.time >= window[0]) & (p.time < window[1])
        plot_raster_pair(axes[1], r.time[mr], r.neuron[mr], p.time[mp], p.neuron[mp], t0)
        fig.tight_layout()
        save_figure(fig, out, "divergence")


def format_divergence(result: dict[str, Any]) -> str:
    """A printable table: unmatched fractions over time, and both runs' statistics."""
    d = result["divergence"]
    edges = np.asarray(d["bin_edges_ms"])
    pert = result["perturbation"]
    lines = [
        f"extra spike in neuron {pert['neuron']} ({pert['population']}) at {pert['time_ms']:g} ms"
        + ("" if pert["applied"] else " -- NOT applied (control)"),
        f"runs identical before the perturbation: {result['identical_before']}; "
        f"first difference at +{result['first_difference_ms']:.1f} ms"
        if result["first_difference_ms"] is not None
        else f"runs identical before the perturbation: {result['identical_before']}; no difference at all",
        "",
        f"{'t after (ms)':>13}  {'spikes ref':>10}  {'spikes pert':>11}  {'unmatched pert':>14}  "
        f"{'unmatched ref':>13}  {'no spike +-' + format(d['tol_ms'], 'g') + ' ms':>15}",
    ]
    ends = [t for t in (1, 2, 5, 10, 20, 30, 50, 100, 200, 500, 1000, 2000, 5000) if t >= edges[1] - 1e-9]
    show = sorted({int(np.searchsorted(edges, t - 1e-9)) - 1 for t in ends if t <= edges[-1] + 1e-9})
    tol = d.get("unmatched_perturbed_tol") or [None] * len(edges)
    for i in show:
        up, ur, ut = d["unmatched_perturbed"][i], d["unmatched_reference"][i], tol[i]
        lines.append(
            f"{edges[i]:>5g}-{edges[i + 1]:<7g}  {d['n_reference'][i]:>10}  {d['n_perturbed'][i]:>11}  "
            f"{'-' if up is None else f'{up:.3f}':>14}  {'-' if ur is None else f'{ur:.3f}':>13}  "
            f"{'-' if ut is None else f'{ut:.3f}':>15}"
        )
    t_half = result["time_to_half_ms"]
    lines += [
        "",
        f"unmatched at +{result['horizon_ms']:g} ms: {result['unmatched_at_50ms']:.3f}; "
        f"> 50 % unmatched from +{t_half:g} ms"
        if t_half is not None
        else f"unmatched at +{result['horizon_ms']:g} ms: {result['unmatched_at_50ms']:.3f}; never > 50 %",
    ]
    s = result["stats"]
    lines.append(f"{'':<22}{'reference':>12}{'perturbed':>12}")
    for pop in ("E", "I"):
        for key, lab in (("rate_mean_hz", "rate (Hz)"), ("cv_isi_mean", "ISI CV"), ("fano_mean", "Fano")):
            a, b = s["reference"][pop][key], s["perturbed"][pop][key]
            lines.append(
                f"{pop + ' ' + lab:<22}{'-' if a is None else f'{a:.4g}':>12}{'-' if b is None else f'{b:.4g}':>12}"
            )
    return "\n".join(lines)
