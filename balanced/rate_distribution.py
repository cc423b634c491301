"""The distribution of time-averaged rates across neurons, measured and predicted.

Runs the base network (scaled form) once per connectivity rule (``pairwise_bernoulli``:
in-degrees vary by about sqrt(K); ``fixed_indegree``: every neuron exactly K inputs) and
compares each population's spike counts in the analysis window with the prediction of
:func:`balanced.theory.rate_distribution` (quenched Gaussian disorder of the mean input),
turned into a count distribution by Poisson counting over the same window
(:meth:`~balanced.theory.disorder.RateDistribution.count_cdf`). Reported per rule and
population: mean and SD of the rates (measured, predicted), the Kolmogorov-Smirnov
distance between the measured and predicted count distributions, and the fraction of
nearly silent neurons (rate below ``SILENT_HZ``).

``python -m balanced.rate_distribution --out DIR [--preset balanced] [--set key=value ...]``
writes ``DIR/<rule>/`` (run directories), ``DIR/rate_distribution.json`` and
``DIR/rate_distribution.png|pdf``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import rundir
from .params import ParamError, Params, replace, resolve
from .transaction import OutputError, claim_experiment_folder

RESULT_FILE = "rate_distribution.json"
RULES = ("pairwise_bernoulli", "fixed_indegree")
SILENT_HZ = 1.0  # "nearly silent": under one spike per second


def scaled_form(p: Params) -> tuple[tuple[tuple[float, float], tuple[float, float]], tuple[float, float], int]:
    """``(j, i, K)`` of a scaled-form parameter set (validated: none of them is missing)."""
    if p.coupling != "scaled":
        raise ParamError(f"parameter 'coupling' = {p.coupling!r}: this experiment needs 'scaled'")
    assert None not in (p.j_EE, p.j_EI, p.j_IE, p.j_II, p.i_E, p.i_I, p.K)  # validate() requires them
    return ((float(p.j_EE), float(p.j_EI)), (float(p.j_IE), float(p.j_II))), (float(p.i_E), float(p.i_I)), int(p.K)  # type: ignore[arg-type]


def ks_counts(counts: np.ndarray, predicted_cdf) -> float:
    """KS distance between the empirical distribution of integer ``counts`` and a predicted
    CDF ``P(count <= n)`` (a callable on an array of n): the largest gap over the steps."""
    counts = np.sort(np.asarray(counts, dtype=np.int64))
    n = np.arange(0, int(counts.max()) + 2) if len(counts) else np.arange(1)
    emp = np.searchsorted(counts, n, side="right") / max(len(counts), 1)
    pred = np.asarray(predicted_cdf(n), dtype=float)
    emp_before = np.concatenate([[0.0], emp[:-1]])
    pred_before = np.concatenate([[0.0], pred[:-1]])
    return float(max(np.max(np.abs(emp - pred)), np.max(np.abs(emp_before - pred_before))))


def measure(run_dir: Path, params: Params, t_start: float, theory) -> dict[str, Any]:
    """Counts per neuron in [t_start, T) for E and I, against the theory's distribution."""
    sp = rundir.load_spikes(run_dir)
    window = params.T - t_start
    sel = sp.time >= t_start
    counts_all = np.bincount(sp.neuron[sel], minlength=params.N_E + params.N_I)
    out: dict[str, Any] = {"window_ms": window}
    for a, (pop, lo, hi) in enumerate((("E", 0, params.N_E), ("I", params.N_E, params.N_E + params.N_I))):
        counts = counts_all[lo:hi]
        rates = counts * 1000.0 / window
        ks = ks_counts(counts, lambda n, a=a: theory.count_cdf(a, window, n))
        silent_pred_counts = float(theory.count_cdf(a, window, [int(np.ceil(SILENT_HZ * window / 1000.0)) - 1])[0])
        out[pop] = {
            "rate_mean_hz": float(rates.mean()),
            "rate_sd_hz": float(rates.std()),
            "theory_mean_hz": float(theory.rates_hz[a]),
            "theory_sd_hz": float(theory.sd_hz[a]),
            "theory_input_sd_mV": float(theory.s[a]),
            "ks": ks,
            "n_neurons": int(len(counts)),
            "silent_fraction": float(np.mean(rates < SILENT_HZ)),
            "theory_silent_fraction": float(theory.cdf(a, [SILENT_HZ])[0]),
            "theory_silent_fraction_counts": silent_pred_counts,
            "histogram_counts": np.bincount(counts).tolist(),
        }
    return out


