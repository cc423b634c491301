"""The LIF neuron's linear response to a modulated mean input: its complex gain G(omega).

A population of LIF neurons (``tau_m dV/dt = -V + mu(t) + sigma sqrt(tau_m) xi(t)``,
threshold ``V_th``, reset ``V_reset``, refractory ``t_ref``; ms, mV) fires at the stationary
rate ``nu_0`` (:func:`balanced.theory.siegert_rate`) when ``mu`` is constant. A small
modulation ``mu(t) = mu + Re(mu_1 exp(i omega t))`` of the mean membrane input modulates
the rate by ``Re(nu_1 exp(i omega t))``; the transfer function is
``G(omega) = nu_1 / mu_1`` in 1/(ms mV) (multiply by 1e3 for Hz/mV). ``G(0)`` is the slope
``d nu_0 / d mu`` of the f-I curve at fixed sigma (:func:`balanced.theory.siegert_gain`);
``|G|`` falls and the phase lag grows with omega.

Method: threshold integration of the linearised Fokker-Planck equation (Richardson,
Phys Rev E 76:021919, 2007). With ``y = (V - mu)/sigma``, probability density ``p`` and
flux ``q = tau_m J`` (dimensionless),

    dp/dy = -2 y p - 2 q + 2 (mu_1/sigma) p_0 ,     dq/dy = -i omega tau_m p ,

``p = 0`` and ``q = tau_m nu`` at threshold, and the flux ``nu(t - t_ref)`` re-injected at
reset. Integrating from threshold down, once for a unit rate modulation and once for a
unit input modulation, the condition that no flux leaves at ``y -> -inf`` fixes their
ratio: ``nu_1 / mu_1``. Each step is exact for ``p`` at constant flux and drift (an
exponential integrator); the flux is integrated by the trapezoidal rule; two grids
(m and 2m steps between threshold and reset) are combined by Richardson extrapolation.

Synaptic filtering (exponential current, ``tau_s``): to first order in
``sqrt(tau_s/tau_m)`` the colored noise moves threshold and reset up by
``sigma sqrt(tau_s/tau_m) |zeta(1/2)|/sqrt(2)`` (Fourcaud & Brunel, Neural Comput 14:2057,
2002), the same shift as :func:`balanced.theory.siegert_rate`; Schuecker, Diesmann &
Helias (Phys Rev E 92:052119, 2015) showed that the white-noise transfer function with
the shifted boundaries is the colored-noise one up to moderate frequencies. ``G`` here
is the response to a modulation of the mean membrane input itself; a modulation of the
presynaptic rates reaches it through the synaptic filter ``1/(1 + i omega tau_s)``
(:func:`synaptic_filter`), which is kept separate.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from scipy.interpolate import CubicSpline

from .constants import FB_ALPHA_HALF, T_REF, TAU_M, TAU_S, V_RESET, V_TH

#: the density below the reset and mean decays like exp(-y^2): 6 SDs leave exp(-36)
_Y_BELOW = 6.0
#: largest step in y (units of sigma): resolves the boundary layer up to a few kHz
_DY_MAX = 0.02
#: above this threshold distance (in sigma) the rate is below exp(-400): zero
_Y_SILENT = 20.0
_RESCALE = 1e150


def synaptic_filter(omega: ArrayLike, tau: float) -> np.ndarray:
    """``1 / (1 + i omega tau)``: the exponential synapse's low-pass (omega in rad/ms, tau ms)."""
    return 1.0 / (1.0 + 1j * np.asarray(omega, dtype=float) * tau)


def _shifted(sigma: np.ndarray, V_th: float, V_reset: float, tau_m: float, tau_s: float, corr: bool):
    shift = sigma * math.sqrt(tau_s / tau_m) * FB_ALPHA_HALF if (corr and tau_s > 0) else np.zeros_like(sigma)
    return V_th + shift, V_reset + shift


