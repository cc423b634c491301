"""Sweep specification: the TOML file read and checked, its grid points and seed replicates.

See :mod:`balanced.sweep` for the file format. Everything here is pure (no NEST, no files
written): a bad specification is refused before anything runs, with one line naming the
field, the value and what is allowed.
"""

from __future__ import annotations

import itertools
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..params import KNOWN_KEYS, ParamError, Params, read_toml, replace, resolve, validate

DERIVED_KEYS = ("g", "d", "K")
SPEC_TOP_KEYS = ("name", "description", "preset", "fixed", "sweep", "options", "analysis")
OPTION_KEYS = ("scale_N_with_K", "seeds")
ANALYSIS_KEYS = ("t_start", "t_stop")
MAX_SEEDS = 1000
SEED_LIMIT = 2**31  # NEST's rng_seed is below this

# A name that becomes a folder: one path component, no traversal, no shell or glob characters.
_SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+=-]{0,199}")
SAFE_NAME_RULE = (
    "one folder name of letters, digits and '_ . + = -' (up to 200 characters, "
    "not starting with '.' or '-', no '/', no '..')"
)


def is_safe_name(name: Any) -> bool:
    """True when ``name`` can only ever mean one folder inside its parent (:data:`SAFE_NAME_RULE`)."""
    return isinstance(name, str) and _SAFE_NAME.fullmatch(name) is not None and ".." not in name


@dataclass(frozen=True)
class SweepSpec:
    """A checked sweep file: the grid (``axes``, in file order), the base (preset + ``fixed``),
    the seeds of the replicates and the analysis window (ms, None = analysis default)."""

    name: str
    preset: str
    fixed: dict[str, Any]
    axes: tuple[tuple[str, tuple[Any, ...]], ...]
    description: str = ""
    scale_N_with_K: bool = True
    seeds: tuple[int, ...] | None = None  # None: one run per point with the base seed
    t_start: float | None = None
    t_stop: float | None = None
    source: str = "<dict>"

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(k for k, _ in self.axes)

    def as_dict(self) -> dict[str, Any]:
        options: dict[str, Any] = {"scale_N_with_K": self.scale_N_with_K}
        if self.seeds is not None:
            options["seeds"] = list(self.seeds)
        return {
            "name": self.name,
            "description": self.description,
            "preset": self.preset,
            "fixed": dict(self.fixed),
            "sweep": {k: list(v) for k, v in self.axes},
            "options": options,
            "analysis": {"t_start": self.t_start, "t_stop": self.t_stop},
            "source": self.source,
        }


def load_spec(path: str | os.PathLike) -> SweepSpec:
    """Read and check a sweep file; :class:`ParamError` with the file name on any problem.

    The default name is the file's stem, which must itself be a safe folder name."""
    path = Path(path)
    return parse_spec(read_toml(path, "sweep file"), source=str(path), default_name=path.stem)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _parse_seeds(where: str, value: Any, base_seed: int) -> tuple[int, ...]:
    if _is_int(value):
        if not 1 <= value <= MAX_SEEDS:
            raise ParamError(
                f"{where}: options.seeds = {value!r}: must be an integer 1..{MAX_SEEDS} or a list of distinct seeds"
            )
        seeds = tuple(base_seed + i for i in range(value))
        if seeds[-1] >= SEED_LIMIT:
            raise ParamError(
                f"{where}: options.seeds = {value}: the seeds {base_seed}..{seeds[-1]} reach "
                f"NEST's limit {SEED_LIMIT}; use a smaller base seed or a list"
            )
        return seeds
    if isinstance(value, list) and value and all(_is_int(s) and 1 <= s < SEED_LIMIT for s in value):
        if len(set(value)) != len(value):
            raise ParamError(f"{where}: options.seeds = {value!r}: repeated seeds")
        return tuple(value)
    raise ParamError(
        f"{where}: options.seeds = {value!r}: must be an integer 1..{MAX_SEEDS} (that many seeds "
        f"from the base seed on) or a non-empty list of distinct integers 1..{SEED_LIMIT - 1}"
    )


