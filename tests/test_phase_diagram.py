"""The phase plane's theory: where the balance solution exists when g scales the I -> E
coupling and d both drives (pure functions, no simulation)."""

from __future__ import annotations

import numpy as np
import pytest

from balanced.params import resolve
from balanced.theory import balance_rates
from balanced.theory.phase import phase_boundaries, phase_rates

J = ((30.0, -60.0), (60.0, -75.0))  # the balanced preset
I = (1.2, 1.05)


def test_phase_rates_match_the_balance_equations():
    p = resolve("balanced")
    assert (p.j_EE, p.j_EI, p.j_IE, p.j_II, p.i_E, p.i_I) == (30.0, -60.0, 60.0, -75.0, 1.2, 1.05)
    for g, d in ((1.0, 1.0), (0.8, 2.0), (1.3, 0.5)):
        j = ((J[0][0], g * J[0][1]), J[1])
        ref = balance_rates(j, (d * I[0], d * I[1]), 2.0).rates_hz
        assert np.allclose(phase_rates(J, I, 2.0, g, d), ref)
    nu_E, nu_I = phase_rates(J, I, 2.0, 1.0, 1.0)
    assert (nu_E, nu_I) == (pytest.approx(10.0), pytest.approx(15.0))  # the preset's comment
    g = np.linspace(0.7, 1.4, 8)
    assert np.allclose(phase_rates(J, I, 2.0, g, 3.0)[0], 3 * phase_rates(J, I, 2.0, g, 1.0)[0])  # linear in d


def test_existence_band_in_g():
    b = phase_boundaries(J, I)
    assert b.g_det == pytest.approx(0.625)  # j_EE j_II / (j_EI j_IE) = 2250 / 3600
    assert b.g_E0 == pytest.approx(90.0 / 63.0)  # j_II i_E / (j_EI i_I)
    assert (b.g_min, b.g_max) == (pytest.approx(0.625), pytest.approx(90.0 / 63.0))
    for g in (0.6, 1.5):  # just outside: a rate is negative
        assert min(phase_rates(J, I, 2.0, g, 1.0)) < 0
    assert min(phase_rates(J, I, 2.0, 1.0, 1.0)) > 0
    # E and I with the same excitation and drive: nu_I = 0 for every g, no band
    none = phase_boundaries(((30.0, -60.0), (30.0, -75.0)), (1.2, 1.2))
    assert none.g_min is None and none.g_max is None
