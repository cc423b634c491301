"""A phase diagram with its theory: the regimes of a finished sweep over the I -> E coupling
``j_EI`` and the drive factor ``d``, drawn over the balance solution's existence band and
its rate contours (:mod:`balanced.theory.phase`).

The sweep (``balanced sweep sweeps/phase_diagram_jEI.toml``) labels every point Q / SR /
SI / AI / AR (:func:`balanced.analysis.regimes.classify`); here ``g = j_EI / j_EI_preset``,
the theory band is where both balance rates are positive and the contours are the
balance solution's mean rate ``(nu_E + nu_I) / 2``. Per point the result lists the label,
the measured and the balance rates, and whether the point lies inside the band.

``python -m balanced.phase_diagram SWEEP_DIR [--out DIR]`` writes ``phase_diagram_theory.json``
and ``phase_diagram_theory.png|pdf`` (default: into SWEEP_DIR).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import rundir
from .params import ParamError, resolve
from .slow_inhibition import scaled_form
from .transaction import OutputError, claim_experiment_folder

RESULT_FILE = "phase_diagram_theory.json"
CONTOURS_HZ = (2.0, 5.0, 10.0, 20.0, 40.0, 80.0)


def load_rows(sweep_dir: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The sweep's rows and spec from ``SWEEP_DIR/results.json``."""
    path = sweep_dir / "results.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ParamError(
            f"{path}: not a finished sweep's results ({exc.__class__.__name__}); run `balanced sweep` first"
        ) from None
    if "j_EI" not in data["spec"]["sweep"] or "d" not in data["spec"]["sweep"]:
        raise ParamError(f"{path}: sweeps {sorted(data['spec']['sweep'])}; this figure needs j_EI and d")
    return data["rows"], data["spec"]


def phase_result(rows: list[dict[str, Any]], spec: dict[str, Any]) -> dict[str, Any]:
    """Labels, measured and balance rates per point, the theory band in g and each point's
    critical delay (LIF response and, for comparison, instantaneous response)."""
    from .theory.phase import delay_stabilities, delay_stability_instantaneous, phase_boundaries, phase_rates

    p = resolve(spec.get("preset") or "balanced")
    j, i, K = scaled_form(p)
    K = int(spec.get("fixed", {}).get("K", K))
    b = phase_boundaries(j, i)
    delay = float(spec.get("fixed", {}).get("delay", p.delay))
    neuron = (p.tau, p.tau_s, p.V_rest, p.V_th, p.V_reset, p.t_ref)
    gd = [(float(r["j_EI"]) / float(p.j_EI), float(r["d"])) for r in rows]  # type: ignore[arg-type]
    js = [((j[0][0], g * j[0][1]), j[1]) for g, _ in gd]
    drives = [(d * i[0], d * i[1]) for _, d in gd]
    lif = delay_stabilities(js, drives, K, *neuron)
    pts = []
    for r, (g, d), jj, ii, ds in zip(rows, gd, js, drives, lif, strict=True):
        nu_E, nu_I = phase_rates(j, i, p.tau_s, g, d)
        inst = delay_stability_instantaneous(jj, ii, K, *neuron)
        inside = b.g_min is not None and b.g_min < g < (b.g_max or math.inf)
        pts.append(
            {
                "point": r["point"],
                "g": g,
                "d": d,
                "label": r.get("label"),
                "rate_mean_hz": r.get("rate_mean"),
                "cv_mean": r.get("cv_mean"),
                "balance_rate_hz": [float(nu_E), float(nu_I)],
                "inside_band": bool(inside),
                "critical_delay_ms": ds.critical_delay_ms,
                "onset_frequency_hz": ds.frequency_hz,
                "theory_oscillates": bool(delay > ds.critical_delay_ms),
                "critical_delay_instantaneous_ms": inst.critical_delay_ms,
                "instantaneous_oscillates": bool(delay > inst.critical_delay_ms),
                "mf_rate_hz": ds.rates_hz.tolist(),
            }
        )
    return {
        "preset": spec.get("preset"),
        "delay_ms": delay,
        "agreement": agreement(pts),
        "K": K,
        "j_EI_preset": p.j_EI,
        "tau_s_ms": p.tau_s,
        "theory": {"g_det": b.g_det, "g_E0": b.g_E0, "g_min": b.g_min, "g_max": b.g_max},
        "points": pts,
    }


def agreement(pts: list[dict[str, Any]]) -> dict[str, int]:
    """Active points (not Q, not failed) whose measured synchrony (SI/SR vs AI/AR) matches
    each theory's oscillates / stable, and how many active points there are."""
    act = [q for q in pts if q["label"] in ("SI", "SR", "AI", "AR")]
    sync = [q["label"] in ("SI", "SR") for q in act]
    return {
        "active_points": len(act),
        "lif_response": sum(s == q["theory_oscillates"] for s, q in zip(sync, act, strict=True)),
        "instantaneous": sum(s == q["instantaneous_oscillates"] for s, q in zip(sync, act, strict=True)),
    }


