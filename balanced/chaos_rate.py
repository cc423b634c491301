"""Chaos as a rate: how fast one extra spike's effect spreads, and how that depends on K.

For each in-degree K the one-spike experiment of :mod:`balanced.perturb` runs the same
network twice (population sizes scaled with K, K/N fixed), the second with one extra
spike. The divergence measure is the cumulative number of spikes, counted from the extra
spike, that the two runs do not share (same neuron, same time step), ``C(t)``, out of all
spikes both runs emitted since then, ``A(t)``. While the difference spreads, C grows
exponentially from the one extra spike; it saturates when almost no spike is shared
(C = A). The growth rate is the slope of ``ln C`` (1/ms) fitted from ``FIT_FROM_MS`` up to
the first time ``C/A`` reaches ``FIT_UP_TO`` (or over ``FIT_MAX_MS`` when it never does:
the runs never decorrelated). The rate is averaged over ``trials`` experiments, each with
a different perturbed neuron; ``time_to_separate_ms`` is when ``C/A`` first reaches
``FIT_UP_TO``.

``python -m balanced.chaos_rate --out DIR [--preset balanced] [--K 100,200,400]
[--trials 4] [--set key=value ...]`` writes ``DIR/K=<K>/trial<n>/`` (one perturbation
experiment each), ``DIR/chaos_rate.json`` and ``DIR/chaos_rate.png|pdf``; with a
tutorial-form preset it runs that network alone (``DIR/<preset>/``).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import rundir
from .params import ParamError, Params, replace, resolve
from .transaction import OutputError, claim_experiment_folder

RESULT_FILE = "chaos_rate.json"
STEP_MS = 0.1  # resolution of C(t)
FIT_FROM_MS = 0.15  # after the extra spike has reached its targets (one 0.1 ms delay)
FIT_UP_TO = 0.3  # of all spikes: before saturation bends ln C over
FIT_MAX_MS = 20.0  # the fit window when the runs never decorrelate


def mismatch_curve(
    ref: rundir.Spikes, pert: rundir.Spikes, t_perturb_ms: float, dt: float, n_total: int, span_ms: float = FIT_MAX_MS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(t_rel_ms, C, A)`` every ``STEP_MS`` from the perturbation: cumulative spikes not shared
    by the two runs (both runs' unmatched spikes) and all spikes of both runs since then."""
    from .perturb import spike_keys

    kr = spike_keys(ref.neuron, ref.time, dt, n_total)
    kp = spike_keys(pert.neuron, pert.time, dt, n_total)
    diff = np.sort(np.concatenate([ref.time[~np.isin(kr, kp)], pert.time[~np.isin(kp, kr)]])) - t_perturb_ms
    allt = np.sort(np.concatenate([ref.time, pert.time])) - t_perturb_ms
    t = np.arange(0.0, span_ms + STEP_MS / 2, STEP_MS)
    eps = 1e-9  # spike times sit on the grid: count a spike at exactly t as in
    C = np.searchsorted(diff, t + eps, side="right") - np.searchsorted(diff, eps, side="right")
    A = np.searchsorted(allt, t + eps, side="right") - np.searchsorted(allt, eps, side="right")
    return t, C, A


def growth_rate(t_rel: np.ndarray, C: np.ndarray, A: np.ndarray) -> dict[str, Any]:
    """Fit ``ln C = a + lambda t`` from ``FIT_FROM_MS`` to the first time ``C/A >= FIT_UP_TO``."""
    frac = C / np.maximum(A, 1)
    reach = np.flatnonzero((frac >= FIT_UP_TO) & (t_rel >= FIT_FROM_MS))
    separated = bool(len(reach))
    t_sep = float(t_rel[reach[0]]) if separated else None
    t_hi = float(t_rel[reach[0]]) if separated else float(t_rel[-1])
    sel = (t_rel >= FIT_FROM_MS) & (t_rel <= t_hi + 1e-9) & (C > 0)
    if np.count_nonzero(sel) < 3:
        return {"rate_per_ms": math.nan, "separated": separated, "time_to_separate_ms": t_sep, "fit_points": 0}
    slope, icpt = np.polyfit(t_rel[sel], np.log(C[sel]), 1)
    return {
        "rate_per_ms": float(slope),
        "intercept": float(icpt),
        "separated": separated,
        "time_to_separate_ms": t_sep,
        "fit_points": int(np.count_nonzero(sel)),
        "fit_window_ms": [FIT_FROM_MS, t_hi],
    }


def scaled_for_K(base: Params, K: int) -> Params:
    """The base network at in-degree K with N scaled to keep K/N (scaled form only)."""
    if base.coupling != "scaled" or base.K is None:
        return base
    f = K / base.K
    return replace(base, K=int(K), N_E=int(round(base.N_E * f)), N_I=int(round(base.N_I * f)))


