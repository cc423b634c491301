"""Slow inhibition: the asynchronous balanced state gives way to population oscillations
when inhibitory synapses are slow enough (van Vreeswijk & Sompolinsky 1998).

For each ratio ``r = tau_I / tau_E`` the base network (scaled form) is run with
``tau_s_I = r tau_s`` and its inhibitory couplings divided by r, so that each inhibitory
spike delivers the same charge and the balance solution stays the same: only the
timescale of the inhibitory feedback changes. Per point: Golomb's chi (the analysis's
network chi; a point oscillates when chi > 0.3), the peak of the E population rate's spectrum and its height over the
spectrum's median (``peak_ratio``), and the rates. The theory line is
:func:`balanced.theory.slow_inhibition_stability` (the LIF's response ``G(omega)``, the
run's delay); the instantaneous-response line
(:func:`balanced.theory.slow_inhibition_stability_instantaneous`) is kept beside it.

``python -m balanced.slow_inhibition --out DIR [--preset balanced] [--ratios 1,2,3,4,6,8]
[--set key=value ...]`` writes ``DIR/points/r=R/`` (run directories),
``DIR/slow_inhibition.json`` and ``DIR/slow_inhibition.png|pdf``.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import rundir
from .params import ParamError, Params, replace, resolve
from .transaction import OutputError, claim_experiment_folder

RESULT_FILE = "slow_inhibition.json"
RATE_BIN_MS = 0.5  # population-rate bins: resolves oscillations up to 1 kHz
MIN_FREQ_HZ = 20.0  # below: slow rate drifts, not the oscillation
OSCILLATING_CHI = 0.3  # the sweep's synchrony threshold (balanced.sweep.classify)


def scaled_form(p: Params) -> tuple[tuple[tuple[float, float], tuple[float, float]], tuple[float, float], int]:
    """``(j, i, K)`` of a scaled-form parameter set (validated: none of them is missing)."""
    if p.coupling != "scaled":
        raise ParamError(f"parameter 'coupling' = {p.coupling!r}: this experiment needs 'scaled'")
    assert None not in (p.j_EE, p.j_EI, p.j_IE, p.j_II, p.i_E, p.i_I, p.K)  # validate() requires them
    return ((float(p.j_EE), float(p.j_EI)), (float(p.j_IE), float(p.j_II))), (float(p.i_E), float(p.i_I)), int(p.K)  # type: ignore[arg-type]


def point_params(base: Params, ratio: float) -> Params:
    """``base`` with inhibitory synapses ``ratio`` times slower at the same charge per spike."""
    j, _, _ = scaled_form(base)
    if not ratio > 0:
        raise ParamError(f"ratio {ratio!r}: tau_I / tau_E must be > 0")
    return replace(base, tau_s_I=ratio * base.tau_s, j_EI=j[0][1] / ratio, j_II=j[1][1] / ratio)


def spectrum_peak(time_ms: np.ndarray, n_neurons: int, t_start: float, t_stop: float) -> dict[str, float]:
    """Peak of the Welch PSD of a population's rate (``RATE_BIN_MS`` bins) above ``MIN_FREQ_HZ``."""
    from .analysis.poprate import welch_psd

    n_bins = int((t_stop - t_start) / RATE_BIN_MS)
    hist, _ = np.histogram(time_ms, bins=n_bins, range=(t_start, t_start + n_bins * RATE_BIN_MS))
    rate = hist / max(n_neurons, 1) * 1000.0 / RATE_BIN_MS
    freqs, psd = welch_psd(rate - rate.mean(), 1000.0 / RATE_BIN_MS, 512)
    sel = freqs >= MIN_FREQ_HZ
    k = int(np.argmax(psd[sel]))
    med = float(np.median(psd[sel]))
    return {
        "peak_hz": float(freqs[sel][k]),
        "peak_ratio": float(psd[sel][k] / med) if med > 0 else math.inf,
        "rate_sd_hz": float(rate.std()),
    }


