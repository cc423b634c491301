"""Balance equations: the rates that cancel the O(sqrt K) mean input, and the 1998
existence condition E/I > J_E/J_I > 1 in words."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from .constants import POPULATIONS, TAU_S


@dataclass(frozen=True)
class BalanceSolution:
    """Solution of the balance equations ``i + tau_s j nu = 0``.

    Attributes
    ----------
    rates_hz : ndarray (2,) or None
        Predicted (nu_E, nu_I) in Hz; ``None`` when the system is singular.
    exists : bool
        True when the system is regular and both rates are strictly positive.
    determinant : float
        ``det j = j_EE j_II - j_EI j_IE`` (mV^2 K).
    reason : str
        One sentence saying why a positive solution does or does not exist.
    """

    rates_hz: np.ndarray | None
    exists: bool
    determinant: float
    reason: str

    @property
    def rates_per_ms(self) -> np.ndarray | None:
        return None if self.rates_hz is None else self.rates_hz / 1000.0


def balance_rates(j: ArrayLike, i: ArrayLike, tau_s: float = TAU_S, *, rtol_singular: float = 1e-12) -> BalanceSolution:
    """Rates that cancel the O(sqrt K) mean input: solve ``i_a + tau_s sum_b j_ab nu_b = 0``.

    Parameters
    ----------
    j : 2x2 array, [target][source], mV (the scaled couplings j_ab = sqrt(K) J_ab)
        Inhibitory columns negative.
    i : length-2 array, mV (scaled drives i_a = I_a / sqrt(K))
    tau_s : float, ms
        Synaptic time constant (a spike of weight J delivers charge J tau_s, in mV ms).

    Returns
    -------
    BalanceSolution
        ``nu = -(1/tau_s) j^{-1} i`` converted to Hz:
        ``nu_E = (j_EI i_I - j_II i_E) / (tau_s det)``,
        ``nu_I = (j_IE i_E - j_EE i_I) / (tau_s det)``, with ``det = j_EE j_II - j_EI j_IE``.
        Singular when ``|det| <= rtol_singular * (|j_EE j_II| + |j_EI j_IE|)``.
    """
    j = np.asarray(j, dtype=float).reshape(2, 2)
    i = np.asarray(i, dtype=float).reshape(2)
    if tau_s <= 0:
        raise ValueError(f"tau_s must be positive, got {tau_s}")
    det = float(j[0, 0] * j[1, 1] - j[0, 1] * j[1, 0])
    scale = abs(j[0, 0] * j[1, 1]) + abs(j[0, 1] * j[1, 0])
    if scale == 0.0 or abs(det) <= rtol_singular * scale:
        if np.allclose(j[0], j[1]) and np.isclose(i[0], i[1]):
            what = (
                "the E and I equations are identical (same couplings and drive onto E and I), "
                "so the rates are not determined: a one-parameter family (or none with "
                "positive rates) solves them"
            )
        elif np.allclose(j[0], j[1]) or np.allclose(j[0] * i[1], j[1] * i[0]):
            what = "the two equations are proportional in j but not in i: no solution"
        else:
            what = "the balance equations are degenerate (det j = 0)"
        return BalanceSolution(None, False, det, f"singular balance equations (det j = {det:.3g}): {what}")
    nu_ms = -np.linalg.solve(j, i) / tau_s  # 1/ms
    rates = nu_ms * 1000.0
    if np.all(rates > 0):
        reason = f"positive solution: nu_E = {rates[0]:.4g} Hz, nu_I = {rates[1]:.4g} Hz"
        return BalanceSolution(rates, True, det, reason)
    neg = [POPULATIONS[k] for k in range(2) if rates[k] <= 0]
    reason = (
        f"no positive solution: the balance equations give nu_E = {rates[0]:.4g} Hz, "
        f"nu_I = {rates[1]:.4g} Hz ({' and '.join(neg)} not positive)"
    )
    return BalanceSolution(rates, False, det, reason)


@dataclass(frozen=True)
class VvsCondition:
    """The 1998 existence condition ``E/I > J_E/J_I > 1`` for one parameter set.

    In van Vreeswijk & Sompolinsky (1998) notation, J_EE = J_IE = 1, J_EI = -J_E,
    J_II = -J_I, drives E m0 and I m0. A general j (with j_EE, j_IE > 0) maps onto it by
    dividing each row by its excitatory coupling: ``J_E = -j_EI/j_EE``,
    ``J_I = -j_II/j_IE``, ``E m0 = i_E/j_EE``, ``I m0 = i_I/j_IE``, so
    ``E/I = (i_E/j_EE) / (i_I/j_IE)``.
    """

    E_over_I: float
    JE_over_JI: float
    holds: bool
    statement: str


def balance_condition_vvs(j: ArrayLike, i: ArrayLike) -> VvsCondition:
    """State in words which of the inequalities ``E/I > J_E/J_I > 1`` holds or fails.

    Solving the 1998 balance equations ``E m0 + nu_E - J_E nu_I = 0`` and
    ``I m0 + nu_E - J_I nu_I = 0`` gives ``nu_I = m0 (E - I)/(J_E - J_I)`` and
    ``nu_E = m0 (E J_I - I J_E)/(J_E - J_I)``. Both positive requires either
    ``E/I > J_E/J_I > 1`` (the balanced state of the paper) or ``E/I < J_E/J_I < 1``
    (positive rates, but the paper shows that this balanced state is unstable: the
    inhibitory feedback onto I is stronger than onto E relative to excitation, and the
    network leaves it).
    """
    j = np.asarray(j, dtype=float).reshape(2, 2)
    i = np.asarray(i, dtype=float).reshape(2)
    if j[0, 0] <= 0 or j[1, 0] <= 0:
        return VvsCondition(
            float("nan"), float("nan"), False, "the 1998 form needs excitatory couplings j_EE > 0 and j_IE > 0"
        )
    if j[0, 1] >= 0 or j[1, 1] >= 0 or i[0] <= 0 or i[1] <= 0:
        return VvsCondition(
            float("nan"), float("nan"), False, "the 1998 form needs negative inhibitory couplings and positive drives"
        )
    JE = -j[0, 1] / j[0, 0]
    JI = -j[1, 1] / j[1, 0]
    E = i[0] / j[0, 0]
    I = i[1] / j[1, 0]
    e_over_i = E / I
    je_over_ji = JE / JI
    tol = 1e-12
    first = e_over_i > je_over_ji * (1 + tol)
    second = je_over_ji > 1 + tol
    if first and second:
        s = (
            f"E/I = {e_over_i:.4g} > J_E/J_I = {je_over_ji:.4g} > 1: both inequalities hold, "
            "a positive balanced solution exists"
        )
        holds = True
    else:
        parts = []
        if abs(e_over_i - je_over_ji) <= tol * max(1.0, abs(je_over_ji)):
            parts.append(
                f"E/I = J_E/J_I = {je_over_ji:.4g}: the first inequality fails with "
                "equality (the balance equations are singular or give a zero rate)"
            )
        elif not first:
            parts.append(f"E/I = {e_over_i:.4g} <= J_E/J_I = {je_over_ji:.4g}: the first inequality fails")
        else:
            parts.append(f"E/I = {e_over_i:.4g} > J_E/J_I = {je_over_ji:.4g} holds")
        if abs(je_over_ji - 1) <= tol:
            parts.append("J_E/J_I = 1: the second inequality fails with equality (degenerate: J_E = J_I)")
        elif not second:
            parts.append(
                f"J_E/J_I = {je_over_ji:.4g} < 1: the second inequality fails"
                + (
                    " (E/I < J_E/J_I < 1 gives positive rates but an unstable balanced state, vV&S 1998)"
                    if e_over_i < je_over_ji
                    else ""
                )
            )
        else:
            parts.append(f"J_E/J_I = {je_over_ji:.4g} > 1 holds")
        s = "; ".join(parts)
        holds = False
    return VvsCondition(float(e_over_i), float(je_over_ji), holds, s)
