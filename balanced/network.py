"""The network builder: NEST calls only. Populations, connections, drive, recorders.

No printing, no file IO: it returns handles. Populations are created first and
contiguously (E, then I), so a NEST node id maps to the global index
``node_id - first_id`` (E = 0..N_E-1, I = N_E..N-1), the index used on disk.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .derived import Derived, derive
from .params import Params

STATE_RECORDABLES = ("V_m", "I_syn_ex", "I_syn_in")
PROJECTIONS = (("E", "E"), ("E", "I"), ("I", "E"), ("I", "I"))  # (target, source)
INDEX = {"E": 0, "I": 1}


@dataclass
class Network:
    """Handles to what :func:`build_network` created."""

    E: object                     # NodeCollection
    I: object                     # NodeCollection
    first_id: int                 # NEST node id of global index 0
    spike_recorder: object
    multimeter: object | None
    sampled: np.ndarray           # global indices of the neurons whose state is recorded
    poisson: object | None
    n_synapses: int               # recurrent connections on this rank (MPI: run.py sums the ranks), devices not counted

    @property
    def neurons(self):
        return self.E + self.I


AUTO_FAST_SYNAPSE = "static_synapse"            # fastest delivery, ~47 bytes per synapse
AUTO_SMALL_SYNAPSE = "static_synapse_hom_w_hpc"  # smallest NEST connection, ~23 bytes per synapse
AUTO_FAST_BYTES_PER_SYNAPSE = 48.0
AUTO_MEMORY_FRACTION = 0.25  # 'auto' keeps the fast synapse while the network needs < 1/4 of RAM
RECORDER_SYNAPSE = "static_synapse_hom_w_hpc"  # neurons -> spike_recorder (see build_network)


def _physical_memory_bytes() -> float:
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return float("inf")


def synapse_model_for(p: Params) -> str:
    """The NEST synapse model behind ``p.synapse_model``.

    ``auto`` picks the fastest synapse that fits comfortably: ``static_synapse`` (weight
    and target pointer in every connection; spike delivery 1.3-1.65x faster than the
    homogeneous-weight variants at N = 2e4, K = 1000) while the expected connections need
    less than a quarter of this machine's physical memory at ~48 bytes each, otherwise
    ``static_synapse_hom_w_hpc`` (one weight per projection in a named copy of the model,
    target stored as a thread-local index: ~23 bytes per synapse, the smallest static
    connection NEST has). Both give the same spikes (docs/performance.md). The choice
    depends on the machine's memory only, and is recorded in the manifest.
    """
    if p.synapse_model != "auto":
        return p.synapse_model
    need = derive(p).n_synapses_expected * AUTO_FAST_BYTES_PER_SYNAPSE
    return AUTO_FAST_SYNAPSE if need < AUTO_MEMORY_FRACTION * _physical_memory_bytes() else AUTO_SMALL_SYNAPSE


def connection_rule(p: Params, d: Derived, target: str, source: str) -> dict:
    """The full NEST ``conn_spec`` of one projection, every flag written out."""
    t, s = INDEX[target], INDEX[source]
    if p.connectivity == "fixed_indegree":
        return {"rule": "fixed_indegree", "indegree": int(round(d.indegree[t][s])),
                "allow_autapses": p.allow_autapses, "allow_multapses": p.allow_multapses}
    if p.connectivity == "fixed_outdegree":
        return {"rule": "fixed_outdegree", "outdegree": d.outdegree[t][s],
                "allow_autapses": p.allow_autapses, "allow_multapses": p.allow_multapses}
    return {"rule": "pairwise_bernoulli", "p": d.probability[t][s], "allow_autapses": p.allow_autapses}


def synapse_spec(nest, p: Params, d: Derived, target: str, source: str) -> dict:
    """The ``syn_spec`` of one projection (a named copy of the hom_w model carries its weight)."""
    weight = d.weight_pA[INDEX[target]][INDEX[source]]
    model = synapse_model_for(p)
    if model.startswith("static_synapse_hom_w"):
        name = f"balanced_{source}_to_{target}" + model[len("static_synapse_hom_w"):]
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


def build_network(nest, p: Params, d: Derived, model: str) -> Network:
    """Create E and I populations of ``model``, connect them, add drive and recorders."""
    E = nest.Create(model, p.N_E, params={**d.neuron_params, "I_e": d.drive_pA[0]})
    I = nest.Create(model, p.N_I, params={**d.neuron_params, "I_e": d.drive_pA[1]})
    neurons = E + I
    if p.V_init_sd > 0:
        neurons.V_m = nest.random.normal(mean=p.V_init_mean, std=p.V_init_sd)
    else:
        neurons.V_m = p.V_init_mean
    pops = {"E": E, "I": I}
    for target, source in PROJECTIONS:
        nest.Connect(pops[source], pops[target], connection_rule(p, d, target, source),
                     synapse_spec(nest, p, d, target, source))
    n_synapses = int(nest.num_connections)  # before any device is connected

    poisson = None
    if p.nu_ext > 0:
        poisson = nest.Create("poisson_generator", params={"rate": p.nu_ext})
        nest.Connect(poisson, neurons, "all_to_all", {"synapse_model": "static_synapse", "weight": p.J_ext, "delay": p.delay})

    spike_recorder = nest.Create("spike_recorder", params={"record_to": "memory"})
    # With the default static_synapse here, NEST 3.10 keeps about 16 more bytes for every
    # recurrent connection (34 instead of 18 B/synapse at N = 1e4, K = 1000, measured with
    # RSS); with the index-based hom_w synapse it is about 4 (see docs/performance.md).
    # The recorder ignores weight and delay: spikes recorded are the same. The delay is the
    # network's so that NEST's max_delay stays the network's: with NEST's default 1 ms here
    # every neuron's input ring would hold min_delay + max_delay = 11 steps instead of 2
    # (the multimeter likewise): with 2 the simulation at N = 2e4 takes about half the time.
    nest.Connect(neurons, spike_recorder, syn_spec={"synapse_model": RECORDER_SYNAPSE, "delay": p.delay})

    first_id = E[0].global_id
    sampled = recording_sample(p)
    multimeter = None
    if len(sampled):
        multimeter = nest.Create("multimeter", params={"record_from": list(STATE_RECORDABLES),
                                                       "interval": p.record_interval, "record_to": "memory"})
        nest.Connect(multimeter, nest.NodeCollection((sampled + first_id).tolist()), syn_spec={"delay": p.delay})
    return Network(E=E, I=I, first_id=first_id, spike_recorder=spike_recorder, multimeter=multimeter,
                   sampled=sampled, poisson=poisson, n_synapses=n_synapses)
