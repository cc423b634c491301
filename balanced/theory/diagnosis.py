"""Regime diagnosis: what the theory says about a parameter set, in words."""

from __future__ import annotations

import copy
import functools
import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

from .balance import BalanceSolution, VvsCondition, balance_condition_vvs, balance_rates
from .constants import E_L, POPULATIONS, T_REF, TAU_M, TAU_S, V_RESET, V_TH
from .forms import ScaledForm, tutorial_to_scaled
from .meanfield import MeanFieldSolution, mean_field_rates
from .moments import free_membrane_moments


@dataclass
class Diagnosis:
    """What the theory says about a parameter set.

    regime : "mean-driven" | "fluctuation-driven" | "quiescent" | "undetermined"
    mean_driven : bool
        The mean free membrane potential at the predicted operating point is above
        threshold (every neuron would fire regularly even without fluctuations).
    drive_alone_above_threshold : bool
        ``E_L + I_drive > V_th`` for E (and I): the drive alone, without recurrent input.
    balance : BalanceSolution | None
    condition : VvsCondition | None (the 1998 inequality in words)
    predicted_rates_hz : (2,) Hz or None
        Balance solution if it exists, else the mean-field rates if they converged.
    mean_field : MeanFieldSolution | None
    free_mean, free_sd : (2,) mV at the operating point (Campbell; None if no rates)
    form : ScaledForm; V_th, E_L : mV
    warnings : list[str]
    """

    regime: str
    mean_driven: bool
    drive_alone_above_threshold: bool
    balance: BalanceSolution | None
    condition: VvsCondition | None
    predicted_rates_hz: np.ndarray | None
    mean_field: MeanFieldSolution | None
    free_mean: np.ndarray | None
    free_sd: np.ndarray | None
    form: ScaledForm
    V_th: float
    E_L: float
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Human-readable lines, one fact per line."""
        f = self.form
        out = [
            f"regime: {self.regime}",
            f"scaled form: K = {f.K:g} (in-degrees K_E = {f.K_source[0]:g}, K_I = {f.K_source[1]:g}), "
            f"j = [[{f.j[0, 0]:.4g}, {f.j[0, 1]:.4g}], [{f.j[1, 0]:.4g}, {f.j[1, 1]:.4g}]] mV, "
            f"i = [{f.i[0]:.4g}, {f.i[1]:.4g}] mV",
            f"drive: I_E = {f.I_drive[0]:.4g} mV, I_I = {f.I_drive[1]:.4g} mV "
            f"({'above' if self.drive_alone_above_threshold else 'not above'} the "
            f"threshold distance {self.V_th - self.E_L:.4g} mV on its own)",
        ]
        if self.balance is not None:
            out.append(f"balance: {self.balance.reason}")
        if self.condition is not None:
            out.append(f"1998 condition: {self.condition.statement}")
        if self.mean_field is not None:
            mf = self.mean_field
            out.append(
                f"mean field (finite K): nu_E = {mf.rates_hz[0]:.4g} Hz, nu_I = {mf.rates_hz[1]:.4g} Hz"
                f" ({'converged' if mf.converged else 'NOT converged'}); mu = "
                f"[{mf.mu[0]:.4g}, {mf.mu[1]:.4g}] mV, sigma = [{mf.sigma[0]:.3g}, {mf.sigma[1]:.3g}] mV"
            )
        if self.predicted_rates_hz is not None:
            out.append(
                f"predicted rates: nu_E = {self.predicted_rates_hz[0]:.4g} Hz, "
                f"nu_I = {self.predicted_rates_hz[1]:.4g} Hz"
            )
        if self.free_mean is not None and self.free_sd is not None:
            out.append(
                f"free membrane at the operating point: mean = [{self.free_mean[0]:.4g}, "
                f"{self.free_mean[1]:.4g}] mV, SD = [{self.free_sd[0]:.3g}, {self.free_sd[1]:.3g}] mV "
                f"(threshold {self.V_th:g} mV)"
            )
        out += [f"note: {n}" for n in self.notes]
        out += [f"warning: {w}" for w in self.warnings]
        return out


def diagnose_regime(
    j: ArrayLike,
    i: ArrayLike,
    K: float,
    tau_m: float = TAU_M,
    tau_s: float = TAU_S,
    E_L: float = E_L,
    V_th: float = V_TH,
    V_reset: float = V_RESET,
    t_ref: float = T_REF,
    *,
    K_source: ArrayLike | None = None,
    mean_field: bool = True,
) -> Diagnosis:
    """Diagnose a scaled-form parameter set: regime, balance solution, warnings.

    The operating point is the finite-K mean-field solution when it converges, otherwise
    the balance solution, otherwise the drive alone. ``mean_driven`` means that the mean
    free membrane potential there, ``E_L + I_drive + tau_s sum_b K_b J_ab nu_b``, exceeds
    ``V_th`` (for E): neurons would fire regularly with no fluctuations at all. Otherwise
    firing needs fluctuations ("fluctuation-driven"); "quiescent" if the predicted rates
    are below 0.1 Hz. (The drive alone, ``E_L + sqrt(K) i_a > V_th``, is reported as
    ``drive_alone_above_threshold``; in a balanced network it is far above threshold and
    the recurrent inhibition brings the mean back below it.)

    Warnings: no positive balance solution; singular/degenerate balance equations; the
    unstable branch ``E/I < J_E/J_I < 1``; ``sqrt(K) i_E <= V_th - E_L`` (the silent state
    is stable: with constant drive and no noise the network can stay quiet); mean-field
    not converged; mean-driven regime (expect regular firing, CV << 1); small K.
    """
    j = np.asarray(j, dtype=float).reshape(2, 2)
    i = np.asarray(i, dtype=float).reshape(2)
    ks = np.asarray((K, K) if K_source is None else K_source, dtype=float).reshape(2)
    Ks = (float(ks[0]), float(ks[1]))
    form = ScaledForm(float(K), Ks, j, i)
    J, I_drive = form.J, form.I_drive
    warnings: list[str] = []
    notes: list[str] = []

    bal = balance_rates(j, i, tau_s)
    cond = balance_condition_vvs(j, i)
    if not bal.exists:
        warnings.append(f"no positive balanced solution: {bal.reason}")
    elif not cond.holds and not math.isnan(cond.E_over_I):
        warnings.append(
            f"balance solution is positive but the 1998 condition fails "
            f"({cond.statement}); expect the balanced state to be unstable"
        )

    gap = V_th - E_L
    for a, name in enumerate(POPULATIONS):
        if I_drive[a] <= gap:
            warnings.append(
                f"sqrt(K) i_{name} = {I_drive[a]:.4g} mV <= V_th - V_rest = {gap:.4g} mV: the silent "
                f"state is stable ({name} neurons cannot fire from the drive alone); with constant "
                "drive and no noise the network can stay quiet"
            )
    drive_alone = bool(E_L + I_drive[0] > V_th)

    mf = None
    if mean_field:
        mf = mean_field_rates(j, i, K, tau_m, tau_s, E_L, V_th, V_reset, t_ref, K_source=Ks)
        if not mf.converged:
            warnings.append(f"mean field did not converge ({mf.message})")

    if bal.exists:
        pred = bal.rates_hz
    elif mf is not None and mf.converged:
        pred = mf.rates_hz
    else:
        pred = None

    op = mf.rates_hz if (mf is not None and mf.converged) else pred
    free_mean: np.ndarray | None
    free_sd: np.ndarray | None
    if op is not None:
        fm = free_membrane_moments(op, np.asarray(Ks)[None, :], J, tau_m, tau_s, E_L, I_drive)
        free_mean, free_sd = fm.mean, fm.sd
        mean_driven = bool(free_mean[0] > V_th)
        if np.all(op < 0.1):
            regime = "quiescent"
        else:
            regime = "mean-driven" if mean_driven else "fluctuation-driven"
    else:
        free_mean = free_sd = None
        mean_driven = drive_alone
        regime = "mean-driven" if drive_alone else "undetermined"

    silent = any("silent state is stable" in w for w in warnings)
    if silent and op is not None and np.any(op >= 0.1):
        warnings.append(
            f"bistable: the theory also has an active state (nu_E = {op[0]:.3g} Hz, "
            f"nu_I = {op[1]:.3g} Hz); which one a run reaches depends on the initial "
            "condition (in NEST, V0 ~ N(-60, 10) usually ends silent)"
        )
    if mean_driven:
        warnings.append(
            "mean-driven: the mean input alone is above threshold; expect regular "
            "firing (ISI CV << 1), not the balanced irregular state"
        )

    # the tutorial's symmetric degenerate case
    if np.allclose(j[0], j[1]) and np.isclose(i[0], i[1]) and np.isclose(j[0, 0] + j[0, 1], 0.0):
        notes.append(
            "E/I = J_E/J_I = 1: exactly on the degenerate boundary of the 1998 condition; "
            "the balance equations are singular, and with identical E and I "
            "rates the mean recurrent input cancels for any rate, so the rate is set by "
            "the single-neuron f-I curve at the drive"
        )
    if min(Ks) < 100:
        warnings.append(
            f"small in-degree (K = {min(Ks):g} < 100): finite-K corrections to the balance prediction are large"
        )
    d = Diagnosis(
        regime, mean_driven, drive_alone, bal, cond, pred, mf, free_mean, free_sd, form, V_th, E_L, warnings, notes
    )
    return d


def diagnose_tutorial(
    p: float,
    J_E: float,
    J_I: float,
    Ib: float,
    N_E: int,
    N_I: int,
    tau_m: float = TAU_M,
    tau_s: float = TAU_S,
    E_L: float = E_L,
    V_th: float = V_TH,
    V_reset: float = V_RESET,
    t_ref: float = T_REF,
    *,
    mean_field: bool = True,
) -> Diagnosis:
    """:func:`diagnose_regime` for the tutorial form, via :func:`tutorial_to_scaled`."""
    f = tutorial_to_scaled(p, J_E, J_I, Ib, N_E, N_I)
    return diagnose_regime(
        f.j, f.i, f.K, tau_m, tau_s, E_L, V_th, V_reset, t_ref, K_source=f.K_source, mean_field=mean_field
    )


def format_diagnosis(d: Diagnosis) -> str:
    """The diagnosis as printable text."""
    return "\n".join(d.lines())


def diagnose_params(params) -> Diagnosis:
    """:func:`diagnose_regime` for a :class:`balanced.params.Params` of either coupling form.

    With a separate inhibitory time constant ``tau_s_I`` the inhibitory couplings enter as
    ``J tau_s_I / tau_s`` (the same charge per spike at tau_s): exact for the mean input and
    the balance solution; the fluctuations are computed as if inhibition decayed with tau_s
    (a note says so). Each call returns its own copy; the last few parameter sets are
    remembered (a sweep point's report and its table row ask for the same one).
    """
    try:
        hash(params)
    except TypeError:  # not a frozen Params: nothing to remember it by
        return _diagnose_params(params)
    return copy.deepcopy(_diagnose_params_remembered(params))


@functools.lru_cache(maxsize=8)
def _diagnose_params_remembered(params) -> Diagnosis:
    return _diagnose_params(params)


def _diagnose_params(params) -> Diagnosis:
    neuron = dict(
        tau_m=params.tau,
        tau_s=params.tau_s,
        E_L=params.V_rest,
        V_th=params.V_th,
        V_reset=params.V_reset,
        t_ref=params.t_ref,
    )
    tau_I = getattr(params, "tau_s_I", None)
    f = 1.0 if tau_I is None else tau_I / params.tau_s
    if params.coupling == "tutorial":
        d = diagnose_tutorial(params.p, params.J_E, params.J_I * f, params.Ib, params.N_E, params.N_I, **neuron)
    else:
        j = ((params.j_EE, params.j_EI * f), (params.j_IE, params.j_II * f))
        d = diagnose_regime(j, (params.i_E, params.i_I), params.K, **neuron)
    if tau_I is not None and f != 1.0:
        d.notes.append(
            f"tau_s_I = {tau_I:g} ms: inhibitory couplings taken as J tau_s_I / tau_s (same charge at "
            f"tau_s = {params.tau_s:g} ms); exact for the mean input and the balance solution, "
            "approximate for the fluctuations"
        )
    return d


def diagnosis_lines(params) -> list[str]:
    """The regime diagnosis of a :class:`balanced.params.Params` as the lines a run's
    manifest records (:func:`format_diagnosis` of :func:`diagnose_params`)."""
    return format_diagnosis(diagnose_params(params)).splitlines()
