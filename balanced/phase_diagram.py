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
    """Labels, measured and balance rates per point, and the theory band in g."""
    from .theory.phase import delay_stability, phase_boundaries, phase_rates

    p = resolve(spec.get("preset") or "balanced")
    j, i, K = scaled_form(p)
    K = int(spec.get("fixed", {}).get("K", K))
    b = phase_boundaries(j, i)
    delay = float(spec.get("fixed", {}).get("delay", p.delay))
    pts = []
    for r in rows:
        g = float(r["j_EI"]) / float(p.j_EI)  # type: ignore[arg-type]
        nu_E, nu_I = phase_rates(j, i, p.tau_s, g, float(r["d"]))
        ds = delay_stability(
            ((j[0][0], g * j[0][1]), j[1]),
            (float(r["d"]) * i[0], float(r["d"]) * i[1]),
            K,
            p.tau,
            p.tau_s,
            p.V_rest,
            p.V_th,
            p.V_reset,
            p.t_ref,
        )
        inside = b.g_min is not None and b.g_min < g < (b.g_max or math.inf)
        pts.append(
            {
                "point": r["point"],
                "g": g,
                "d": float(r["d"]),
                "label": r.get("label"),
                "rate_mean_hz": r.get("rate_mean"),
                "cv_mean": r.get("cv_mean"),
                "balance_rate_hz": [float(nu_E), float(nu_I)],
                "inside_band": bool(inside),
                "critical_delay_ms": ds.critical_delay_ms,
                "theory_oscillates": bool(delay > ds.critical_delay_ms),
                "mf_rate_hz": ds.rates_hz.tolist(),
            }
        )
    return {
        "preset": spec.get("preset"),
        "delay_ms": delay,
        "K": K,
        "j_EI_preset": p.j_EI,
        "tau_s_ms": p.tau_s,
        "theory": {"g_det": b.g_det, "g_E0": b.g_E0, "g_min": b.g_min, "g_max": b.g_max},
        "points": pts,
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
        crit = np.array([[_crit(p, result["K"], g, d) for g in gg[0, ::15]] for d in dd[::15, 0]])
        if np.any(np.isfinite(crit)):
            cd = ax.contour(
                gg[::15, ::15], dd[::15, ::15], crit, levels=[result["delay_ms"]], colors="tab:red", linewidths=1.2
            )
            ax.clabel(
                cd,
                fmt=lambda v: f"rate model: critical delay D_c = {v:g} ms (D_c < delay right of and above it)",
                fontsize=6,
            )
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
            f"delay {result['delay_ms']:g} ms; labels: measured; blue: balance theory (mean rate contours, existence band)",
            fontsize=7,
        )
        fig.tight_layout()
        save_figure(fig, out, "phase_diagram_theory")


def _crit(p, K: int, g: float, d: float) -> float:
    from .theory.phase import delay_stability

    j, i, _ = scaled_form(p)
    return delay_stability(
        ((j[0][0], g * j[0][1]), j[1]), (d * i[0], d * i[1]), K, p.tau, p.tau_s, p.V_rest, p.V_th, p.V_reset, p.t_ref
    ).critical_delay_ms


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m balanced.phase_diagram", description=__doc__.split("\n\n")[0])
    ap.add_argument("sweep_dir")
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    try:
        rows, spec = load_rows(Path(a.sweep_dir))
        result = phase_result(rows, spec)
    except ParamError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(a.out or a.sweep_dir)
    out.mkdir(parents=True, exist_ok=True)
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
        print(f"{lab}: {len(qs)} points, {inside} inside the band")
    return 0


if __name__ == "__main__":
    sys.exit(main())
