"""Derived quantities: in-degrees, weights, drives and the NEST unit mapping. Pure, no NEST.

Unit mapping (why 1 pA is 1 mV): the tutorial writes ``tau dV/dt = -(V - V_rest) + I``
with currents in mV. NEST's ``iaf_psc_exp`` integrates ``dV/dt = -(V - E_L)/tau_m +
I/C_m``. Choosing ``C_m`` (pF) numerically equal to ``tau`` (ms) makes the membrane
resistance ``tau_m / C_m = 1 GOhm``, so a current of ``x`` pA moves the steady-state
voltage by ``x`` mV, and every tutorial current (drive ``Ib``, jumps ``J``) carries over
as the same number of pA.

All matrices are ``[target][source]`` with index 0 = E, 1 = I.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from .params import Params

POPULATIONS = ("E", "I")


@dataclass(frozen=True)
class Derived:
    """Everything the builder and the theory need, computed once from :class:`Params`."""

    N: int  # total neurons
    sizes: tuple[int, int]  # (N_E, N_I)
    indegree: tuple[tuple[float, float], ...]  # expected inputs [target][source]; exact for fixed_indegree
    probability: tuple[tuple[float, ...], ...]  # connection probability [target][source] = K / N_source
    outdegree: tuple[tuple[int, ...], ...]  # targets per source [target][source] for fixed_outdegree
    weight_pA: tuple[tuple[float, float], ...]  # synaptic current jump [target][source], pA (= mV)
    drive_pA: tuple[float, float]  # constant current I_e per population, pA (= mV of steady shift)
    j_scaled: tuple[tuple[float, ...], ...]  # weight * sqrt(K_source): the j of the scaled form
    i_scaled: tuple[float, ...]  # drive / sqrt(K): the i of the scaled form (K of the E input)
    neuron_params: dict  # NEST parameters shared by E and I (iaf_psc_exp names)
    n_synapses_expected: float
    steps: int  # T / dt

    def as_dict(self) -> dict:
        return asdict(self)


def derive(p: Params) -> Derived:
    """Compute the derived quantities of ``p`` (microseconds, no NEST)."""
    sizes = (p.N_E, p.N_I)
    weight: tuple[tuple[float, float], tuple[float, float]]
    if p.coupling == "tutorial":
        # validated Params hold every key of the form in use
        assert p.p is not None and p.J_E is not None and p.J_I is not None and p.Ib is not None
        k = (p.p * p.N_E, p.p * p.N_I)
        weight = ((p.J_E, p.J_I), (p.J_E, p.J_I))
        drive = (p.Ib, p.Ib)
    else:
        assert p.K is not None and None not in (p.j_EE, p.j_EI, p.j_IE, p.j_II, p.i_E, p.i_I)
        k = (float(p.K), float(p.K))
        sq = math.sqrt(p.K)
        weight = ((p.j_EE / sq, p.j_EI / sq), (p.j_IE / sq, p.j_II / sq))  # type: ignore[operator]
        drive = (sq * p.i_E, sq * p.i_I)  # type: ignore[operator]
    indegree = (k, k)
    probability = tuple(tuple(k[s] / sizes[s] for s in range(2)) for _ in range(2))
    # fixed_outdegree: each source picks probability * N_target targets (BrainPy's FixedProb).
    outdegree = tuple(tuple(int(round(probability[t][s] * sizes[t])) for s in range(2)) for t in range(2))
    j_scaled = tuple(tuple(weight[t][s] * math.sqrt(k[s]) for s in range(2)) for t in range(2))
    i_scaled = tuple(drive[t] / math.sqrt(k[0]) for t in range(2))
    neuron = {
        "C_m": p.tau,  # pF, numerically equal to tau (ms): R = 1 GOhm, 1 pA = 1 mV
        "tau_m": p.tau,
        "E_L": p.V_rest,
        "V_th": p.V_th,
        "V_reset": p.V_reset,
        "t_ref": p.t_ref,
        "tau_syn_ex": p.tau_s,
        "tau_syn_in": p.tau_s if p.tau_s_I is None else p.tau_s_I,
    }
    n_syn = sum(sizes[t] * k[s] for t in range(2) for s in range(2))
    return Derived(
        N=p.N_E + p.N_I,
        sizes=sizes,
        indegree=indegree,
        probability=probability,
        outdegree=outdegree,
        weight_pA=weight,
        drive_pA=drive,
        j_scaled=j_scaled,
        i_scaled=i_scaled,
        neuron_params=neuron,
        n_synapses_expected=n_syn,
        steps=int(round(p.T / p.dt)),
    )


def population_table(p: Params) -> list[dict]:
    """Global index ranges: E neurons are 0..N_E-1, I neurons N_E..N-1."""
    return [{"name": "E", "first": 0, "size": p.N_E}, {"name": "I", "first": p.N_E, "size": p.N_I}]
