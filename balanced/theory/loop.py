"""Stability of the asynchronous state of a two-population network from its open loop.

Linearised around the asynchronous state, a rate perturbation ``nu_1 exp(lambda t)``
returns through the loop as ``M(lambda) nu_1`` with

    M_ab(lambda) = G_a(lambda) W_ab H_b(lambda) exp(-lambda D),   H_b = 1/(1 + lambda tau_b),

``G_a`` the neurons' response to their mean input (1/(ms mV),
:func:`balanced.theory.transfer.lif_transfer`), ``W_ab = K_b J_ab tau_b`` (mV ms) the mean
input per unit rate, ``tau_b`` the synaptic time constants and ``D`` the delay (ms). The
state is unstable when ``det(1 - M(lambda)) = 0`` has a root with Re lambda > 0; the
boundary is where an eigenvalue of ``M(i omega)`` passes through 1 at a real omega.

Counting the roots (Nyquist): ``M`` has no poles in Re lambda >= 0 and vanishes as
|lambda| -> inf, so the number of unstable roots is minus the winding number of
``det(1 - M(i omega))``, omega from -inf to inf, around 0; by ``M(-i omega) = conj M(i omega)``
it is ``-Delta arg / pi`` over omega >= 0 (:func:`unstable_roots`). All functions take
``B(omega)``: a callable returning ``G H W`` (shape (n, 2, 2)) at real omega (rad/ms)
without the delay, so the delay's phase is exact. With a frequency-independent G this is
the delayed rate model ``tau_b ds_b/dt = -s_b + nu_b(t - D)`` of the instantaneous-response
theory (:func:`balanced.theory.rate_stability`, :func:`balanced.theory.phase.critical_delay`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy import optimize

OpenLoop = Callable[[np.ndarray], np.ndarray]

#: frequency grid (Hz) of the scans: 0.5 Hz steps resolve a 1.5 ms delay's phase (1/(20 D) = 33 Hz)
SCAN_HZ = np.arange(0.0, 4000.0 + 0.25, 0.5)


def omega_of_hz(f_hz) -> np.ndarray:
    """rad/ms of a frequency in Hz."""
    return 2.0 * math.pi * np.asarray(f_hz, dtype=float) / 1000.0


def eigvals2(B: np.ndarray) -> np.ndarray:
    """Eigenvalues (n, 2) of a stack of 2x2 matrices (closed form, sorted by magnitude)."""
    tr = B[..., 0, 0] + B[..., 1, 1]
    det = B[..., 0, 0] * B[..., 1, 1] - B[..., 0, 1] * B[..., 1, 0]
    root = np.sqrt(tr * tr / 4.0 - det + 0j)
    ev = np.stack([tr / 2.0 - root, tr / 2.0 + root], axis=-1)
    return np.take_along_axis(ev, np.argsort(np.abs(ev), axis=-1), axis=-1)


def unstable_roots(B: OpenLoop, delay_ms: float = 0.0, f_hz: np.ndarray = SCAN_HZ) -> int:
    """Number of roots of ``det(1 - B(lambda) exp(-lambda D)) = 0`` with Re lambda > 0.

    The scan must reach a frequency above which both eigenvalues of B stay inside the unit
    circle (there ``det(1 - M)`` cannot wind around 0); checked at its last point.
    """
    w = omega_of_hz(f_hz)
    Bw = B(w)
    if np.max(np.abs(eigvals2(Bw[-1:]))) >= 1.0:
        raise ValueError(f"open loop still >= 1 at {f_hz[-1]:g} Hz: extend the frequency scan")
    M = Bw * np.exp(-1j * w * delay_ms)[:, None, None]
    d = (1.0 - M[:, 0, 0]) * (1.0 - M[:, 1, 1]) - M[:, 0, 1] * M[:, 1, 0]
    phase = np.unwrap(np.angle(d))
    return int(round(-(phase[-1] - phase[0]) / math.pi))


def critical_delay(B: OpenLoop, f_hz: np.ndarray = SCAN_HZ) -> tuple[float, float]:
    """``(D_c ms, omega_c rad/ms)``: the smallest delay at which a root reaches the imaginary axis.

    0 (omega NaN) when the loop is unstable without delay; inf when no eigenvalue of
    ``B(i omega)`` reaches the unit circle. An eigenvalue ``m(omega)`` of B with ``|m| = 1``
    at ``omega`` puts a root at ``i omega`` for ``omega D = arg m (mod 2 pi)``; the roots
    move continuously with D, so the first such D over all crossings is where the
    asynchronous state loses stability. Crossings are bracketed on the scan and refined
    with Brent's method.
    """
    if unstable_roots(B, 0.0, f_hz) > 0:
        return 0.0, math.nan
    w = omega_of_hz(f_hz)

    def mag(x, k):
        # the smaller / larger |eigenvalue|: each a continuous function of omega (a
        # conjugate pair of a real matrix has equal magnitudes, so their product would
        # touch 1 without crossing)
        return np.abs(eigvals2(B(np.atleast_1d(x))))[..., k] - 1.0

    best = (math.inf, math.nan)
    for k in (0, 1):
        hv = mag(w, k)
        for n in np.nonzero(np.sign(hv[:-1]) * np.sign(hv[1:]) < 0)[0]:
            wc = optimize.brentq(lambda x, k=k: float(mag(x, k)[0]), w[n], w[n + 1], xtol=1e-14, rtol=1e-13)
            if wc <= 0:
                continue
            for m in eigvals2(B(np.array([wc])))[0]:
                if abs(abs(m) - 1.0) > 1e-6:
                    continue
                D = float(np.angle(m) % (2.0 * math.pi)) / wc
                D = D if D > 0 else 2.0 * math.pi / wc
                if D < best[0]:
                    best = (D, wc)
    return best


def onset_frequency(B: OpenLoop, delay_ms: float, f_hz: np.ndarray = SCAN_HZ) -> float:
    """omega (rad/ms) at which an eigenvalue of ``B exp(-i omega D)`` comes closest to 1
    (the oscillation's frequency at a critical point), refined between grid points."""
    w = omega_of_hz(f_hz)

    def dist(x):
        xs = np.atleast_1d(x)
        m = eigvals2(B(xs)) * np.exp(-1j * xs * delay_ms)[:, None]
        return np.min(np.abs(m - 1.0), axis=-1)

    dv = dist(w)
    k = int(np.argmin(dv[1:])) + 1  # a Hopf onset: omega > 0
    lo, hi = w[max(k - 1, 0)], w[min(k + 1, len(w) - 1)]
    res = optimize.minimize_scalar(
        lambda x: float(dist(x)[0]), bounds=(lo, hi), method="bounded", options=dict(xatol=1e-9)
    )
    return float(res.x)


def critical_parameter(
    family: Callable[[float], OpenLoop],
    lo: float,
    hi: float,
    delay_ms: float = 0.0,
    n_scan: int = 48,
    rtol: float = 1e-6,
    f_hz: np.ndarray = SCAN_HZ,
) -> float:
    """The smallest parameter x in ``[lo, hi]`` (geometric scan, then bisection) at which
    ``family(x)`` has an unstable root; ``lo`` if it is unstable there, inf if never."""
    xs = np.geomspace(lo, hi, n_scan)
    prev = None
    for x in xs:
        if unstable_roots(family(float(x)), delay_ms, f_hz) > 0:
            if prev is None:
                return float(lo)
            a, b = prev, float(x)
            while b - a > rtol * b:
                c = math.sqrt(a * b)
                if unstable_roots(family(c), delay_ms, f_hz) > 0:
                    b = c
                else:
                    a = c
            return b
        prev = float(x)
    return math.inf
