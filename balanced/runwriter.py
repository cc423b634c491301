"""A run directory being written: the transaction, this rank's spike file, the recorders'
data, the manifest from ``running`` to ``complete`` (or ``failed`` / ``interrupted``).

Every rank appends its spikes to its own file in the staging folder as the recorders
give them (:mod:`balanced.rankfiles`); the first rank waits for the others, merges, marks
the manifest complete and renames the staging folder onto the target
(:mod:`balanced.transaction`). Spikes that were kept in memory (a
:class:`balanced.api.Network` made without ``out``) take the same path when written.
Imports no NEST.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np

from . import rankfiles, rundir
from .network import set_status
from .params import Params, to_toml
from .run import RunError, failure_text, now
from .transaction import RunTransaction


def clear_events(recorder) -> None:
    """Empty a NEST recorder (``n_events = 0``) without reading its events once more
    (:func:`balanced.network.set_status`; with PyNEST's ``set``, the multimeter's events were
    converted twice per chunk)."""
    set_status(recorder, [{"n_events": 0}])


class Recording:
    """What the network's recorders gave so far, read after every ``Simulate`` call.

    Spikes go to ``writer`` (this rank's file in a staging folder) as they come, or are
    kept here when there is no writer yet. The sampled state is kept here either way
    (a few neurons: small).
    """

    def __init__(self, writer: rankfiles.RankSpikeWriter | None = None):
        self.writer = writer
        self.spikes: list[tuple[np.ndarray, np.ndarray]] = []
        self.state: dict[str, list[np.ndarray]] = {k: [] for k in ("neuron", "time", *rundir.STATE_FIELDS)}

    def take(self, handles) -> None:
        """Read and empty the recorders of ``handles`` (:class:`balanced.network.Network`)."""
        ev = handles.spike_recorder.events
        neuron, t = np.asarray(ev["senders"]) - handles.first_id, np.asarray(ev["times"])
        if self.writer is not None:
            self.writer.append(neuron, t)
        else:
            self.spikes.append((neuron, t))
        clear_events(handles.spike_recorder)
        if handles.multimeter is not None:
            mev = handles.multimeter.events
            self.state["neuron"].append(np.asarray(mev["senders"]) - handles.first_id)
            self.state["time"].append(np.asarray(mev["times"]))
            for key in rundir.STATE_FIELDS:
                self.state[key].append(np.asarray(mev[key]))
            clear_events(handles.multimeter)

    def kept_spikes(self) -> tuple[np.ndarray, np.ndarray]:
        """The spikes kept in memory: (global neuron index int32, time ms), sorted by (time, neuron)."""
        if not self.spikes:
            return np.empty(0, np.int32), np.empty(0)
        neuron = np.concatenate([n for n, _ in self.spikes]).astype(np.int32)
        t = np.concatenate([t for _, t in self.spikes])
        order = np.lexsort((neuron, t))
        return neuron[order], t[order]

    @property
    def has_state(self) -> bool:
        return bool(self.state["neuron"])


class RunWriter:
    """The run directory ``out`` written by every rank of a run, as a transaction.

    Made before any work: the first rank checks ``out`` and opens the staging folder
    (:class:`balanced.transaction.OutputError` for an unusable ``out``).
    """

    def __init__(self, out: str | os.PathLike, overwrite: bool, rank: int):
        self.target = Path(out)
        self.rank = rank
        self.txn = RunTransaction(out, overwrite)
        if rank == 0:
            self.txn.begin()
        self.stage = self.txn.staging
        self.finished = False

    def spike_writer(self) -> rankfiles.RankSpikeWriter:
        """This rank's spike file in the staging folder (opened at its first append)."""
        return rankfiles.RankSpikeWriter(self.stage, self.rank)

    def start(self, manifest: dict, params: Params, preset: str | None) -> None:
        """The first rank writes the manifest (status ``running``) and ``params.toml``."""
        if self.rank == 0:
            rundir.write_manifest(self.stage, manifest)
            rundir.atomic_write_text(
                self.stage / rundir.PARAMS_FILE, to_toml(params, header=f"preset: {preset}" if preset else None)
            )

    def finish(self, manifest: dict, recording: Recording, mpi_ranks: int, n_synapses: int, timers: dict) -> None:
        """Close this rank's files and mark it done; the first rank then merges every
        rank's files, marks ``manifest`` complete (``timers``: its ``write`` and ``merge``
        phases are added) and puts the staging folder in place of ``out``."""
        t0 = time.perf_counter()
        writer = recording.writer
        if writer is None:  # spikes kept in memory: written now, as they came (the merge sorts)
            writer = self.spike_writer()
            for neuron, t in recording.spikes:
                writer.append(neuron, t)
        writer.close()
        if recording.has_state:
            rankfiles.write_rank_state(
                self.stage,
                self.rank,
                np.concatenate(recording.state["neuron"]),
                np.concatenate(recording.state["time"]),
                {k: np.concatenate(recording.state[k]) for k in rundir.STATE_FIELDS},
            )
        # nest.num_connections is per rank: each rank reports its own count
        rankfiles.mark_rank_done(self.stage, self.rank, n_synapses)
        timers["write"] = round(timers.get("write", 0.0) + time.perf_counter() - t0, 4)
        if self.rank != 0:
            self.finished = True
            return
        t1 = time.perf_counter()
        try:
            manifest["counts"]["synapses"] = rankfiles.wait_for_ranks(self.stage, mpi_ranks)
        except TimeoutError as exc:
            raise RunError(str(exc)) from exc
        manifest["counts"]["spikes"] = rankfiles.merge_spikes(self.stage, mpi_ranks)
        merged = rankfiles.merge_state(self.stage, mpi_ranks) if recording.has_state else None
        if merged is not None:
            manifest["files"]["state"] = rundir.STATE_FILE
            manifest["counts"]["state"] = {"neurons": merged[0], "samples": merged[1]}
        timers["merge"] = round(time.perf_counter() - t1, 4)
        manifest.update(status="complete", finished=now())
        manifest.pop("pid", None)
        rundir.write_manifest(self.stage, manifest)
        self.txn.commit()
        self.finished = True

    def abandon(self, manifest: dict, exc: BaseException, recording: Recording | None = None) -> None:
        """A failed or interrupted run: ``out`` stays as it was; the staging folder keeps
        only a manifest saying what happened (first rank)."""
        from .interrupt import signal_of

        if recording is not None and recording.writer is not None:
            recording.writer.__exit__(type(exc), exc, None)  # closes the file without syncing it
        if self.rank != 0 or self.finished:
            return
        signum = signal_of(exc)
        manifest.update(
            status="interrupted" if signum is not None else "failed", error=failure_text(exc), finished=now()
        )
        manifest.pop("pid", None)
        if signum is not None:
            manifest["signal"] = signal.Signals(signum).name
        self.txn.abort(manifest)
