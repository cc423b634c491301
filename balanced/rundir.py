"""Run directories: the format of the manifest, spike and state files, and their readers.

Imports no NEST: the simulation writes through this module (and :mod:`balanced.rankfiles`
for the per-rank files while it runs) and the analysis reads through it, so the on-disk
format is defined in one place (see docs/design.md).

Layout of a run directory::

    manifest.json   status ("running" -> "complete" | "failed" | "interrupted"), parameters, ...
    params.toml     resolved parameters, accepted back by ``--config``
    spikes.npz      merged spikes: ``neuron`` (int32, 0-based global index, E first),
                    ``time`` (float64, ms), sorted by (time, neuron)
    state.npz       sampled ``V_m`` (mV), ``I_syn_ex``, ``I_syn_in`` (pA), shape (n, m),
                    with ``neuron`` (n,) and ``time`` (m,) -- only if recorded
    spikes/, state/ per-rank files while the run is going (balanced.rankfiles); merged, removed
    analysis/       statistics and figures written by ``balanced analyze``
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

MANIFEST = "manifest.json"
PARAMS_FILE = "params.toml"
SPIKES_FILE = "spikes.npz"
STATE_FILE = "state.npz"
RANK_SPIKE_DIR = "spikes"
RANK_STATE_DIR = "state"
SCHEMA = 1

# One record per spike in the per-rank files: global neuron index and time (ms).
SPIKE_RECORD = np.dtype([("neuron", "<i4"), ("time", "<f8")])


class RunDirError(Exception):
    """A run directory that cannot be used: missing, incomplete or corrupted."""


# --------------------------------------------------------------------------- atomic IO
@contextmanager
def atomic_open(path: str | os.PathLike):
    """A binary file handle whose content replaces ``path`` only if the block succeeds:
    readers see the old file or the new one, never half of one."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)  # mkstemp makes 0600; a run's files are as shareable as any other
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_open(path) as fh:
        fh.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_save_npz(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    """``np.savez`` through a temporary file and a rename (uncompressed: fast to reopen)."""
    with atomic_open(path) as fh:
        np.savez(fh, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds as allow_pickle


def json_ready(obj: Any) -> Any:
    """Plain JSON types; NaN and infinities become None (null)."""
    if isinstance(obj, dict):
        return {str(k): json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_ready(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [json_ready(v) for v in obj.tolist()]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        return value if math.isfinite(value) else None
    return obj


def write_json(path: str | os.PathLike, obj: Any) -> Any:
    """Write ``obj`` as indented JSON (:func:`json_ready`; the folder is created),
    atomically; return it as read back (plain JSON types)."""
    text = json.dumps(json_ready(obj), indent=2) + "\n"
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)
    return json.loads(text)


# --------------------------------------------------------------------------- manifest
def write_manifest(run_dir: str | os.PathLike, manifest: dict[str, Any]) -> None:
    """Atomically (re)write ``manifest.json``."""
    atomic_write_text(Path(run_dir) / MANIFEST, json.dumps(manifest, indent=2, sort_keys=False) + "\n")


def read_manifest(run_dir: str | os.PathLike) -> dict[str, Any]:
    """Read ``manifest.json``; :class:`RunDirError` if absent or not valid JSON."""
    path = Path(run_dir) / MANIFEST
    if not path.is_file():
        raise RunDirError(f"{run_dir}: no {MANIFEST}; not a run directory (make one with `balanced run --out DIR`)")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunDirError(f"{path}: not valid JSON ({exc}); the run directory is corrupted") from exc
    if not isinstance(manifest, dict) or "status" not in manifest:
        raise RunDirError(f"{path}: has no 'status' field; not a manifest written by balanced")
    return manifest


def _process_alive(pid: Any, host: Any) -> bool:
    """Whether the run's process ``pid`` on ``host`` still runs (True when it cannot be told)."""
    import platform

    if not isinstance(pid, int) or host != platform.node():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def require_complete(run_dir: str | os.PathLike) -> dict[str, Any]:
    """Return the manifest of a complete run, or raise :class:`RunDirError` saying why not."""
    manifest = read_manifest(run_dir)
    status = manifest.get("status")
    if status == "running" and not _process_alive(manifest.get("pid"), manifest.get("host")):
        raise RunDirError(
            f"{run_dir}: the run was killed (its process {manifest['pid']} has ended); "
            "rerun it with `balanced run --out DIR --overwrite`"
        )
    if status != "complete":
        detail = f": {manifest['error']}" if manifest.get("error") else ""
        raise RunDirError(
            f"{run_dir}: run status is {status!r}, not 'complete'{detail}; "
            "it was interrupted or failed. Rerun it with `balanced run --out DIR --overwrite`."
        )
    return manifest


def _positive_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def check_manifest(run_dir: str | os.PathLike, manifest: dict[str, Any]) -> None:
    """Check what the analysis reads from a manifest: ``params.T`` and ``params.dt`` positive
    numbers, ``run_id`` (if given) a plain name, a population table of contiguous blocks
    from index 0 whose sizes match ``params.N_E`` / ``params.N_I``. :class:`RunDirError`
    naming the field otherwise."""
    path = Path(run_dir) / MANIFEST
    params = manifest.get("params")
    if not isinstance(params, dict):
        raise RunDirError(f"{path}: 'params' is missing or not a table; the manifest is corrupted")
    for key in ("T", "dt"):
        if not _positive_number(params.get(key)):
            raise RunDirError(
                f"{path}: params.{key} = {params.get(key)!r}: must be a number > 0 (ms); the manifest is corrupted"
            )
    if "run_id" in manifest:  # names files (exports): a plain name, like the files it names
        member(run_dir, manifest["run_id"], "run_id")
    pops = manifest.get("populations")
    if not isinstance(pops, list) or not pops:
        raise RunDirError(f"{path}: 'populations' is missing or empty; the manifest is corrupted")
    first = 0
    for i, pop in enumerate(pops):
        ok = (
            isinstance(pop, dict)
            and isinstance(pop.get("name"), str)
            and all(isinstance(pop.get(k), int) and not isinstance(pop.get(k), bool) for k in ("first", "size"))
        )
        if not ok or pop["first"] != first or pop["size"] <= 0:
            raise RunDirError(
                f"{path}: populations[{i}] = {pop!r}: must be {{name, first = {first}, size > 0}} "
                "(contiguous blocks from index 0); the manifest is corrupted"
            )
        declared = params.get(f"N_{pop['name']}")
        if declared is not None and declared != pop["size"]:
            raise RunDirError(
                f"{path}: populations[{i}].size = {pop['size']} but params.N_{pop['name']} = "
                f"{declared!r}; the manifest is corrupted"
            )
        first += pop["size"]


STATE_FIELDS = ("V_m", "I_syn_ex", "I_syn_in")  # state.npz: sampled V_m (mV), currents (pA)


# --------------------------------------------------------------------------- reading
@dataclass(frozen=True)
class Population:
    """A contiguous block of global neuron indices."""

    name: str
    first: int
    size: int

    @property
    def stop(self) -> int:
        return self.first + self.size


@dataclass(frozen=True)
class Spikes:
    """All spikes of a run as flat arrays: ``neuron`` (int32) and ``time`` (float64, ms)."""

    neuron: np.ndarray
    time: np.ndarray

    def __len__(self) -> int:
        return len(self.time)


@dataclass(frozen=True)
class State:
    """Sampled membrane potential (mV) and synaptic currents (pA), each (n_neurons, n_times)."""

    neuron: np.ndarray
    time: np.ndarray
    V_m: np.ndarray
    I_syn_ex: np.ndarray
    I_syn_in: np.ndarray


@dataclass(frozen=True)
class Run:
    """A complete run directory opened for analysis."""

    path: Path
    manifest: dict[str, Any]
    spikes: Spikes
    state: State | None

    @property
    def params(self) -> dict[str, Any]:
        return self.manifest["params"]

    @property
    def populations(self) -> list[Population]:
        return [Population(p["name"], int(p["first"]), int(p["size"])) for p in self.manifest["populations"]]

    @property
    def t_stop_ms(self) -> float:
        return float(self.manifest["params"]["T"])

    @property
    def dt_ms(self) -> float:
        return float(self.manifest["params"]["dt"])


def member(run_dir: str | os.PathLike, name: Any, field: str) -> Path:
    """``run_dir / name`` for a file name read from the manifest, which must stay inside the
    run directory (a plain name: no separator, not ``..``)."""
    if not isinstance(name, str) or not name or "/" in name or "\\" in name or name in (".", ".."):
        raise RunDirError(
            f"{Path(run_dir) / MANIFEST}: {field} = {name!r}: must be a file name inside the run "
            "directory; the manifest is corrupted"
        )
    return Path(run_dir) / name


def load_spikes(run_dir: str | os.PathLike, manifest: dict[str, Any] | None = None) -> Spikes:
    """Read ``spikes.npz`` and check it against the manifest (size, dtype, index range)."""
    run_dir = Path(run_dir)
    manifest = manifest if manifest is not None else read_manifest(run_dir)
    path = member(run_dir, manifest.get("files", {}).get("spikes", SPIKES_FILE), "files.spikes")
    try:
        with np.load(path) as data:
            neuron, time = data["neuron"], data["time"]
    except FileNotFoundError as exc:
        raise RunDirError(f"{path}: missing although the manifest says the run is complete") from exc
    except Exception as exc:  # zipfile.BadZipFile, ValueError, KeyError, EOFError ...
        raise RunDirError(f"{path}: cannot be read ({type(exc).__name__}: {exc}); the file is corrupted") from exc
    if neuron.shape != time.shape or neuron.ndim != 1:
        raise RunDirError(f"{path}: 'neuron' and 'time' differ in shape {neuron.shape} vs {time.shape}")
    if not np.issubdtype(neuron.dtype, np.integer) or not np.issubdtype(time.dtype, np.floating):
        raise RunDirError(
            f"{path}: 'neuron' must hold integers and 'time' floats (found {neuron.dtype}, "
            f"{time.dtype}); the file is corrupted"
        )
    n_total = sum(int(p["size"]) for p in manifest["populations"])
    if len(neuron) and (neuron.min() < 0 or neuron.max() >= n_total):
        raise RunDirError(f"{path}: neuron indices outside 0..{n_total - 1}; the file does not belong to this run")
    t_stop = float(manifest["params"]["T"])
    if len(time) and not (np.isfinite(time).all() and time.min() >= 0.0 and time.max() <= t_stop + 1e-9):
        raise RunDirError(f"{path}: spike times outside [0, T = {t_stop:g}] ms or not finite; the file is corrupted")
    expected = manifest.get("counts", {}).get("spikes")
    if expected is not None and expected != len(neuron):
        raise RunDirError(f"{path}: holds {len(neuron)} spikes, the manifest says {expected}; the file is corrupted")
    return Spikes(neuron=neuron.astype(np.int32, copy=False), time=time.astype(np.float64, copy=False))


def load_state(run_dir: str | os.PathLike, manifest: dict[str, Any] | None = None) -> State | None:
    """Read ``state.npz`` if the run recorded state, else None."""
    run_dir = Path(run_dir)
    manifest = manifest if manifest is not None else read_manifest(run_dir)
    name = manifest.get("files", {}).get("state")
    if not name:
        return None
    path = member(run_dir, name, "files.state")
    try:
        with np.load(path) as data:
            return State(**{k: data[k] for k in ("neuron", "time", *STATE_FIELDS)})
    except Exception as exc:
        raise RunDirError(f"{path}: cannot be read ({type(exc).__name__}: {exc}); the file is corrupted") from exc


def load_run(run_dir: str | os.PathLike) -> Run:
    """Open a complete run directory: manifest, spikes and (if recorded) state."""
    run_dir = Path(run_dir)
    manifest = require_complete(run_dir)
    check_manifest(run_dir, manifest)
    return Run(
        path=run_dir, manifest=manifest, spikes=load_spikes(run_dir, manifest), state=load_state(run_dir, manifest)
    )
