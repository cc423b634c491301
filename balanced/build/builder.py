"""``build_model``: the cached module for this NEST, built once when it is missing.

Order of work: read the model, learn about the NEST (:mod:`.facts`), compute the cache
key (:mod:`.cache`); a valid stamp is a cache hit (a few ms, nothing imported). Else,
unless this is one of several MPI ranks (which never build), check the toolchain and the
templates, then generate and compile (:mod:`.generation`) under the key's lock into a
temporary folder that is renamed into place with its stamp.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from ..launch import mpi_world_size_from_env
from . import cache, generation, toolchain, variants
from .base import NESTML_INSTALL_HINT, BuildError, BuildResult, logger, read_model
from .facts import locate, nest_facts, resolve_python
from .in_target import generate as _generate_script


def build_inputs(v: variants.Variant, facts: dict, nestml_dir: str | None) -> dict:
    """The build's own inputs to the cache key: compiler, flags, templates and generator."""
    return {
        "cflags": toolchain.cflags(facts),
        "compiler": toolchain.compiler(),
        "generator_sha256": cache.sha(Path(_generate_script.__file__).read_bytes()),
        **variants.key_inputs(v, nestml_dir),
    }


def model_key(model_file, cache_dir, python: str | None, templates: str, *, allow_probe: bool) -> dict:
    """What names the module of one model, NEST and template variant: ``model`` (the NEST
    model name), ``key``, ``inputs``, ``directory``, ``facts``, ``loc`` and more."""
    v = variants.variant(templates)
    model_path, source, name = read_model(model_file)
    root = cache.cache_root(cache_dir)
    python = resolve_python(python)
    loc = locate(python)
    facts = nest_facts(python, root, allow_probe=allow_probe, loc=loc)
    model = name + v.suffix
    key, inputs = cache.cache_key(model, source, facts, build_inputs(v, facts, loc.get("nestml_dir")))
    return {
        "variant": v,
        "model_path": model_path,
        "source": source,
        "model": model,
        "root": root,
        "python": python,
        "loc": loc,
        "facts": facts,
        "key": key,
        "inputs": inputs,
        "directory": root / key,
    }


def cached_model(model_file=None, cache_dir=None, templates: str = "balanced") -> BuildResult | None:
    """The module already built for this process's NEST, or None: never builds, never probes
    (a few ms). A run of a built-in neuron loads it for its connection rule only."""
    t0 = time.perf_counter()
    try:
        m = model_key(model_file, cache_dir, None, templates, allow_probe=False)
    except BuildError:  # no NEST facts cached yet, or no cache: nothing built for this NEST
        return None
    stamp = cache.valid_stamp(m["directory"], m["key"], m["inputs"])
    return cache.result(m["directory"], stamp, True, t0) if stamp else None


def build_model(
    force: bool = False,
    model_file: str | os.PathLike | None = None,
    cache_dir: str | None = None,
    python: str | None = None,
    log=None,
    templates: str = "balanced",
) -> BuildResult:
    """Build (or fetch from the cache) the NEST module holding the NESTML neuron.

    ``python`` is the interpreter whose NEST the module is for (default: this one).
    ``force`` rebuilds even when the cache is current. ``templates``: ``"balanced"`` (the
    package's templates, the fast spike input) or ``"stock"`` (NESTML's own, for A/B
    comparison; model ``lif_psc_exp_nestml_stock``). Under MPI with more than one rank
    nothing is ever built: the cached module is returned, or :class:`BuildError` raised.
    """
    t0 = time.perf_counter()
    say = logger(log)
    ranks = mpi_world_size_from_env()
    m = model_key(model_file, cache_dir, python, templates, allow_probe=ranks <= 1)
    key, inputs, directory, root = m["key"], m["inputs"], m["directory"], m["root"]
    if not force:
        stamp = cache.valid_stamp(directory, key, inputs)
        if stamp:
            return cache.result(directory, stamp, True, t0)
    if ranks > 1:
        stale = " (the cached one is incomplete or stale)" if directory.exists() else ""
        raise BuildError(
            f"The module for {m['model']} is not built for this NEST{stale}, and this process is one of "
            f"{ranks} MPI ranks: building under MPI would make every rank compile into the same folder.\n"
            f"Run `balanced build` first, in a single process (same environment, cache {root})."
        )
    facts, python, v = m["facts"], m["python"], m["variant"]
    toolchain.check(facts, python)
    if not facts.get("nestml_version"):
        raise BuildError(f"NESTML is not installed for {python}. {NESTML_INSTALL_HINT}")
    variants.check_upstream(v, m["loc"].get("nestml_dir"), facts.get("nestml_version"))

    with cache.locked(root / ".locks" / f"{key}.lock", say):
        if not force:
            stamp = cache.valid_stamp(directory, key, inputs)
            if stamp:  # another process built it while we waited
                return cache.result(directory, stamp, True, t0)
        workdir = cache.new_workdir(root, key)
        log_file = root / f"{key}.build.log"
        try:
            tb = time.perf_counter()
            generation.compile_module(m["model_path"], m["source"], facts, python, workdir, log_file, say, v)
            os.replace(log_file, workdir / "build.log")
            stamp = {
                "key": key,
                "model": m["model"],
                "module_name": v.module_name,
                "templates": v.name,
                "model_file": str(m["model_path"]),
                "inputs": inputs,
                "nest_dir": facts["nest_dir"],
                "python": python,
                "build_seconds": round(time.perf_counter() - tb, 3),
                "built": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
            cache.commit(workdir, directory, stamp)
        except BaseException:
            shutil.rmtree(workdir, ignore_errors=True)
            raise
    say(f"built {m['model']} into {directory} in {stamp['build_seconds']:.1f} s")
    return cache.result(directory, stamp, False, t0)