def run_rate_distribution(
    base: Params,
    out: str | Path,
    *,
    t_start: float = 200.0,
    rules: Sequence[str] = RULES,
    figures: bool = True,
    preset: str | None = None,
) -> dict[str, Any]:
    """Run each connectivity rule (resuming a finished run), compare, write and return the dict."""
    from .api import run_network
    from .theory import rate_distribution

    j, i, K = scaled_form(base)
    if not 0 <= t_start < base.T:
        raise ParamError(f"--t-start {t_start!r}: must be in [0, T = {base.T:g}) ms")
    out = Path(out)
    claim_experiment_folder(out, "rate-distribution", RESULT_FILE)
    result: dict[str, Any] = {
        "base": base.to_dict(),
        "preset": preset,
        "t_start_ms": t_start,
        "silent_below_hz": SILENT_HZ,
        "rules": {},
    }
    for rule in rules:
        p = replace(base, connectivity=rule)
        d = out / rule
        try:
            man = rundir.read_manifest(d)
            done = man.get("status") == "complete" and man["params"] == p.to_dict()
        except rundir.RunDirError:
            done = False
        if not done:
            run_network(p, d, overwrite=True, preset=preset, progress=False)
        th = rate_distribution(
            j, i, K, K / base.N_E, rule, base.tau, base.tau_s, base.V_rest, base.V_th, base.V_reset, base.t_ref
        )
        result["rules"][rule] = {"theory_converged": th.converged, **measure(d, p, t_start, th)}
    result = rundir.write_json(out / RESULT_FILE, result)
    if figures:
        _figure(out, result, base)
    return result


def _figure(out: Path, result: dict[str, Any], base: Params) -> None:
    import matplotlib.pyplot as plt

    from .analysis.plots import save_figure, style
    from .theory import rate_distribution

    j, i, K = scaled_form(base)
    with style():
        fig, axes = plt.subplots(1, 2, figsize=(8.5, 3.0), sharey=False)
        for a, (ax, pop) in enumerate(zip(axes, ("E", "I"), strict=True)):
            for rule, color in zip(result["rules"], ("tab:red", "tab:blue"), strict=False):
                r = result["rules"][rule]
                th = rate_distribution(
                    j, i, K, K / base.N_E, rule, base.tau, base.tau_s, base.V_rest, base.V_th, base.V_reset, base.t_ref
                )
                w = r["window_ms"] / 1000.0
                h = np.asarray(r[pop]["histogram_counts"], dtype=float)
                g = max(1, int(round(w)))  # counts per bin: bins of about 1 Hz
                h = np.add.reduceat(h, np.arange(0, len(h), g))
                edges = np.arange(len(h) + 1) * g  # counts: bin k holds [k g, (k + 1) g)
                pmf = np.diff(np.concatenate([[0.0], th.count_cdf(a, r["window_ms"], edges[1:] - 1)]))
                ax.stairs(
                    h / h.sum() / (g / w), edges / w, color=color, lw=0.8, label=f"{rule} (KS {r[pop]['ks']:.3f})"
                )
                ax.plot((edges[:-1] + edges[1:]) / 2 / w, pmf / (g / w), color=color, lw=1.6, alpha=0.6)
            ax.set_xlabel(f"{pop} rate (Hz), window {result['rules'][rule]['window_ms'] / 1000:g} s")
            ax.set_ylabel("density (1/Hz)")
            ax.set_xlim(0, None)
            ax.legend(fontsize=7, title="measured (steps), theory (lines)", title_fontsize=7)
        fig.tight_layout()
        save_figure(fig, out, "rate_distribution")


def format_result(result: dict[str, Any]) -> str:
    lines = [
        f"{'rule':<20} {'pop':>3} {'mean Hz':>8} {'theory':>7} {'SD Hz':>6} {'theory':>7} {'KS':>6} "
        f"{'silent':>7} {'theory':>7}"
    ]
    for rule, r in result["rules"].items():
        for pop in ("E", "I"):
            s = r[pop]
            lines.append(
                f"{rule:<20} {pop:>3} {s['rate_mean_hz']:>8.2f} {s['theory_mean_hz']:>7.2f} "
                f"{s['rate_sd_hz']:>6.2f} {s['theory_sd_hz']:>7.2f} {s['ks']:>6.3f} "
                f"{s['silent_fraction']:>7.3f} {s['theory_silent_fraction_counts']:>7.3f}"
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m balanced.rate_distribution", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--preset", default="balanced")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--t-start", type=float, default=200.0)
    a = ap.parse_args(argv)
    try:
        result = run_rate_distribution(resolve(a.preset, None, a.set), a.out, t_start=a.t_start, preset=a.preset)
    except (ParamError, OutputError) as exc:
        print(f"balanced: error: {exc}", file=sys.stderr)
        return 2
    print(format_result(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
