"""Fast tracking: the balanced population follows a step of its input rate faster than a
single neuron can (van Vreeswijk & Sompolinsky 1996).

The step is delivered the way the paper's external input changes: as a change of an
input *rate*. A Poisson source per population (:class:`PoissonSquareWave`, a run hook)
switches between 0 and a rate that adds ``step`` times the population's constant drive
to its mean input, through the excitatory synapse (weight = the E -> population weight,
so the added current rises with tau_s like every recurrent input). The source switches
up and down every ``half_period`` ms, so one run holds many steps; runs over several
seeds are pooled.

Conditions: ``balanced`` at each K (population sizes scaled with K); ``uncoupled`` at the
same K: the same neurons with no recurrent synapses, each receiving instead independent
Poisson trains with the balanced network's measured pre-step rates through the same
weights (same mean input, similar fluctuations), plus the same step; ``tutorial``: the
mean-driven tutorial network with the same relative step of its drive.

Estimator (causal, no smoothing across the step): spike counts in ``BIN_MS`` bins after
each step, summed over all steps and seeds, normalised per population to
``R = (c - c_before) / (c_after - c_before)`` (before: the last third of the preceding
half period; after: the last third of the step's), averaged over E and I. The response
time ``t63_ms`` is the first time R, linearly interpolated between bin centres, reaches
0.63; ``t_area_ms = integral of (1 - R)`` over the first ``AREA_MS`` ms (equal to t63 for
a delayed exponential, less noisy).

``python -m balanced.tracking --out DIR [--preset balanced] [--K 100,200,400] [--seeds 4]
[--step 0.5] [--half-period 30] [--cycles 40] [--set key=value ...]`` writes the run
directories under ``DIR/<condition>/``, ``DIR/tracking.json`` and ``DIR/tracking.png|pdf``.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import rundir
from .params import ParamError, Params, replace, resolve
from .tracking_estimate import AREA_MS, BIN_MS, LEVEL, normalised, response, response_time
from .transaction import OutputError, claim_experiment_folder

RESULT_FILE = "tracking.json"
SETUP_MS = 0.1  # the sources are created after the first step (NEST fixes delays at Simulate)
WARMUP_MS = 100.0  # before the first step: the initial transient is over


@dataclass(frozen=True)
class Source:
    """Poisson input to one population: ``rate_low_hz`` before the first switch and in the
    down halves, ``rate_high_hz`` in the up halves; ``weight_pA`` per spike."""

    target: str
    weight_pA: float
    rate_low_hz: float
    rate_high_hz: float


@dataclass(frozen=True)
class PoissonSquareWave:
    """A run hook (:class:`balanced.run.RunHook`): at ``SETUP_MS`` create one Poisson
    generator per source (independent trains to every neuron of its target), then switch
    every source up at ``t_first_ms + 2 k half_period_ms`` and down half a period later."""

    sources: tuple[Source, ...]
    t_first_ms: float
    half_period_ms: float
    delay_ms: float

    def switch_times(self, T_ms: float) -> list[float]:
        n = int(math.floor((T_ms - self.t_first_ms) / self.half_period_ms + 1e-9))
        return [self.t_first_ms + k * self.half_period_ms for k in range(max(n, 0))]

    def times(self, T_ms: float) -> list[float]:
        return [SETUP_MS, *self.switch_times(T_ms)]

    def at(self, nest, net, t_ms: float) -> None:
        if abs(t_ms - SETUP_MS) < 1e-6:
            pops = {"E": net.E, "I": net.I}
            gens = []
            for s in self.sources:
                g = nest.Create("poisson_generator", params={"rate": s.rate_low_hz})
                nest.Connect(
                    g,
                    pops[s.target],
                    "all_to_all",
                    {"synapse_model": "static_synapse", "weight": s.weight_pA, "delay": self.delay_ms},
                )
                gens.append(g)
            object.__setattr__(self, "_gens", gens)  # NEST handles live only for this run
            return
        k = round((t_ms - self.t_first_ms) / self.half_period_ms)
        if k >= 0 and abs(self.t_first_ms + k * self.half_period_ms - t_ms) < 1e-6:
            for g, s in zip(self._gens, self.sources, strict=True):  # type: ignore[attr-defined]
                g.rate = s.rate_high_hz if k % 2 == 0 else s.rate_low_hz

    def describe(self) -> dict:
        return {
            "kind": "poisson_square_wave",
            "t_first_ms": self.t_first_ms,
            "half_period_ms": self.half_period_ms,
            "sources": [vars(s).copy() for s in self.sources],
        }


def _weights_drive(p: Params) -> tuple[tuple[tuple[float, float], tuple[float, float]], tuple[float, float]]:
    """``(weight_pA[target][source], drive_pA[target])`` of ``p``."""
    from .derived import derive

    d = derive(p)
    return d.weight_pA, d.drive_pA  # type: ignore[return-value]


def step_sources(p: Params, step: float) -> tuple[Source, ...]:
    """The step: per population a Poisson rate that adds ``step`` x its drive to the mean
    input (mean current of rate r at weight w: r w tau_s), through the E -> target weight."""
    w, drive = _weights_drive(p)
    out = []
    for t, name in enumerate(("E", "I")):
        weight = w[t][0]
        out.append(Source(name, weight, 0.0, 1000.0 * step * drive[t] / (weight * p.tau_s)))
    return tuple(out)


def uncoupled_params(p: Params) -> Params:
    """``p`` with no recurrent input (weights 0, one input each: nothing to build) and the
    same constant drive."""
    _, drive = _weights_drive(p)
    return replace(
        p, K=1, j_EE=0.0, j_EI=0.0, j_IE=0.0, j_II=0.0, i_E=drive[0], i_I=drive[1], connectivity="fixed_indegree"
    )


def uncoupled_sources(p: Params, rates_hz: tuple[float, float], step: float) -> tuple[Source, ...]:
    """The recurrent input of ``p`` replaced by Poisson trains: K inputs per source
    population at its measured rate, through the network's weights; plus the step."""
    w, _ = _weights_drive(p)
    assert p.K is not None
    rec = [
        Source(t, w[ti][si], p.K * rates_hz[si], p.K * rates_hz[si])
        for ti, t in enumerate(("E", "I"))
        for si in range(2)
    ]
    return (*rec, *step_sources(p, step))


