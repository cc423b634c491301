"""Run one network: kernel, build, simulate in chunks, write spikes per rank, merge, manifest.

The same code runs in one process (threads) and under ``mpirun`` (one process per rank):
every rank writes its own spike file into the run's staging folder; the first rank waits
for all of them (marker files, no MPI library needed), merges, marks the manifest
complete and puts the staging folder in place of the target (:mod:`balanced.transaction`).
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import signal
import time
from collections.abc import Sequence
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from . import __version__, rankfiles, rundir
from .choices import RunChoices, check_memory, decide
from .derived import derive, population_table
from .kernel import resolve_threads
from .params import Params, to_toml


class RunError(RuntimeError):
    """A run that cannot start or did not finish; the message says what to do."""


class RunHook(Protocol):
    """Something done to the network at chosen times of a run (a stimulus change, a kick).

    ``times(T_ms)``: the model times (ms) at which :meth:`at` must be called; the run loop
    ends a ``Simulate`` call exactly there. ``at(nest, net, t_ms)``: called at every
    chunk edge with the time simulated so far (the hook acts at its own times only).
    ``describe()``: what the hook does, for the manifest.
    """

    def times(self, T_ms: float) -> list[float]: ...

    def at(self, nest, net, t_ms: float) -> None: ...

    def describe(self) -> dict: ...


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def versions(nest) -> dict:
    def dist(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {
        "balanced": __version__,
        "nest": nest.__version__,
        "nestml": dist("nestml"),
        "elephant": dist("elephant"),
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


class _Timers(dict):
    @contextmanager
    def phase(self, name: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self[name] = round(self.get(name, 0.0) + time.perf_counter() - t0, 4)


# Each Simulate call is kept under about CHUNK_WALL_S of wall time: signals are handled
# between calls (balanced.interrupt; SLURM sends SIGKILL 30 s after SIGTERM by default) and
# the recorders are emptied after each, which keeps memory flat. The length comes from the
# network's expected cost, never from a clock: under MPI every rank must make the same
# Simulate calls, and a rank-local timing would let them disagree.
CHUNK_WALL_S = 3.0
MAX_CHUNK_MS = 100.0


def chunk_steps(n_synapses_per_rank: float, threads: int, dt: float) -> int:
    """Steps per ``Simulate`` call: about :data:`CHUNK_WALL_S` of expected wall time
    (:func:`balanced.choices.expected_simulate_core_s`), at least one step, at most
    :data:`MAX_CHUNK_MS`. The same on every rank for the same network."""
    from .choices import expected_simulate_core_s

    wall_per_ms = expected_simulate_core_s(n_synapses_per_rank, 1.0) / max(1, threads)
    max_steps = max(1, int(round(MAX_CHUNK_MS / dt)))
    if wall_per_ms <= 0:
        return max_steps
    return int(min(max_steps, max(1, CHUNK_WALL_S / wall_per_ms / dt)))


class Chunks:
    """The ends of the ``Simulate`` calls of a run: on the time grid, every ``steps`` steps
    and at every hook time (the spikes do not depend on them)."""

    def __init__(self, T: float, dt: float, hook_times: list[float], steps: int, start: float = 0.0):
        self.dt, self.T, self.steps = dt, T, max(1, int(steps))
        self.fixed = sorted({self._grid(t) for t in hook_times if start < t < T} | {self._grid(T)})
        self.done = start

    def _grid(self, t: float) -> float:
        return round(t / self.dt) * self.dt

    def next_edge(self) -> float:
        limit = next(t for t in self.fixed if t > self.done + self.dt / 2)
        return min(limit, self._grid(self.done + self.steps * self.dt))

    def advance(self, edge: float) -> None:
        """Record a chunk that ended at ``edge``."""
        self.done = edge

    @property
    def finished(self) -> bool:
        return self.done >= self.T - self.dt / 2


def prepare_in_huge_pages(nest) -> dict:
    """Let NEST prepare the simulation, then move the process's heap into huge pages
    (:func:`balanced.hugepages.collapse_anonymous_memory`, whose report it returns).

    NEST sorts the connections and allocates the nodes' ring buffers in its first
    ``Prepare``: collapsing after that covers them too. Under MPI every rank must call
    this (``Prepare`` communicates between ranks).
    """
    from . import hugepages

    nest.Prepare()
    try:
        return hugepages.collapse_anonymous_memory()
    finally:
        nest.Cleanup()


def _failure_text(exc: BaseException) -> str:
    from .interrupt import describe, signal_of

    if signal_of(exc) is not None:
        return describe(exc)
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, RunError) else f"{type(exc).__name__}: {text}"


def new_manifest(
    nest, params: Params, preset: str | None, choices: RunChoices, threads, hooks: list[dict], timers: dict
) -> dict[str, Any]:
    """The manifest of a run that is starting (status ``running``): what every run
    directory records, whether written by ``balanced run`` or by :mod:`balanced.api`.
    ``threads``: the :class:`balanced.kernel.ThreadChoice` of the run. The caller fills in
    ``layout``, ``model``, ``counts`` and ``files`` as the run goes."""
    from . import provenance
    from .kernel import omp_policy

    return {
        "schema": rundir.SCHEMA,
        "status": "running",
        "error": None,
        "created": _now(),
        "finished": None,
        "host": platform.node(),
        "pid": os.getpid(),
        "preset": preset,
        "params": params.to_dict(),
        "derived": derive(params).as_dict(),
        "seed": params.seed,
        "versions": versions(nest),
        "layout": None,
        "threads_source": threads.source,
        "omp": omp_policy(),
        "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
        "choices": choices.as_dict(),
        "threads": threads.as_dict(),
        "provenance": provenance.collect(),
        "model": {
            "neuron_model": params.neuron_model,
            "nest_model": None,
            "module": None,
            "synapse_model": choices.synapse_model.value,
        },
        "hooks": hooks,
        "timers_s": timers,
        "populations": population_table(params),
        "files": {"spikes": rundir.SPIKES_FILE, "state": None},
        "counts": {},
    }


def run_network(
    params: Params,
    out: str | os.PathLike,
    *,
    threads: int | None = 1,
    overwrite: bool = False,
    preset: str | None = None,
    progress: bool = True,
    hooks: Sequence[RunHook] = (),
    huge_pages: str = "auto",
) -> dict:
    """Simulate ``params`` and write the run directory ``out``; return the final manifest.

    ``threads``: OpenMP threads per rank; ``None`` chooses (:func:`choose_threads`).
    ``hooks``: :class:`RunHook` objects acting on the network at their times.
    ``huge_pages``: ``"auto"`` (where the expected saving exceeds the cost,
    :func:`balanced.choices.huge_pages`), ``"on"`` or ``"off"``: move the network's memory
    into transparent huge pages before simulating (:mod:`balanced.hugepages`; same spikes,
    faster delivery). Every automatic choice is recorded in the manifest (``choices``).

    The run directory is written as a transaction (:mod:`balanced.transaction`): ``out``
    changes only when the run is complete. Raises :class:`RunError`,
    :class:`balanced.transaction.OutputError` (an unusable ``out``, before any work) or
    the build's / kernel's own errors, with a clear message; a signal
    (:mod:`balanced.interrupt`) ends it the same way. Either way ``out`` is left as it
    was, and the staging folder beside it keeps only a manifest saying what happened.
    """
    from .build import build_model
    from .choices import HUGE_PAGE_SETTINGS
    from .kernel import import_nest, say, setup_kernel
    from .launch import report_error
    from .transaction import RunTransaction

    if huge_pages not in HUGE_PAGE_SETTINGS:  # before any work
        raise ValueError(f"huge_pages = {huge_pages!r}: must be one of {', '.join(HUGE_PAGE_SETTINGS)}")
    started = time.perf_counter()
    timers = _Timers()
    d = derive(params)
    nest = import_nest()
    rank, ranks = nest.Rank(), nest.NumProcesses()
    choice = resolve_threads(params, threads)  # a given count checked against this task's CPUs
    threads = choice.threads
    choices = decide(params.synapse_model, huge_pages, d.n_synapses_expected, ranks, threads, params.T)
    check_memory(d.n_synapses_expected, d.N, choices.synapse_model.value, ranks)
    txn = RunTransaction(out, overwrite)
    if rank == 0:
        txn.begin()
    stage = txn.staging
    manifest = new_manifest(nest, params, preset, choices, choice, [hook.describe() for hook in hooks], timers)
    try:
        if rank == 0:
            rundir.write_manifest(stage, manifest)
            rundir.atomic_write_text(
                stage / rundir.PARAMS_FILE, to_toml(params, header=f"preset: {preset}" if preset else None)
            )
        module = None
        with timers.phase("build"):
            if params.neuron_model == "nestml":
                module = build_model()
        model = module.model if module else params.neuron_model
        manifest["model"].update(nest_model=model, module=module.module if module else None)
        with timers.phase("kernel"):
            layout = setup_kernel(nest, dt=params.dt, seed=params.seed, threads=threads, module=module)
        manifest["layout"] = layout.as_dict()
        _simulate(nest, params, d, model, stage, rank, layout, manifest, timers, hooks, choices, huge_pages, progress)
        if rank == 0:
            timers["total"] = round(time.perf_counter() - started, 4)
            manifest.update(status="complete", finished=_now())
            manifest.pop("pid")
            rundir.write_manifest(stage, manifest)
            txn.commit()
            say(
                f"  {manifest['counts']['spikes']} spikes from {d.N} neurons in {params.T:g} ms "
                f"(simulate {timers.get('simulate', 0):.2f} s, {layout.virtual_processes} virtual process"
                f"{'es' if layout.virtual_processes > 1 else ''}) -> {out}"
            )
    except OSError as exc:
        where = exc.filename or stage
        error = RunError(
            f"{where}: cannot be written ({exc.strerror or type(exc).__name__}); the run was "
            f"abandoned and {out} left as it was"
        )
        _abandon(txn, rank, manifest, error)
        if ranks > 1:  # the other ranks would wait in NEST's next collective call: end them
            report_error(f"balanced: error: {error}", 1)
        raise error from exc
    except BaseException as exc:
        _abandon(txn, rank, manifest, exc)
        from .interrupt import signal_of

        # a signal to a rank other than the first: the launcher is ending the run (after an abort)
        if ranks > 1 and (rank == 0 or signal_of(exc) is None):
            report_error(f"balanced: error: {_failure_text(exc)}", 1)
        raise
    return rundir.read_manifest(out) if rank == 0 else manifest


def _abandon(txn, rank: int, manifest: dict, exc: BaseException) -> None:
    """A failed or interrupted run: its staging folder keeps only a manifest saying so."""
    from .interrupt import signal_of

    if rank != 0:
        return
    signum = signal_of(exc)
    manifest.update(status="interrupted" if signum is not None else "failed", error=_failure_text(exc), finished=_now())
    manifest.pop("pid", None)
    if signum is not None:
        manifest["signal"] = signal.Signals(signum).name
    txn.abort(manifest)


def _simulate(
    nest,
    params: Params,
    d,
    model: str,
    stage: Path,
    rank: int,
    layout,
    manifest: dict,
    timers: _Timers,
    hooks: Sequence[RunHook],
    choices: RunChoices,
    huge_pages: str,
    progress: bool,
) -> None:
    """Build the network, simulate it chunk by chunk, write and merge the spikes (into ``stage``)."""
    from . import provenance
    from .kernel import say
    from .network import build_network
    from .progress import Progress

    with timers.phase("create_connect"):
        net = build_network(nest, params, d, model, choices.synapse_model.value)
    manifest["counts"]["synapses"] = net.n_synapses
    manifest["huge_pages"] = {"setting": huge_pages, "applied": False}
    # Decided from the expected count, the same on every rank: Prepare communicates
    # between ranks, so all of them must call it or none.
    if choices.huge_pages.value:
        with timers.phase("huge_pages"):
            manifest["huge_pages"].update(prepare_in_huge_pages(nest))
        if choices.huge_pages.source == "user" and not manifest["huge_pages"]["applied"]:
            say(f"  note: huge pages not used: {manifest['huge_pages'].get('reason')}")
    state_parts: dict[str, list] = {k: [] for k in ("neuron", "time", *rundir.STATE_FIELDS)}
    chunks = Chunks(
        params.T,
        params.dt,
        [t for hook in hooks for t in hook.times(params.T)],
        chunk_steps(d.n_synapses_expected / layout.mpi_ranks, layout.threads_per_rank, params.dt),
    )
    nest_timers = provenance.KernelTimers()
    # Simulate (not Run under a RunManager): recorders may be emptied only between
    # simulations, and emptying them after every chunk keeps memory flat.
    with rankfiles.RankSpikeWriter(stage, rank) as writer, Progress(params.T, enabled=progress, rank=rank) as bar:
        while not chunks.finished:
            edge = chunks.next_edge()
            with timers.phase("simulate"):
                nest.Simulate(edge - chunks.done)
            chunks.advance(edge)
            nest_timers.add(nest)
            for hook in hooks:
                hook.at(nest, net, edge)
            with timers.phase("write"):
                ev = net.spike_recorder.events
                writer.append(np.asarray(ev["senders"]) - net.first_id, np.asarray(ev["times"]))
                net.spike_recorder.n_events = 0
                if net.multimeter is not None:
                    mev = net.multimeter.events
                    state_parts["neuron"].append(np.asarray(mev["senders"]) - net.first_id)
                    state_parts["time"].append(np.asarray(mev["times"]))
                    for key in rundir.STATE_FIELDS:
                        state_parts[key].append(np.asarray(mev[key]))
                    net.multimeter.n_events = 0
            bar.update(chunks.done)
    manifest["nest_timers_s"] = nest_timers.as_dict()
    with timers.phase("write"):
        if net.multimeter is not None:
            rankfiles.write_rank_state(
                stage,
                rank,
                np.concatenate(state_parts["neuron"]),
                np.concatenate(state_parts["time"]),
                {k: np.concatenate(state_parts[k]) for k in rundir.STATE_FIELDS},
            )
        # nest.num_connections is per rank: each rank reports its own count
        rankfiles.mark_rank_done(stage, rank, net.n_synapses)
    if rank == 0:
        with timers.phase("merge"):
            try:
                manifest["counts"]["synapses"] = rankfiles.wait_for_ranks(stage, layout.mpi_ranks)
            except TimeoutError as exc:
                raise RunError(str(exc)) from exc
            manifest["counts"]["spikes"] = rankfiles.merge_spikes(stage, layout.mpi_ranks)
            merged = rankfiles.merge_state(stage, layout.mpi_ranks) if net.multimeter is not None else None
            if merged is not None:
                manifest["files"]["state"] = rundir.STATE_FILE
                manifest["counts"]["state"] = {"neurons": merged[0], "samples": merged[1]}