def _integrate(lam_tau: np.ndarray, y_th: np.ndarray, y_r: np.ndarray, t_ref_tau: float, m: int):
    """Threshold integration on m steps between threshold and reset.

    ``lam_tau`` (W,) complex: ``i omega tau_m``; ``y_th``, ``y_r`` (P,): boundaries in units
    of sigma. Returns ``(nu0 tau_m (P,), G sigma tau_m (P, W))``, both dimensionless.
    """
    P = y_th.shape[0]
    dy = (y_th - y_r) / m  # (P,) one grid per point, reset on a grid point
    n_below = np.ceil((y_r - np.minimum(y_r, 0.0) + _Y_BELOW) / dy).astype(int)
    n = m + int(n_below.max())
    lam = lam_tau[None, :]
    inject = np.exp(-lam * t_ref_tau)  # the rate re-enters at reset t_ref later
    # stationary density for unit flux (q0 = 1 above reset), its integral
    p0 = np.zeros(P)
    q0 = np.ones(P)
    p0_int = np.zeros(P)
    # two solutions: rate-driven (q = 1 at threshold) and input-driven (mu_1/sigma = 1)
    pn = np.zeros((P, lam.shape[1]), complex)
    qn = np.ones((P, lam.shape[1]), complex)
    pm = np.zeros_like(pn)
    qm = np.zeros_like(pn)
    src = np.ones((P, lam.shape[1]), complex)  # the input-driven solution's mu_1/sigma after rescaling
    rate = np.ones((P, lam.shape[1]), complex)  # the rate-driven solution's nu_1 tau_m after rescaling
    pn_int = np.zeros_like(pn)
    pm_int = np.zeros_like(pn)
    y = y_th.copy()
    p0_hist = np.empty((n + 1, P))
    p0_hist[0] = p0
    for k in range(n):
        y_mid = y - 0.5 * dy
        a = -2.0 * y_mid  # dp/dy = a p + c; going down by dy: p <- p e^{-a dy} - c dy phi(a dy)
        x = a * dy
        e = np.exp(-x)
        phi = np.where(np.abs(x) > 1e-8, -np.expm1(-x) / np.where(x == 0, 1.0, x), 1.0 - 0.5 * x)
        # stationary
        p0_new = p0 * e - (-2.0 * q0) * dy * phi
        p0_int += 0.5 * (p0 + p0_new) * dy
        # modulated: both solutions step with the same propagator
        E, F = e[:, None], (dy * phi)[:, None]
        pn_new = pn * E - (-2.0 * qn) * F
        src_p0 = 0.5 * (p0 + p0_new)[:, None]
        pm_new = pm * E - (-2.0 * qm + 2.0 * src * src_p0) * F
        dn, dm = dy[:, None] * 0.5 * (pn + pn_new), dy[:, None] * 0.5 * (pm + pm_new)
        pn_int, pm_int = pn_int + dn, pm_int + dm
        qn, qm = qn + lam * dn, qm + lam * dm
        pn, pm, p0 = pn_new, pm_new, p0_new
        y = y - dy
        if k + 1 == m:  # crossing the reset downwards: the re-injected flux leaves q
            q0 = q0 - 1.0
            qn = qn - inject
        big = np.maximum(np.abs(qn), np.abs(pn)) > _RESCALE
        if np.any(big):
            s = np.where(big, 1.0 / _RESCALE, 1.0)
            pn, qn, pm, qm, src, rate = pn * s, qn * s, pm * s, qm * s, src * s, rate * s
            pn_int, pm_int = pn_int * s, pm_int * s
    # p0 was for unit flux q = tau_m nu0 = 1: normalise  int p dy + nu0 t_ref = 1
    nu0_tau = 1.0 / (p0_int + t_ref_tau)
    # No flux leaves at the bottom, i.e. probability is conserved: the modulated density
    # plus the modulated refractory mass nu_1 (1 - e^{-lam t_ref})/lam integrate to zero
    # (this form holds at omega = 0 as well). The input-driven solution was computed for
    # the p_0 of unit flux: scale it by the real flux nu0 tau_m.
    with np.errstate(divide="ignore", invalid="ignore"):
        ref = np.where(lam == 0, t_ref_tau, -np.expm1(-lam * t_ref_tau) / np.where(lam == 0, 1.0, lam))
    ratio = -(pm_int * nu0_tau[:, None]) / (pn_int + rate * ref)
    return nu0_tau, ratio