def _figure(out: Path, result: dict[str, Any]) -> None:
    import matplotlib.pyplot as plt

    from .analysis.plots import save_figure, style
    from .sweep.figures import LABEL_STYLE
    from .theory.phase import phase_rates

    pts = result["points"]
    p = resolve(result["preset"] or "balanced")
    j, i, _ = scaled_form(p)
    gs, ds = np.array([q["g"] for q in pts]), np.array([q["d"] for q in pts])
    with style():
        fig, ax = plt.subplots(figsize=(6.5, 4.5))
        gg, dd = np.meshgrid(
            np.linspace(gs.min() * 0.95, gs.max() * 1.05, 300), np.geomspace(ds.min() * 0.8, ds.max() * 1.25, 300)
        )
        nu_E, nu_I = phase_rates(j, i, p.tau_s, gg, dd)
        mean = np.where((nu_E > 0) & (nu_I > 0), 0.5 * (nu_E + nu_I), np.nan)
        cs = ax.contour(gg, dd, mean, levels=CONTOURS_HZ, colors="tab:blue", linewidths=0.7)
        ax.clabel(cs, fmt="%g Hz", fontsize=6)
        gc, dc = gg[::20, ::20], dd[::20, ::20]  # 15 x 15: each point's G costs 0.3 s
        for name, crit, style_ in (
            ("LIF response", _crit(p, result["K"], gc, dc, instantaneous=False), "-"),
            ("instantaneous response", _crit(p, result["K"], gc, dc, instantaneous=True), ":"),
        ):
            if np.any(np.isfinite(crit)) and np.nanmin(crit) < result["delay_ms"] < np.nanmax(crit):
                cd = ax.contour(
                    gc, dc, crit, levels=[result["delay_ms"]], colors="tab:red", linewidths=1.2, linestyles=style_
                )
                ax.clabel(cd, fmt=lambda v, name=name: f"D_c = {v:g} ms ({name})", fontsize=6, inline=False)
        th = result["theory"]
        for key, text in (("g_min", "balance exists"), ("g_max", "nu_E = 0")):
            v = th[key]
            if v is not None and math.isfinite(v) and gg.min() <= v <= gg.max():
                ax.axvline(v, color="tab:blue", lw=1.2, ls="--")
                ax.annotate(
                    f"{text} (g = {v:.3g})",
                    (v, dd.max()),
                    fontsize=6,
                    rotation=90,
                    va="top",
                    ha="right",
                    color="tab:blue",
                )
        seen = set()
        for q in pts:
            st = LABEL_STYLE.get(q["label"] or "failed", LABEL_STYLE["failed"])
            ax.scatter(
                [q["g"]],
                [q["d"]],
                s=60,
                c=st["color"],
                marker=st["marker"],
                label=None if q["label"] in seen else q["label"],
                zorder=3,
            )
            seen.add(q["label"])
            rate = q["rate_mean_hz"]
            if isinstance(rate, (int, float)) and math.isfinite(rate):
                ax.annotate(f"{rate:.2g}", (q["g"], q["d"]), textcoords="offset points", xytext=(4, 3), fontsize=5)
        ax.set_yscale("log")
        ax.set_xlabel("g = j_EI / j_EI(preset)  (I -> E coupling)")
        ax.set_ylabel("d (drive factor)")
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), title="measured", fontsize=7)
        ax.set_title(
            f"delay {result['delay_ms']:g} ms; labels: measured; blue: balance theory (mean rate contours, existence band); "
            "red: oscillatory instability (D_c = delay)",
            fontsize=7,
        )
        fig.tight_layout()
        save_figure(fig, out, "phase_diagram_theory")


def _crit(p, K: int, g: np.ndarray, d: np.ndarray, *, instantaneous: bool) -> np.ndarray:
    """Critical delay (ms) on a grid of (g, d), NaN where the mean field has no solution."""
    from .theory.phase import delay_stabilities, delay_stability_instantaneous

    j, i, _ = scaled_form(p)
    js = [((j[0][0], gv * j[0][1]), j[1]) for gv in g.ravel()]
    drives = [(dv * i[0], dv * i[1]) for dv in d.ravel()]
    neuron = (p.tau, p.tau_s, p.V_rest, p.V_th, p.V_reset, p.t_ref)
    if instantaneous:
        out = [delay_stability_instantaneous(jj, ii, K, *neuron) for jj, ii in zip(js, drives, strict=True)]
    else:
        out = delay_stabilities(js, drives, K, *neuron)
    return np.array([s.critical_delay_ms for s in out]).reshape(g.shape)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m balanced.phase_diagram", description=__doc__.split("\n\n")[0])
    ap.add_argument("sweep_dir")
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    out = Path(a.out or a.sweep_dir)
    try:
        rows, spec = load_rows(Path(a.sweep_dir))
        result = phase_result(rows, spec)
        if a.out is not None:  # the sweep folder itself is the sweep's own
            claim_experiment_folder(out, "phase-diagram", RESULT_FILE)
    except (ParamError, OutputError) as exc:
        print(f"balanced: error: {exc}", file=sys.stderr)
        return 2
    rundir.write_json(out / RESULT_FILE, result)
    _figure(out, result)
    by: dict[str, list[dict[str, Any]]] = {}
    for q in result["points"]:
        by.setdefault(str(q["label"]), []).append(q)
    th = result["theory"]
    print(
        f"theory: balance solution for {th['g_min']:.3g} < g < {th['g_max']:.3g}"
        if th["g_min"] is not None
        else "theory: no positive balance solution for any g"
    )
    for lab, qs in sorted(by.items(), key=lambda kv: str(kv[0])):
        inside = sum(q["inside_band"] for q in qs)
        osc = sum(q["theory_oscillates"] for q in qs)
        print(f"{lab}: {len(qs)} points, {inside} inside the band, {osc} with D_c < {result['delay_ms']:g} ms")
    a = result["agreement"]
    print(
        f"synchronous label vs D_c < delay: {a['lif_response']} / {a['active_points']} agree (LIF response), "
        f"{a['instantaneous']} / {a['active_points']} (instantaneous response)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