def _run(p: Params, hook: PoissonSquareWave, d: Path, preset: str | None) -> None:
    from .api import run_network

    try:
        m = rundir.read_manifest(d)
        if (
            m.get("status") == "complete"
            and m["params"] == p.to_dict()
            and m.get("hooks") == rundir.json_ready([hook.describe()])
        ):
            return  # resume: this run is done
    except rundir.RunDirError:
        pass
    run_network(p, d, overwrite=True, preset=preset, progress=False, hooks=[hook])


def _condition(runs: list[tuple[Params, PoissonSquareWave, Path]], preset: str | None, half: float) -> dict[str, Any]:
    """Run (or resume) every seed of one condition; pooled responses and rates."""
    tot: dict[str, np.ndarray] = {}
    low_rates = np.zeros(2)
    for p, hook, d in runs:
        _run(p, hook, d, preset)
        sp = rundir.load_spikes(d)
        sw = hook.switch_times(p.T)
        for k, v in response(sp, p.N_E, p.N_I, sw, half).items():
            tot[k] = tot.get(k, 0) + v
        # pre-step rates: the last third of every down half (and of the warm-up)
        for pi, (lo, n) in enumerate(((0, p.N_E), (p.N_E, p.N_I))):
            sel = (sp.neuron >= lo) & (sp.neuron < lo + n)
            ends = [sw[0]] + sw[2::2]
            cnt = sum(np.count_nonzero(sel & (sp.time > t - half / 3) & (sp.time <= t)) for t in ends)
            low_rates[pi] += cnt / (n * len(ends) * half / 3) * 1000.0 / len(runs)
    curves = {}
    for kind in ("up", "down"):
        R = np.nanmean([normalised(tot[f"{kind}_{pop}"]) for pop in ("E", "I")], axis=0)
        curves[kind] = R
    ups = sum(len(h.switch_times(p.T)[0::2]) for p, h, _ in runs)
    return {
        "rates_before_hz": low_rates.tolist(),
        "steps_pooled": ups,
        "up": response_time(curves["up"]),
        "down": response_time(curves["down"]),
        "R_up": curves["up"].tolist(),
        "R_down": curves["down"].tolist(),
    }


