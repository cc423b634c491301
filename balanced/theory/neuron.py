"""Single-neuron f-I curves: the LIF under constant input (continuous time and on the
simulation grid) and under Gaussian noise (Siegert, with the Fourcaud-Brunel correction)."""

from __future__ import annotations

import math

import numpy as np
from scipy import integrate, special

from .constants import FB_ALPHA_HALF, T_REF, TAU_M, V_RESET, V_TH


def lif_isi_constant_input(
    mu,
    tau_m: float = TAU_M,
    V_th: float = V_TH,
    V_reset: float = V_RESET,
    t_ref: float = T_REF,
    dt: float | None = None,
):
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


def lif_rate_constant_input(
    mu,
    tau_m: float = TAU_M,
    V_th: float = V_TH,
    V_reset: float = V_RESET,
    t_ref: float = T_REF,
    dt: float | None = None,
):
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
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        if b <= -5.0 and a < -5.0:
            # integrand ~ 1/(sqrt(pi)|u|): integrate in s = ln(-u) where it is smooth
            g = lambda s: special.erfcx(math.exp(s)) * math.exp(s)  # noqa: E731
            v, _ = integrate.quad(g, math.log(-b), math.log(-a), epsabs=0, epsrel=1e-10, limit=200)
        else:
            v, _ = integrate.quad(f, a, b, epsabs=0, epsrel=1e-10, limit=200)
        total += v
    return total


def siegert_rate(
    mu: float,
    sigma: float,
    tau_m: float = TAU_M,
    V_th: float = V_TH,
    V_reset: float = V_RESET,
    t_ref: float = T_REF,
    tau_s: float = 0.0,
    *,
    colored_noise_correction: bool = True,
) -> float:
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
