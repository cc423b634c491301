"""The module cache: where built modules live, the key that names each, the stamp that
says a build is complete, and the lock that makes concurrent builds compile once.

A module is ``<cache>/<model>-<hash>/`` holding ``<module>.so``, the generated sources,
the build log and ``stamp.json``; the hash is over every input of the build
(:func:`cache_key`); the stamp is written last, so a folder without a valid stamp is
never used.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from .base import BUILD_FORMAT, CACHE_ENV, BuildError, BuildResult


def default_cache_dir() -> Path:
    """``$BALANCED_CACHE`` or ``~/.cache/balanced/modules``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "balanced" / "modules"


def cache_root(cache_dir) -> Path:
    """The absolute cache folder for a ``cache_dir`` argument (None: the default).
    Raises BuildError if that path exists and is not a folder."""
    root = (Path(cache_dir).expanduser() if cache_dir else default_cache_dir()).resolve()
    if root.exists() and not root.is_dir():
        named = str(cache_dir) if cache_dir else f"{CACHE_ENV}={os.environ.get(CACHE_ENV, root)}"
        raise BuildError(f"the module cache {named} is not a folder; point it at a folder (it is created if absent)")
    return root


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old or the new file, never half."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


@contextlib.contextmanager
def locked(lock_path: Path, say):
    """Hold an exclusive lock on ``lock_path`` (saying so when another process has it)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"waiting for another build holding {lock_path} ...")
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def cache_key(model: str, source: bytes, facts: dict, build: dict) -> tuple[str, dict]:
    """``(key, inputs)``: everything the module depends on, and the folder name hashing it.

    ``build``: the build's own inputs (compiler, flags, templates, generator; see
    :func:`balanced.build.builder.build_model`).
    """
    inputs = {
        "build_format": BUILD_FORMAT,
        "model_sha256": sha(source),
        "nest_version": facts["version"],
        "cxx11_abi": bool(facts.get("cxx11_abi")),
        "have_mpi": bool(facts.get("have_mpi")),
        "have_threads": bool(facts.get("have_threads")),
        "nest_dir": facts["nest_dir"],
        "nestml_version": facts.get("nestml_version"),
        **build,
    }
    return f"{model}-{sha(json.dumps(inputs, sort_keys=True).encode())[:16]}", inputs


def read_stamp(directory: Path) -> dict | None:
    try:
        return json.loads((directory / "stamp.json").read_text())
    except (OSError, ValueError):
        return None


def valid_stamp(directory: Path, key: str, inputs: dict) -> dict | None:
    """The stamp if it belongs to ``key``, was made from ``inputs`` and its .so exists."""
    stamp = read_stamp(directory)
    if not stamp or stamp.get("key") != key or stamp.get("inputs") != inputs:
        return None
    if not (directory / f"{stamp.get('module_name')}.so").is_file():
        return None
    return stamp


def new_workdir(root: Path, key: str) -> Path:
    """A fresh temporary folder inside the cache (same file system: moved in by rename)."""
    return Path(tempfile.mkdtemp(prefix=f".{key}.tmp-", dir=root))


def commit(workdir: Path, directory: Path, stamp: dict) -> None:
    """Write the stamp into ``workdir`` and move it to ``directory``, replacing an old one."""
    write_atomic(workdir / "stamp.json", json.dumps(stamp, indent=1, sort_keys=True))
    if directory.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{directory.name}.old-", dir=directory.parent))
        os.replace(directory, old / "x")
        shutil.rmtree(old, ignore_errors=True)
    os.replace(workdir, directory)


def result(directory: Path, stamp: dict, cached: bool, t0: float) -> BuildResult:
    """The :class:`BuildResult` of a cache folder; ``t0``: ``perf_counter()`` at the call's start."""
    return BuildResult(
        module=str(directory / stamp["module_name"]),
        model=stamp["model"],
        cached=cached,
        key=stamp["key"],
        seconds=time.perf_counter() - t0,
        nest_version=stamp["inputs"]["nest_version"],
        directory=str(directory),
    )