def run_tracking(
    base: Params,
    out: str | Path,
    Ks: Sequence[int],
    *,
    seeds: int = 4,
    step: float = 0.5,
    half_period: float = 30.0,
    cycles: int = 40,
    tutorial: Params | None = None,
    uncoupled: bool = True,
    figures: bool = True,
    preset: str | None = None,
) -> dict[str, Any]:
    """Every condition (balanced at each K, uncoupled at each K, tutorial): run, measure, write JSON."""
    from .chaos_rate import scaled_for_K
    from .slow_inhibition import scaled_form
    from .theory import balance_rates

    if seeds < 1 or cycles < 1:
        raise ParamError(f"--seeds {seeds} / --cycles {cycles}: must be integers >= 1")
    if not 0 < step <= 2:
        raise ParamError(f"--step {step!r}: must be in (0, 2] (a fraction of the drive)")
    if not half_period >= 3 * AREA_MS / 2:
        raise ParamError(f"--half-period {half_period!r}: must be >= {1.5 * AREA_MS:g} ms (the response window)")
    if base.coupling != "scaled":
        raise ParamError(f"parameter 'coupling' = {base.coupling!r}: this experiment needs 'scaled'")
    for K in Ks:  # every K checked before the folder is claimed
        scaled_for_K(base, int(K))
    out = Path(out)
    claim_experiment_folder(out, "tracking", RESULT_FILE)
    T = WARMUP_MS + 2 * cycles * half_period
    conds: dict[str, Any] = {}

    def make(p: Params, name: str, sources: tuple[Source, ...]) -> list:
        q = replace(p, T=round(T / p.dt) * p.dt, record_n=0)
        hook = PoissonSquareWave(sources, WARMUP_MS, half_period, q.delay)
        return [(replace(q, seed=q.seed + s), hook, out / name / f"seed{s}") for s in range(seeds)]

    for K in Ks:
        p = scaled_for_K(base, int(K))
        bal = _condition(make(p, f"balanced/K={K}", step_sources(p, step)), preset, half_period)
        j, i, _ = scaled_form(p)
        th = balance_rates(j, i, p.tau_s).rates_hz
        bal.update(
            K=int(K),
            N_E=p.N_E,
            theory_rates_before_hz=None if th is None else np.asarray(th).tolist(),
            theory_rates_after_hz=None if th is None else (np.asarray(th) * (1 + step)).tolist(),
        )
        conds[f"balanced K={K}"] = bal
        if uncoupled:
            r = (bal["rates_before_hz"][0], bal["rates_before_hz"][1])
            u = _condition(
                make(uncoupled_params(p), f"uncoupled/K={K}", uncoupled_sources(p, r, step)), preset, half_period
            )
            conds[f"uncoupled K={K}"] = {**u, "K": int(K), "target_rates_hz": list(r)}
    if tutorial is not None:
        conds["tutorial"] = _condition(
            make(tutorial, "tutorial", step_sources(tutorial, step)), "tutorial", half_period
        )
    result = {
        "base": base.to_dict(),
        "preset": preset,
        "step_fraction": step,
        "half_period_ms": half_period,
        "cycles": cycles,
        "seeds": seeds,
        "bin_ms": BIN_MS,
        "level": LEVEL,
        "tau_m_ms": base.tau,
        "tau_s_ms": base.tau_s,
        "conditions": conds,
    }
    result = rundir.write_json(out / RESULT_FILE, result)
    if figures:
        _figure(out, result)
    return result


