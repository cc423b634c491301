"""Per-rank files while a run is going, and their merge into the run directory's files.

Nothing is gathered across ranks: every rank appends its spikes to its own file
(``spikes/rank-RRRRR.bin``, records :data:`balanced.rundir.SPIKE_RECORD`) and writes its
sampled state (``state/rank-RRRRR.npz``); it then marks itself done, and the first rank,
once every rank is, merges them into ``spikes.npz`` and ``state.npz``
(:mod:`balanced.rundir` defines those formats). Imports no NEST.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np

from .rundir import (
    RANK_SPIKE_DIR,
    RANK_STATE_DIR,
    SPIKE_RECORD,
    SPIKES_FILE,
    STATE_FIELDS,
    STATE_FILE,
    RunDirError,
    atomic_save_npz,
    atomic_write_text,
)


class RankSpikeWriter:
    """Appends one rank's spikes, chunk by chunk, to ``spikes/rank-RRRRR.bin``.

    Records are :data:`SPIKE_RECORD` (int32 neuron, float64 time in ms), unsorted.
    Nothing is gathered across ranks: every rank writes its own file; :func:`merge_spikes`
    combines them after the simulation.
    """

    def __init__(self, run_dir: str | os.PathLike, rank: int):
        self.directory = Path(run_dir) / RANK_SPIKE_DIR
        self.path = self.directory / f"rank-{rank:05d}.bin"
        self._fh = None
        self.count = 0

    def _open(self):
        # Opened at the first append, which follows the first (collective) Simulate: by then
        # the first rank has created the run's folder; no other rank ever creates it.
        self.directory.mkdir(exist_ok=True)
        self._fh = open(self.path, "wb")
        return self._fh

    def append(self, neuron: np.ndarray, time: np.ndarray) -> None:
        records = np.empty(len(neuron), dtype=SPIKE_RECORD)
        records["neuron"] = neuron
        records["time"] = time
        (self._fh or self._open()).write(records.tobytes())
        self.count += len(records)

    def close(self) -> None:
        fh = self._fh or self._open()
        fh.flush()
        os.fsync(fh.fileno())
        fh.close()

    def __enter__(self) -> RankSpikeWriter:
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is None and (self._fh is None or not self._fh.closed):
            self.close()
        elif self._fh is not None:
            self._fh.close()


def _rank_marker(run_dir: str | os.PathLike, rank: int) -> Path:
    return Path(run_dir) / RANK_SPIKE_DIR / f"rank-{rank:05d}.done"


def mark_rank_done(run_dir: str | os.PathLike, rank: int, n_synapses: int) -> None:
    """Say that ``rank`` has closed its files; the marker carries its connection count."""
    atomic_write_text(_rank_marker(run_dir, rank), f"{n_synapses}\n")


def wait_for_ranks(run_dir: str | os.PathLike, n_ranks: int, timeout_s: float = 600.0) -> int:
    """Wait until every rank has marked itself done (no MPI library needed); return the
    sum of their connection counts. :class:`TimeoutError` if a rank does not finish."""
    markers = [_rank_marker(run_dir, r) for r in range(n_ranks)]
    deadline = time.monotonic() + timeout_s
    while not all(m.exists() for m in markers):
        if time.monotonic() > deadline:
            missing = [m.name for m in markers if not m.exists()]
            raise TimeoutError(f"ranks did not finish writing within {timeout_s:.0f} s: {missing}")
        time.sleep(0.02)
    return sum(int(m.read_text().strip() or 0) for m in markers)


def merge_spikes(run_dir: str | os.PathLike, n_ranks: int) -> int:
    """Merge the per-rank spike files into ``spikes.npz`` sorted by (time, neuron).

    Sorting makes the merged file independent of how neurons were spread over ranks
    and threads. Returns the number of spikes. Removes the per-rank files afterwards.
    """
    run_dir = Path(run_dir)
    parts = []
    for rank in range(n_ranks):
        path = run_dir / RANK_SPIKE_DIR / f"rank-{rank:05d}.bin"
        if not path.is_file():
            raise RunDirError(f"{path}: missing; rank {rank} did not write its spikes")
        if path.stat().st_size % SPIKE_RECORD.itemsize:
            raise RunDirError(f"{path}: truncated (size not a multiple of {SPIKE_RECORD.itemsize} bytes)")
        parts.append(np.fromfile(path, dtype=SPIKE_RECORD))
    records = np.concatenate(parts) if parts else np.empty(0, SPIKE_RECORD)
    order = np.lexsort((records["neuron"], records["time"]))
    atomic_save_npz(
        run_dir / SPIKES_FILE,
        neuron=np.ascontiguousarray(records["neuron"][order]),
        time=np.ascontiguousarray(records["time"][order]),
    )
    shutil.rmtree(run_dir / RANK_SPIKE_DIR, ignore_errors=True)
    return len(records)


def write_rank_state(
    run_dir: str | os.PathLike, rank: int, neuron: np.ndarray, time: np.ndarray, values: dict[str, np.ndarray]
) -> None:
    """Write one rank's sampled state as flat event arrays (as NEST's multimeter gives them)."""
    directory = Path(run_dir) / RANK_STATE_DIR
    directory.mkdir(exist_ok=True)
    atomic_save_npz(
        directory / f"rank-{rank:05d}.npz",
        neuron=np.asarray(neuron, np.int32),
        time=np.asarray(time, np.float64),
        **{k: np.asarray(values[k], np.float64) for k in STATE_FIELDS},
    )


def merge_state(run_dir: str | os.PathLike, n_ranks: int) -> tuple[int, int] | None:
    """Merge per-rank state files into ``state.npz`` with (neuron x time) matrices.

    Returns (number of neurons, number of samples), or None when nothing was recorded.
    """
    run_dir = Path(run_dir)
    directory = run_dir / RANK_STATE_DIR
    if not directory.is_dir():
        return None
    parts = [
        np.load(directory / f"rank-{rank:05d}.npz")
        for rank in range(n_ranks)
        if (directory / f"rank-{rank:05d}.npz").is_file()
    ]
    neuron = np.concatenate([p["neuron"] for p in parts])
    time = np.concatenate([p["time"] for p in parts])
    values = {k: np.concatenate([p[k] for p in parts]) for k in STATE_FIELDS}
    neurons = np.unique(neuron)
    times = np.unique(time)
    row = np.searchsorted(neurons, neuron)
    col = np.searchsorted(times, time)
    matrices = {}
    for key in STATE_FIELDS:
        m = np.full((len(neurons), len(times)), np.nan)
        m[row, col] = values[key]
        matrices[key] = m
    atomic_save_npz(run_dir / STATE_FILE, neuron=neurons.astype(np.int32), time=times, **matrices)
    shutil.rmtree(directory, ignore_errors=True)
    return len(neurons), len(times)
