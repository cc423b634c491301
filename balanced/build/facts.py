"""Facts about the NEST a module is built for, learnt without importing NEST here.

Importing NEST initialises its kernel (and MPI, for an MPI-enabled NEST), so the facts
come from :mod:`balanced.build.in_target.probe` run with the interpreter whose NEST the
module is for, and are cached in ``<cache>/facts/`` keyed by interpreter and NEST folder.
A cached copy is used while the size and modification time of NEST's ``nestkernel_api``
library and the NESTML version are unchanged (a check of a few milliseconds by
:mod:`balanced.build.in_target.locate`, which imports neither).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from ..launch import child_env, mpi_world_size_from_env
from .base import NEST_INSTALL_HINT, BuildError
from .cache import default_cache_dir, sha, write_atomic
from .in_target import locate as _locate_script
from .in_target import probe as _probe_script

_LOCATE = Path(_locate_script.__file__)
_PROBE = Path(_probe_script.__file__)


def resolve_python(python: str | None) -> str:
    """Absolute path of the interpreter ``python`` (a path or a name on PATH; default: this one)."""
    if python is None:
        return sys.executable
    found = shutil.which(python) if os.sep not in python else python
    if not found or not os.path.exists(found):
        raise BuildError(f"Python interpreter {python!r} not found.")
    return os.path.abspath(found)


def locate(python: str) -> dict:
    """Where the interpreter's NEST and NESTML live, without importing them (a few ms)."""
    if python == sys.executable:
        return _locate_script.locate()
    try:
        proc = subprocess.run([python, str(_LOCATE)], capture_output=True, text=True, timeout=60, env=child_env())
    except (OSError, subprocess.TimeoutExpired) as e:
        raise BuildError(f"Cannot run Python interpreter {python}: {e}") from e
    if proc.returncode != 0:
        raise BuildError(f"Cannot run Python interpreter {python}:\n{proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def probe(python: str) -> dict:
    """Import nest in a subprocess of ``python`` and return its build facts."""
    try:
        proc = subprocess.run([python, str(_PROBE)], capture_output=True, text=True, timeout=300, env=child_env())
    except (OSError, subprocess.TimeoutExpired) as e:
        raise BuildError(f"Cannot run Python interpreter {python}: {e}") from e
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith(_probe_script.MARKER)), None)
    if line is None:
        tail = (proc.stdout + proc.stderr).strip()[-2000:]
        raise BuildError(
            f"Importing nest with {python} failed (exit code {proc.returncode}):\n{tail}\n{NEST_INSTALL_HINT}"
        )
    facts = json.loads(line[len(_probe_script.MARKER) :])
    if not facts.get("ok"):
        raise BuildError(f"NEST is not importable with {python}: {facts.get('error')}.\n{NEST_INSTALL_HINT}")
    return facts


def _facts_path(cache_root: Path, loc: dict) -> Path:
    ident = sha(json.dumps([os.path.realpath(loc["python"]), loc["nest_dir"]]).encode())[:16]
    return cache_root / "facts" / f"{ident}.json"


def nest_facts(python: str, cache_root: Path, *, allow_probe: bool = True, loc: dict | None = None) -> dict:
    """NEST facts for ``python``: from the facts cache when NEST is unchanged, else probed.

    ``loc``: what :func:`locate` said about ``python``, if the caller has it already.
    ``allow_probe=False`` (an MPI rank) raises :class:`BuildError` instead of probing.
    """
    loc = loc if loc is not None else locate(python)
    if not loc.get("nest_dir"):
        raise BuildError(f"NEST is not importable with {python}: no module named 'nest'.\n{NEST_INSTALL_HINT}")
    fpath = _facts_path(cache_root, loc)
    try:
        cached = json.loads(fpath.read_text())
        if cached.get("fingerprint") == loc["kernel_so"] and cached.get("nestml_version") == loc["nestml_version"]:
            return cached
    except (OSError, ValueError):
        pass
    if not allow_probe:
        raise BuildError(
            f"The NEST of {python} has not been inspected yet (no facts in {fpath.parent}) and this is "
            f"an MPI run with {mpi_world_size_from_env()} ranks, which never builds or probes.\n"
            "Run `balanced build` first, in a single process."
        )
    facts = probe(python)
    facts["fingerprint"] = loc["kernel_so"]
    facts["nestml_version"] = loc["nestml_version"]
    facts["python"] = python
    fpath.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(fpath, json.dumps(facts, indent=1, sort_keys=True))
    return facts


def cached_nest_facts(python: str | None = None, cache_dir: str | None = None) -> dict | None:
    """What is known about the NEST of ``python`` (``have_mpi``, version, ...) without importing
    it and without a probe; None when it has not been inspected yet (``balanced build`` does)."""
    try:
        root = Path(cache_dir) if cache_dir else default_cache_dir()
        return nest_facts(resolve_python(python), root, allow_probe=False)
    except BuildError:
        return None
