"""Theory for the E/I network: balance equations, f-I curves, free-membrane moments,
a finite-K mean field and a regime diagnosis.

Pure numpy/scipy (no NEST, no :mod:`balanced.params`): every function takes plain floats
or small arrays so that it can be tested on its own; a thin wrapper maps a
``Params`` object onto these arguments.

Conventions (see ``docs/design.md``)
------------------------------------
* Matrices are indexed ``[target][source]`` with index 0 = E, 1 = I: ``j[0][1]`` is
  ``j_EI``, the coupling **from I onto E**. Inhibitory couplings are negative numbers.
* Units: ms, mV, Hz. Synaptic currents are "currents in mV" (unit resistance; in NEST
  ``C_m = tau_m`` pF so 1 pA drives 1 mV). Rates are in Hz unless a name says
  ``_per_ms``; inside formulas rates are converted to 1/ms.

The neuron
----------
``tau_m dV/dt = -(V - E_L) + I_drive + I_syn(t)``; spike when ``V >= V_th``, then
``V -> V_reset`` for ``t_ref``. Each presynaptic spike from population b adds ``J_ab``
(mV) to ``I_syn``, which decays with ``tau_s``.

Scaled (balanced) form
----------------------
Each neuron receives ``K`` inputs from E and ``K`` from I; ``J_ab = j_ab / sqrt(K)``; the
constant drive is ``I_a = sqrt(K) i_a``. More generally, with in-degrees ``K_b`` per
source population and a reference ``K`` we define ``j_ab = K_b J_ab / sqrt(K)`` and
``i_a = I_a / sqrt(K)``; the mean input is then

    mu_a = E_L + sqrt(K) [ i_a + tau_s sum_b j_ab nu_b ]          (nu in 1/ms)

and requiring the O(sqrt K) bracket to vanish gives the balance equations

    i_E + tau_s (j_EE nu_E + j_EI nu_I) = 0
    i_I + tau_s (j_IE nu_E + j_II nu_I) = 0 .

Modules
-------
* :mod:`.balance`: balance equations (:func:`balance_rates`, :func:`balance_condition_vvs`)
* :mod:`.neuron`: single-neuron f-I curves (:func:`lif_rate_constant_input`, :func:`siegert_rate`)
* :mod:`.moments`: PSP kernel and free-membrane moments (:func:`psp_kernel`,
  :func:`free_membrane_moments`, :func:`diffusion_parameters`)
* :mod:`.meanfield`: finite-K mean field (:func:`mean_field_rates`)
* :mod:`.forms`: coupling forms (:class:`ScaledForm`, :func:`tutorial_to_scaled`)
* :mod:`.transfer`: the LIF's linear response to a modulated mean input
  (:func:`lif_transfer`, :func:`transfer_interpolant`, :func:`synaptic_filter`)
* :mod:`.loop`: stability of the asynchronous state from the open loop G H W e^{-i omega D}
  (:func:`unstable_roots`, :func:`critical_delay`, :func:`critical_parameter`)
* :mod:`.stability`: population oscillations when inhibition is slow
  (:func:`slow_inhibition_stability` with the LIF's response;
  :func:`slow_inhibition_stability_instantaneous`, :func:`rate_stability` with an
  instantaneous one)
* :mod:`.phase`: the balance solution over the (g, d) plane and the critical delay
  (:func:`balanced.theory.phase.delay_stability`)
* :mod:`.disorder`: the distribution of rates across neurons, quenched disorder of the
  mean input (:func:`rate_distribution`)
* :mod:`.diagnosis`: regime diagnosis (:func:`diagnose_regime`, :func:`diagnose_params`,
  :func:`format_diagnosis`, :func:`diagnosis_lines`)
"""

from __future__ import annotations

from .balance import BalanceSolution, VvsCondition, balance_condition_vvs, balance_rates
from .constants import FB_ALPHA_HALF, POPULATIONS, ZETA_HALF_ABS
from .diagnosis import Diagnosis, diagnose_params, diagnose_regime, diagnose_tutorial, diagnosis_lines, format_diagnosis
from .disorder import RateDistribution, rate_distribution, siegert_rates
from .forms import ScaledForm, tutorial_to_scaled
from .meanfield import MeanFieldSolution, mean_field_rates
from .moments import FreeMoments, diffusion_parameters, free_membrane_moments, psp_kernel, psp_kernel_integrals
from .neuron import lif_isi_constant_input, lif_rate_constant_input, siegert_rate
from .stability import (
    RateStability,
    SlowInhibitionStability,
    rate_stability,
    siegert_gain,
    slow_inhibition_stability,
    slow_inhibition_stability_instantaneous,
)
from .transfer import lif_rate, lif_transfer, synaptic_filter, transfer_interpolant

__all__ = [
    "POPULATIONS",
    "ZETA_HALF_ABS",
    "FB_ALPHA_HALF",
    "BalanceSolution",
    "balance_rates",
    "VvsCondition",
    "balance_condition_vvs",
    "lif_rate_constant_input",
    "lif_isi_constant_input",
    "siegert_rate",
    "psp_kernel",
    "psp_kernel_integrals",
    "FreeMoments",
    "free_membrane_moments",
    "diffusion_parameters",
    "MeanFieldSolution",
    "mean_field_rates",
    "ScaledForm",
    "tutorial_to_scaled",
    "Diagnosis",
    "diagnose_regime",
    "diagnose_tutorial",
    "format_diagnosis",
    "diagnose_params",
    "diagnosis_lines",
    "RateStability",
    "rate_stability",
    "siegert_gain",
    "slow_inhibition_stability",
    "slow_inhibition_stability_instantaneous",
    "SlowInhibitionStability",
    "lif_transfer",
    "lif_rate",
    "transfer_interpolant",
    "synaptic_filter",
    "RateDistribution",
    "rate_distribution",
    "siegert_rates",
]
