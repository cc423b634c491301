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

``create()`` and ``connect()`` make the same NEST calls in the same order as
``balanced run`` (:func:`balanced.network.create_populations`,
:func:`balanced.network.connect_network`), so the same parameters give the same spikes.
Between ``simulate`` calls anything may change in NEST (a generator's rate, ``I_e`` of a
population): the run continues from where it stopped.

Devices and delays: NEST's ``max_delay`` (the longest delay of any connection) sets the
length of every neuron's input ring, ``min_delay + max_delay`` steps. The network's
delay is one step, so a device connected with NEST's default delay of 1 ms would grow
every ring from 2 to 11 slots and halve the speed (docs/performance.md).
:meth:`Network.add_device` connects with the network's delay unless told otherwise and
refuses a delay that would change NEST's min or max delay; :meth:`Network.simulate`
refuses to start if something else (a direct ``nest.Connect``) has changed them, naming
both values. ``allow_delay_change=True`` accepts the change where it is wanted.

Imports NEST only in :meth:`Network.create`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import rankfiles, rundir
from .derived import Derived, derive
from .params import DEFAULT_PRESET, Params, replace, resolve, to_toml
from .provenance import KernelTimers


class ApiError(RuntimeError):
    """A call out of order, or a device that would change the network's delays."""


# NEST recording devices that connect from the device to the neurons (they sample state)
_SAMPLERS = ("multimeter", "voltmeter")


def _resolve(preset: str, config, overrides: Mapping[str, Any] | Sequence[str] | None) -> Params:
    """Preset, file, then overrides: a dict of values or ``"key=value"`` strings (``--set``)."""
    if overrides is None or isinstance(overrides, Mapping):
        params = resolve(preset, config)
        return replace(params, **dict(overrides)) if overrides else params
    return resolve(preset, config, [str(o) for o in overrides])


