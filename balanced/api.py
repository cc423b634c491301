"""The network as a Python object, for PyNEST users: create, connect, add devices, simulate, write.

In the style of the PD14 microcircuit package::

    from balanced.api import Network

    net = Network("tutorial", overrides={"N_E": 200, "N_I": 200})  # preset, file, overrides
    print("\\n".join(net.diagnosis()))          # the regime diagnosis (theory, no NEST)
    net.create()                               # kernel, populations (net.E, net.I)
    net.connect()                              # recurrent connections, drive, recorders
    net.add_device(net.nest.Create("dc_generator", params={"amplitude": 1.0}), to="E")
    net.simulate(500.0)                        # ms; call again to continue
    net.write("runs/mine")                     # the run directory `balanced run` writes

This is the one driver of a simulation in the package: ``balanced run``, the sweeps and
the experiments all go through :func:`run_network`, which is these calls. ``create()`` and
``connect()`` make the NEST calls of :func:`balanced.network.create_populations` and
:func:`balanced.network.connect_network`, so the same parameters give the same spikes.
Between ``simulate`` calls anything may change in NEST (a generator's rate, ``I_e`` of a
population): the run continues from where it stopped.

Where the spikes go: with ``out`` given to the constructor, the run directory is opened
(:mod:`balanced.runwriter`, a transaction) in :meth:`Network.create`, before any NEST
work, and every ``Simulate`` call's spikes are appended to this rank's file there, so
memory stays flat however long the run; :meth:`Network.write` completes it. Without
``out`` the spikes are kept in memory (:meth:`Network.spikes`) until ``write(out)``.
A failure in any call leaves ``out`` as it was (the staging folder keeps a manifest
saying what happened) and, under MPI, ends every rank (:func:`balanced.launch.report_error`).

Devices and delays (:mod:`balanced.devices`): :meth:`Network.add_device` connects with
the network's delay unless told otherwise and refuses a delay that would change NEST's
min or max delay (every neuron's input ring has ``min_delay + max_delay`` steps);
:meth:`Network.simulate` refuses to start if something else (a direct ``nest.Connect``)
has changed them. ``allow_delay_change=True`` accepts the change where it is wanted.

Imports NEST only in :meth:`Network.create`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from . import rundir
from .derived import Derived, derive
from .params import DEFAULT_PRESET, Params, replace, resolve
from .provenance import KernelTimers
from .run import RunHook, Timers
from .runwriter import Recording, RunWriter


class ApiError(RuntimeError):
    """A call out of order, or a device that would change the network's delays."""


def _resolve(preset: str, config, overrides: Mapping[str, Any] | Sequence[str] | None) -> Params:
    """Preset, file, then overrides: a dict of values or ``"key=value"`` strings (``--set``)."""
    if overrides is None or isinstance(overrides, Mapping):
        params = resolve(preset, config)
        return replace(params, **dict(overrides)) if overrides else params
    return resolve(preset, config, [str(o) for o in overrides])


def _unwritable(exc: OSError, stage: Path, out: Path):
    """The error of a run whose files cannot be written (a full disk, a lost permission)."""
    from .run import RunError

    return RunError(
        f"{exc.filename or stage}: cannot be written ({exc.strerror or type(exc).__name__}); the run was "
        f"abandoned and {out} left as it was"
    )


