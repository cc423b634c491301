"""Shared constants of the theory: population names, the project's default neuron
(the BrainPy tutorial's LIF; ms, mV) and the Fourcaud-Brunel constant."""

from __future__ import annotations

import math

POPULATIONS = ("E", "I")

#: |zeta(1/2)| (Riemann zeta), enters the Fourcaud-Brunel (2002) threshold shift.
ZETA_HALF_ABS = 1.4603545088095868
#: |zeta(1/2)| / sqrt(2) = alpha/2 of Fourcaud & Brunel (2002): 1.0326...
FB_ALPHA_HALF = ZETA_HALF_ABS / math.sqrt(2.0)

# Default neuron of this project (the BrainPy tutorial's LIF).
TAU_M = 10.0
TAU_S = 2.0
E_L = -52.0
V_TH = -50.0
V_RESET = -60.0
T_REF = 0.0
