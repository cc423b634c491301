"""Which Jinja templates NESTML generates the model's C++ from.

Two variants (``build_model(templates=...)``, ``balanced build --templates``):

- ``"balanced"`` (default): the package's copy of NESTML 9.0.0's ``point_neuron``
  template tree (``balanced/build/nestml-templates/point_neuron/``), given to NESTML through its
  extension point ``codegen_opts["templates"]``. A few files are changed so that the
  generated update and spike handler do what iaf_psc_exp's do (one ring of per-step slots
  for all ports, no "received" flag, onReceive blocks inlined in every step, a spike
  handler without a branch); ``nestml-templates/README.md`` lists the changes and why.
- ``"stock"``: NESTML's own templates, for A/B comparison. Its module and model have their
  own names (:data:`VARIANTS`), so both variants can be installed in one NEST kernel.

``nestml-templates/UPSTREAM.json`` records the SHA-256 of every file of the upstream tree the
copy was made from. Before a build with the package's templates, the installed NESTML's
tree is compared with it (:func:`check_upstream`): a NESTML whose templates differ may
generate code the copy does not fit, so the build stops with a one-line
:class:`BuildError` naming that NESTML's version, never silently slower or wrong.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .base import MODEL_SUFFIX, MODULE_NAME, BuildError
from .cache import sha

#: Folder holding the package's template tree and the record of its upstream.
TEMPLATES_DIR = Path(__file__).resolve().parent / "nestml-templates"
TREE = TEMPLATES_DIR / "point_neuron"
UPSTREAM_FILE = TEMPLATES_DIR / "UPSTREAM.json"
#: Where NESTML keeps the same tree, relative to the ``pynestml`` package folder.
UPSTREAM_SUBDIR = Path("codegeneration", "resources_nest", "point_neuron")


@dataclass(frozen=True)
class Variant:
    """A template variant: the NEST module name and NESTML model suffix it builds."""

    name: str
    module_name: str
    suffix: str


VARIANTS = {
    "balanced": Variant("balanced", MODULE_NAME, MODEL_SUFFIX),
    "stock": Variant("stock", "balancedstockmodule", MODEL_SUFFIX + "_stock"),
}


def variant(name: str) -> Variant:
    """The :class:`Variant` called ``name``; :class:`BuildError` for another name."""
    try:
        return VARIANTS[name]
    except (KeyError, TypeError):
        raise BuildError(f"templates: {name!r} is not a template variant; allowed: {', '.join(VARIANTS)}") from None


def tree_hashes(root: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of every file under ``root`` (bytecode caches aside)."""
    return {
        p.relative_to(root).as_posix(): sha(p.read_bytes())
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def upstream_record() -> dict:
    """The contents of ``UPSTREAM.json``: ``nestml_version``, ``added`` (the package's own
    files), ``changed`` (the files the
    package's copy changes) and ``files`` (``{path: sha256}`` of the upstream tree)."""
    return json.loads(UPSTREAM_FILE.read_text())


def codegen_templates(v: Variant) -> dict | None:
    """``codegen_opts["templates"]`` for NESTML (the whole dict: NESTML replaces, not
    merges, it), or None for NESTML's own templates."""
    if v.name == "stock":
        return None
    return {
        "path": str(TREE),
        "model_templates": {
            "neuron": ["@NEURON_NAME@.cpp.jinja2", "@NEURON_NAME@.h.jinja2"],
            "synapse": ["@SYNAPSE_NAME@.h.jinja2"],
        },
        "module_templates": ["setup"],
    }


def key_inputs(v: Variant, nestml_dir: str | None) -> dict:
    """What the generated code depends on besides the model and NESTML's version: the
    variant and the hash of the tree it generates from (part of the cache key)."""
    root = TREE if v.name == "balanced" else (Path(nestml_dir) / UPSTREAM_SUBDIR if nestml_dir else None)
    tree = tree_hashes(root) if root is not None and root.is_dir() else {}
    return {
        "templates": v.name,
        "module_name": v.module_name,
        "suffix": v.suffix,
        "templates_sha256": sha(json.dumps(tree, sort_keys=True).encode()),
    }


def _listing(paths: list[str]) -> str:
    return ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")


def check_upstream(v: Variant, nestml_dir: str | None, nestml_version: str | None) -> None:
    """For the package's templates: raise :class:`BuildError` unless the installed NESTML's
    ``point_neuron`` tree is the one they were made from and the copy is complete."""
    if v.name != "balanced":
        return
    record = upstream_record()
    made_from = record["nestml_version"]
    ours = set(tree_hashes(TREE))
    missing = sorted(set(record["files"]) - ours)
    if missing:
        raise BuildError(
            f"The package's NESTML templates in {TREE} are incomplete (missing {_listing(missing)}): "
            "reinstall balanced."
        )
    root = Path(nestml_dir) / UPSTREAM_SUBDIR if nestml_dir else None
    installed = tree_hashes(root) if root is not None and root.is_dir() else {}
    differ = sorted(p for p in set(installed) | set(record["files"]) if installed.get(p) != record["files"].get(p))
    if differ:
        raise BuildError(
            f"The point_neuron templates of the installed NESTML {nestml_version} ({root}) differ from the "
            f"NESTML {made_from} ones that balanced's templates are made from (differing: {_listing(differ)}): "
            f"install nestml=={made_from}, or build with NESTML's own templates (`balanced build --templates stock`)."
        )


def record_upstream(upstream_root: Path, nestml_version: str, changed: list[str], added: list[str]) -> None:
    """Write ``UPSTREAM.json`` for a new upstream tree (when the copy is redone for another
    NESTML: see ``nestml-templates/README.md``): ``changed`` upstream files, ``added`` files
    of the package's own."""
    text = json.dumps(
        {
            "nestml_version": nestml_version,
            "upstream": f"pynestml/{UPSTREAM_SUBDIR.as_posix()}",
            "changed": sorted(changed),
            "added": sorted(added),
            "files": tree_hashes(upstream_root),
        },
        indent=1,
        sort_keys=True,
    )
    UPSTREAM_FILE.write_text(text + "\n")
