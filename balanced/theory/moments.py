"""PSP kernel and the free membrane potential's moments under Poisson input (Campbell's
theorem), and the diffusion parameters of the Siegert formula."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .constants import E_L, TAU_M, TAU_S


def psp_kernel(t, tau_m: float = TAU_M, tau_s: float = TAU_S):
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


def psp_kernel_integrals(tau_m: float = TAU_M, tau_s: float = TAU_S) -> tuple[float, float]:
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


def free_membrane_moments(
    rates_hz, K, J, tau_m: float = TAU_M, tau_s: float = TAU_S, E_L: float = E_L, I_drive=0.0
) -> FreeMoments:
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


def diffusion_parameters(
    rates_hz, K, J, tau_m: float = TAU_M, tau_s: float = TAU_S, E_L: float = E_L, I_drive=0.0
) -> tuple[np.ndarray, np.ndarray]:
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
