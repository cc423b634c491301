"""The balance solution over a phase plane: I -> E coupling scaled by g, both drives by d.

With ``j_EI -> g j_EI`` and ``i -> d i`` the balance equations
``i_a + tau_s sum_b j_ab nu_b = 0`` give (see :func:`balanced.theory.balance_rates`)

    nu_E = d (g j_EI i_I - j_II i_E) / (tau_s det(g)),
    nu_I = d (j_IE i_E - j_EE i_I) / (tau_s det(g)),    det(g) = j_EE j_II - g j_EI j_IE,

so both rates scale with d, and whether both are positive depends on g alone: the
existence region is a band of g bounded by ``g_det`` (det = 0, where the rates diverge)
and ``g_E0`` (nu_E = 0); nu_I's sign does not depend on g except through det. The rate
contours ``nu = c`` are the curves ``d = c / nu(g, 1)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from .constants import E_L, T_REF, TAU_M, TAU_S, V_RESET, V_TH


@dataclass(frozen=True)
class PhaseBoundaries:
    """Where the balance solution of the (g, d) plane exists.

    ``g_det``: det(g) = 0 (None if j_EI j_IE = 0); ``g_E0``: nu_E = 0 (None if j_EI i_I = 0);
    ``g_min``, ``g_max``: the band of g with both rates positive (``g_max`` may be inf;
    both None when no g > 0 gives positive rates).
    """

    g_det: float | None
    g_E0: float | None
    g_min: float | None
    g_max: float | None


def phase_rates(j: ArrayLike, i: ArrayLike, tau_s: float, g: ArrayLike, d: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Balance rates (Hz) ``(nu_E, nu_I)`` at I -> E factor ``g`` and drive factor ``d``
    (broadcast); ``nan`` where det(g) = 0. ``j`` [target][source] and ``i`` in mV as for
    :func:`balanced.theory.balance_rates`, ``tau_s`` in ms."""
    j = np.asarray(j, dtype=float).reshape(2, 2)
    i = np.asarray(i, dtype=float).reshape(2)
    if tau_s <= 0:
        raise ValueError(f"tau_s must be positive, got {tau_s}")
    g, d = np.broadcast_arrays(np.asarray(g, dtype=float), np.asarray(d, dtype=float))
    det = j[0, 0] * j[1, 1] - g * j[0, 1] * j[1, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        nu_E = np.where(det != 0, d * (g * j[0, 1] * i[1] - j[1, 1] * i[0]) / (tau_s * det), np.nan)
        nu_I = np.where(det != 0, d * (j[1, 0] * i[0] - j[0, 0] * i[1]) / (tau_s * det), np.nan)
    return 1000.0 * nu_E, 1000.0 * nu_I


def phase_boundaries(j: ArrayLike, i: ArrayLike, g_max_search: float = 1e6) -> PhaseBoundaries:
    """The band of g > 0 in which both balance rates are positive (for any d > 0)."""
    j = np.asarray(j, dtype=float).reshape(2, 2)
    i = np.asarray(i, dtype=float).reshape(2)
    a = j[0, 1] * j[1, 0]
    g_det = float(j[0, 0] * j[1, 1] / a) if a != 0 else None
    b = j[0, 1] * i[1]
    g_E0 = float(j[1, 1] * i[0] / b) if b != 0 else None
    # both rates are rational in g with breaks only at g_det and g_E0: test each interval
    cuts = sorted({0.0, *(c for c in (g_det, g_E0) if c is not None and c > 0), g_max_search})
    band: list[tuple[float, float]] = []
    for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
        mid = 0.5 * (lo + hi) if hi < g_max_search else lo + 1.0
        nu_E, nu_I = phase_rates(j, i, 1.0, mid, 1.0)
        if nu_E > 0 and nu_I > 0:
            band.append((lo, hi))
    if not band:
        return PhaseBoundaries(g_det, g_E0, None, None)
    lo, hi = band[0][0], band[-1][1]
    return PhaseBoundaries(g_det, g_E0, lo, float("inf") if hi >= g_max_search else hi)


@dataclass(frozen=True)
class DelayStability:
    """The asynchronous state of the delayed network at one point of the plane.

    ``critical_delay_ms``: the smallest delay at which a pair of roots crosses the
    imaginary axis (0: unstable without delay; inf: stable at every delay; NaN: no
    mean-field operating point); ``frequency_hz``: the oscillation frequency at that
    crossing; ``eigenvalues``: of G(0) W (static gains); ``rates_hz``: the mean-field
    operating point.
    """

    critical_delay_ms: float
    frequency_hz: float
    eigenvalues: np.ndarray
    rates_hz: np.ndarray


def critical_delay(mu: complex, tau_s: float) -> tuple[float, float]:
    """``(D_c ms, omega 1/ms)`` of the mode ``(1 + lambda tau_s) = mu exp(-lambda D)``:
    stable at D = 0 when Re mu < 1; roots reach the imaginary axis at the one frequency
    with ``|1 + i omega tau_s| = |mu|`` and always cross to the right, so the mode is
    unstable exactly for D > D_c (inf when |mu| <= 1)."""
    mu = complex(mu)
    if mu.real >= 1.0:
        return 0.0, math.nan
    if abs(mu) <= 1.0:
        return math.inf, math.nan
    w = math.sqrt(abs(mu) ** 2 - 1.0) / tau_s
    best = math.inf
    for m in (mu, mu.conjugate()):
        base = (np.angle(m) - math.atan(w * tau_s)) / w  # from exp(-i w D) = (1 + i w tau_s) / mu
        period = 2 * math.pi / w
        d = base % period
        best = min(best, d if d > 0 else period)
    return float(best), w


def delay_stability_instantaneous(
    j: ArrayLike,
    i: ArrayLike,
    K: float,
    tau_m: float = TAU_M,
    tau_s: float = TAU_S,
    E_L: float = E_L,
    V_th: float = V_TH,
    V_reset: float = V_RESET,
    t_ref: float = T_REF,
) -> DelayStability:
    """The instantaneous-response theory (the comparison for :func:`delay_stability`): the
    critical delay of a scaled-form network (in-degree K, ``J = j/sqrt(K)``) in the rate
    model ``tau_s ds_b/dt = -s_b + nu_b(t - D)``, ``nu_a = Phi_a(mu_a)``, linearised at the
    mean-field operating point (gains G from the Siegert rate, ``W = sqrt(K) j tau_s``); each
    eigenvalue mu of G W is one mode (:func:`critical_delay`). Neglects the neurons' own
    response time, like :func:`balanced.theory.slow_inhibition_stability`."""
    from .meanfield import mean_field_rates
    from .stability import siegert_gain

    j = np.asarray(j, dtype=float).reshape(2, 2)
    mf = mean_field_rates(j, i, K, tau_m, tau_s, E_L, V_th, V_reset, t_ref)
    if not mf.converged:
        return DelayStability(math.nan, math.nan, np.full(2, np.nan), np.full(2, np.nan))
    g = np.array([siegert_gain(mf.mu[a], mf.sigma[a], tau_m, V_th, V_reset, t_ref, tau_s) for a in range(2)])
    ev = np.linalg.eigvals(g[:, None] * (math.sqrt(K) * j * tau_s))
    crit = [critical_delay(complex(m), tau_s) for m in ev]
    d, w = min(crit, key=lambda c: c[0])
    return DelayStability(
        d, w / (2 * math.pi) * 1000.0 if math.isfinite(w) else math.nan, ev, np.asarray(mf.rates_hz, dtype=float)
    )


def delay_stability(
    j: ArrayLike,
    i: ArrayLike,
    K: float,
    tau_m: float = TAU_M,
    tau_s: float = TAU_S,
    E_L: float = E_L,
    V_th: float = V_TH,
    V_reset: float = V_RESET,
    t_ref: float = T_REF,
) -> DelayStability:
    """The critical delay of a scaled-form network (in-degree K, ``J = j/sqrt(K)``) with the
    LIF's response: the loop ``G(omega) W H(omega) exp(-i omega D)`` (``G`` from
    :func:`balanced.theory.transfer.lif_transfer` at the mean-field operating point,
    ``W = sqrt(K) j tau_s``, ``H = 1/(1 + i omega tau_s)``), critical delay from
    :func:`balanced.theory.loop.critical_delay`. With G frozen at G(0) it is
    :func:`delay_stability_instantaneous`."""
    return delay_stabilities([j], [i], K, tau_m, tau_s, E_L, V_th, V_reset, t_ref)[0]


def delay_stabilities(
    js,
    i_s,
    K: float,
    tau_m: float = TAU_M,
    tau_s: float = TAU_S,
    E_L: float = E_L,
    V_th: float = V_TH,
    V_reset: float = V_RESET,
    t_ref: float = T_REF,
) -> list[DelayStability]:
    """:func:`delay_stability` of many points (one threshold integration for all of them)."""
    from .loop import critical_delay as loop_critical_delay
    from .meanfield import mean_field_rates
    from .transfer import synaptic_filter, transfer_interpolants

    js = [np.asarray(j, dtype=float).reshape(2, 2) for j in js]
    mfs = [mean_field_rates(j, i, K, tau_m, tau_s, E_L, V_th, V_reset, t_ref) for j, i in zip(js, i_s, strict=True)]
    ok = [k for k, mf in enumerate(mfs) if mf.converged and np.all(mf.sigma > 0)]
    out = [DelayStability(math.nan, math.nan, np.full(2, np.nan), np.full(2, np.nan)) for _ in mfs]
    if not ok:
        return out
    mu = np.array([mfs[k].mu for k in ok])
    sig = np.array([mfs[k].sigma for k in ok])
    Gs = transfer_interpolants(mu, sig, tau_m, V_th, V_reset, t_ref, tau_s)
    for G, k in zip(Gs, ok, strict=True):
        W = math.sqrt(K) * js[k] * tau_s

        def B(w, G=G, W=W):
            return G(w)[:, :, None] * W[None, :, :] * synaptic_filter(w, tau_s)[:, None, None]

        D, w = loop_critical_delay(B)
        g0 = G(np.zeros(1))[0].real
        out[k] = DelayStability(
            D,
            w / (2 * math.pi) * 1000.0 if math.isfinite(w) else math.nan,
            np.linalg.eigvals(g0[:, None] * W),
            np.asarray(mfs[k].rates_hz, dtype=float),
        )
    return out
