"""Validation: types, ranges and the relations between parameters, including what NEST
would loop on or reject (see :mod:`balanced.params`)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from .fields import (
    CONNECTIVITY_RULES,
    COUPLING_FORMS,
    FIELDS,
    MAX_NEURONS,
    MAX_STEPS,
    NEST_TIC_MS,
    NEURON_MODELS,
    SCALED_KEYS,
    SYNAPSE_MODELS,
    TUTORIAL_KEYS,
    ParamError,
    Params,
)


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
