"""The pieces every run is made of, whoever drives it (:class:`balanced.api.Network`, and
through it ``balanced run``, the sweeps and the experiments): the hooks that act on the
network at chosen times, the ``Simulate`` calls' lengths, the huge-page step, the manifest
of a run that starts, and the one-line text of a failure.

The same code runs in one process (threads) and under ``mpirun`` (one process per rank):
everything here is decided from the network, never from a rank's own clock, so every rank
makes the same calls.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import time
from contextlib import contextmanager
from importlib import metadata
from typing import Any, Protocol

import numpy as np

from . import __version__, rundir
from .choices import RunChoices
from .derived import derive, population_table
from .params import Params


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


def now() -> str:
    """The time of day in UTC, as the manifest records it."""
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


class Timers(dict):
    """Wall time per phase of a run (s), summed over repeats of a phase."""

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


def failure_text(exc: BaseException) -> str:
    """One line for the manifest and the terminal: the signal, or the error and its type."""
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
        "created": now(),
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
