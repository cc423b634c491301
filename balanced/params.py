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

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

from .names import hints

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
        "NEST synapse: 'static_synapse' (fastest delivery, ~48 B/synapse), 'static_synapse_hom_w', 'static_synapse_hom_w_hpc' (one weight per projection, ~23 B/synapse) or 'auto' (static_synapse unless the connections would take over a quarter of the memory)",
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
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


FIELDS = {f.name: f for f in fields(Params)}
KNOWN_KEYS = tuple(FIELDS)


# --------------------------------------------------------------------------- types
def _type_name(f: dataclasses.Field) -> str:
    t = str(f.type)
    return {
        "int": "an integer",
        "float": "a number",
        "bool": "true or false",
        "str": "a string",
        "int | None": "an integer",
        "float | None": "a number",
    }[t]


def _coerce(key: str, value: Any) -> Any:
    """Check the TOML type of ``value`` for ``key``; ints are accepted where floats are."""
    f = FIELDS[key]
    t = str(f.type).replace(" | None", "")
    ok = {
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, (int, float)) and not isinstance(value, bool),
        "bool": isinstance(value, bool),
        "str": isinstance(value, str),
    }[t]
    if not ok:
        raise ParamError(f"parameter {key!r} = {value!r} ({type(value).__name__}): must be {_type_name(f)}")
    if t == "float":
        value = float(value)
        if not math.isfinite(value):
            raise ParamError(f"parameter {key!r} = {value!r}: must be a finite number")
    return value


# --------------------------------------------------------------------------- layers
def _check_known(layer: dict[str, Any], source: str) -> None:
    unknown = [k for k in layer if k not in FIELDS]
    if unknown:
        raise ParamError(
            f"unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(repr(k) for k in unknown)} in {source}"
            f"{hints(unknown, KNOWN_KEYS)}; known parameters: {', '.join(KNOWN_KEYS)}"
        )


def _overlay(base: dict[str, Any], layer: dict[str, Any]) -> dict[str, Any]:
    """Apply ``layer`` on ``base``; a layer that switches ``coupling`` drops the old form's keys."""
    merged = dict(base)
    if "coupling" in layer and layer["coupling"] != base.get("coupling"):
        for key in TUTORIAL_KEYS + SCALED_KEYS:
            merged.pop(key, None)
    merged.update(layer)
    return merged


def preset_names() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("balanced.presets").iterdir() if p.name.endswith(".toml"))


def load_preset(name: str) -> dict[str, Any]:
    names = preset_names()
    if name not in names:
        raise ParamError(f"preset {name!r} does not exist; presets: {', '.join(names)}")
    text = resources.files("balanced.presets").joinpath(f"{name}.toml").read_text()
    layer = tomllib.loads(text)
    _check_known(layer, f"preset {name!r}")
    return layer


def read_toml(path: str | Path, what: str = "parameter file") -> dict[str, Any]:
    """Read a TOML file; unreadable or malformed files give a :class:`ParamError` naming it.

    Only a regular file of at most :data:`MAX_PARAMETER_FILE_BYTES` in UTF-8 is read (a
    FIFO would block, ``/dev/zero`` never ends).
    """
    path = Path(path)
    try:
        if not path.is_file():
            kind = "does not exist" if not path.exists() else "is not a regular file"
            raise ParamError(f"{what} {str(path)!r} cannot be read: {kind}")
        if path.stat().st_size > MAX_PARAMETER_FILE_BYTES:
            raise ParamError(
                f"{what} {str(path)!r} is larger than {MAX_PARAMETER_FILE_BYTES >> 20} MiB; "
                "parameter files are short TOML texts"
            )
        data = path.read_bytes()
    except OSError as exc:
        raise ParamError(f"{what} {str(path)!r} cannot be read: {exc.strerror}") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParamError(f"{what} {str(path)!r} is not UTF-8 text (byte {exc.start}); TOML files are UTF-8") from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ParamError(f"{what} {str(path)!r} is not valid TOML: {exc}") from exc


def load_toml_file(path: str | Path) -> dict[str, Any]:
    """Read a parameter file; malformed TOML and non-flat tables give a :class:`ParamError`."""
    path = Path(path)
    layer = read_toml(path)
    tables = [k for k, v in layer.items() if isinstance(v, dict)]
    if tables:
        raise ParamError(
            f"parameter file {str(path)!r}: tables {tables} are not allowed; parameters are flat 'key = value' lines"
        )
    _check_known(layer, f"parameter file {str(path)!r}")
    return layer