def run_chaos_rate(
    base: Params,
    out: str | Path,
    Ks: Sequence[int | None] | None,
    *,
    time_ms: float | None = None,
    preset: str | None = None,
    figures: bool = True,
    label: str | None = None,
    trials: int = 1,
) -> dict[str, Any]:
    """The one-spike experiment at each K (``None``: the base alone), growth rate of mean |dV|,
    averaged over ``trials`` perturbed neurons (each trial reruns the reference: same seed)."""
    if trials < 1:
        raise ParamError(f"--trials {trials!r}: must be an integer >= 1")
    from .perturb import run_perturbation

    out = Path(out)
    plan = []  # (its parameters, its folder name, the perturbation time) per K, all checked first
    for K in list(Ks) if Ks else [None]:
        p = replace(base if K is None else scaled_for_K(base, K), record_n=0)
        name = f"K={p.K}" if K is not None else (label or "base")
        t_p = time_ms if time_ms is not None else round(p.T / 2 / p.dt) * p.dt
        if t_p + FIT_MAX_MS > p.T:
            raise ParamError(f"T = {p.T:g} ms: the perturbation at {t_p:g} ms needs {FIT_MAX_MS:g} ms after it")
        plan.append((p, name, t_p))
    claim_experiment_folder(out, "chaos-rate", RESULT_FILE)
    points = []
    curves = {}
    for p, name, t_p in plan:
        n_total = p.N_E + p.N_I
        fits = []
        for trial in range(trials):
            d_dir = out / name / f"trial{trial}"
            neuron = (trial * 7919) % n_total  # spread over E and I, the same for every K
            res = run_perturbation(p, d_dir, neuron=neuron, time_ms=t_p, preset=preset, figures=False, overwrite=True)
            t_rel, C, A = mismatch_curve(
                rundir.load_spikes(d_dir / "reference"),
                rundir.load_spikes(d_dir / "perturbed"),
                res["perturbation"]["time_ms"],
                p.dt,
                n_total,
            )
            fits.append({"neuron": neuron, **growth_rate(t_rel, C, A), "unmatched_at_50ms": res["unmatched_at_50ms"]})
            if trial == 0:
                curves[name] = (t_rel, C, A, fits[0])
        rates = np.array([f["rate_per_ms"] for f in fits])
        seps = [f["time_to_separate_ms"] for f in fits]
        k_in = p.K if p.K is not None else (p.p or 0.0) * p.N_E
        points.append(
            {
                "name": name,
                "K": k_in,
                "N_E": p.N_E,
                "rate_per_ms": float(np.mean(rates)),
                "rate_sem_per_ms": float(np.std(rates, ddof=1) / math.sqrt(len(rates))) if len(rates) > 1 else None,
                "separated": all(f["separated"] for f in fits),
                "time_to_separate_ms": None if None in seps else float(np.mean(seps)),
                "trials": fits,
            }
        )
    result = {
        "base": base.to_dict(),
        "preset": preset,
        "points": points,
        "fit": {"from_ms": FIT_FROM_MS, "up_to_unshared_fraction": FIT_UP_TO, "max_ms": FIT_MAX_MS},
    }
    result = rundir.write_json(out / RESULT_FILE, result)
    if figures:
        _figure(out, curves, points)
    return result


def _figure(out: Path, curves: dict, points: list[dict]) -> None:
    import matplotlib.pyplot as plt

    from .analysis.plots import save_figure, style

    with style():
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(8.5, 3.0))
        for name, (t, C, A, fit) in curves.items():
            (line,) = a1.semilogy(t, np.where(C > 0, C, np.nan), lw=0.9, label=f"{name}: {fit['rate_per_ms']:.2f}/ms")
            a1.semilogy(t, np.maximum(A, 1), lw=0.5, ls=":", color=line.get_color())
            if fit.get("fit_points"):
                lo, hi = fit["fit_window_ms"]
                tt = np.linspace(lo, hi, 20)
                a1.semilogy(tt, np.exp(fit["intercept"] + fit["rate_per_ms"] * tt), "--", color="k", lw=0.8)
        a1.set_xlim(0, 10)
        a1.set_xlabel("time after the extra spike (ms)")
        a1.set_ylabel("unshared spikes C(t) (all: dotted)")
        a1.legend(fontsize=7)
        ks = [pt["K"] for pt in points if pt["name"].startswith("K=")]
        rates = [pt["rate_per_ms"] for pt in points if pt["name"].startswith("K=")]
        if ks:
            sem = [pt["rate_sem_per_ms"] or 0.0 for pt in points if pt["name"].startswith("K=")]
            a2.errorbar(ks, rates, yerr=sem, fmt="o-", color="k", capsize=3)
            a2.set_xscale("log")
        for pt in points:
            if not pt["name"].startswith("K="):
                a2.axhline(pt["rate_per_ms"], color="tab:red", ls="--", lw=0.8, label=f"{pt['name']} (K = {pt['K']:g})")
                a2.legend(fontsize=7)
        a2.set_xlabel("in-degree K")
        a2.set_ylabel("growth rate of C (1/ms)")
        fig.tight_layout()
        save_figure(fig, out, "chaos_rate")


def format_result(result: dict[str, Any]) -> str:
    lines = [f"{'run':<12} {'K':>6} {'rate (1/ms)':>11} {'+-':>6} {'separates at (ms)':>17}"]
    for p in result["points"]:
        t, e = p["time_to_separate_ms"], p["rate_sem_per_ms"]
        lines.append(
            f"{p['name']:<12} {p['K']:>6g} {p['rate_per_ms']:>11.3f} {'-' if e is None else f'{e:.3f}':>6} "
            f"{'never' if t is None else f'{t:.1f}':>17}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m balanced.chaos_rate", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--preset", default="balanced")
    ap.add_argument("--K", default="100,200,400", help="in-degrees, comma-separated (scaled presets)")
    ap.add_argument("--trials", type=int, default=1, help="perturbed neurons per K (rates averaged)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    a = ap.parse_args(argv)
    try:
        base = resolve(a.preset, None, a.set)
        if base.coupling == "scaled":
            try:
                Ks = [int(x) for x in a.K.split(",") if x.strip()]
            except ValueError:
                raise ParamError(f"--K {a.K!r}: must be comma-separated integers, for example 100,200,400") from None
        else:
            Ks = None
        result = run_chaos_rate(base, a.out, Ks, preset=a.preset, label=a.preset, trials=a.trials)
    except (ParamError, OutputError) as exc:
        print(f"balanced: error: {exc}", file=sys.stderr)
        return 2
    print(format_result(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
