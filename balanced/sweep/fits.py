"""Fits of a sweep's table that the swept keys call for, and the table and fits as text.

Pure functions of the rows (:mod:`balanced.sweep.table`); drawn by :mod:`balanced.sweep.figures`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .table import _num


def _loglog_fit(x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    if ok.sum() < 2:
        return {"exponent": None, "prefactor": None, "n_points": int(ok.sum())}
    b, a = np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)
    return {"exponent": float(b), "prefactor": float(math.exp(a)), "n_points": int(ok.sum())}


def sweep_fits(rows: list[dict[str, Any]], swept: tuple[str, ...]) -> dict[str, Any]:
    """Fits that the swept keys call for (computed here, drawn by :mod:`balanced.sweep.figures`).

    * K swept (alone): relative deviation |rate - balance| / balance of E and I, and of both
      together (|nu - nu_bal| / |nu_bal| over the (E, I) vector), fitted as ``dev = c K^b``
      (log-log least squares); the same against the finite-K mean field; log-log exponents
      of the excitatory and inhibitory input of E against K (balance theory: 1/2) and of
      |net input|.
    * d swept (alone): straight line rate = a + b d through the non-quiescent points, per
      population, and the balance prediction's slope (balance rates are linear in d
      through the origin: slope = nu_bal(d) / d).
    """
    fits: dict[str, Any] = {}
    good = [r for r in rows if r.get("label") not in ("failed", "Q")]
    col = lambda rs, k: np.array([_num(r.get(k)) for r in rs])  # noqa: E731
    if swept == ("K",) and len(good) >= 2:
        K = col(good, "K")
        f: dict[str, Any] = {}
        for pop in ("E", "I"):
            rate, bal, mf = col(good, f"rate_{pop}"), col(good, f"balance_rate_{pop}"), col(good, f"mf_rate_{pop}")
            f[f"deviation_{pop}"] = (np.abs(rate - bal) / bal).tolist()
            f[f"fit_balance_{pop}"] = _loglog_fit(K, np.abs(rate - bal) / bal)
            f[f"deviation_mf_{pop}"] = (np.abs(rate - mf) / mf).tolist()
            f[f"fit_mf_{pop}"] = _loglog_fit(K, np.abs(rate - mf) / mf)
        # both populations together: |nu - nu_theory| / |nu_theory| (Euclidean norms over E, I)
        for name, pre in (("balance", "balance_rate"), ("mf", "mf_rate")):
            num = np.hypot(col(good, "rate_E") - col(good, f"{pre}_E"), col(good, "rate_I") - col(good, f"{pre}_I"))
            dev = num / np.hypot(col(good, f"{pre}_E"), col(good, f"{pre}_I"))
            f["deviation_total" if name == "balance" else "deviation_mf_total"] = dev.tolist()
            f[f"fit_{name}_total"] = _loglog_fit(K, dev)
        f["K"] = K.tolist()
        f["fit_exc_input_E"] = _loglog_fit(K, col(good, "exc_input_E"))
        f["fit_inh_input_E"] = _loglog_fit(K, -col(good, "inh_input_E"))
        f["fit_abs_net_input_E"] = _loglog_fit(K, np.abs(col(good, "net_input_E")))
        fits["K"] = f
    if swept == ("d",) and len(good) >= 2:
        d = col(good, "d")
        f = {"d": d.tolist()}
        for pop in ("E", "I"):
            rate, bal = col(good, f"rate_{pop}"), col(good, f"balance_rate_{pop}")
            slope, icpt = np.polyfit(d, rate, 1)
            theory = float(np.nanmean(bal / d))
            f[f"slope_{pop}"] = float(slope)
            f[f"intercept_{pop}"] = float(icpt)
            f[f"theory_slope_{pop}"] = theory
            f[f"slope_ratio_{pop}"] = float(slope / theory) if theory else None
            f[f"r_{pop}"] = float(np.corrcoef(d, rate)[0, 1]) if len(d) > 2 else None
        fits["d"] = f
    return fits


def format_results(rows: list[dict[str, Any]], fits: dict[str, Any], swept: tuple[str, ...]) -> str:
    """The table and fits as text for a terminal (a selection of columns; ± SD with seeds)."""
    seeded = any("n_seeds" in r for r in rows)
    cols = (
        list(swept)
        + [
            "N_E",
            "rate_E",
            "rate_I",
            "balance_rate_E",
            "balance_rate_I",
            "mf_rate_E",
            "mf_rate_I",
            "cv_mean",
            "fano_E",
            "corr_mean",
            "chi",
            "label",
        ]
        + (["n_seeds"] if seeded else [])
    )
    cols = list(dict.fromkeys(cols))

    def f(r: dict[str, Any], c: str) -> str:
        v = r.get(c, "")
        if isinstance(v, float):
            if not math.isfinite(v):
                return "-"
            sd = r.get(f"{c}_sd")
            return f"{v:.4g}" + (f"±{sd:.2g}" if isinstance(sd, float) and math.isfinite(sd) else "")
        return str(v)

    table = [cols] + [[f(r, c) for c in cols] for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(cols))]
    lines = ["  ".join(x.rjust(w) for x, w in zip(line, widths, strict=True)) for line in table]
    if "K" in fits:
        k = fits["K"]
        for pop in ("E", "I"):
            e = k[f"fit_balance_{pop}"]["exponent"]
            m = k[f"fit_mf_{pop}"]["exponent"]
            lines.append(f"deviation from balance ({pop}) ~ K^{e:.3g}" if e is not None else f"deviation ({pop}): -")
            if m is not None:
                lines.append(f"deviation from mean field ({pop}) ~ K^{m:.3g}")
        for name in ("balance", "mf"):
            e = k[f"fit_{name}_total"]["exponent"]
            if e is not None:
                lines.append(
                    f"deviation from {'mean field' if name == 'mf' else 'balance'} (E and I together) ~ K^{e:.3g}"
                )
        ex = k["fit_exc_input_E"]["exponent"]
        if ex is not None:
            lines.append(f"E input of E ~ K^{ex:.3g}, I input ~ K^{k['fit_inh_input_E']['exponent']:.3g} (theory 0.5)")
    if "d" in fits:
        d = fits["d"]
        for pop in ("E", "I"):
            lines.append(
                f"rate_{pop} = {d[f'intercept_{pop}']:.3g} + {d[f'slope_{pop}']:.4g} d Hz "
                f"(balance theory slope {d[f'theory_slope_{pop}']:.4g}, ratio {d[f'slope_ratio_{pop}']:.3f})"
            )
    return "\n".join(lines)
