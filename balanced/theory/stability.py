"""Linear stability of the asynchronous state against population oscillations when
inhibition is slow (van Vreeswijk & Sompolinsky 1998, section on time constants).

Linearised around the mean-field operating point, the synaptic drive from population b
follows ``tau_b ds_b/dt = -s_b + nu_b(t - D)`` (``s_b`` in 1/ms), the mean input to a is
``mu_a = E_L + I_a + sum_b W_ab s_b`` with ``W_ab = K_b J_ab tau_b`` (mV ms, the mean input
per unit rate). In the charge-conserving comparison used here the inhibitory current
jump is scaled by ``tau_E/tau_I`` as tau_I grows, so W (and the balance solution) does not
change; only the timescale of the inhibitory feedback does.

**LIF response** (:func:`slow_inhibition_stability`): each population's rate responds to
its mean input with the LIF's complex gain ``G_a(omega)``
(:func:`balanced.theory.transfer.lif_transfer`), so the loop is
``M(omega) = G(omega) W H(omega) exp(-i omega D)``, ``H_b = 1/(1 + i omega tau_b)``, and the
asynchronous state is unstable when ``det(1 - M) = 0`` has a root with Re lambda > 0
(:mod:`balanced.theory.loop`): the critical ``tau_I/tau_E`` is the smallest ratio with
such a root, the onset frequency the omega at which an eigenvalue of M passes through 1.
The neuron's lag (its phase falls towards -50 degrees by 200 Hz at the preset's operating
point) adds to the inhibitory filter's, so the loop oscillates at a smaller ratio than the
instantaneous model says. Neglected: the slower inhibitory noise's own colour in G (the
Fourcaud-Brunel shift is taken at tau_E) and the input correlations of a recurrent network.

**Instantaneous response** (:func:`rate_stability`,
:func:`slow_inhibition_stability_instantaneous`; the comparison): ``nu_a = Phi_a(mu_a)`` at
once, ``G = diag(g_E, g_I)`` with ``g_a = dPhi_a/dmu_a`` (1/(ms mV)) and no delay.
Perturbations ``ds`` obey ``ds/dt = A ds`` with

    A = diag(1/tau) (-1 + G W).

With det(-1 + G W) > 0 (true in the balanced state: 1998 condition), the fixed point loses
stability through a Hopf bifurcation when the trace of A changes sign:

    (g_E W_EE - 1)/tau_E + (g_I W_II - 1)/tau_I = 0
    =>  (tau_I/tau_E)_c = (1 - g_I W_II) / (g_E W_EE - 1)                (W_II < 0)

and the oscillation starts at ``omega_c = sqrt(det A)``. As K -> infinity (W ~ sqrt K)
this tends to the 1998 result ``tau_I/tau_E < g_I |j_II| / (g_E j_EE)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from .constants import E_L, T_REF, TAU_M, TAU_S, V_RESET, V_TH
from .meanfield import mean_field_rates
from .neuron import siegert_rate
from .transfer import synaptic_filter, transfer_interpolant

#: smallest tau_I/tau_E searched (tau_I = 0.5 ms at tau_s = 2 ms: the loop is below 1 by 4 kHz)
MIN_RATIO = 0.25


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


def slow_inhibition_stability_instantaneous(
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
    """The instantaneous-response theory: :func:`rate_stability` of a scaled-form network (in-degree K from each population,
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


@dataclass(frozen=True)
class SlowInhibitionStability:
    """The asynchronous state with the LIF's response (see the module docstring).

    rates_hz (2,), mu (2,) and sigma (2,) mV: the mean-field operating point; gains (2,):
    ``G(0)`` in 1/(ms mV); W (2x2) mV ms; delay_ms; ratio: the tau_I/tau_E asked about;
    unstable_roots: roots with Re lambda > 0 there; stable: none;
    critical_ratio: smallest unstable tau_I/tau_E (inf if none up to ``max_ratio``);
    frequency_hz: the onset frequency there; resonance_hz: at ``ratio``, the peak (above
    20 Hz) of the E rate's spectrum when each population's own spike noise (white, of
    intensity nu_b) drives the loop, ``sum_b |[(1 - M)^-1]_Eb|^2 nu_b`` (the damped
    oscillation of a stable state); instantaneous: the same network in the
    instantaneous-response theory (:class:`RateStability`) for comparison.
    """

    rates_hz: np.ndarray
    mu: np.ndarray
    sigma: np.ndarray
    gains: np.ndarray
    W: np.ndarray
    delay_ms: float
    ratio: float
    unstable_roots: int
    stable: bool
    critical_ratio: float
    frequency_hz: float
    resonance_hz: float
    instantaneous: RateStability


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
    delay_ms: float = 0.0,
    *,
    max_ratio: float = 50.0,
) -> SlowInhibitionStability:
    """Stability of a scaled-form network (in-degree K from each population,
    ``J_ab = j_ab/sqrt(K)`` at ``tau_s``) whose inhibitory synapses decay with
    ``tau_I = ratio * tau_s`` at the same charge per spike, with the LIF's response
    ``G(omega)`` at the mean-field operating point and the synaptic ``delay_ms``.

    ``critical_ratio`` is searched on ``[MIN_RATIO, max_ratio]`` (:func:`balanced.theory.loop.critical_parameter`)
    and is returned as found to 1e-6 relative.
    """
    from .loop import SCAN_HZ, critical_parameter, omega_of_hz, onset_frequency, unstable_roots

    j = np.asarray(j, dtype=float).reshape(2, 2)
    if not ratio > 0:
        raise ValueError(f"ratio must be > 0, got {ratio!r}")
    mf = mean_field_rates(j, i, K, tau_m, tau_s, E_L, V_th, V_reset, t_ref)
    if not mf.converged:
        raise ValueError(f"mean field did not converge ({mf.message}): no operating point to linearise around")
    G = transfer_interpolant(mf.mu, mf.sigma, tau_m, V_th, V_reset, t_ref, tau_s)
    W = math.sqrt(K) * j * tau_s

    def family(r: float):
        def B(w):
            H = np.stack([synaptic_filter(w, tau_s), synaptic_filter(w, r * tau_s)], axis=-1)
            return G(w)[:, :, None] * W[None, :, :] * H[:, None, :]

        return B

    n_here = unstable_roots(family(ratio), delay_ms)
    crit = critical_parameter(family, MIN_RATIO, max_ratio, delay_ms)
    freq = math.nan
    if math.isfinite(crit) and crit > MIN_RATIO:
        freq = onset_frequency(family(crit), delay_ms) / (2.0 * math.pi) * 1000.0
    f_res = SCAN_HZ[SCAN_HZ >= 20.0]
    w_res = omega_of_hz(f_res)
    M = family(ratio)(w_res) * np.exp(-1j * w_res * delay_ms)[:, None, None]
    R = np.linalg.inv(np.eye(2)[None] - M)
    spectrum = np.abs(R[:, 0, 0]) ** 2 * mf.rates_hz[0] + np.abs(R[:, 0, 1]) ** 2 * mf.rates_hz[1]
    resonance = float(f_res[int(np.argmax(spectrum))])
    g0 = G(np.zeros(1))[0].real
    inst = rate_stability(g0, W, tau_s, ratio * tau_s, mf.rates_hz)
    return SlowInhibitionStability(
        np.asarray(mf.rates_hz, dtype=float),
        np.asarray(mf.mu, dtype=float),
        np.asarray(mf.sigma, dtype=float),
        g0,
        W,
        float(delay_ms),
        float(ratio),
        n_here,
        n_here == 0,
        float(crit),
        float(freq),
        resonance,
        inst,
    )
