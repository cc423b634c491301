"""``module_status``: what ``balanced doctor`` reports about NEST, NESTML, the toolchain
and the cached module, gathered without importing NEST here and without building."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from ..launch import mpi_world_size_from_env
from .base import BuildError
from .builder import model_key
from .cache import cache_root, read_stamp, valid_stamp
from .facts import locate, resolve_python
from .toolchain import HEADERS, cmake, compiler, missing_headers


def module_status(model_file=None, cache_dir=None, python: str | None = None, templates: str = "balanced") -> dict:
    """A report for ``balanced doctor``: NEST, NESTML, toolchain and the cached module."""
    python = resolve_python(python)
    try:
        root: Path | None = cache_root(cache_dir)
        cache_error = None
    except BuildError as exc:  # reported with the rest, not instead of it
        root, cache_error = None, str(exc)
    status: dict[str, Any] = {
        "python": python,
        "cache_dir": str(root) if root is not None else None,
        "cache_error": cache_error,
        "nest_importable": False,
        "nest_version": None,
        "nest_dir": None,
        "have_mpi": None,
        "have_threads": None,
        "cxx11_abi": None,
        "nest_headers": None,
        "nest_error": None,
        "nestml_version": None,
        "templates": templates,
        "model": None,
        "model_file": None,
        "module_built": False,
        "module_current": False,
        "module_key": None,
        "module_path": None,
        "compiler": shutil.which(compiler()),
        "cmake": shutil.which(cmake()),
        "make": shutil.which("make"),
        "headers": {},
        "missing_debian_packages": [],
        "mpi_world_size": mpi_world_size_from_env(),
    }
    missing_pkgs = set()
    if not status["compiler"] or not status["make"]:
        missing_pkgs.add("build-essential")
    if not status["cmake"]:
        missing_pkgs.add("cmake")
    missing_h = missing_headers()
    status["headers"] = {lib: lib not in missing_h for lib in HEADERS}
    missing_pkgs |= set(missing_h.values())
    status["missing_debian_packages"] = sorted(missing_pkgs)
    status["apt_get"] = f"sudo apt-get install {' '.join(sorted(missing_pkgs))}" if missing_pkgs else None
    if root is None:  # nothing below can be known without the cache
        return status
    try:
        status["nestml_version"] = locate(python).get("nestml_version")
        m = model_key(model_file, root, python, templates, allow_probe=status["mpi_world_size"] <= 1)
    except BuildError as e:
        status["nest_error"] = str(e)
        return status
    facts = m["facts"]
    status.update(
        nest_importable=True,
        nest_version=facts["version"],
        nest_dir=facts["nest_dir"],
        have_mpi=facts.get("have_mpi"),
        have_threads=facts.get("have_threads"),
        cxx11_abi=facts.get("cxx11_abi"),
        nest_headers=facts.get("include_dir"),
        model=m["model"],
        model_file=str(m["model_path"]),
        module_key=m["key"],
    )
    directory = m["directory"]
    if valid_stamp(directory, m["key"], m["inputs"]):
        status.update(module_built=True, module_current=True, module_path=str(directory / m["variant"].module_name))
    else:
        # any other build of the same model in the cache is out of date
        others = [d for d in root.glob(f"{m['model']}-*") if d.is_dir() and read_stamp(d)]
        status["module_built"] = bool(others)
    return status
