"""Where parameters come from: presets, TOML files and ``--set key=value``, layered and
validated (:func:`resolve`), and the TOML written back (:func:`to_toml`)."""

from __future__ import annotations

import tomllib
from dataclasses import fields
from importlib import resources
from pathlib import Path
from typing import Any

from ..names import hints
from .fields import (
    DEFAULT_PRESET,
    FIELDS,
    KNOWN_KEYS,
    MAX_PARAMETER_FILE_BYTES,
    SCALED_KEYS,
    TUTORIAL_KEYS,
    ParamError,
    Params,
)
from .validation import validate


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
