"""Theory for the E/I network: balance equations, f-I curves, free-membrane moments,
a finite-K mean field and a regime diagnosis.

Pure numpy/scipy (no NEST, no :mod:`balanced.params`): every function takes plain floats
or small arrays so that it can be tested on its own; the lead's thin wrapper maps a
``Params`` object onto these arguments.

Conventions (see ``docs/design.md``)
------------------------------------
* Matrices are indexed ``[target][source]`` with index 0 = E, 1 = I: ``j[0][1]`` is
  ``j_EI``, the coupling **from I onto E**. Inhibitory couplings are negative numbers.
* Units: ms, mV, Hz. Synaptic currents are "currents in mV" (unit resistance; in NEST
  ``C_m = tau_m`` pF so 1 pA drives 1 mV). Rates are in Hz unless a name says
  ``_per_ms``; inside formulas rates are converted to 1/ms.

The neuron
----------
``tau_m dV/dt = -(V - E_L) + I_drive + I_syn(t)``; spike when ``V >= V_th``, then
``V -> V_reset`` for ``t_ref``. Each presynaptic spike from population b adds ``J_ab``
(mV) to ``I_syn``, which decays with ``tau_s``.

Scaled (balanced) form
----------------------
Each neuron receives ``K`` inputs from E and ``K`` from I; ``J_ab = j_ab / sqrt(K)``; the
constant drive is ``I_a = sqrt(K) i_a``. More generally, with in-degrees ``K_b`` per
source population and a reference ``K`` we define ``j_ab = K_b J_ab / sqrt(K)`` and
``i_a = I_a / sqrt(K)``; the mean input is then

    mu_a = E_L + sqrt(K) [ i_a + tau_s sum_b j_ab nu_b ]          (nu in 1/ms)

and requiring the O(sqrt K) bracket to vanish gives the balance equations

    i_E + tau_s (j_EE nu_E + j_EI nu_I) = 0
    i_I + tau_s (j_IE nu_E + j_II nu_I) = 0 .

Sections
--------
1. balance equations (:func:`balance_rates`, :func:`balance_condition_vvs`)
2. single-neuron f-I curves (:func:`lif_rate_constant_input`, :func:`siegert_rate`)
3. free-membrane moments (:func:`psp_kernel`, :func:`free_membrane_moments`)
4. finite-K mean field (:func:`mean_field_rates`)
5. regime diagnosis (:func:`diagnose_regime`, :func:`diagnose_tutorial`,
   :func:`format_diagnosis`, :func:`tutorial_to_scaled`)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple, Sequence

import numpy as np
from scipy import integrate, optimize, special

__all__ = [
    "POPULATIONS",
    "ZETA_HALF_ABS",
    "FB_ALPHA_HALF",
    "BalanceSolution",
    "balance_rates",
    "VvsCondition",
    "balance_condition_vvs",
    "lif_rate_constant_input",
    "lif_isi_constant_input",
    "siegert_rate",
    "psp_kernel",
    "psp_kernel_integrals",
    "FreeMoments",
    "free_membrane_moments",
    "diffusion_parameters",
    "MeanFieldSolution",
    "mean_field_rates",
    "ScaledForm",
    "tutorial_to_scaled",
    "Diagnosis",
    "diagnose_regime",
    "diagnose_tutorial",
    "format_diagnosis",
]

POPULATIONS = ("E", "I")

#: |zeta(1/2)| (Riemann zeta), enters the Fourcaud-Brunel (2002) threshold shift.
ZETA_HALF_ABS = 1.4603545088095868
#: |zeta(1/2)| / sqrt(2) = alpha/2 of Fourcaud & Brunel (2002): 1.0326...
FB_ALPHA_HALF = ZETA_HALF_ABS / math.sqrt(2.0)

# Default neuron of this project (the BrainPy tutorial's LIF).
_TAU_M = 10.0
_TAU_S = 2.0
_E_L = -52.0
_V_TH = -50.0
_V_RESET = -60.0
_T_REF = 0.0


# =====================================================================================
# 1. Balance equations
# =====================================================================================


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


def balance_rates(j: Sequence[Sequence[float]], i: Sequence[float], tau_s: float = _TAU_S,
                  *, rtol_singular: float = 1e-12) -> BalanceSolution:
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
            what = ("the E and I equations are identical (same couplings and drive onto E and I), "
                    "so the rates are not determined: a one-parameter family (or none with "
                    "positive rates) solves them")
        elif np.allclose(j[0], j[1]) or np.allclose(j[0] * i[1], j[1] * i[0]):
            what = "the two equations are proportional in j but not in i: no solution"
        else:
            what = "the balance equations are degenerate (det j = 0)"
        return BalanceSolution(None, False, det,
                               f"singular balance equations (det j = {det:.3g}): {what}")
    nu_ms = -np.linalg.solve(j, i) / tau_s  # 1/ms
    rates = nu_ms * 1000.0
    if np.all(rates > 0):
        reason = (f"positive solution: nu_E = {rates[0]:.4g} Hz, nu_I = {rates[1]:.4g} Hz")
        return BalanceSolution(rates, True, det, reason)
    neg = [POPULATIONS[k] for k in range(2) if rates[k] <= 0]
    reason = (f"no positive solution: the balance equations give nu_E = {rates[0]:.4g} Hz, "
              f"nu_I = {rates[1]:.4g} Hz ({' and '.join(neg)} not positive)")
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


def balance_condition_vvs(j: Sequence[Sequence[float]], i: Sequence[float]) -> VvsCondition:
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
        return VvsCondition(float("nan"), float("nan"), False,
                            "the 1998 form needs excitatory couplings j_EE > 0 and j_IE > 0")
    if j[0, 1] >= 0 or j[1, 1] >= 0 or i[0] <= 0 or i[1] <= 0:
        return VvsCondition(float("nan"), float("nan"), False,
                            "the 1998 form needs negative inhibitory couplings and positive drives")
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
        s = (f"E/I = {e_over_i:.4g} > J_E/J_I = {je_over_ji:.4g} > 1: both inequalities hold, "
             "a positive balanced solution exists")
        holds = True
    else:
        parts = []
        if abs(e_over_i - je_over_ji) <= tol * max(1.0, abs(je_over_ji)):
            parts.append(f"E/I = J_E/J_I = {je_over_ji:.4g}: the first inequality fails with "
                         "equality (the balance equations are singular or give a zero rate)")
        elif not first:
            parts.append(f"E/I = {e_over_i:.4g} <= J_E/J_I = {je_over_ji:.4g}: "
                         "the first inequality fails")
        else:
            parts.append(f"E/I = {e_over_i:.4g} > J_E/J_I = {je_over_ji:.4g} holds")
        if abs(je_over_ji - 1) <= tol:
            parts.append("J_E/J_I = 1: the second inequality fails with equality "
                         "(degenerate: J_E = J_I)")
        elif not second:
            parts.append(f"J_E/J_I = {je_over_ji:.4g} < 1: the second inequality fails"
                         + (" (E/I < J_E/J_I < 1 gives positive rates but an unstable "
                            "balanced state, vV&S 1998)" if e_over_i < je_over_ji else ""))
        else:
            parts.append(f"J_E/J_I = {je_over_ji:.4g} > 1 holds")
        s = "; ".join(parts)
        holds = False
    return VvsCondition(float(e_over_i), float(je_over_ji), holds, s)


# =====================================================================================
# 2. Single-neuron f-I curves
# =====================================================================================


def lif_isi_constant_input(mu, tau_m: float = _TAU_M, V_th: float = _V_TH,
                           V_reset: float = _V_RESET, t_ref: float = _T_REF,
                           dt: float | None = None):
    """Inter-spike interval (ms) of an LIF neuron under constant input; inf if it never fires.

    ``mu`` (mV) is the asymptotic free membrane potential ``E_L + I_drive``. From
    ``V(t) = mu + (V_reset - mu) exp(-t/tau_m)`` the time from reset to threshold is
    ``T = tau_m ln((mu - V_reset)/(mu - V_th))`` for ``mu > V_th``.

    With ``dt`` (ms) the interval is exact on the time grid of an exact-integration
    simulator such as NEST's ``iaf_psc_exp``: the threshold is checked at the end of each
    step, so the number of integrated steps is ``ceil(T/dt)``; the refractory period
    holds V for ``round(t_ref/dt)`` whole steps. ISI = ``(round(t_ref/dt) + ceil(T/dt)) dt``.
    (Tutorial neuron, drive 3 mV: T = 10 ln 11 = 23.979 ms -> 240 steps = 24.0 ms.)
    """
    mu = np.asarray(mu, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        T = tau_m * np.log((mu - V_reset) / (mu - V_th))
    T = np.where(mu > V_th, T, np.inf)
    if dt is None:
        isi = t_ref + T
    else:
        n_ref = round(t_ref / dt)
        # the 1e-9 guards against T/dt landing a hair above an integer by rounding
        steps = np.ceil(np.where(np.isfinite(T), T / dt - 1e-9, np.inf))
        isi = (n_ref + steps) * dt
    return isi if isi.ndim else float(isi)


def lif_rate_constant_input(mu, tau_m: float = _TAU_M, V_th: float = _V_TH,
                            V_reset: float = _V_RESET, t_ref: float = _T_REF,
                            dt: float | None = None):
    """Firing rate (Hz) of an LIF neuron under constant input (mu = E_L + drive, mV).

    ``1000 / (t_ref + tau_m ln((mu - V_reset)/(mu - V_th)))`` for ``mu > V_th``, else 0.
    With ``dt`` the ISI is rounded up to whole steps (see :func:`lif_isi_constant_input`):
    the tutorial neuron (mu = -49 mV) gives 1000/24.0 = 41.67 Hz on the 0.1 ms grid and
    41.70 Hz in continuous time.
    """
    isi = np.asarray(lif_isi_constant_input(mu, tau_m, V_th, V_reset, t_ref, dt), dtype=float)
    with np.errstate(divide="ignore"):
        r = np.where(np.isfinite(isi), 1000.0 / isi, 0.0)
    return r if r.ndim else float(r)


def _siegert_integral(y_r: float, y_th: float) -> float:
    """``int_{y_r}^{y_th} exp(u^2) (1 + erf u) du`` = ``int erfcx(-u) du``, computed stably."""
    f = lambda u: special.erfcx(-u)  # noqa: E731
    pts = [p for p in (-5.0, 0.0) if y_r < p < y_th]
    edges = [y_r, *pts, y_th]
    total = 0.0
    for a, b in zip(edges[:-1], edges[1:]):
        if b <= -5.0 and a < -5.0:
            # integrand ~ 1/(sqrt(pi)|u|): integrate in s = ln(-u) where it is smooth
            g = lambda s: special.erfcx(math.exp(s)) * math.exp(s)  # noqa: E731
            v, _ = integrate.quad(g, math.log(-b), math.log(-a), epsabs=0, epsrel=1e-10, limit=200)
        else:
            v, _ = integrate.quad(f, a, b, epsabs=0, epsrel=1e-10, limit=200)
        total += v
    return total


def siegert_rate(mu: float, sigma: float, tau_m: float = _TAU_M, V_th: float = _V_TH,
                 V_reset: float = _V_RESET, t_ref: float = _T_REF, tau_s: float = 0.0,
                 *, colored_noise_correction: bool = True) -> float:
    """Stationary rate (Hz) of an LIF neuron driven by Gaussian noise (Siegert formula).

    Input model (diffusion approximation): ``tau_m dV/dt = -V + mu + sigma sqrt(tau_m) xi(t)``
    with white noise xi, i.e. ``mu`` is the mean free membrane potential (mV) and
    ``sigma^2/2`` its variance (mV^2) for white noise. The rate is

        1/nu = t_ref + tau_m sqrt(pi) int_{(V_r - mu)/sigma}^{(theta - mu)/sigma}
                                       exp(u^2) (1 + erf u) du .

    With ``tau_s > 0`` and ``colored_noise_correction`` the Fourcaud & Brunel (2002)
    correction for synaptic filtering shifts threshold and reset up by
    ``sigma sqrt(tau_s/tau_m) |zeta(1/2)|/sqrt(2)`` (first order in sqrt(tau_s/tau_m)).
    ``sigma = 0`` reduces to :func:`lif_rate_constant_input` (continuous time).
    """
    if sigma < 0:
        raise ValueError("sigma must be >= 0")
    th, vr = V_th, V_reset
    if tau_s > 0 and colored_noise_correction:
        shift = sigma * math.sqrt(tau_s / tau_m) * FB_ALPHA_HALF
        th, vr = th + shift, vr + shift
    if sigma <= 1e-9 * max(1.0, abs(th - vr)):
        return float(lif_rate_constant_input(mu, tau_m, th, vr, t_ref))
    y_th = (th - mu) / sigma
    y_r = (vr - mu) / sigma
    if y_th > 26.0:  # exp(y^2) overflows; the rate is below exp(-676): zero
        return 0.0
    T = t_ref + tau_m * math.sqrt(math.pi) * _siegert_integral(y_r, y_th)
    return 1000.0 / T if T > 0 else math.inf


# =====================================================================================
# 3. Free-membrane moments (Campbell's theorem)
# =====================================================================================


def psp_kernel(t, tau_m: float = _TAU_M, tau_s: float = _TAU_S):
    """Membrane response (mV per mV of synaptic jump) to one spike of weight 1 at t = 0.

    The synaptic current ``exp(-t/tau_s)`` (mV) filtered by ``tau_m dV/dt = -V + I``:

        h(t) = (1/tau_m) int_0^t exp(-(t-s)/tau_m) exp(-s/tau_s) ds
             = tau_s/(tau_m - tau_s) [exp(-t/tau_m) - exp(-t/tau_s)],  t >= 0

    (limit ``(t/tau) exp(-t/tau)`` for tau_m = tau_s). ``int h = tau_s``;
    ``int h^2 = tau_s^2 / (2 (tau_m + tau_s))`` (see :func:`psp_kernel_integrals`).
    """
    t = np.asarray(t, dtype=float)
    tp = np.maximum(t, 0.0)
    if math.isclose(tau_m, tau_s):
        h = tp / tau_m * np.exp(-tp / tau_m)
    else:
        h = tau_s / (tau_m - tau_s) * (np.exp(-tp / tau_m) - np.exp(-tp / tau_s))
    return np.where(t >= 0, h, 0.0)


def psp_kernel_integrals(tau_m: float = _TAU_M, tau_s: float = _TAU_S) -> tuple[float, float]:
    """``(int h dt, int h^2 dt)`` in ms for :func:`psp_kernel`, in closed form.

    ``int h = tau_s/(tau_m - tau_s) (tau_m - tau_s) = tau_s``;
    ``int h^2 = (tau_s/(tau_m - tau_s))^2 [tau_m/2 + tau_s/2 - 2 tau_m tau_s/(tau_m + tau_s)]``
    ``      = (tau_s/(tau_m - tau_s))^2 (tau_m - tau_s)^2 / (2 (tau_m + tau_s))``
    ``      = tau_s^2 / (2 (tau_m + tau_s))`` (also valid at tau_m = tau_s).
    """
    return tau_s, tau_s**2 / (2.0 * (tau_m + tau_s))


class FreeMoments(NamedTuple):
    """Mean (mV) and standard deviation (mV) of the free membrane potential, per target."""

    mean: np.ndarray
    sd: np.ndarray


def free_membrane_moments(rates_hz, K, J, tau_m: float = _TAU_M, tau_s: float = _TAU_S,
                          E_L: float = _E_L, I_drive=0.0) -> FreeMoments:
    """Mean and SD of the free membrane potential (no threshold) under Poisson input.

    Each source population b fires independent Poisson trains at ``nu_b``; a target
    receives ``K_ab`` of them with weight ``J_ab`` (mV jump of the synaptic current). The
    free membrane potential is shot noise ``V = E_L + I_drive + sum_k J_k h(t - t_k)`` with
    :func:`psp_kernel` h, so Campbell's theorem gives

        mean = E_L + I_drive + sum_b K_ab nu_b J_ab int h     = ... + tau_s sum_b K_ab J_ab nu_b
        var  = sum_b K_ab nu_b J_ab^2 int h^2                 = tau_s^2/(2 (tau_m + tau_s)) sum_b K_ab J_ab^2 nu_b

    with nu in 1/ms. (For tau_s -> 0 at fixed charge q = J tau_s this is the familiar
    ``K nu q^2 / (2 tau_m)``; synaptic filtering reduces the variance by
    ``tau_m/(tau_m + tau_s)``.)

    Parameters
    ----------
    rates_hz : (n_source,) Hz
    K : in-degrees, broadcastable to J (scalar, (n_source,) or (n_target, n_source))
    J : weights in mV (= pA in NEST units), (n_source,) or (n_target, n_source), [target][source]
    I_drive : constant drive (mV), scalar or (n_target,)

    Returns
    -------
    FreeMoments(mean, sd): arrays of shape (n_target,) (scalars if J is 1-D).
    """
    nu = np.asarray(rates_hz, dtype=float) / 1000.0
    J = np.asarray(J, dtype=float)
    K = np.broadcast_to(np.asarray(K, dtype=float), J.shape)
    int_h, int_h2 = psp_kernel_integrals(tau_m, tau_s)
    mean = E_L + np.asarray(I_drive, dtype=float) + int_h * np.sum(K * J * nu, axis=-1)
    var = int_h2 * np.sum(K * J**2 * nu, axis=-1)
    return FreeMoments(mean, np.sqrt(var))


def diffusion_parameters(rates_hz, K, J, tau_m: float = _TAU_M, tau_s: float = _TAU_S,
                         E_L: float = _E_L, I_drive=0.0) -> tuple[np.ndarray, np.ndarray]:
    """``(mu, sigma)`` of the diffusion approximation used by :func:`siegert_rate`.

    ``mu`` as in :func:`free_membrane_moments`; ``sigma^2 = (tau_s^2/tau_m) sum_b K_ab J_ab^2 nu_b``
    (the white-noise amplitude of the equivalent delta-synapse input: each spike moves
    V by ``J tau_s / tau_m``; Brunel 2000's ``sigma^2 = K J'^2 nu tau_m``).
    """
    nu = np.asarray(rates_hz, dtype=float) / 1000.0
    J = np.asarray(J, dtype=float)
    K = np.broadcast_to(np.asarray(K, dtype=float), J.shape)
    mu = E_L + np.asarray(I_drive, dtype=float) + tau_s * np.sum(K * J * nu, axis=-1)
    sigma = np.sqrt(tau_s**2 / tau_m * np.sum(K * J**2 * nu, axis=-1))
    return mu, sigma


# =====================================================================================
# 4. Finite-K mean field
# =====================================================================================


@dataclass(frozen=True)
class MeanFieldSolution:
    """Self-consistent rates of the diffusion approximation.

    rates_hz (2,) Hz; converged: solver success and max |residual| below tolerance;
    mu, sigma (2,) mV: diffusion parameters at the solution (see
    :func:`diffusion_parameters`); residual (2,) mV: network mean input minus the mean
    input the Siegert formula needs for those rates, divided by sqrt(K); message: solver
    message.
    """

    rates_hz: np.ndarray
    converged: bool
    mu: np.ndarray
    sigma: np.ndarray
    residual: np.ndarray
    message: str


def _invert_siegert(nu_hz: float, sigma: float, tau_m, V_th, V_reset, t_ref, tau_s, corr) -> float:
    """Mean input mu (mV) at which :func:`siegert_rate` equals ``nu_hz`` (monotone in mu)."""
    if t_ref > 0 and nu_hz >= 1000.0 / t_ref:
        raise ValueError("rate above 1/t_ref")
    f = lambda m: siegert_rate(m, sigma, tau_m, V_th, V_reset, t_ref, tau_s,  # noqa: E731
                               colored_noise_correction=corr) - nu_hz
    width = max(sigma, 0.1)
    lo, hi = V_th - 2.0 * width, V_th + width
    for _ in range(200):
        if f(lo) < 0:
            break
        lo -= 2.0 * width
    for _ in range(200):
        if f(hi) > 0:
            break
        hi += max(2.0 * width, hi - V_th)
    return optimize.brentq(f, lo, hi, xtol=1e-12, rtol=1e-12, maxiter=200)


def mean_field_rates(j: Sequence[Sequence[float]], i: Sequence[float], K: float,
                     tau_m: float = _TAU_M, tau_s: float = _TAU_S, E_L: float = _E_L,
                     V_th: float = _V_TH, V_reset: float = _V_RESET, t_ref: float = _T_REF,
                     *, K_source: Sequence[float] | None = None,
                     colored_noise_correction: bool = True,
                     guess_hz: Sequence[float] | None = None, tol: float = 1e-9) -> MeanFieldSolution:
    """Finite-K self-consistent rates (Hz) from the diffusion approximation.

    Network (scaled form): weights ``J_ab = sqrt(K) j_ab / K_b`` (``= j_ab/sqrt(K)`` when
    every in-degree ``K_b = K``), drive ``I_a = sqrt(K) i_a``. For rates nu the input to
    population a has (:func:`diffusion_parameters`)

        mu_a    = E_L + sqrt(K) [ i_a + tau_s sum_b j_ab nu_b ]
        sigma_a = tau_s sqrt( sum_b K_b J_ab^2 nu_b / tau_m )   (= tau_s sqrt(sum_b j_ab^2 nu_b / tau_m) if K_b = K)

    and each population fires at the Siegert rate with the Fourcaud-Brunel threshold and
    reset shift (``colored_noise_correction``). Rather than iterate ``nu = Phi(mu(nu))``,
    which is stiff at large K (mu carries the factor sqrt(K)), we solve

        [ mu_a(nu) - Phi^{-1}(nu_a; sigma_a(nu)) ] / sqrt(K) = 0 ,   a = E, I

    for ``x = ln nu`` with ``scipy.optimize.root`` (hybr), starting from the balance
    solution (or ``guess_hz``). As K -> infinity the equation tends to the balance
    equations and the rates to :func:`balance_rates`; the deviation falls like 1/sqrt(K).
    Quenched in-degree disorder is absent (fixed in-degree); temporal correlations between
    inputs are neglected.
    """
    j = np.asarray(j, dtype=float).reshape(2, 2)
    i = np.asarray(i, dtype=float).reshape(2)
    Ks = np.array([K, K] if K_source is None else K_source, dtype=float)
    sqK = math.sqrt(K)
    J = sqK * j / Ks[None, :]
    I_drive = sqK * i

    if guess_hz is None:
        bal = balance_rates(j, i, tau_s)
        if bal.exists:
            guess = bal.rates_hz
        else:
            # fall back to the uncoupled f-I curve with a floor
            r0 = lif_rate_constant_input(E_L + I_drive, tau_m, V_th, V_reset, t_ref)
            guess = np.maximum(np.atleast_1d(r0), 1.0)
    else:
        guess = np.asarray(guess_hz, dtype=float)
    guess = np.maximum(guess, 1e-3)

    def resid(x):
        nu = np.exp(x)
        mu, sig = diffusion_parameters(nu, Ks, J, tau_m, tau_s, E_L, I_drive)
        need = np.array([_invert_siegert(nu[a], sig[a], tau_m, V_th, V_reset, t_ref, tau_s,
                                         colored_noise_correction) for a in range(2)])
        return (mu - need) / sqK

    try:
        sol = optimize.root(resid, np.log(guess), method="hybr", options=dict(xtol=1e-12))
        x = sol.x
        r = resid(x)
        ok = bool(sol.success) and bool(np.all(np.abs(r) < tol * max(1.0, abs(V_th - V_reset))))
        msg = str(sol.message)
    except (ValueError, FloatingPointError, OverflowError) as exc:
        x, r, ok, msg = np.log(guess), np.full(2, np.nan), False, f"failed: {exc}"
    rates = np.exp(x)
    mu, sig = diffusion_parameters(rates, Ks, J, tau_m, tau_s, E_L, I_drive)
    return MeanFieldSolution(rates, ok, mu, sig, np.asarray(r), msg)


# =====================================================================================
# 5. Regime diagnosis
# =====================================================================================


@dataclass(frozen=True)
class ScaledForm:
    """A network in scaled form: reference K, in-degrees per source, j (2x2), i (2,).

    ``J_ab = sqrt(K) j_ab / K_source[b]``, ``I_a = sqrt(K) i_a``.
    """

    K: float
    K_source: tuple[float, float]
    j: np.ndarray
    i: np.ndarray

    @property
    def J(self) -> np.ndarray:
        """Physical weights (mV = pA), [target][source]."""
        return math.sqrt(self.K) * self.j / np.asarray(self.K_source, dtype=float)[None, :]

    @property
    def I_drive(self) -> np.ndarray:
        """Constant drive (mV = pA) per target population."""
        return math.sqrt(self.K) * self.i


def tutorial_to_scaled(p: float, J_E: float, J_I: float, Ib: float, N_E: int, N_I: int,
                       K_ref: float | None = None) -> ScaledForm:
    """Express the tutorial form (p, J_E, J_I, Ib, N_E, N_I) in scaled form.

    In-degrees ``K_E = p N_E``, ``K_I = p N_I``; weights ``J = [[J_E, J_I], [J_E, J_I]]``;
    drive Ib to both. With reference ``K_ref`` (default ``K_E``), ``j_ab = K_b J_ab / sqrt(K_ref)``
    and ``i_a = Ib / sqrt(K_ref)``: the mean input ``K_b J_ab nu_b tau_s`` equals
    ``sqrt(K_ref) j_ab nu_b tau_s`` as in the scaled form, so the balance equations and
    the rates they predict do not depend on the choice of K_ref. For the tutorial
    (J_E = 1/sqrt(p N_E), J_I = -1/sqrt(p N_I), N_E = N_I) this gives
    ``j = [[1, -1], [1, -1]]``, ``i = Ib/sqrt(K) [1, 1]``.
    """
    KE, KI = p * N_E, p * N_I
    Kr = KE if K_ref is None else float(K_ref)
    J = np.array([[J_E, J_I], [J_E, J_I]], dtype=float)
    j = J * np.array([KE, KI])[None, :] / math.sqrt(Kr)
    i = np.array([Ib, Ib], dtype=float) / math.sqrt(Kr)
    return ScaledForm(Kr, (KE, KI), j, i)


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
        out = [f"regime: {self.regime}",
               f"scaled form: K = {f.K:g} (in-degrees K_E = {f.K_source[0]:g}, K_I = {f.K_source[1]:g}), "
               f"j = [[{f.j[0, 0]:.4g}, {f.j[0, 1]:.4g}], [{f.j[1, 0]:.4g}, {f.j[1, 1]:.4g}]] mV, "
               f"i = [{f.i[0]:.4g}, {f.i[1]:.4g}] mV",
               f"drive: I_E = {f.I_drive[0]:.4g} mV, I_I = {f.I_drive[1]:.4g} mV "
               f"({'above' if self.drive_alone_above_threshold else 'not above'} the "
               f"threshold distance {self.V_th - self.E_L:.4g} mV on its own)"]
        if self.balance is not None:
            out.append(f"balance: {self.balance.reason}")
        if self.condition is not None:
            out.append(f"1998 condition: {self.condition.statement}")
        if self.mean_field is not None:
            mf = self.mean_field
            out.append(f"mean field (finite K): nu_E = {mf.rates_hz[0]:.4g} Hz, nu_I = {mf.rates_hz[1]:.4g} Hz"
                       f" ({'converged' if mf.converged else 'NOT converged'}); mu = "
                       f"[{mf.mu[0]:.4g}, {mf.mu[1]:.4g}] mV, sigma = [{mf.sigma[0]:.3g}, {mf.sigma[1]:.3g}] mV")
        if self.predicted_rates_hz is not None:
            out.append(f"predicted rates: nu_E = {self.predicted_rates_hz[0]:.4g} Hz, "
                       f"nu_I = {self.predicted_rates_hz[1]:.4g} Hz")
        if self.free_mean is not None:
            out.append(f"free membrane at the operating point: mean = [{self.free_mean[0]:.4g}, "
                       f"{self.free_mean[1]:.4g}] mV, SD = [{self.free_sd[0]:.3g}, {self.free_sd[1]:.3g}] mV "
                       f"(threshold {self.V_th:g} mV)")
        out += [f"note: {n}" for n in self.notes]
        out += [f"warning: {w}" for w in self.warnings]
        return out


def diagnose_regime(j: Sequence[Sequence[float]], i: Sequence[float], K: float,
                    tau_m: float = _TAU_M, tau_s: float = _TAU_S, E_L: float = _E_L,
                    V_th: float = _V_TH, V_reset: float = _V_RESET, t_ref: float = _T_REF,
                    *, K_source: Sequence[float] | None = None,
                    mean_field: bool = True) -> Diagnosis:
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
    Ks = tuple(float(k) for k in ((K, K) if K_source is None else K_source))
    form = ScaledForm(float(K), Ks, j, i)
    J, I_drive = form.J, form.I_drive
    warnings: list[str] = []
    notes: list[str] = []

    bal = balance_rates(j, i, tau_s)
    cond = balance_condition_vvs(j, i)
    if not bal.exists:
        warnings.append(f"no positive balanced solution: {bal.reason}")
    elif not cond.holds and not math.isnan(cond.E_over_I):
        warnings.append(f"balance solution is positive but the 1998 condition fails "
                        f"({cond.statement}); expect the balanced state to be unstable")

    gap = V_th - E_L
    for a, name in enumerate(POPULATIONS):
        if I_drive[a] <= gap:
            warnings.append(
                f"sqrt(K) i_{name} = {I_drive[a]:.4g} mV <= V_th - V_rest = {gap:.4g} mV: the silent "
                f"state is stable ({name} neurons cannot fire from the drive alone); with constant "
                "drive and no noise the network can stay quiet")
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
        warnings.append(f"bistable: the theory also has an active state (nu_E = {op[0]:.3g} Hz, "
                        f"nu_I = {op[1]:.3g} Hz); which one a run reaches depends on the initial "
                        "condition (in NEST, V0 ~ N(-60, 10) usually ends silent)")
    if mean_driven:
        warnings.append("mean-driven: the mean input alone is above threshold; expect regular "
                        "firing (ISI CV << 1), not the balanced irregular state")

    # the tutorial's symmetric degenerate case
    if (np.allclose(j[0], j[1]) and np.isclose(i[0], i[1])
            and np.isclose(j[0, 0] + j[0, 1], 0.0)):
        notes.append("E/I = J_E/J_I = 1: exactly on the degenerate boundary of the 1998 condition; "
                     "the balance equations are singular, and with identical E and I "
                     "rates the mean recurrent input cancels for any rate, so the rate is set by "
                     "the single-neuron f-I curve at the drive")
    if min(Ks) < 100:
        warnings.append(f"small in-degree (K = {min(Ks):g} < 100): finite-K corrections to the "
                        "balance prediction are large")
    d = Diagnosis(regime, mean_driven, drive_alone, bal, cond, pred, mf, free_mean, free_sd,
                  form, V_th, E_L, warnings, notes)
    return d


def diagnose_tutorial(p: float, J_E: float, J_I: float, Ib: float, N_E: int, N_I: int,
                      tau_m: float = _TAU_M, tau_s: float = _TAU_S, E_L: float = _E_L,
                      V_th: float = _V_TH, V_reset: float = _V_RESET, t_ref: float = _T_REF,
                      *, mean_field: bool = True) -> Diagnosis:
    """:func:`diagnose_regime` for the tutorial form, via :func:`tutorial_to_scaled`."""
    f = tutorial_to_scaled(p, J_E, J_I, Ib, N_E, N_I)
    return diagnose_regime(f.j, f.i, f.K, tau_m, tau_s, E_L, V_th, V_reset, t_ref,
                           K_source=f.K_source, mean_field=mean_field)


def format_diagnosis(d: Diagnosis) -> str:
    """The diagnosis as printable text."""
    return "\n".join(d.lines())


def diagnose_params(params) -> Diagnosis:
    """:func:`diagnose_regime` for a :class:`balanced.params.Params` of either coupling form."""
    neuron = dict(tau_m=params.tau, tau_s=params.tau_s, E_L=params.V_rest, V_th=params.V_th,
                  V_reset=params.V_reset, t_ref=params.t_ref)
    if params.coupling == "tutorial":
        return diagnose_tutorial(params.p, params.J_E, params.J_I, params.Ib, params.N_E, params.N_I, **neuron)
    j = ((params.j_EE, params.j_EI), (params.j_IE, params.j_II))
    return diagnose_regime(j, (params.i_E, params.i_I), params.K, **neuron)


def diagnosis_lines(params) -> list[str]:
    """The regime diagnosis of a :class:`balanced.params.Params` as the lines a run's
    manifest records (:func:`format_diagnosis` of :func:`diagnose_params`)."""
    return format_diagnosis(diagnose_params(params)).splitlines()