def parse_spec(doc: dict[str, Any], source: str = "<dict>", default_name: str = "sweep") -> SweepSpec:
    """Check a parsed sweep document (see :mod:`balanced.sweep`) and return its :class:`SweepSpec`."""
    where = f"sweep file {source!r}"
    unknown = [k for k in doc if k not in SPEC_TOP_KEYS]
    if unknown:
        raise ParamError(
            f"{where}: unknown top-level key{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(map(repr, unknown))}; allowed: {', '.join(SPEC_TOP_KEYS)}"
        )
    for table in ("fixed", "sweep", "options", "analysis"):
        if table in doc and not isinstance(doc[table], dict):
            raise ParamError(f"{where}: '{table}' must be a table ([{table}])")
    name = doc.get("name", default_name)
    if not is_safe_name(name):
        field = "name" if "name" in doc else "name (from the file name)"
        raise ParamError(f"{where}: {field} = {name!r}: must be {SAFE_NAME_RULE}")
    preset = doc.get("preset", "tutorial")
    if not isinstance(preset, str):
        raise ParamError(f"{where}: 'preset' must be a preset name (string)")
    fixed = dict(doc.get("fixed", {}))
    bad = [k for k in fixed if k not in KNOWN_KEYS]
    if bad:
        raise ParamError(
            f"{where}: unknown parameter{'s' if len(bad) > 1 else ''} {', '.join(map(repr, bad))} "
            f"in [fixed]; known parameters: {', '.join(KNOWN_KEYS)} (g, d, K factors only in [sweep])"
        )
    sweep = doc.get("sweep")
    if not sweep:
        raise ParamError(
            f"{where}: no [sweep] table (or it is empty); give at least one key with a list of values, "
            "e.g. [sweep] K = [100, 200]"
        )
    axes = []
    for key, values in sweep.items():
        if key not in KNOWN_KEYS and key not in DERIVED_KEYS:
            raise ParamError(
                f"{where}: unknown swept key {key!r}; use a parameter key ({', '.join(KNOWN_KEYS)}) "
                f"or a sweep factor ({', '.join(DERIVED_KEYS)})"
            )
        if not isinstance(values, list) or not values:
            raise ParamError(f"{where}: [sweep] {key} must be a non-empty list of values, got {values!r}")
        if key in fixed:
            raise ParamError(f"{where}: {key!r} is both fixed and swept")
        if key in ("g", "d") and not all(_is_number(v) and v >= 0 for v in values):
            raise ParamError(f"{where}: [sweep] {key} factors must be numbers >= 0, got {values!r}")
        if key == "K" and not all(_is_int(v) and v >= 1 for v in values):
            raise ParamError(f"{where}: [sweep] K values must be integers >= 1, got {values!r}")
        if len({_fmt_value(v) for v in values}) != len(values):
            raise ParamError(f"{where}: [sweep] {key} has repeated values {values!r}")
        axes.append((key, tuple(values)))
    options = doc.get("options", {})
    bad = [k for k in options if k not in OPTION_KEYS]
    if bad:
        raise ParamError(
            f"{where}: unknown option{'s' if len(bad) > 1 else ''} {', '.join(map(repr, bad))}; "
            f"allowed: {', '.join(OPTION_KEYS)}"
        )
    scale = options.get("scale_N_with_K", True)
    if not isinstance(scale, bool):
        raise ParamError(f"{where}: options.scale_N_with_K must be true or false")
    analysis = doc.get("analysis", {})
    bad = [k for k in analysis if k not in ANALYSIS_KEYS]
    if bad:
        raise ParamError(
            f"{where}: unknown analysis key{'s' if len(bad) > 1 else ''} {', '.join(map(repr, bad))}; "
            f"allowed: {', '.join(ANALYSIS_KEYS)}"
        )
    for k in ANALYSIS_KEYS:
        if k in analysis and not _is_number(analysis[k]):
            raise ParamError(f"{where}: analysis.{k} must be a number (ms)")
    keys = [k for k, _ in axes]
    conflicts: dict[str, tuple[str, ...]] = {"g": ("j_EI", "j_II", "J_I"), "d": ("i_E", "i_I", "Ib")}
    if "K" in keys and scale:
        conflicts["K"] = ("N_E", "N_I")
    for factor, clash in conflicts.items():
        both = [c for c in clash if factor in keys and c in keys]
        if both:
            raise ParamError(
                f"{where}: swept factor {factor!r} sets {', '.join(clash)}; do not sweep "
                f"{', '.join(map(repr, both))} with it"
            )
    seeds = None
    if "seeds" in options:
        if "seed" in keys:
            raise ParamError(f"{where}: options.seeds and a swept 'seed' both set the seed; give one of them")
        try:
            base_seed = int(validate({**resolve(preset).to_dict(), **fixed}).seed)
        except ParamError:
            base_seed = 1  # the base itself is refused below, with its own message
        seeds = _parse_seeds(where, options["seeds"], base_seed)
    spec = SweepSpec(
        name=name,
        preset=preset,
        fixed=fixed,
        axes=tuple(axes),
        description=str(doc.get("description", "")),
        scale_N_with_K=scale,
        seeds=seeds,
        t_start=analysis.get("t_start"),
        t_stop=analysis.get("t_stop"),
        source=source,
    )
    points(spec)  # every point must validate now, before anything runs
    return spec