def lif_transfer(
    omega: ArrayLike,
    mu: ArrayLike,
    sigma: ArrayLike,
    tau_m: float = TAU_M,
    V_th: float = V_TH,
    V_reset: float = V_RESET,
    t_ref: float = T_REF,
    tau_s: float = TAU_S,
    *,
    colored_noise_correction: bool = True,
    steps: int = 200,
) -> np.ndarray:
    """Complex gain ``G(omega)`` (1/(ms mV)) of the LIF rate to its mean input (module docstring).

    ``omega`` (rad/ms, shape (W,) or scalar; ``2 pi f / 1000`` for f in Hz); ``mu``, ``sigma``
    (mV; scalars or arrays of one shape (P,)) as for :func:`balanced.theory.siegert_rate`.
    Returns shape ``mu.shape + omega.shape``. ``steps`` between threshold and reset (at
    least enough for a step of 0.02 sigma); extrapolated from ``steps`` and ``2 steps``
    (at the preset's operating point the default is within 1e-5 of the converged value
    below 100 Hz and 1e-3 at 3 kHz). Points more than 20 sigma below threshold are silent:
    G = 0.
    """
    G, _ = _transfer_and_rate(omega, mu, sigma, tau_m, V_th, V_reset, t_ref, tau_s, colored_noise_correction, steps)
    return G


def lif_rate(
    mu: ArrayLike,
    sigma: ArrayLike,
    tau_m: float = TAU_M,
    V_th: float = V_TH,
    V_reset: float = V_RESET,
    t_ref: float = T_REF,
    tau_s: float = TAU_S,
    *,
    colored_noise_correction: bool = True,
    steps: int = 200,
) -> np.ndarray:
    """Stationary rate (Hz) from the same threshold integration as :func:`lif_transfer`
    (equals :func:`balanced.theory.siegert_rate`; a check of the integration)."""
    _, nu = _transfer_and_rate(0.0, mu, sigma, tau_m, V_th, V_reset, t_ref, tau_s, colored_noise_correction, steps)
    return nu


#: nodes (Hz) of :func:`transfer_interpolant`: G changes on the scale of its own frequency (a
#: corner near 10 Hz, the lag's turn near 300 Hz), so geometric spacing
INTERP_NODES_HZ = np.concatenate([[0.0], np.geomspace(0.5, 4000.0, 160)])


def transfer_interpolant(
    mu: ArrayLike,
    sigma: ArrayLike,
    tau_m: float = TAU_M,
    V_th: float = V_TH,
    V_reset: float = V_RESET,
    t_ref: float = T_REF,
    tau_s: float = TAU_S,
    *,
    colored_noise_correction: bool = True,
):
    """``G(omega)`` of :func:`lif_transfer` at ``INTERP_NODES_HZ`` (0-4 kHz) as a callable
    (cubic spline; omega in rad/ms, 0 <= omega <= 2 pi 4 kHz), returning shape
    ``omega.shape + mu.shape``: cheap to evaluate on the fine scans of
    :mod:`balanced.theory.loop`."""
    w = 2.0 * math.pi * INTERP_NODES_HZ / 1000.0
    G = lif_transfer(
        w, mu, sigma, tau_m, V_th, V_reset, t_ref, tau_s, colored_noise_correction=colored_noise_correction
    )
    return _spline(w, np.moveaxis(G, -1, 0))


def transfer_interpolants(
    mu: np.ndarray,
    sigma: np.ndarray,
    tau_m: float = TAU_M,
    V_th: float = V_TH,
    V_reset: float = V_RESET,
    t_ref: float = T_REF,
    tau_s: float = TAU_S,
) -> list:
    """One :func:`transfer_interpolant` per row of ``mu``, ``sigma`` (shape (P, n)); each row
    is integrated on its own grid (one batch would take the finest step of all)."""
    return [
        transfer_interpolant(m, s, tau_m, V_th, V_reset, t_ref, tau_s)
        for m, s in zip(np.asarray(mu, dtype=float), np.asarray(sigma, dtype=float), strict=True)
    ]