def measure_point(run_dir: Path, t_start: float) -> dict[str, Any]:
    """chi, spectrum peak and rates of one finished run."""
    from .analysis.report import analyze_run

    man = rundir.read_manifest(run_dir)
    s = analyze_run(run_dir, t_start=t_start, figures=False)
    sp = rundir.load_spikes(run_dir, man)
    t0, t1 = s["window_ms"]
    n_e = man["params"]["N_E"]
    e = (sp.neuron < n_e) & (sp.time >= t0) & (sp.time < t1)
    peak = spectrum_peak(sp.time[e], n_e, t0, t1)
    return {
        "chi": s["network"]["chi"],
        "rate_E_hz": s["E"]["rate_mean_hz"],
        "rate_I_hz": s["I"]["rate_mean_hz"],
        "cv_E": s["E"]["cv_isi_mean"],
        **peak,
    }


def oscillating(point: dict[str, Any]) -> bool:
    """The measured criterion: a synchronous population (Golomb's chi above the sweep's
    threshold). The spectral peak alone does not decide: the stable asynchronous state
    near the instability already has a sharp resonance (a damped oscillation)."""
    return bool(point["chi"] > OSCILLATING_CHI)


def run_slow_inhibition(
    base: Params,
    out: str | os.PathLike,
    ratios: Sequence[float],
    *,
    t_start: float = 200.0,
    figures: bool = True,
    preset: str | None = None,
) -> dict[str, Any]:
    """Run every ratio (resuming finished points), write and return the result's dict."""
    from .api import run_network
    from .theory import slow_inhibition_stability

    out = Path(out)
    j, i, K = scaled_form(base)
    for r in ratios:  # every ratio's parameters checked before the folder is claimed
        point_params(base, float(r))
    claim_experiment_folder(out, "slow-inhibition", RESULT_FILE)
    theory = slow_inhibition_stability(
        j, i, K, 1.0, base.tau, base.tau_s, base.V_rest, base.V_th, base.V_reset, base.t_ref, base.delay
    )
    inst = theory.instantaneous
    points = []
    for r in ratios:
        p = point_params(base, float(r))
        d = out / "points" / f"r={r:g}"
        done = False
        try:
            done = (
                rundir.read_manifest(d).get("status") == "complete" and rundir.read_manifest(d)["params"] == p.to_dict()
            )
        except rundir.RunDirError:
            pass
        if not done:
            run_network(p, d, overwrite=True, preset=preset, progress=False)
        m = measure_point(d, t_start)
        m.update(ratio=float(r), tau_I_ms=p.tau_s_I, oscillating=oscillating(m))
        points.append(m)
    osc = [pt["ratio"] for pt in points if pt["oscillating"]]
    stable = [pt["ratio"] for pt in points if not pt["oscillating"]]
    first_osc = min(osc) if osc else None
    measured = None
    if first_osc is not None:
        below = [r for r in stable if r < first_osc]
        measured = math.sqrt(first_osc * max(below)) if below else first_osc  # geometric mid of the bracket
    result = {
        "base": base.to_dict(),
        "preset": preset,
        "t_start_ms": t_start,
        "points": points,
        "criterion": {"chi_above": OSCILLATING_CHI},
        "theory": {
            "critical_ratio": theory.critical_ratio,
            "frequency_hz": theory.frequency_hz,
            "resonance_hz_at_ratio_1": theory.resonance_hz,
            "delay_ms": theory.delay_ms,
            "gains_per_ms_mV": theory.gains.tolist(),
            "W_mV_ms": theory.W.tolist(),
            "rates_hz": theory.rates_hz.tolist(),
            "instantaneous": {
                "critical_ratio": inst.critical_ratio,
                "large_K_ratio": inst.large_K_ratio,
                "frequency_hz": inst.frequency_hz,
            },
        },
        "measured": {
            "first_oscillating_ratio": first_osc,
            "critical_ratio": measured,
            "over_theory": None if measured is None else measured / theory.critical_ratio,
            "over_instantaneous": None if measured is None else measured / inst.critical_ratio,
        },
    }
    result = rundir.write_json(out / RESULT_FILE, result)
    if figures:
        _figure(out, result)
    return result


