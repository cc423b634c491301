"""Finite-K mean field: self-consistent rates of the diffusion approximation."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize

from .balance import balance_rates
from .constants import E_L, T_REF, TAU_M, TAU_S, V_RESET, V_TH
from .moments import diffusion_parameters
from .neuron import lif_rate_constant_input, siegert_rate


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

    def f(m: float) -> float:
        return siegert_rate(m, sigma, tau_m, V_th, V_reset, t_ref, tau_s, colored_noise_correction=corr) - nu_hz

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


def mean_field_rates(
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
    colored_noise_correction: bool = True,
    guess_hz: ArrayLike | None = None,
    tol: float = 1e-9,
) -> MeanFieldSolution:
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
        if bal.exists and bal.rates_hz is not None:
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
        need = np.array(
            [
                _invert_siegert(nu[a], sig[a], tau_m, V_th, V_reset, t_ref, tau_s, colored_noise_correction)
                for a in range(2)
            ]
        )
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
