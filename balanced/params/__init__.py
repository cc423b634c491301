"""Model parameters: one typed, immutable source of truth, presets, TOML files, validation.

Every key is flat (``--set key=value`` reaches any of them) and named after the BrainPy
tutorial's symbols. Units: ms, mV, Hz, pA (with ``C_m = tau`` pF, 1 pA drives 1 mV, see
:mod:`balanced.derived`). Matrices are indexed ``[target][source]``: ``j_EI`` is the
coupling from I onto E, and inhibitory couplings are negative numbers.

Coupling comes in one of two forms, chosen by ``coupling``:

``"tutorial"``
    ``p``, ``J_E``, ``J_I``, ``Ib``: every neuron receives ``K_E = p N_E`` excitatory and
    ``K_I = p N_I`` inhibitory inputs, with weight ``J_E`` (onto E and I alike) and
    ``J_I`` (negative), and constant drive ``Ib``.
``"scaled"``
    ``K``, ``j_EE``, ``j_EI``, ``j_IE``, ``j_II``, ``i_E``, ``i_I``: van Vreeswijk &
    Sompolinsky scaling, ``K`` inputs from each population, weights ``J_ab = j_ab/sqrt(K)``,
    drive ``I_a = sqrt(K) i_a``.

Keys of the form not in use must be absent; switching ``coupling`` in an override drops
the other form's keys from the layer below.
"""

from .fields import (
    CONNECTIVITY_RULES,
    COUPLING_FORMS,
    DEFAULT_PRESET,
    FIELDS,
    KNOWN_KEYS,
    MAX_NEURONS,
    MAX_PARAMETER_FILE_BYTES,
    MAX_STEPS,
    NEST_TIC_MS,
    NEURON_MODELS,
    SCALED_KEYS,
    SYNAPSE_MODELS,
    TUTORIAL_KEYS,
    ParamError,
    Params,
)
from .sources import (
    describe,
    load_preset,
    load_toml_file,
    parse_set,
    preset_names,
    read_toml,
    replace,
    resolve,
    to_toml,
)
from .validation import validate

__all__ = [
    "CONNECTIVITY_RULES",
    "COUPLING_FORMS",
    "DEFAULT_PRESET",
    "FIELDS",
    "KNOWN_KEYS",
    "MAX_NEURONS",
    "MAX_PARAMETER_FILE_BYTES",
    "MAX_STEPS",
    "NEST_TIC_MS",
    "NEURON_MODELS",
    "SCALED_KEYS",
    "SYNAPSE_MODELS",
    "TUTORIAL_KEYS",
    "ParamError",
    "Params",
    "describe",
    "load_preset",
    "load_toml_file",
    "parse_set",
    "preset_names",
    "read_toml",
    "replace",
    "resolve",
    "to_toml",
    "validate",
]