def _figure(out: Path, result: dict[str, Any]) -> None:
    import matplotlib.pyplot as plt

    from .analysis.plots import save_figure, style

    pts = result["points"]
    r = [p["ratio"] for p in pts]
    with style():
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(8.0, 3.0))
        a1.plot(r, [p["chi"] for p in pts], "o-", color="k", label="chi")
        a1.axhline(OSCILLATING_CHI, color="0.6", lw=0.8, ls=":")
        a1.set_xlabel("tau_I / tau_E")
        a1.set_ylabel("Golomb chi")
        a1b = a1.twinx()
        a1b.semilogy(r, [p["peak_ratio"] for p in pts], "s--", color="tab:red")
        a1b.set_ylabel("spectral peak / median", color="tab:red")
        th = result["theory"]
        for ax in (a1, a2):
            ax.axvline(th["critical_ratio"], color="tab:blue", lw=1.2, label="theory, LIF response")
            ax.axvline(
                th["instantaneous"]["critical_ratio"], color="tab:blue", lw=0.8, ls=":", label="theory, instantaneous"
            )
        if result["measured"]["critical_ratio"]:
            a1.axvline(result["measured"]["critical_ratio"], color="k", lw=0.8, ls="--", label="measured")
        a1.legend(loc="upper left", fontsize=7)
        a2.plot(r, [p["peak_hz"] for p in pts], "o-", color="tab:red", label="measured peak")
        if math.isfinite(th["frequency_hz"] or math.nan):
            a2.axhline(th["frequency_hz"], color="tab:blue", lw=0.8, ls="--", label="theory at onset")
        a2.set_xlabel("tau_I / tau_E")
        a2.set_ylabel("E rate spectrum peak (Hz)")
        a2.legend(fontsize=7)
        fig.tight_layout()
        save_figure(fig, out, "slow_inhibition")


def format_result(result: dict[str, Any]) -> str:
    lines = [f"{'tau_I/tau_E':>11} {'chi':>6} {'peak Hz':>8} {'peak/med':>9} {'E Hz':>6} {'I Hz':>6}  oscillating"]
    for p in result["points"]:
        lines.append(
            f"{p['ratio']:>11g} {p['chi']:>6.3f} {p['peak_hz']:>8.1f} {p['peak_ratio']:>9.1f} "
            f"{p['rate_E_hz']:>6.2f} {p['rate_I_hz']:>6.2f}  {p['oscillating']}"
        )
    th, me = result["theory"], result["measured"]
    ins = th["instantaneous"]
    lines.append(
        f"theory (LIF response, delay {th['delay_ms']:g} ms): (tau_I/tau_E)_c = {th['critical_ratio']:.3g}, "
        f"onset frequency {th['frequency_hz']:.3g} Hz"
    )
    lines.append(
        f"theory (instantaneous response): (tau_I/tau_E)_c = {ins['critical_ratio']:.3g} "
        f"(K -> inf: {ins['large_K_ratio']:.3g}), onset frequency {ins['frequency_hz']:.3g} Hz"
    )
    lines.append(
        f"measured: first oscillating ratio {me['first_oscillating_ratio']}, critical about "
        f"{me['critical_ratio'] and round(me['critical_ratio'], 3)}"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m balanced.slow_inhibition", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--preset", default="balanced")
    ap.add_argument("--ratios", default="1,2,3,4,6,8", help="tau_I / tau_E values, comma-separated")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--t-start", type=float, default=200.0)
    a = ap.parse_args(argv)
    try:
        try:
            ratios = [float(x) for x in a.ratios.split(",") if x.strip()]
        except ValueError:
            raise ParamError(f"--ratios {a.ratios!r}: must be comma-separated numbers, for example 1,2,4") from None
        base = resolve(a.preset, None, a.set)
        result = run_slow_inhibition(base, a.out, ratios, t_start=a.t_start, preset=a.preset)
    except (ParamError, OutputError) as exc:
        print(f"balanced: error: {exc}", file=sys.stderr)
        return 2
    print(format_result(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