# =========================================================================== points
def _fmt_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    s = str(v)
    return "".join(c if c.isalnum() or c in "-.+" else "-" for c in s)


def point_name(assignment: dict[str, Any]) -> str:
    """Folder name of a grid point: ``key=value`` joined by ``__`` (spec order, %g numbers)."""
    return "__".join(f"{k}={_fmt_value(v)}" for k, v in assignment.items())


def base_params(spec: SweepSpec) -> Params:
    """The preset with the ``[fixed]`` overrides."""
    base = resolve(spec.preset)
    return replace(base, **spec.fixed) if spec.fixed else base


# the parameters each factor multiplies: (scaled coupling form, tutorial form)
FACTOR_KEYS = {
    "g": (("j_EI", "j_II"), ("J_I",)),  # inhibition
    "d": (("i_E", "i_I"), ("Ib",)),
}  # drive


def apply_point(base: Params, assignment: dict[str, Any], scale_N_with_K: bool = True) -> Params:
    """Parameters of one point: plain keys set, then the factors g, d and K applied to ``base``."""
    changes = {k: v for k, v in assignment.items() if k not in DERIVED_KEYS}
    scaled = base.coupling == "scaled" if "coupling" not in changes else changes["coupling"] == "scaled"
    ref = validate({**base.to_dict(), **changes}) if changes else base
    for factor, keys in FACTOR_KEYS.items():
        if factor in assignment:
            value = float(assignment[factor])
            changes.update({k: getattr(ref, k) * value for k in keys[0 if scaled else 1]})
    if "K" in assignment:
        if not scaled:
            raise ParamError(
                "sweep factor 'K' needs coupling = \"scaled\" (the tutorial form sets K = p N; "
                "sweep 'p' or 'N_E'/'N_I' there)"
            )
        K = int(assignment["K"])
        changes["K"] = K
        if scale_N_with_K:
            assert ref.K is not None  # the scaled form has K (validated)
            changes["N_E"] = max(1, int(round(K * ref.N_E / ref.K)))
            changes["N_I"] = max(1, int(round(K * ref.N_I / ref.K)))
            if ref.record_n > min(changes["N_E"], changes["N_I"]):
                changes["record_n"] = min(changes["N_E"], changes["N_I"])
    return replace(base, **changes)


@dataclass(frozen=True)
class Point:
    """One run of the sweep: a grid point (``group``, its ``assignment``) with one seed.

    ``name`` is the run's folder under ``points/``: the grid point's name, followed by
    ``__seed=S`` when the sweep has seed replicates."""

    index: int
    name: str
    assignment: dict[str, Any]
    params: Params
    group: str = ""
    seed: int | None = None


def points(spec: SweepSpec) -> list[Point]:
    """All runs: the product of the swept values (first key slowest), each with every seed of
    ``options.seeds`` (innermost), validated; every folder name checked to be safe."""
    base = base_params(spec)
    out: list[Point] = []
    keys = spec.keys
    for combo in itertools.product(*(v for _, v in spec.axes)):
        assignment = dict(zip(keys, combo, strict=True))
        group = point_name(assignment)
        if not is_safe_name(group):
            raise ParamError(
                f"sweep {spec.name!r}: point name {group!r} (built from the swept values): "
                f"must be {SAFE_NAME_RULE}; change the value"
            )
        try:
            params = apply_point(base, assignment, spec.scale_N_with_K)
        except ParamError as exc:
            raise ParamError(f"sweep {spec.name!r}, point {group}: {exc}") from None
        if spec.seeds is None:
            out.append(Point(len(out), group, assignment, params, group, None))
            continue
        for seed in spec.seeds:
            out.append(Point(len(out), f"{group}__seed={seed}", assignment, replace(params, seed=seed), group, seed))
    return out


def groups(pts: list[Point]) -> dict[str, list[Point]]:
    """The runs of each grid point, in grid order."""
    out: dict[str, list[Point]] = {}
    for p in pts:
        out.setdefault(p.group, []).append(p)
    return out