def _figure(out: Path, result: dict[str, Any]) -> None:
    import matplotlib.pyplot as plt

    from .analysis.plots import save_figure, style

    conds = result["conditions"]
    with style():
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(8.5, 3.0))
        for name, c in conds.items():
            R = np.asarray(c["R_up"], dtype=float)
            t = (np.arange(len(R)) + 0.5) * result["bin_ms"]
            ls = "-" if name.startswith("balanced") else ("--" if name.startswith("uncoupled") else ":")
            a1.plot(t, R, ls, lw=0.9, label=f"{name}: {_fmt(c['up']['t63_ms'])} ms")
        a1.axhline(result["level"], color="0.5", lw=0.6)
        a1.set_xlim(0, 15)
        a1.set_ylim(-0.2, 2.6)
        a1.set_xlabel("time after the input-rate step (ms)")
        a1.set_ylabel("normalised population rate R")
        a1.legend(fontsize=6)
        for prefix, fmt in (("balanced", "o-k"), ("uncoupled", "s--")):
            pts = [
                (c["K"], c["up"]["t63_ms"])
                for n, c in conds.items()
                if n.startswith(prefix) and c["up"]["t63_ms"] is not None
            ]
            if pts:
                a2.plot([x for x, _ in pts], [y for _, y in pts], fmt, label=prefix)
        if "tutorial" in conds and conds["tutorial"]["up"]["t63_ms"] is not None:
            a2.axhline(conds["tutorial"]["up"]["t63_ms"], color="tab:green", ls=":", label="tutorial (mean-driven)")
        a2.axhline(result["tau_m_ms"], color="0.4", lw=0.8, label="tau_m")
        a2.axhline(result["tau_m_ms"] / 3, color="0.4", lw=0.8, ls="--", label="tau_m / 3")
        a2.set_xscale("log")
        a2.set_yscale("log")
        a2.set_xlabel("in-degree K")
        a2.set_ylabel("time to 63 % (ms)")
        a2.legend(fontsize=6)
        fig.tight_layout()
        save_figure(fig, out, "tracking")


def _fmt(x: float | None) -> str:
    return "never" if x is None else f"{x:.2f}"


def format_result(result: dict[str, Any]) -> str:
    lines = [
        f"{'condition':<16} {'rates before (Hz)':>18} {'t63 up':>7} {'settle':>7} {'R max':>6} "
        f"{'error':>6} {'t_abs':>6} {'t63 down':>8} {'steps':>6}"
    ]
    for name, c in result["conditions"].items():
        r, u = c["rates_before_hz"], c["up"]
        lines.append(
            f"{name:<16} {r[0]:>8.2f} {r[1]:>8.2f} {_fmt(u['t63_ms']):>7} {u['settle_ms']:>7.1f} "
            f"{u['R_max']:>6.2f} {u['tracking_error']:>6.2f} {u['t_abs_ms']:>6.2f} {_fmt(c['down']['t63_ms']):>8} "
            f"{c['steps_pooled']:>6}"
        )
    lines.append(
        f"tau_m = {result['tau_m_ms']:g} ms, tau_s = {result['tau_s_ms']:g} ms; step +{result['step_fraction']:g} "
        "of the drive, as a Poisson input rate"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m balanced.tracking", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--preset", default="balanced")
    ap.add_argument("--K", default="100,200,400", help="in-degrees, comma-separated")
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--step", type=float, default=0.5, help="step of the input, as a fraction of the drive")
    ap.add_argument("--half-period", type=float, default=30.0, help="ms between up and down switches")
    ap.add_argument("--cycles", type=int, default=40, help="up steps per run")
    ap.add_argument("--no-tutorial", action="store_true")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    a = ap.parse_args(argv)
    try:
        try:
            Ks = [int(x) for x in a.K.split(",") if x.strip()]
        except ValueError:
            raise ParamError(f"--K {a.K!r}: must be comma-separated integers, for example 100,200,400") from None
        base = resolve(a.preset, None, a.set)
        tut = None if a.no_tutorial else resolve("tutorial")
        result = run_tracking(
            base,
            a.out,
            Ks,
            seeds=a.seeds,
            step=a.step,
            half_period=a.half_period,
            cycles=a.cycles,
            tutorial=tut,
            preset=a.preset,
        )
    except (ParamError, OutputError) as exc:
        print(f"balanced: error: {exc}", file=sys.stderr)
        return 2
    print(format_result(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