class Network:
    """One balanced E/I network in NEST.

    ``preset`` (default ``"tutorial"``), ``config`` (a TOML parameter file) and
    ``overrides`` (a dict or ``"key=value"`` strings) are layered as by ``balanced run
    --preset P --config FILE --set key=value``; or pass resolved ``params``.
    ``threads``: OpenMP threads per rank; ``None`` chooses as ``balanced run`` does
    (:func:`balanced.kernel.resolve_threads`; results depend on ranks x threads and the seed).
    ``out`` / ``overwrite``: the run directory, opened in :meth:`create` (see the module
    docstring); without it, :meth:`write` takes it. ``huge_pages``: ``"off"`` (default),
    ``"on"`` or ``"auto"`` (:func:`balanced.choices.huge_pages`, from ``params.T``): move the
    network's memory into huge pages before the first ``simulate``. ``progress``: a progress
    bar (terminal, notebook) or progress lines (a job log) while simulating.
    :meth:`simulate` runs in chunks of a few seconds of wall time
    (:class:`balanced.run.Chunks`), emptying the recorders after each.
    """

    def __init__(
        self,
        preset: str | None = None,
        config: str | os.PathLike | None = None,
        overrides: Mapping[str, Any] | Sequence[str] | None = None,
        *,
        params: Params | None = None,
        threads: int | None = None,
        out: str | os.PathLike | None = None,
        overwrite: bool = False,
        huge_pages: str = "off",
        progress: bool = False,
    ) -> None:
        from .choices import HUGE_PAGE_SETTINGS

        if params is not None and (config is not None or overrides):
            raise ApiError("params: give resolved params or preset/config/overrides, not both")
        if huge_pages not in HUGE_PAGE_SETTINGS:
            raise ValueError(f"huge_pages = {huge_pages!r}: must be one of {', '.join(HUGE_PAGE_SETTINGS)}")
        self.preset = preset or DEFAULT_PRESET
        self.params: Params = params if params is not None else _resolve(self.preset, config, overrides)
        self.derived: Derived = derive(self.params)
        self.threads = threads
        self.out = Path(out) if out is not None else None
        self.overwrite = overwrite
        self.huge_pages = huge_pages
        self.progress = progress
        self.nest: Any = None  # the PyNEST module, after create()
        self.E: Any = None  # NodeCollections, after create()
        self.I: Any = None
        self.handles: Any = None  # balanced.network.Network, after connect()
        self.t_ms = 0.0  # simulated so far
        self.devices: list[dict[str, Any]] = []
        self.simulate_calls_ms: list[float] = []
        self.manifest: dict[str, Any] = {}  # the run's manifest, from create() on
        self.rank = 0
        self._layout: Any = None  # balanced.kernel.Layout
        self._model: str | None = None
        self._delays: tuple[float, float] | None = None
        self._choices: Any = None  # balanced.choices.RunChoices, after create()
        self._writer: RunWriter | None = None
        self._recording = Recording()
        self._timers = Timers()
        self._nest_timers = KernelTimers()  # NEST's own timers, summed over the Simulate calls
        self._started = time.perf_counter()
        self._failed: str | None = None

    # ------------------------------------------------------------------ theory (no NEST)
    def diagnosis(self) -> list[str]:
        """The regime diagnosis of the parameters (balance equations, mean field, warnings),
        as `balanced run` and `balanced config show` print it."""
        from .theory import diagnosis_lines

        return list(diagnosis_lines(self.params))

    # ------------------------------------------------------------------ failures
    @contextmanager
    def _phase(self, name: str | None = None) -> Iterator[None]:
        """One call of the run: timed as ``name``; on any error the run directory being
        written is abandoned (``out`` left as it was) and, under MPI, every rank ended."""
        if self._failed is not None:
            raise ApiError(f"the run failed earlier ({self._failed}); make a new Network")
        try:
            if name is None:
                yield
            else:
                with self._timers.phase(name):
                    yield
        except OSError as exc:
            if self._writer is None:
                self._fail(exc)
                raise
            error = _unwritable(exc, self._writer.stage, self._writer.target)
            self._fail(error)
            raise error from exc
        except BaseException as exc:
            self._fail(exc)
            raise

    def _fail(self, exc: BaseException) -> None:
        from .interrupt import signal_of
        from .run import failure_text

        self._failed = failure_text(exc)
        if self._writer is not None:
            self._writer.abandon(self.manifest, exc, self._recording)
        ranks = self._layout.mpi_ranks if self._layout is not None else 1
        # a signal to a rank other than the first: the launcher is ending the run (after an abort)
        if ranks > 1 and (self.rank == 0 or signal_of(exc) is None):
            from .launch import report_error

            report_error(f"balanced: error: {self._failed}", 1)

    # ------------------------------------------------------------------ NEST phases
    def create(self) -> Network:
        """Open the run directory (with ``out``), build the NESTML model once if needed
        (cached), reset NEST's kernel (resolution, virtual processes, seed) and create the
        E and I populations (``net.E``, ``net.I``) with drive and initial ``V_m``."""
        from .choices import check_memory, decide
        from .kernel import import_nest, resolve_threads, setup_kernel
        from .launch import detect_launch
        from .memory import memory_budget
        from .network import create_populations
        from .run import new_manifest

        if self.nest is not None:
            raise ApiError("create(): already created; make a new Network for another run")
        params, d = self.params, self.derived
        threads = resolve_threads(params, self.threads)  # a given count checked against this task's CPUs
        nest = import_nest()
        self.rank, ranks = nest.Rank(), nest.NumProcesses()
        on_node = detect_launch().local_tasks
        budget = memory_budget()
        self._choices = decide(
            params.synapse_model,
            self.huge_pages,
            d.n_synapses_expected,
            ranks,
            threads.threads,
            params.T,
            n_neurons=d.N,
            tasks_on_node=on_node,
            budget=budget,
        )
        check_memory(d.n_synapses_expected, d.N, self._choices.synapse_model.value, ranks, on_node, budget)
        if self.out is not None:
            self._writer = RunWriter(self.out, self.overwrite, self.rank)  # refuses an unusable out first
            self._recording = Recording(self._writer.spike_writer())
        self.manifest = new_manifest(nest, params, self.preset, self._choices, threads, [], self._timers)
        self.manifest["huge_pages"] = {"setting": self.huge_pages, "applied": False}
        self.manifest["memory"] = budget.as_dict()
        with self._phase():
            if self._writer is not None:
                self._writer.start(self.manifest, params, self.preset)
            module = None
            with self._timers.phase("build"):
                if params.neuron_model == "nestml":
                    from .build import build_model

                    module = build_model()
                elif self._choices.connection_builder.value == "module":
                    from .build import cached_model

                    module = cached_model()  # for its connection rule, where already built
            self._model = module.model if module and params.neuron_model == "nestml" else params.neuron_model
            self.manifest["model"].update(nest_model=self._model, module=module.module if module else None)
            with self._timers.phase("kernel"):
                self._layout = setup_kernel(
                    nest, dt=params.dt, seed=params.seed, threads=threads.threads, module=module
                )
            self.manifest["layout"] = self._layout.as_dict()
            self.nest = nest
            with self._timers.phase("create_connect"):
                self.E, self.I = create_populations(nest, params, d, self._model)
        return self

    def connect(self) -> Network:
        """Connect the populations, add the Poisson drive (if ``nu_ext > 0``) and the
        recorders; NEST's min and max delay are the network's from here on."""
        from .devices import kernel_delays
        from .network import connect_network

        if self.E is None:
            raise ApiError("connect(): call create() first")
        if self.handles is not None:
            raise ApiError("connect(): already connected")
        with self._phase("create_connect"):
            module_rule = self._choices.connection_builder.value == "module"
            self.handles = connect_network(
                self.nest, self.params, self.derived, self.E, self.I, self._choices.synapse_model.value, module_rule
            )
            self.manifest["counts"]["synapses"] = self.handles.n_synapses
            self.manifest["model"]["nest_connection_rule"] = self.handles.nest_connection_rule
            self._delays = kernel_delays(self.nest)
        return self

    @property
    def neurons(self):
        """E and I together (NodeCollection), global index = position."""
        return self.E + self.I

    def add_device(
        self,
        device,
        to: str | Any = "all",
        conn_spec: str | dict = "all_to_all",
        syn_spec: dict | None = None,
        *,
        allow_delay_change: bool = False,
    ):
        """Connect a NEST device the user created (``net.nest.Create(...)``) to the network.

        ``to``: ``"E"``, ``"I"``, ``"all"`` or a NodeCollection of the network's neurons.
        Stimulators and samplers (multimeter, voltmeter) connect device -> neurons, other
        recorders (spike_recorder, ...) neurons -> device. ``syn_spec`` gets the network's
        delay unless it names one; a delay that changes NEST's min or max delay raises
        :class:`ApiError` unless ``allow_delay_change`` (:mod:`balanced.devices`).
        Returns the device.
        """
        from .devices import DelayError, connect_device, kernel_delays

        if self.handles is None:
            raise ApiError("add_device(): call create() and connect() first")
        if isinstance(to, str):
            if to not in ("E", "I", "all"):
                raise ApiError(f"add_device(to={to!r}): allowed: 'E', 'I', 'all' or a NodeCollection")
            targets = {"E": self.E, "I": self.I, "all": self.neurons}[to]
        else:
            targets = to
        try:
            done = connect_device(
                self.nest, device, targets, conn_spec, syn_spec, self.params.delay, allow_delay_change
            )
        except DelayError as exc:
            raise ApiError(str(exc)) from None
        if allow_delay_change:
            self._delays = kernel_delays(self.nest)
        self.devices.append(
            {**done, "to": to if isinstance(to, str) else f"{len(targets)} neurons", "at_ms": self.t_ms}
        )
        return device

    def simulate(self, t_ms: float, hooks: Sequence[RunHook] = ()) -> Network:
        """Simulate ``t_ms`` more milliseconds (a multiple of ``dt``), reading and emptying
        the recorders after every chunk. Call again to continue, e.g. after changing a
        stimulus. ``hooks`` (:class:`balanced.run.RunHook`): act on the network at their
        own model times (ms since the start of the run) within this call."""
        from .devices import DelayError, check_delays
        from .progress import Progress
        from .run import Chunks, chunk_steps

        if self.handles is None:
            raise ApiError("simulate(): call create() and connect() first")
        steps = t_ms / self.params.dt
        if not (t_ms > 0 and abs(steps - round(steps)) < 1e-6):
            raise ApiError(f"simulate(t_ms={t_ms!r}): must be a positive multiple of dt = {self.params.dt:g} ms")
        try:
            check_delays(self.nest, self._delays or (0.0, 0.0))
        except DelayError as exc:
            raise ApiError(str(exc)) from None
        nest, end = self.nest, self.t_ms + t_ms
        self.manifest["hooks"].extend(hook.describe() for hook in hooks)
        layout = self._layout
        with self._phase():
            if self.t_ms == 0 and self._choices.huge_pages.value:
                self._collapse_into_huge_pages()
            chunks = Chunks(
                end,
                self.params.dt,
                [t for hook in hooks for t in hook.times(end)],
                chunk_steps(
                    self.derived.n_synapses_expected / layout.mpi_ranks, layout.threads_per_rank, self.params.dt
                ),
                start=self.t_ms,
            )
            # Simulate (not Run under a RunManager): recorders may be emptied only between
            # simulations, and emptying them after every chunk keeps memory flat.
            with Progress(end, enabled=self.progress, rank=self.rank) as bar:
                while not chunks.finished:
                    edge = chunks.next_edge()
                    with self._timers.phase("simulate"):
                        nest.Simulate(edge - chunks.done)
                    chunks.advance(edge)
                    self.t_ms = edge
                    self._nest_timers.add(nest)
                    for hook in hooks:
                        hook.at(nest, self.handles, edge)
                    with self._timers.phase("write"):
                        self._recording.take(self.handles)
                    bar.update(edge)
        self.simulate_calls_ms.append(float(t_ms))
        return self

    def _collapse_into_huge_pages(self) -> None:
        from .kernel import say
        from .run import prepare_in_huge_pages

        # Decided from the expected count, the same on every rank: Prepare communicates
        # between ranks, so all of them must call it or none.
        with self._timers.phase("huge_pages"):
            self.manifest["huge_pages"].update(prepare_in_huge_pages(self.nest))
        if self._choices.huge_pages.source == "user" and not self.manifest["huge_pages"]["applied"]:
            say(f"  note: huge pages not used: {self.manifest['huge_pages'].get('reason')}")

    def spikes(self):
        """This rank's spikes so far: (global neuron index int32, time ms), sorted by
        (time, neuron). Only for a network made without ``out`` (with it, they are on disk)."""
        if self._recording.writer is not None:
            raise ApiError(
                f"spikes(): they go to {self.out} as the network runs; read them with load_run after write()"
            )
        return self._recording.kept_spikes()

    # ------------------------------------------------------------------ run directory
    def write(self, out: str | os.PathLike | None = None, overwrite: bool = False) -> Path:
        """Complete the run directory as ``balanced run`` does (manifest, params.toml,
        spikes.npz, state.npz; :mod:`balanced.runwriter`, a transaction: ``out`` changes
        only once everything is written); ``T`` in it is the time simulated. ``out``: for a
        network made without one. Under MPI every rank calls it. Returns the run directory,
        for ``balanced analyze``, ``balanced export`` and :func:`balanced.rundir.load_run`."""
        if not self.simulate_calls_ms:
            raise ApiError("write(): nothing simulated yet; call simulate(T) first")
        if self._writer is not None and out is not None and Path(out) != self.out:
            raise ApiError(f"write({out}): this network writes to {self.out}, given when it was made")
        if self._writer is None and out is None:
            raise ApiError("write(): where to? give out (or out= when making the Network)")
        params = self.params
        if abs(self.t_ms - params.T) >= params.dt / 2:
            params = replace(params, T=self.t_ms)
            self.manifest.update(params=params.to_dict(), derived=derive(params).as_dict())
        self.manifest.update(
            api={"simulate_calls_ms": list(self.simulate_calls_ms), "devices": list(self.devices)},
            nest_timers_s=self._nest_timers.as_dict(),
        )
        opened_now = self._writer is None
        if self._writer is None:
            self.out = Path(out)  # type: ignore[arg-type]
            self._writer = RunWriter(self.out, overwrite, self.rank)  # an unusable out: nothing lost yet
        with self._phase():
            if opened_now:
                self._writer.start(self.manifest, params, self.preset)
            self._timers["total"] = round(time.perf_counter() - self._started, 4)
            self._writer.finish(
                self.manifest, self._recording, self._layout.mpi_ranks, self.handles.n_synapses, self._timers
            )
        return self._writer.target


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
    while_threads_run: AbstractContextManager | None = None,
) -> dict:
    """Simulate ``params`` for ``params.T`` and write the run directory ``out`` (what
    ``balanced run`` does); return the final manifest (this rank's, on ranks other than
    the first).

    ``threads``: OpenMP threads per rank; ``None`` chooses from the allocation.
    ``hooks``: :class:`balanced.run.RunHook` objects acting on the network at their times.
    ``huge_pages``: as :class:`Network`'s, default ``"auto"``. ``while_threads_run``: a
    context entered around connecting and simulating, where NEST's threads take the cores
    (``balanced run`` pauses its analysis worker there). Every automatic choice is
    recorded in the manifest (``choices``). ``out`` changes only when the run is complete
    (:mod:`balanced.transaction`). Raises :class:`balanced.run.RunError`,
    :class:`balanced.transaction.OutputError` (an unusable ``out``, before any work),
    :class:`ApiError` or the build's / kernel's own errors with a clear message; a signal
    (:mod:`balanced.interrupt`) ends it the same way.
    """
    from .kernel import say

    net = Network(
        params=params,
        preset=preset,
        threads=threads,
        out=out,
        overwrite=overwrite,
        huge_pages=huge_pages,
        progress=progress,
    )
    net.create()
    with while_threads_run or nullcontext():
        net.connect().simulate(params.T, hooks)
    net.write()
    manifest = net.manifest
    if net.rank == 0:
        layout, timers = net._layout, manifest["timers_s"]
        vps = layout.virtual_processes
        say(
            f"  {manifest['counts']['spikes']} spikes from {net.derived.N} neurons in {params.T:g} ms "
            f"(simulate {timers.get('simulate', 0):.2f} s, {vps} virtual process{'es' if vps > 1 else ''}) -> {out}"
        )
        return rundir.read_manifest(out)
    return manifest
