"""The parameters' fields: names, types, defaults, units and descriptions, and the fixed
choices they take (see :mod:`balanced.params`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

NEURON_MODELS = ("nestml", "iaf_psc_exp")
CONNECTIVITY_RULES = ("fixed_indegree", "fixed_outdegree", "pairwise_bernoulli")
COUPLING_FORMS = ("tutorial", "scaled")
SYNAPSE_MODELS = ("auto", "static_synapse", "static_synapse_hom_w", "static_synapse_hom_w_hpc")
TUTORIAL_KEYS = ("p", "J_E", "J_I", "Ib")
SCALED_KEYS = ("K", "j_EE", "j_EI", "j_IE", "j_II", "i_E", "i_I")
DEFAULT_PRESET = "tutorial"
NEST_TIC_MS = 0.001  # NEST's default time base (tics_per_ms = 1000): dt must be a multiple of it
MAX_NEURONS = 2**31 - 1
MAX_STEPS = 1e12
MAX_PARAMETER_FILE_BYTES = 1 << 20


class ParamError(ValueError):
    """A parameter that cannot be used; the message names the key, the value and what is allowed."""


def _p(default: Any, unit: str, doc: str, group: str) -> Any:
    return field(default=default, metadata={"unit": unit, "doc": doc, "group": group})


@dataclass(frozen=True)
class Params:
    """All parameters of one network run. Build with :func:`resolve`, never by hand-editing."""

    # ---- model choice
    neuron_model: str = _p(
        "nestml",
        "",
        "neuron model: 'nestml' (our compiled NESTML model) or 'iaf_psc_exp' (NEST built-in reference)",
        "model",
    )
    connectivity: str = _p(
        "fixed_indegree",
        "",
        "connection rule: 'fixed_indegree' (every neuron gets exactly K inputs per population), 'fixed_outdegree' (BrainPy's FixedProb as the tutorial uses it), 'pairwise_bernoulli'",
        "model",
    )
    coupling: str = _p(
        "tutorial", "", "coupling form: 'tutorial' (p, J_E, J_I, Ib) or 'scaled' (K, j_ab, i_a)", "model"
    )
    allow_autapses: bool = _p(True, "", "self-connections allowed (BrainPy's FixedProb allows them)", "model")
    allow_multapses: bool = _p(False, "", "repeated connections between the same pair allowed", "model")
    synapse_model: str = _p(
        "auto",
        "",
        "NEST synapse: 'static_synapse' (fastest delivery, ~48 B/synapse), 'static_synapse_hom_w', 'static_synapse_hom_w_hpc' (one weight per projection, ~23 B/synapse) or 'auto' (static_synapse while the run's estimated peak with it is at most half of the memory it may use: the machine's, its control group's or its SLURM allocation's)",
        "model",
    )
    # ---- populations
    N_E: int = _p(500, "neurons", "number of excitatory neurons", "populations")
    N_I: int = _p(500, "neurons", "number of inhibitory neurons", "populations")
    # ---- coupling, tutorial form
    p: float | None = _p(
        None, "1", "connection probability; in-degree K_a = p N_a per source population", "coupling (tutorial form)"
    )
    J_E: float | None = _p(
        None, "mV (= pA)", "jump of the synaptic current per excitatory spike, onto E and I", "coupling (tutorial form)"
    )
    J_I: float | None = _p(
        None, "mV (= pA)", "jump per inhibitory spike, onto E and I (negative)", "coupling (tutorial form)"
    )
    Ib: float | None = _p(None, "mV (= pA)", "constant external drive to every neuron", "coupling (tutorial form)")
    # ---- coupling, scaled (balanced) form
    K: int | None = _p(None, "inputs", "in-degree from each population (E and I)", "coupling (scaled form)")
    j_EE: float | None = _p(None, "mV sqrt(K)", "E -> E coupling; weight j_EE/sqrt(K)", "coupling (scaled form)")
    j_EI: float | None = _p(
        None, "mV sqrt(K)", "I -> E coupling (negative); weight j_EI/sqrt(K)", "coupling (scaled form)"
    )
    j_IE: float | None = _p(None, "mV sqrt(K)", "E -> I coupling; weight j_IE/sqrt(K)", "coupling (scaled form)")
    j_II: float | None = _p(
        None, "mV sqrt(K)", "I -> I coupling (negative); weight j_II/sqrt(K)", "coupling (scaled form)"
    )
    i_E: float | None = _p(None, "mV / sqrt(K)", "drive to E; constant input sqrt(K) i_E", "coupling (scaled form)")
    i_I: float | None = _p(None, "mV / sqrt(K)", "drive to I; constant input sqrt(K) i_I", "coupling (scaled form)")
    # ---- neuron and synapse
    tau: float = _p(10.0, "ms", "membrane time constant", "neuron")
    tau_s: float = _p(2.0, "ms", "synaptic current decay time constant (E, and I unless tau_s_I is set)", "neuron")
    tau_s_I: float | None = _p(
        None, "ms", "inhibitory synaptic current decay time constant, onto E and I (unset = tau_s)", "neuron"
    )
    V_rest: float = _p(-52.0, "mV", "resting potential", "neuron")
    V_th: float = _p(-50.0, "mV", "spike threshold", "neuron")
    V_reset: float = _p(-60.0, "mV", "reset potential", "neuron")
    t_ref: float = _p(0.0, "ms", "absolute refractory period", "neuron")
    V_init_mean: float = _p(-60.0, "mV", "mean of the initial membrane potential (normal)", "neuron")
    V_init_sd: float = _p(10.0, "mV", "SD of the initial membrane potential", "neuron")
    # ---- optional Poisson drive (independent per neuron)
    nu_ext: float = _p(
        0.0, "Hz", "rate of an independent Poisson input to every neuron (0 = none)", "external Poisson drive"
    )
    J_ext: float = _p(
        0.0, "mV (= pA)", "jump of the synaptic current per Poisson input spike", "external Poisson drive"
    )
    # ---- simulation
    dt: float = _p(0.1, "ms", "integration step (NEST resolution)", "simulation")
    delay: float = _p(0.1, "ms", "synaptic delay (>= dt; the tutorial's is one step)", "simulation")
    T: float = _p(1000.0, "ms", "simulated time", "simulation")
    seed: int = _p(
        12345,
        "",
        "seed of NEST's random streams (connectivity, initial V, Poisson) and the recording sample",
        "simulation",
    )
    # ---- recording
    record_n: int = _p(
        20, "neurons", "neurons per population whose V_m and synaptic currents are recorded (0 = none)", "recording"
    )
    record_interval: float = _p(1.0, "ms", "sampling interval of V_m and the synaptic currents", "recording")

    def to_dict(self) -> dict[str, Any]:
        """Parameters as a plain dict, without the keys of the coupling form not in use."""
        return {k: v for k, v in asdict(self).items() if v is not None}


FIELDS = {f.name: f for f in fields(Params)}
KNOWN_KEYS = tuple(FIELDS)
