"""The distribution of time-averaged rates across neurons: mean field with quenched
Gaussian disorder of the mean input (van Vreeswijk & Sompolinsky 1998, section 7).

Neuron k of population a receives, on top of the population's mean input mu_a, a static
offset ``s_a z_k`` with ``z_k ~ N(0, 1)``, because its inputs differ from the population
average. With weights ``J_ab = j_ab/sqrt(K)``, in-degree K, connection probability
``p = K/N_b`` and presynaptic rates nu_j of mean ``nu_b`` and second moment ``q_b``:

* ``pairwise_bernoulli`` (each of the N_b possible inputs present with probability p):
  ``s_a^2 = tau_s^2 sum_b j_ab^2 (1 - p) q_b``: the in-degree varies by about sqrt(K) and
  each input carries ``J nu``; O(1) although every J is O(1/sqrt K).
* ``fixed_indegree`` (exactly K inputs, drawn without replacement):
  ``s_a^2 = tau_s^2 sum_b j_ab^2 (1 - p) (q_b - nu_b^2)``: only the spread of the
  presynaptic rates remains.

Each neuron fires at the Siegert rate of its own mean input, ``nu(z) = Phi_a(mu_a + s_a z;
sigma_a)`` (temporal noise sigma_a as in :func:`balanced.theory.mean_field_rates`), and the
population's moments close the loop: ``nu_a = E_z nu(z)``, ``q_a = E_z nu(z)^2``, with
``mu_a = E_L + sqrt(K) [i_a + tau_s sum_b j_ab nu_b]`` as in the homogeneous mean field.
Neglected: the heterogeneity of sigma across neurons (relative size 1/sqrt K) and
correlations between a neuron's rate and its outputs' inputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize, special

from .balance import balance_rates
from .constants import E_L, FB_ALPHA_HALF, T_REF, TAU_M, TAU_S, V_RESET, V_TH
from .moments import diffusion_parameters

CONNECTIVITIES = ("pairwise_bernoulli", "fixed_indegree")
_GL_X, _GL_W = np.polynomial.legendre.leggauss(96)  # Siegert integral nodes (smooth integrand)
_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(80)  # E_z over z ~ N(0, 1)
_GH_W = _GH_W / _GH_W.sum()


def siegert_rates(
    mu,
    sigma: float,
    tau_m: float = TAU_M,
    V_th: float = V_TH,
    V_reset: float = V_RESET,
    t_ref: float = T_REF,
    tau_s: float = TAU_S,
) -> np.ndarray:
    """:func:`balanced.theory.siegert_rate` (Hz, with the Fourcaud-Brunel shift) for an array
    of ``mu`` at one ``sigma > 0``, by 96-point Gauss-Legendre quadrature of
    ``int erfcx(-u) du`` (agrees with the adaptive version to about 1e-8 relative)."""
    mu = np.asarray(mu, dtype=float)
    shift = sigma * math.sqrt(tau_s / tau_m) * FB_ALPHA_HALF if tau_s > 0 else 0.0
    y_th = (V_th + shift - mu) / sigma
    y_r = (V_reset + shift - mu) / sigma
    half, mid = (y_th - y_r) / 2.0, (y_th + y_r) / 2.0
    u = mid[..., None] + half[..., None] * _GL_X
    integral = half * np.sum(_GL_W * special.erfcx(-u), axis=-1)
    with np.errstate(over="ignore"):
        T = t_ref + tau_m * math.sqrt(math.pi) * integral
    rate = np.where(y_th > 26.0, 0.0, 1000.0 / T)
    return rate


@dataclass(frozen=True)
class RateDistribution:
    """Self-consistent rates with quenched disorder, per population (index 0 = E, 1 = I).

    rates_hz (2,): population means; second_moment (2,) Hz^2; mu (2,) mV: mean input
    across neurons; s (2,) mV: SD of the static input offset across neurons; sigma (2,) mV:
    temporal noise; connectivity; converged.
    """

    rates_hz: np.ndarray
    second_moment: np.ndarray
    mu: np.ndarray
    s: np.ndarray
    sigma: np.ndarray
    connectivity: str
    converged: bool
    neuron: dict

    @property
    def sd_hz(self) -> np.ndarray:
        return np.sqrt(np.maximum(self.second_moment - self.rates_hz**2, 0.0))

    def rate_of(self, a: int, z) -> np.ndarray:
        """Rate (Hz) of the neuron at quantile ``z`` (standard normal) of population a."""
        return siegert_rates(self.mu[a] + self.s[a] * np.asarray(z, dtype=float), self.sigma[a], **self.neuron)

    def cdf(self, a: int, rate_hz) -> np.ndarray:
        """P(rate < x) for population a: ``Ncdf((Phi^{-1}(x) - mu)/s)`` (Phi is monotone in mu)."""
        from scipy import stats  # here: a run's diagnosis imports this module, never needs this

        x = np.atleast_1d(np.asarray(rate_hz, dtype=float))
        out = np.empty(len(x))
        for k, r in enumerate(x):
            if r <= 0:
                out[k] = 0.0
                continue
            m = _invert(lambda m, r=r: float(siegert_rates(m, self.sigma[a], **self.neuron)) - r, self.mu[a], self.s[a])
            out[k] = stats.norm.cdf((m - self.mu[a]) / self.s[a])
        return out

    def count_cdf(self, a: int, window_ms: float, counts) -> np.ndarray:
        """P(spike count <= n) in a window of ``window_ms`` when each neuron's count is
        Poisson with its rate: the distribution a measurement of finite length sees."""
        from scipy import stats

        u = (np.arange(4000) + 0.5) / 4000
        lam = self.rate_of(a, stats.norm.ppf(u)) * window_ms / 1000.0
        n = np.asarray(counts, dtype=float)
        return stats.poisson.cdf(n[:, None], lam[None, :]).mean(axis=1)


def _invert(f, center: float, width: float) -> float:
    """Root of an increasing ``f`` near ``center`` (bracket widened geometrically)."""
    w = max(width, 0.5)
    lo, hi = center - w, center + w
    for _ in range(60):
        if f(lo) < 0:
            break
        lo -= w
        w *= 1.5
    w = max(width, 0.5)
    for _ in range(60):
        if f(hi) > 0:
            break
        hi += w
        w *= 1.5
    return optimize.brentq(f, lo, hi, xtol=1e-10)


def rate_distribution(
    j: ArrayLike,
    i: ArrayLike,
    K: float,
    p: float,
    connectivity: str = "pairwise_bernoulli",
    tau_m: float = TAU_M,
    tau_s: float = TAU_S,
    E_L: float = E_L,
    V_th: float = V_TH,
    V_reset: float = V_RESET,
    t_ref: float = T_REF,
    *,
    iterations: int = 200,
    tol: float = 1e-7,
) -> RateDistribution:
    """Solve the quenched-disorder mean field (module docstring) for a scaled-form network.

    ``p`` = K/N (connection probability). Fixed-point iteration on the second moments;
    for each, the population means solve the (stiff, sqrt K) mean-input equation as in
    :func:`balanced.theory.mean_field_rates`: ``[mu_a(nu) - M_a(nu_a)]/sqrt(K) = 0`` where
    ``M_a(nu_a)`` is the mean input at which ``E_z Phi(M + s_a z) = nu_a``.
    """
    if connectivity not in CONNECTIVITIES:
        raise ValueError(f"connectivity {connectivity!r}: must be one of {', '.join(CONNECTIVITIES)}")
    if not 0 < p < 1:
        raise ValueError(f"p = {p!r}: must be in (0, 1)")
    j = np.asarray(j, dtype=float).reshape(2, 2)
    i = np.asarray(i, dtype=float).reshape(2)
    neuron = dict(tau_m=tau_m, V_th=V_th, V_reset=V_reset, t_ref=t_ref, tau_s=tau_s)
    sqK = math.sqrt(K)
    Ks = np.array([K, K], dtype=float)
    J = j / sqK
    I_drive = sqK * i
    bal = balance_rates(j, i, tau_s)
    start = bal.rates_hz if (bal.exists and bal.rates_hz is not None) else np.array([5.0, 5.0])
    nu = np.maximum(start, 0.5)
    q = nu**2 * 2.0  # a start with CV 1 across neurons

    def offsets(nu_hz, q_hz2):
        m2 = q_hz2 if connectivity == "pairwise_bernoulli" else np.maximum(q_hz2 - nu_hz**2, 0.0)
        return np.sqrt(tau_s**2 * (1 - p) * (j**2 @ (m2 / 1e6)))

    def mean_input_for(a, rate, s_a, sig_a):
        f = lambda m: float(np.dot(_GH_W, siegert_rates(m + s_a * _GH_X, sig_a, **neuron))) - rate  # noqa: E731
        return _invert(f, V_th, s_a + sig_a)

    converged = False
    for _ in range(iterations):
        s = offsets(nu, q)

        def resid(x, s=s):
            r = np.exp(x)
            mu, sig = diffusion_parameters(r, Ks, J, tau_m, tau_s, E_L, I_drive)
            need = np.array([mean_input_for(a, r[a], s[a], sig[a]) for a in range(2)])
            return (mu - need) / sqK

        sol = optimize.root(resid, np.log(nu), method="hybr", options=dict(xtol=1e-12))
        nu_new = np.exp(sol.x)
        mu, sig = diffusion_parameters(nu_new, Ks, J, tau_m, tau_s, E_L, I_drive)
        q_new = np.array([np.dot(_GH_W, siegert_rates(mu[a] + s[a] * _GH_X, sig[a], **neuron) ** 2) for a in range(2)])
        change = max(np.max(np.abs(nu_new - nu) / nu), np.max(np.abs(q_new - q) / q))
        nu, q = nu_new, 0.5 * q + 0.5 * q_new  # damped: the second moment feeds back through s
        if change < tol and sol.success:
            converged = True
            q = q_new
            break
    s = offsets(nu, q)
    mu, sig = diffusion_parameters(nu, Ks, J, tau_m, tau_s, E_L, I_drive)
    return RateDistribution(nu, q, mu, s, sig, connectivity, converged, neuron)