def parse_set(items: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Parse ``--set key=value`` items; values are TOML literals, bare words are strings."""
    layer: dict[str, Any] = {}
    for item in items:
        if "\n" in item or "\r" in item:
            raise ParamError(f"--set {item!r}: must be one line (key=value without a line break)")
        key, sep, raw = item.partition("=")
        key, raw = key.strip(), raw.strip()
        if not sep or not key:
            raise ParamError(f"--set {item!r}: expected key=value, for example --set N_E=1000")
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw  # a bare word such as iaf_psc_exp
        layer[key] = value
    _check_known(layer, "--set")
    return layer


# --------------------------------------------------------------------------- validation
def _require(cond: bool, key: str, value: Any, allowed: str) -> None:
    if not cond:
        raise ParamError(f"parameter {key!r} = {value!r}: {allowed}")


def _is_multiple(x: float, step: float) -> bool:
    n = round(x / step)
    return n >= 1 and abs(n * step - x) <= 1e-9 * max(1.0, abs(x))


def validate(values: dict[str, Any]) -> Params:
    """Check every value and the relations between them; return the immutable :class:`Params`."""
    values = {k: _coerce(k, v) for k, v in values.items()}
    form = values.get("coupling", "tutorial")
    _require(form in COUPLING_FORMS, "coupling", form, f"must be one of {', '.join(COUPLING_FORMS)}")
    own, other = (TUTORIAL_KEYS, SCALED_KEYS) if form == "tutorial" else (SCALED_KEYS, TUTORIAL_KEYS)
    stray = [k for k in other if k in values]
    if stray:
        raise ParamError(
            f"parameter{'s' if len(stray) > 1 else ''} {', '.join(map(repr, stray))} belong{'' if len(stray) > 1 else 's'} to the "
            f"{'scaled' if form == 'tutorial' else 'tutorial'} coupling form, but coupling = {form!r} "
            f"uses {', '.join(own)}; set coupling accordingly or remove them"
        )
    missing = [k for k in own if k not in values]
    if missing:
        raise ParamError(f"coupling = {form!r} needs {', '.join(map(repr, missing))} (missing)")
    p = Params(**values)

    _require(
        p.neuron_model in NEURON_MODELS, "neuron_model", p.neuron_model, f"must be one of {', '.join(NEURON_MODELS)}"
    )
    _require(
        p.connectivity in CONNECTIVITY_RULES,
        "connectivity",
        p.connectivity,
        f"must be one of {', '.join(CONNECTIVITY_RULES)}",
    )
    _require(
        p.synapse_model in SYNAPSE_MODELS,
        "synapse_model",
        p.synapse_model,
        f"must be one of {', '.join(SYNAPSE_MODELS)}",
    )
    for key in ("N_E", "N_I"):
        _require(getattr(p, key) > 0, key, getattr(p, key), "must be an integer > 0")
    _require(
        p.N_E + p.N_I <= MAX_NEURONS,
        "N_E",
        p.N_E,
        f"N_E + N_I = {p.N_E + p.N_I}: must be <= {MAX_NEURONS} (neuron indices are stored as int32)",
    )
    if form == "tutorial":
        prob = values["p"]
        _require(0 < prob <= 1, "p", prob, "must be in (0, 1]")
        for key, n in (("N_E", p.N_E), ("N_I", p.N_I)):
            k = prob * n
            _require(k >= 1 - 1e-9, "p", prob, f"gives in-degree p * {key} = {k:g}; must be >= 1")
            if p.connectivity == "fixed_indegree":
                _require(
                    abs(k - round(k)) < 1e-9,
                    "p",
                    prob,
                    f"with connectivity 'fixed_indegree' p * {key} = {k:g} must be a whole number of inputs",
                )
    else:
        _require(values["K"] >= 1, "K", values["K"], "must be an integer >= 1")
    _check_degrees(p)
    for key in ("tau", "tau_s", "dt", "T", "record_interval"):
        _require(getattr(p, key) > 0, key, getattr(p, key), "must be > 0")
    _require(p.t_ref >= 0, "t_ref", p.t_ref, "must be >= 0")
    _require(p.V_init_sd >= 0, "V_init_sd", p.V_init_sd, "must be >= 0")
    _require(p.V_reset < p.V_th, "V_reset", p.V_reset, f"must be below V_th = {p.V_th}")
    _require(
        abs(p.tau - p.tau_s) > 1e-9,
        "tau_s",
        p.tau_s,
        f"must differ from tau = {p.tau} (the exact-integration propagator of the NESTML model is singular when tau_s == tau)",
    )
    _require(
        _is_multiple(p.dt, NEST_TIC_MS),
        "dt",
        p.dt,
        f"must be a multiple of NEST's time step unit (tic) of {NEST_TIC_MS} ms",
    )
    if p.tau_s_I is not None:
        _require(p.tau_s_I > 0, "tau_s_I", p.tau_s_I, "must be > 0 ms")
        _require(
            abs(p.tau - p.tau_s_I) > 1e-9,
            "tau_s_I",
            p.tau_s_I,
            f"must differ from tau = {p.tau} (the exact-integration propagator is singular when tau_s_I == tau)",
        )
    _require(_is_multiple(p.T, p.dt), "T", p.T, f"must be a positive multiple of dt = {p.dt}")
    _require(p.t_ref == 0 or _is_multiple(p.t_ref, p.dt), "t_ref", p.t_ref, f"must be 0 or a multiple of dt = {p.dt}")
    _require(p.T / p.dt <= MAX_STEPS, "T", p.T, f"T / dt = {p.T / p.dt:.3g} steps: must be <= {MAX_STEPS:.0e}")
    _require(p.delay >= p.dt - 1e-12, "delay", p.delay, f"must be >= dt = {p.dt}")
    _require(_is_multiple(p.delay, p.dt), "delay", p.delay, f"must be a multiple of dt = {p.dt}")
    _require(
        _is_multiple(p.record_interval, p.dt),
        "record_interval",
        p.record_interval,
        f"must be a multiple of dt = {p.dt}",
    )
    _require(p.nu_ext >= 0, "nu_ext", p.nu_ext, "must be >= 0 Hz")
    _require(p.seed >= 1, "seed", p.seed, "must be an integer >= 1 (NEST's rng_seed)")
    _require(p.seed < 2**31, "seed", p.seed, "must be < 2**31")
    _require(
        0 <= p.record_n <= min(p.N_E, p.N_I),
        "record_n",
        p.record_n,
        f"must be between 0 and the smaller population size {min(p.N_E, p.N_I)}",
    )
    return p


def _check_degrees(p: Params) -> None:
    """Without multapses a neuron cannot get more distinct inputs than there are sources
    (one fewer from its own population without autapses): NEST's connect loop would never
    end. The out-degree rule likewise counts targets."""
    if p.allow_multapses or p.connectivity == "pairwise_bernoulli":
        if not p.allow_autapses:
            for key, n in (("N_E", p.N_E), ("N_I", p.N_I)):
                _require(n >= 2, key, n, "must be >= 2 when allow_autapses = false (a neuron needs another source)")
        return
    key = "p" if p.coupling == "tutorial" else "K"
    value = getattr(p, key)
    sizes = {"E": p.N_E, "I": p.N_I}
    for target in ("E", "I"):
        for source in ("E", "I"):
            own = target == source and not p.allow_autapses
            k = float(value) * sizes[source] if p.coupling == "tutorial" else float(value)
            if p.connectivity == "fixed_indegree":
                degree = k
                pool, what = sizes[source] - own, f"inputs from {source}"
            else:  # fixed_outdegree: each source picks p_st * N_target targets (balanced.derived)
                degree = round(k / sizes[source] * sizes[target])
                pool, what = sizes[target] - own, f"targets in {target}"
            if round(degree) > pool:
                who = target if p.connectivity == "fixed_indegree" else source
                rule = "allow_autapses = false and allow_multapses = false" if own else "allow_multapses = false"
                raise ParamError(
                    f"parameter {key!r} = {value!r}: with {p.connectivity} and {rule}, each {who} neuron would "
                    f"need {round(degree)} distinct {what}, but only {pool} exist; lower {key}"
                    f"{', allow autapses' if own else ''} or allow multapses"
                )


def resolve(
    preset: str | None = None, config: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()
) -> Params:
    """Preset, then parameter file, then ``--set`` overrides, validated."""
    values = load_preset(preset or DEFAULT_PRESET)
    if config is not None:
        values = _overlay(values, load_toml_file(config))
    values = _overlay(values, parse_set(list(overrides)))
    return validate(values)


def replace(params: Params, **changes: Any) -> Params:
    """A validated copy with ``changes`` applied (same layering rules as ``--set``)."""
    _check_known(changes, "replace()")
    return validate(_overlay(params.to_dict(), changes))


# --------------------------------------------------------------------------- TOML output
def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, float):
        return repr(value)
    return str(value)


def to_toml(params: Params, header: str | None = None) -> str:
    """The resolved parameters as a commented, flat TOML document (``--config`` reads it back)."""
    lines = [f"# {line}" for line in (header or "").splitlines()]
    group = None
    for f in fields(Params):
        value = getattr(params, f.name)
        if value is None:
            continue
        if f.metadata["group"] != group:
            group = f.metadata["group"]
            lines += ["", f"# ---- {group}"]
        unit = f.metadata["unit"]
        comment = f"{f.metadata['doc']}" + (f" [{unit}]" if unit else "")
        lines.append(f"{f.name} = {_toml_value(value)}  # {comment}")
    return "\n".join(lines).lstrip("\n") + "\n"


def describe() -> list[tuple[str, str, str, str]]:
    """(key, unit, group, description) for every parameter: the README's table."""
    return [(f.name, f.metadata["unit"], f.metadata["group"], f.metadata["doc"]) for f in fields(Params)]
