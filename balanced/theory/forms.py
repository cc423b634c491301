"""Coupling forms: a network in scaled form, and the tutorial form expressed in it."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


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


def tutorial_to_scaled(
    p: float, J_E: float, J_I: float, Ib: float, N_E: int, N_I: int, K_ref: float | None = None
) -> ScaledForm:
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
