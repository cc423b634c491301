"""Linear stability of the asynchronous state against population oscillations when
inhibition is slow (van Vreeswijk & Sompolinsky 1998, section on time constants).

Rate model linearised around the mean-field operating point: the synaptic drive from
population b follows ``tau_b ds_b/dt = -s_b + nu_b(t)`` (``s_b`` in 1/ms), the mean input
to a is ``mu_a = E_L + I_a + sum_b W_ab s_b`` with ``W_ab = K_b J_ab tau_b`` (mV ms, the
mean input per unit rate), and each population's rate follows its input at once,
``nu_a = Phi_a(mu_a)`` (the LIF with synaptic filtering tracks its mean input fast;
Fourcaud & Brunel 2002). Perturbations ``ds`` obey ``ds/dt = A ds`` with

    A = diag(1/tau) (-1 + G W),    G = diag(g_E, g_I),  g_a = dPhi_a/dmu_a (1/(ms mV)).

In the charge-conserving comparison used here the inhibitory current jump is scaled by
``tau_E/tau_I`` as tau_I grows, so W (and the balance solution) does not change; only
the timescale of the inhibitory feedback does. With det(-1 + G W) > 0 (true in the
balanced state: 1998 condition), the fixed point loses stability through a Hopf
bifurcation (an oscillation) when the trace of A changes sign:

    (g_E W_EE - 1)/tau_E + (g_I W_II - 1)/tau_I = 0
    =>  (tau_I/tau_E)_c = (1 - g_I W_II) / (g_E W_EE - 1)                (W_II < 0)

and the oscillation starts at ``omega_c = sqrt(det A)``. As K -> infinity (W ~ sqrt K)
this tends to the 1998 result ``tau_I/tau_E < g_I |j_II| / (g_E j_EE)``. Neglected: the
change of the input variance with tau_I, the delay, and the finite response time of the
neurons (each makes the real network oscillate somewhat earlier).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from .constants import E_L, T_REF, TAU_M, TAU_S, V_RESET, V_TH
from .meanfield import mean_field_rates
from .neuron import siegert_rate


def siegert_gain(
    mu: float,
    sigma: float,
    tau_m: float = TAU_M,
    V_th: float = V_TH,
    V_reset: float = V_RESET,
    t_ref: float = T_REF,
    tau_s: float = TAU_S,
    h_mV: float = 1e-3,
) -> float:
    """``d nu / d mu`` of :func:`siegert_rate` at fixed sigma, in 1/(ms mV) (central difference)."""
    f = lambda m: siegert_rate(m, sigma, tau_m, V_th, V_reset, t_ref, tau_s) / 1000.0  # noqa: E731
    return (f(mu + h_mV) - f(mu - h_mV)) / (2.0 * h_mV)


@dataclass(frozen=True)
class RateStability:
    """The linearised rate dynamics at one operating point.

    rates_hz (2,): operating point (mean field); gains (2,) 1/(ms mV); W (2x2) mV ms;
    A (2x2) 1/ms for ``tau_I/tau_E = ratio``; eigenvalues (2,) 1/ms; stable: both real
    parts negative; critical_ratio: (tau_I/tau_E)_c of the Hopf line (inf if the trace
    never changes sign); large_K_ratio: its K -> infinity limit ``g_I |W_II| / (g_E W_EE)``;
    frequency_hz: ``sqrt(det A) / 2 pi`` at the critical ratio (NaN if none).
    """

    rates_hz: np.ndarray
    gains: np.ndarray
    W: np.ndarray
    ratio: float
    A: np.ndarray
    eigenvalues: np.ndarray
    stable: bool
    critical_ratio: float
    large_K_ratio: float
    frequency_hz: float


def rate_stability(
    gains: ArrayLike, W: ArrayLike, tau_E: float, tau_I: float, rates_hz: ArrayLike = (math.nan, math.nan)
) -> RateStability:
    """Stability of ``A = diag(1/tau) (-1 + G W)`` (see the module docstring)."""
    g = np.asarray(gains, dtype=float).reshape(2)
    W = np.asarray(W, dtype=float).reshape(2, 2)
    M = -np.eye(2) + g[:, None] * W
    A = M / np.array([tau_E, tau_I])[:, None]
    ev = np.linalg.eigvals(A)
    a, d = M[0, 0], M[1, 1]
    # trace(A) = a/tau_E + d/tau_I, zero at tau_I/tau_E = -d/a (needs a > 0 > d)
    crit = -d / a if (a > 0 and d < 0) else math.inf
    large = g[1] * abs(W[1, 1]) / (g[0] * W[0, 0]) if W[0, 0] > 0 else math.inf
    if math.isfinite(crit):
        det = np.linalg.det(M) / (tau_E * crit * tau_E)
        freq = math.sqrt(det) / (2 * math.pi) * 1000.0 if det > 0 else math.nan
    else:
        freq = math.nan
    return RateStability(
        np.asarray(rates_hz, dtype=float),
        g,
        W,
        tau_I / tau_E,
        A,
        ev,
        bool(np.all(ev.real < 0)),
        float(crit),
        float(large),
        float(freq),
    )


def slow_inhibition_stability(
    j: ArrayLike,
    i: ArrayLike,
    K: float,
    ratio: float = 1.0,
    tau_m: float = TAU_M,
    tau_s: float = TAU_S,
    E_L: float = E_L,
    V_th: float = V_TH,
    V_reset: float = V_RESET,
    t_ref: float = T_REF,
) -> RateStability:
    """:func:`rate_stability` of a scaled-form network (in-degree K from each population,
    ``J_ab = j_ab/sqrt(K)`` at ``tau_s``) whose inhibitory synapses decay with
    ``tau_I = ratio * tau_s`` and carry the same charge (jump ``J_aI tau_s / tau_I``).

    Operating point: :func:`mean_field_rates` at tau_s (the mean input is unchanged by
    the charge-conserving slowing); gains from :func:`siegert_gain` there. Then
    ``W_ab = sqrt(K) j_ab tau_s`` for both sources.
    """
    j = np.asarray(j, dtype=float).reshape(2, 2)
    mf = mean_field_rates(j, i, K, tau_m, tau_s, E_L, V_th, V_reset, t_ref)
    if not mf.converged:
        raise ValueError(f"mean field did not converge ({mf.message}): no operating point to linearise around")
    g = [siegert_gain(mf.mu[a], mf.sigma[a], tau_m, V_th, V_reset, t_ref, tau_s) for a in range(2)]
    W = math.sqrt(K) * j * tau_s
    return rate_stability(g, W, tau_s, ratio * tau_s, mf.rates_hz)
