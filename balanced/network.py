"""The network builder: NEST calls only. Populations, connections, drive, recorders.

No printing, no file IO: it returns handles. Populations are created first and
contiguously (E, then I), so a NEST node id maps to the global index
``node_id - first_id`` (E = 0..N_E-1, I = N_E..N-1), the index used on disk.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from .derived import Derived
from .params import Params

STATE_RECORDABLES = ("V_m", "I_syn_ex", "I_syn_in")
PROJECTIONS = (("E", "E"), ("E", "I"), ("I", "E"), ("I", "I"))  # (target, source)
INDEX = {"E": 0, "I": 1}


@dataclass
class Network:
    """Handles to what :func:`build_network` created."""

    E: Any  # NodeCollection
    I: Any  # NodeCollection
    first_id: int  # NEST node id of global index 0
    spike_recorder: Any
    multimeter: Any | None
    sampled: np.ndarray  # global indices of the neurons whose state is recorded
    poisson: Any | None
    n_synapses: int  # recurrent connections on this rank (MPI: run.py sums the ranks), devices not counted
    nest_connection_rule: str  # the NEST rule that drew them (see nest_rule)

    @property
    def neurons(self):
        return self.E + self.I


RECORDER_SYNAPSE = "static_synapse_hom_w_hpc"  # neurons -> spike_recorder (see build_network)
# The package's NEST module adds this rule: NEST's fixed_indegree with the same random draws
# and connections, built faster without multapses (balanced/build/nestml-templates/README.md).
FAST_FIXED_INDEGREE = "balanced_fixed_indegree"


def connection_rule(p: Params, d: Derived, target: str, source: str) -> dict:
    """The full NEST ``conn_spec`` of one projection, every flag written out."""
    t, s = INDEX[target], INDEX[source]
    if p.connectivity == "fixed_indegree":
        return {
            "rule": "fixed_indegree",
            "indegree": int(round(d.indegree[t][s])),
            "allow_autapses": p.allow_autapses,
            "allow_multapses": p.allow_multapses,
        }
    if p.connectivity == "fixed_outdegree":
        return {
            "rule": "fixed_outdegree",
            "outdegree": d.outdegree[t][s],
            "allow_autapses": p.allow_autapses,
            "allow_multapses": p.allow_multapses,
        }
    return {"rule": "pairwise_bernoulli", "p": d.probability[t][s], "allow_autapses": p.allow_autapses}


def nest_rule(nest, conn_spec: dict, module_rule: bool = True) -> dict:
    """``conn_spec`` for this kernel: with ``module_rule`` (see
    :func:`balanced.choices.connection_builder`), ``fixed_indegree`` becomes the package's
    equivalent :data:`FAST_FIXED_INDEGREE` where the loaded module provides it (same
    connections)."""
    if module_rule and conn_spec["rule"] == "fixed_indegree" and FAST_FIXED_INDEGREE in nest.connection_rules:
        return {**conn_spec, "rule": FAST_FIXED_INDEGREE}
    return conn_spec


def synapse_spec(nest, p: Params, d: Derived, target: str, source: str, model: str) -> dict:
    """The ``syn_spec`` of one projection with NEST synapse ``model`` (a named copy of a
    hom_w model carries its weight)."""
    weight = d.weight_pA[INDEX[target]][INDEX[source]]
    if model.startswith("static_synapse_hom_w"):
        name = f"balanced_{source}_to_{target}" + model[len("static_synapse_hom_w") :]
        if name not in nest.synapse_models:
            nest.CopyModel(model, name, {"weight": weight})
        return {"synapse_model": name, "delay": p.delay}
    return {"synapse_model": model, "weight": weight, "delay": p.delay}


def recording_sample(p: Params) -> np.ndarray:
    """The seeded sample of neurons whose state is recorded: ``record_n`` per population."""
    rng = np.random.default_rng(p.seed)
    e = rng.choice(p.N_E, size=p.record_n, replace=False)
    i = p.N_E + rng.choice(p.N_I, size=p.record_n, replace=False)
    return np.sort(np.concatenate([e, i])).astype(np.int64)


def build_network(nest, p: Params, d: Derived, model: str, synapse_model: str, module_rule: bool = True) -> Network:
    """Create E and I populations of ``model``, connect them with ``synapse_model`` (a NEST
    synapse model, see :func:`balanced.choices.synapse_model`), add drive and recorders.
    ``module_rule``: see :func:`nest_rule`."""
    E, I = create_populations(nest, p, d, model)
    return connect_network(nest, p, d, E, I, synapse_model, module_rule)


def set_status(nodes, params: list[dict]) -> None:
    """``nodes.set(params)`` for a list of dictionaries (one for every node, or one per node)
    without the read PyNEST's ``set`` starts with: it asks the nodes whether they are local,
    which converts each node's whole status (a recorder's: every event it holds). The kernel
    call that ``set`` ends with is made directly; a PyNEST without it gets ``set``."""
    kernel = sys.modules.get("nest.nestkernel_api")
    datum = getattr(nodes, "_datum", None)
    if kernel is None or datum is None or not hasattr(kernel, "llapi_set_nc_status"):
        nodes.set(params)
        return
    kernel.llapi_set_nc_status(datum, params)


def create_populations(nest, p: Params, d: Derived, model: str) -> tuple:
    """The E and I populations (in this order, contiguous ids) with drive and initial V_m."""
    # V_m drawn as Create(params=...) draws it (per thread, in node order, right after the
    # nodes are made), without PyNEST's second pass over the nodes; set_status skips its
    # read of every new node's status
    v_init = nest.random.normal(mean=p.V_init_mean, std=p.V_init_sd) if p.V_init_sd > 0 else p.V_init_mean
    E = nest.Create(model, p.N_E)
    set_status(E, [{**d.neuron_params, "I_e": d.drive_pA[0], "V_m": v_init}])
    I = nest.Create(model, p.N_I)
    set_status(I, [{**d.neuron_params, "I_e": d.drive_pA[1], "V_m": v_init}])
    return E, I


def connect_network(nest, p: Params, d: Derived, E, I, synapse_model: str, module_rule: bool = True) -> Network:
    """Connect the populations of :func:`create_populations` with ``synapse_model`` (and the
    module's fixed_indegree where ``module_rule``, see :func:`nest_rule`); add Poisson
    drive and recorders."""
    neurons = E + I
    pops = {"E": E, "I": I}
    rule = nest_rule(nest, {"rule": p.connectivity}, module_rule)["rule"]  # one kernel query for all projections
    for target, source in PROJECTIONS:
        nest.Connect(
            pops[source],
            pops[target],
            {**connection_rule(p, d, target, source), "rule": rule},
            synapse_spec(nest, p, d, target, source, synapse_model),
        )
    n_synapses = int(nest.num_connections)  # before any device is connected

    poisson = None
    if p.nu_ext > 0:
        poisson = nest.Create("poisson_generator", params={"rate": p.nu_ext})
        nest.Connect(
            poisson, neurons, "all_to_all", {"synapse_model": "static_synapse", "weight": p.J_ext, "delay": p.delay}
        )

    spike_recorder = nest.Create("spike_recorder", params={"record_to": "memory"})
    # The index-based hom_w synapse to the recorder costs NEST far less memory per recurrent
    # connection than static_synapse, and the network's delay keeps NEST's max_delay (and
    # so every neuron's input ring) at the network's (docs/performance.md, "Memory").
    nest.Connect(neurons, spike_recorder, syn_spec={"synapse_model": RECORDER_SYNAPSE, "delay": p.delay})

    first_id = E[0].global_id
    sampled = recording_sample(p)
    multimeter = None
    if len(sampled):
        multimeter = nest.Create(
            "multimeter",
            params={"record_from": list(STATE_RECORDABLES), "interval": p.record_interval, "record_to": "memory"},
        )
        nest.Connect(multimeter, nest.NodeCollection((sampled + first_id).tolist()), syn_spec={"delay": p.delay})
    return Network(
        E=E,
        I=I,
        first_id=first_id,
        spike_recorder=spike_recorder,
        multimeter=multimeter,
        sampled=sampled,
        poisson=poisson,
        n_synapses=n_synapses,
        nest_connection_rule=rule,
    )
