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

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike


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
