"""Run one network: kernel, build, simulate in chunks, write spikes per rank, merge, manifest.

The same code runs in one process (threads) and under ``mpirun`` (one process per rank):
every rank writes its own spike file; the first rank waits for all of them (marker
files, no MPI library needed), merges, and marks the manifest complete.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import shutil
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from . import __version__, rundir
from .derived import derive, population_table
from .kernel import choose_threads
from .params import Params, to_toml


class RunError(RuntimeError):
    """A run that cannot start or did not finish; the message says what to do."""


@dataclass(frozen=True)
class Perturbation:
    """A finite perturbation for chaos tests: push neuron ``neuron`` above threshold at ``time_ms``,
    which forces one extra spike in the next step (an infinitesimal nudge would be erased at
    the next reset)."""

    neuron: int
    time_ms: float


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def versions(nest) -> dict:
    def dist(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None
    return {"balanced": __version__, "nest": nest.__version__, "nestml": dist("nestml"),
            "elephant": dist("elephant"), "numpy": np.__version__, "python": platform.python_version()}


class _Timers(dict):
    @contextmanager
    def phase(self, name: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self[name] = round(self.get(name, 0.0) + time.perf_counter() - t0, 4)


def prepare_directory(out: Path, overwrite: bool) -> None:
    """Refuse to overwrite a finished run unless asked; clear a stale one when asked."""
    manifest = out / rundir.MANIFEST
    if manifest.exists():
        if not overwrite:
            try:
                status = rundir.read_manifest(out).get("status")
            except rundir.RunDirError:
                status = "unreadable"
            raise RunError(f"{out} already holds a run (status {status!r}); pass --overwrite to replace it, "
                           "or choose another --out")
        for name in (rundir.MANIFEST, rundir.SPIKES_FILE, rundir.STATE_FILE, rundir.PARAMS_FILE):
            (out / name).unlink(missing_ok=True)
        for name in (rundir.RANK_SPIKE_DIR, rundir.RANK_STATE_DIR, "analysis"):
            shutil.rmtree(out / name, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)


def _progress(done_ms: float, total_ms: float, started: float) -> None:
    from .kernel import say
    if not sys.stderr.isatty():
        return
    frac = done_ms / total_ms
    bar = "#" * int(30 * frac)
    say(f"\r  simulating [{bar:<30}] {done_ms:8.1f}/{total_ms:.1f} ms  {time.perf_counter() - started:6.1f} s",
        end="" if done_ms < total_ms else "\n")


def _chunk_edges(T: float, chunk_ms: float, dt: float, extra: float | None) -> list[float]:
    """Chunk boundaries on the time grid, including ``extra`` (a perturbation time)."""
    edges = set(np.round(np.arange(chunk_ms, T, chunk_ms) / dt) * dt)
    edges.add(T)
    if extra is not None and 0 < extra < T:
        edges.add(round(extra / dt) * dt)
    return sorted(float(e) for e in edges)


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


def run_network(params: Params, out: str | os.PathLike, *, threads: int | None = 1, overwrite: bool = False,
                preset: str | None = None, chunk_ms: float = 100.0, progress: bool = True,
                perturbation: Perturbation | None = None, diagnosis: list[str] | Callable[[], list[str]] | None = None,
                huge_pages: str = "auto") -> dict:
    """Simulate ``params`` and write the run directory ``out``; return the final manifest.

    ``threads``: OpenMP threads per rank; ``None`` chooses (:func:`choose_threads`).
    ``huge_pages``: ``"auto"`` (from :data:`hugepages.AUTO_MIN_SYNAPSES` synapses per rank
    on), ``"on"`` or ``"off"``: move the network's memory into transparent huge pages
    before simulating (:mod:`balanced.hugepages`; same spikes, faster delivery).
    ``diagnosis``: the regime diagnosis's lines for the manifest, or a function returning
    them, called when the run is complete (the command line has its analysis worker
    compute them meanwhile: the worker imports SciPy anyway, the simulation need not).
    Raises :class:`RunError` (or the build's / kernel's own errors) with a clear message.
    The manifest says ``running`` until everything is on disk, then ``complete``; on an
    exception it says ``failed`` with the error; a killed process leaves ``running``.
    """
    from . import hugepages
    from .build import build_model
    from .kernel import import_nest, omp_policy, say, setup_kernel
    from .network import build_network, synapse_model_for

    hugepages.wanted(huge_pages, 0)  # reject a bad setting before any work
    started = time.perf_counter()
    out = Path(out)
    timers = _Timers()
    d = derive(params)
    nest = import_nest()
    rank = nest.Rank()
    threads_source = "user" if threads is not None else "auto"
    if threads is None:
        threads = choose_threads(params, nest.NumProcesses())
    if rank == 0:
        prepare_directory(out, overwrite)
    module = None
    with timers.phase("build"):
        if params.neuron_model == "nestml":
            module = build_model()
    model = module.model if module else params.neuron_model
    with timers.phase("kernel"):
        layout = setup_kernel(nest, dt=params.dt, seed=params.seed, threads=threads, module=module)

    manifest = {
        "schema": rundir.SCHEMA, "status": "running", "error": None, "created": _now(), "finished": None,
        "preset": preset, "params": params.to_dict(), "derived": d.as_dict(), "seed": params.seed,
        "versions": versions(nest), "layout": layout.as_dict(),
        "threads_source": threads_source, "omp": omp_policy(),
        "model": {"neuron_model": params.neuron_model, "nest_model": model,
                  "module": module.module if module else None, "synapse_model": synapse_model_for(params)},
        "perturbation": None if perturbation is None else {"neuron": perturbation.neuron, "time_ms": perturbation.time_ms},
        "diagnosis": [] if callable(diagnosis) else list(diagnosis or []),
        "timers_s": timers, "populations": population_table(params),
        "files": {"spikes": rundir.SPIKES_FILE, "state": None}, "counts": {},
    }
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        rundir.write_manifest(out, manifest)
        rundir.atomic_write_text(out / rundir.PARAMS_FILE, to_toml(params, header=f"preset: {preset}" if preset else None))
    try:
        with timers.phase("create_connect"):
            net = build_network(nest, params, d, model)
        manifest["counts"]["synapses"] = net.n_synapses
        manifest["huge_pages"] = {"setting": huge_pages, "applied": False}
        # Decided from the expected count, the same on every rank: Prepare communicates
        # between ranks, so all of them must call it or none.
        if hugepages.wanted(huge_pages, int(d.n_synapses_expected / layout.mpi_ranks)):
            with timers.phase("huge_pages"):
                manifest["huge_pages"].update(prepare_in_huge_pages(nest))
            if huge_pages == "on" and not manifest["huge_pages"]["applied"]:
                say(f"  note: huge pages not used: {manifest['huge_pages'].get('reason')}")
        state_parts: dict[str, list] = {k: [] for k in ("neuron", "time", *rundir.STATE_FIELDS)}
        t_sim = time.perf_counter()
        with rundir.RankSpikeWriter(out, rank) as writer:
            # Simulate (not Run under a RunManager): recorders may be emptied only between
            # simulations, and emptying them after every chunk keeps memory flat.
            t_done = 0.0
            for edge in _chunk_edges(params.T, chunk_ms, params.dt, perturbation and perturbation.time_ms):
                with timers.phase("simulate"):
                    nest.Simulate(edge - t_done)
                t_done = edge
                if perturbation is not None and abs(edge - perturbation.time_ms) < params.dt / 2:
                    target = nest.NodeCollection([net.first_id + perturbation.neuron])
                    target.V_m = params.V_th + 1.0  # finite kick: fires in the next step
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
                if progress:
                    _progress(t_done, params.T, t_sim)
        with timers.phase("write"):
            if net.multimeter is not None:
                rundir.write_rank_state(out, rank, np.concatenate(state_parts["neuron"]),
                                        np.concatenate(state_parts["time"]),
                                        {k: np.concatenate(state_parts[k]) for k in rundir.STATE_FIELDS})
            # nest.num_connections is per rank: each rank reports its own count
            rundir.mark_rank_done(out, rank, net.n_synapses)
        if rank == 0:
            with timers.phase("merge"):
                try:
                    manifest["counts"]["synapses"] = rundir.wait_for_ranks(out, layout.mpi_ranks)
                except TimeoutError as exc:
                    raise RunError(str(exc)) from exc
                manifest["counts"]["spikes"] = rundir.merge_spikes(out, layout.mpi_ranks)
                if net.multimeter is not None:
                    n, m = rundir.merge_state(out, layout.mpi_ranks)
                    manifest["files"]["state"] = rundir.STATE_FILE
                    manifest["counts"]["state"] = {"neurons": n, "samples": m}
            if callable(diagnosis):
                manifest["diagnosis"] = list(diagnosis())
            timers["total"] = round(time.perf_counter() - started, 4)
            manifest.update(status="complete", finished=_now())
            rundir.write_manifest(out, manifest)
            say(f"  {manifest['counts']['spikes']} spikes from {d.N} neurons in {params.T:g} ms "
                f"(simulate {timers.get('simulate', 0):.2f} s, {layout.virtual_processes} virtual process"
                f"{'es' if layout.virtual_processes > 1 else ''}) -> {out}")
    except BaseException as exc:
        if rank == 0:
            manifest.update(status="failed", error=f"{type(exc).__name__}: {exc}", finished=_now())
            rundir.write_manifest(out, manifest)
        raise
    return rundir.read_manifest(out) if rank == 0 else manifest