def _spline(w: np.ndarray, values: np.ndarray):
    spline = CubicSpline(w, values, axis=0)
    w_max = w[-1]

    def G_of(omega):
        o = np.asarray(omega, dtype=float)
        if np.any(o < 0) or np.any(o > w_max * (1 + 1e-12)):
            raise ValueError(f"omega outside 0 .. {w_max:.4g} rad/ms (0 .. 4 kHz)")
        return spline(o)

    return G_of


def colored_noise_limit(
    mu: float,
    sigma: float,
    tau_m: float = TAU_M,
    V_th: float = V_TH,
    V_reset: float = V_RESET,
    t_ref: float = T_REF,
    tau_s: float = TAU_S,
) -> float:
    """``G(omega -> inf)`` (1/(ms mV)) of the LIF with colored (synaptic) noise.

    With filtered noise V is smooth and the neurons at threshold all move up; a fast
    modulation of the mean input changes their velocity by ``mu_1/tau_m`` before the density
    can follow, so ``G_inf = P(V_th) / tau_m``. To first order in ``sqrt(tau_s/tau_m)`` the
    density at the true threshold is that of the shifted white-noise problem,
    ``2 nu_0 tau_m shift / sigma^2``, hence ``G_inf = 2 nu_0 shift / sigma^2 =
    nu_0 sqrt(2) |zeta(1/2)| sqrt(tau_s/tau_m) / sigma`` (the finite high-frequency response
    of Brunel, Chance, Fourcaud & Abbott, PRL 86:2186, 2001). :func:`lif_transfer`
    decays like 1/sqrt(omega) instead: it is the white-noise response with shifted
    boundaries and holds only while ``omega tau_s`` is small.
    """
    from .neuron import siegert_rate

    nu0 = siegert_rate(mu, sigma, tau_m, V_th, V_reset, t_ref, tau_s) / 1000.0
    shifted_th, _ = _shifted(np.asarray(sigma, dtype=float), V_th, V_reset, tau_m, tau_s, True)
    return float(2.0 * nu0 * (shifted_th - V_th) / sigma**2)


def _transfer_and_rate(omega, mu, sigma, tau_m, V_th, V_reset, t_ref, tau_s, corr, steps):
    w = np.asarray(omega, dtype=float)
    mu_a, sig_a = np.broadcast_arrays(np.asarray(mu, dtype=float), np.asarray(sigma, dtype=float))
    shape = mu_a.shape
    mu_f, sig_f = mu_a.ravel(), sig_a.ravel()
    if np.any(sig_f <= 0) or not np.all(np.isfinite(sig_f)):
        raise ValueError(f"sigma must be positive and finite, got {sig_f.min()!r}")
    th, vr = _shifted(sig_f, V_th, V_reset, tau_m, tau_s, corr)
    y_th, y_r = (th - mu_f) / sig_f, (vr - mu_f) / sig_f
    live = y_th < _Y_SILENT
    G = np.zeros((mu_f.size, w.size), complex)
    nu = np.zeros(mu_f.size)
    if np.any(live):
        m = max(int(steps), int(np.ceil(np.max((y_th - y_r)[live]) / _DY_MAX)))
        lam = 1j * w.ravel() * tau_m
        n1, r1 = _integrate(lam, y_th[live], y_r[live], t_ref / tau_m, m)
        n2, r2 = _integrate(lam, y_th[live], y_r[live], t_ref / tau_m, 2 * m)
        nu[live] = (2.0 * n2 - n1) / tau_m * 1000.0
        G[live] = (2.0 * r2 - r1) / (sig_f[live, None] * tau_m)
    return G.reshape(shape + w.shape), nu.reshape(shape)