class Network:
    """One balanced E/I network in NEST.

    ``preset`` (default ``"tutorial"``), ``config`` (a TOML parameter file) and
    ``overrides`` (a dict or ``"key=value"`` strings) are layered as by ``balanced run
    --preset P --config FILE --set key=value``; or pass resolved ``params``.
    ``threads``: OpenMP threads per rank (results depend on ranks x threads and the seed).
    :meth:`simulate` runs in the command line's chunks (:class:`balanced.run.Chunks`, a few
    seconds of wall time each), emptying the recorders after each, so memory stays flat.
    """

    def __init__(
        self,
        preset: str | None = None,
        config: str | os.PathLike | None = None,
        overrides: Mapping[str, Any] | Sequence[str] | None = None,
        *,
        params: Params | None = None,
        threads: int = 1,
    ) -> None:
        if params is not None and (config is not None or overrides):
            raise ApiError("params: give resolved params or preset/config/overrides, not both")
        self.preset = preset or DEFAULT_PRESET
        self.params: Params = params if params is not None else _resolve(self.preset, config, overrides)
        self.derived: Derived = derive(self.params)
        self.threads = threads
        self.nest: Any = None  # the PyNEST module, after create()
        self.E: Any = None  # NodeCollections, after create()
        self.I: Any = None
        self.handles: Any = None  # balanced.network.Network, after connect()
        self.t_ms = 0.0  # simulated so far
        self.devices: list[dict[str, Any]] = []
        self.simulate_calls_ms: list[float] = []
        self._layout: Any = None  # balanced.kernel.Layout
        self._module: Any = None  # balanced.build.BuildResult
        self._model: str | None = None
        self._delays: tuple[float, float] | None = None
        self._spikes: list[tuple[np.ndarray, np.ndarray]] = []
        self._state: dict[str, list[np.ndarray]] = {}
        self._timers: dict[str, float] = {}
        self._created: str | None = None
        self._choices: Any = None  # balanced.choices.RunChoices, after create()
        self._threads: Any = None  # balanced.kernel.ThreadChoice, after create()
        self._nest_timers = KernelTimers()  # NEST's own timers, summed over the Simulate calls

    # ------------------------------------------------------------------ theory (no NEST)
    def diagnosis(self) -> list[str]:
        """The regime diagnosis of the parameters (balance equations, mean field, warnings),
        as `balanced run` and `balanced config show` print it."""
        from .theory import diagnosis_lines

        return list(diagnosis_lines(self.params))

    # ------------------------------------------------------------------ NEST phases
    def create(self) -> Network:
        """Reset NEST's kernel, install the model (building it once if needed), set
        resolution, virtual processes and seed, and create the E and I populations."""
        from .choices import check_memory, decide
        from .kernel import import_nest, resolve_threads, setup_kernel
        from .network import create_populations
        from .run import _now

        if self.nest is not None:
            raise ApiError("create(): already created; make a new Network for another run")
        d = self.derived
        self._threads = resolve_threads(self.params, self.threads)  # checked against this task's CPUs
        t0 = time.perf_counter()
        if self.params.neuron_model == "nestml":
            from .build import build_model

            self._module = build_model()
        self._timers["build"] = time.perf_counter() - t0
        self._model = self._module.model if self._module else self.params.neuron_model
        t1 = time.perf_counter()
        self.nest = import_nest()
        ranks = self.nest.NumProcesses()
        # huge pages stay off: simulate() may be called many times, a collapse belongs before the first
        self._choices = decide(
            self.params.synapse_model, "off", d.n_synapses_expected, ranks, self.threads, self.params.T
        )
        check_memory(d.n_synapses_expected, d.N, self._choices.synapse_model.value, ranks)
        self._layout = setup_kernel(
            self.nest, dt=self.params.dt, seed=self.params.seed, threads=self.threads, module=self._module
        )
        self._timers["kernel"] = time.perf_counter() - t1
        self._created = _now()
        t2 = time.perf_counter()
        self.E, self.I = create_populations(self.nest, self.params, self.derived, self._model)
        self._timers["create_connect"] = time.perf_counter() - t2
        return self

    def connect(self) -> Network:
        """Connect the populations, add the Poisson drive (if ``nu_ext > 0``) and the
        recorders; NEST's min and max delay are the network's from here on."""
        from .network import connect_network

        if self.E is None:
            raise ApiError("connect(): call create() first")
        if self.handles is not None:
            raise ApiError("connect(): already connected")
        t0 = time.perf_counter()
        self.handles = connect_network(
            self.nest, self.params, self.derived, self.E, self.I, self._choices.synapse_model.value
        )
        self._timers["create_connect"] += time.perf_counter() - t0
        self._delays = self._kernel_delays()
        return self

    @property
    def neurons(self):
        """E and I together (NodeCollection), global index = position."""
        return self.E + self.I

    def _kernel_delays(self) -> tuple[float, float]:
        lo, hi = self.nest.GetKernelStatus(["min_delay", "max_delay"])
        return float(lo), float(hi)

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
        :class:`ApiError` unless ``allow_delay_change`` (see the module docstring).
        Returns the device.
        """
        if self.handles is None:
            raise ApiError("add_device(): call create() and connect() first")
        if isinstance(to, str):
            if to not in ("E", "I", "all"):
                raise ApiError(f"add_device(to={to!r}): allowed: 'E', 'I', 'all' or a NodeCollection")
            targets = {"E": self.E, "I": self.I, "all": self.neurons}[to]
        else:
            targets = to
        spec = dict(syn_spec or {})
        spec.setdefault("delay", self.params.delay)
        model = str(device[0].get("model"))
        element = str(self.nest.GetDefaults(model, "element_type"))
        sends = element == "stimulator" or model in _SAMPLERS
        before = self._kernel_delays()
        if not allow_delay_change:
            d = float(spec["delay"])
            if not (before[0] - 1e-9 <= d <= before[1] + 1e-9):
                allowed = f"{before[0]:g} ms" if before[0] == before[1] else f"{before[0]:g} ms to {before[1]:g} ms"
                raise ApiError(
                    f"add_device({model}): delay = {d:g} ms would change NEST's delays (now min {before[0]:g}, "
                    f"max {before[1]:g} ms): every neuron's input ring has min + max delay steps, so this slows the "
                    f"network; allowed: {allowed}, or pass allow_delay_change=True"
                )
        if sends:
            self.nest.Connect(device, targets, conn_spec, spec)
        else:
            self.nest.Connect(targets, device, conn_spec, spec)
        after = self._kernel_delays()
        if allow_delay_change:
            self._delays = after
        self.devices.append(
            {
                "model": model,
                "direction": "device -> neurons" if sends else "neurons -> device",
                "to": to if isinstance(to, str) else f"{len(targets)} neurons",
                "delay_ms": float(spec["delay"]),
                "at_ms": self.t_ms,
            }
        )
        return device

    def simulate(self, t_ms: float) -> Network:
        """Simulate ``t_ms`` more milliseconds (a multiple of ``dt``), reading and emptying
        the recorders after every chunk. Call again to continue, e.g. after changing a
        stimulus."""
        if self.handles is None:
            raise ApiError("simulate(): call create() and connect() first")
        steps = t_ms / self.params.dt
        if not (t_ms > 0 and abs(steps - round(steps)) < 1e-6):
            raise ApiError(f"simulate(t_ms={t_ms!r}): must be a positive multiple of dt = {self.params.dt:g} ms")
        now, was = self._kernel_delays(), self._delays or self._kernel_delays()
        if now != was:
            raise ApiError(
                f"NEST's delays changed from min {was[0]:g} / max {was[1]:g} ms to "
                f"min {now[0]:g} / max {now[1]:g} ms (a connection made outside add_device?): every neuron's "
                "input ring grows with them; connect devices with add_device(), or pass "
                "allow_delay_change=True to it"
            )
        from .run import Chunks, chunk_steps

        steps = chunk_steps(self.derived.n_synapses_expected / self._layout.mpi_ranks, self.threads, self.params.dt)
        chunks = Chunks(self.t_ms + t_ms, self.params.dt, [], steps, start=self.t_ms)
        h = self.handles
        t0 = time.perf_counter()
        while not chunks.finished:
            edge = chunks.next_edge()
            self.nest.Simulate(edge - chunks.done)
            chunks.advance(edge)
            self._nest_timers.add(self.nest)
            self.t_ms = edge
            ev = h.spike_recorder.events
            self._spikes.append((np.asarray(ev["senders"]) - h.first_id, np.asarray(ev["times"])))
            h.spike_recorder.n_events = 0
            if h.multimeter is not None:
                mev = h.multimeter.events
                self._state.setdefault("neuron", []).append(np.asarray(mev["senders"]) - h.first_id)
                self._state.setdefault("time", []).append(np.asarray(mev["times"]))
                for key in rundir.STATE_FIELDS:
                    self._state.setdefault(key, []).append(np.asarray(mev[key]))
                h.multimeter.n_events = 0
        self._timers["simulate"] = self._timers.get("simulate", 0.0) + time.perf_counter() - t0
        self.simulate_calls_ms.append(float(t_ms))
        return self

    def spikes(self) -> tuple[np.ndarray, np.ndarray]:
        """This rank's spikes so far: (global neuron index int32, time ms), sorted by (time, neuron)."""
        if not self._spikes:
            return np.empty(0, np.int32), np.empty(0)
        neuron = np.concatenate([n for n, _ in self._spikes]).astype(np.int32)
        t = np.concatenate([t for _, t in self._spikes])
        order = np.lexsort((neuron, t))
        return neuron[order], t[order]

    # ------------------------------------------------------------------ run directory
    def write(self, out: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write the run directory ``out`` as ``balanced run`` does (manifest, params.toml,
        spikes.npz, state.npz), as a transaction (:mod:`balanced.transaction`: ``out``
        changes only once everything is written); ``T`` in it is the time simulated. Under
        MPI every rank calls it. Returns ``out``, for ``balanced analyze``, ``balanced
        export`` and :func:`balanced.rundir.load_run`."""
        from .run import _now, new_manifest
        from .transaction import RunTransaction

        if not self.simulate_calls_ms:
            raise ApiError("write(): nothing simulated yet; call simulate(T) first")
        layout, rank = self._layout, self._layout.rank
        params = (
            self.params if abs(self.t_ms - self.params.T) < self.params.dt / 2 else replace(self.params, T=self.t_ms)
        )
        t0 = time.perf_counter()
        txn = RunTransaction(out, overwrite)
        if rank == 0:
            txn.begin()
        stage = txn.staging
        timers = {k: round(v, 4) for k, v in self._timers.items()}
        manifest = new_manifest(self.nest, params, self.preset, self._choices, self._threads, [], timers)
        manifest.update(
            created=self._created,
            layout=layout.as_dict(),
            huge_pages={"setting": "off", "applied": False},
            api={"simulate_calls_ms": list(self.simulate_calls_ms), "devices": list(self.devices)},
        )
        manifest.pop("pid")
        manifest["nest_timers_s"] = self._nest_timers.as_dict()
        manifest["model"].update(nest_model=self._model, module=self._module.module if self._module else None)
        try:
            if rank == 0:
                rundir.write_manifest(stage, manifest)
                rundir.atomic_write_text(stage / rundir.PARAMS_FILE, to_toml(params, header=f"preset: {self.preset}"))
            with rankfiles.RankSpikeWriter(stage, rank) as writer:
                writer.append(*self.spikes())
            if "neuron" in self._state:
                rankfiles.write_rank_state(
                    stage,
                    rank,
                    np.concatenate(self._state["neuron"]),
                    np.concatenate(self._state["time"]),
                    {k: np.concatenate(self._state[k]) for k in rundir.STATE_FIELDS},
                )
            rankfiles.mark_rank_done(stage, rank, self.handles.n_synapses)
            if rank == 0:
                manifest["counts"]["synapses"] = rankfiles.wait_for_ranks(stage, layout.mpi_ranks)
                manifest["counts"]["spikes"] = rankfiles.merge_spikes(stage, layout.mpi_ranks)
                merged = rankfiles.merge_state(stage, layout.mpi_ranks)
                if merged is not None:
                    manifest["files"]["state"] = rundir.STATE_FILE
                    manifest["counts"]["state"] = {"neurons": merged[0], "samples": merged[1]}
                timers["write"] = round(time.perf_counter() - t0, 4)
                manifest.update(status="complete", finished=_now())
                rundir.write_manifest(stage, manifest)
                txn.commit()
        except BaseException as exc:
            if rank == 0:
                manifest.update(status="failed", error=f"{type(exc).__name__}: {exc}", finished=_now())
                txn.abort(manifest)
            raise
        return Path(out)
