"""A run as a ``neo.Block``: the objects every Elephant function takes.

:func:`to_neo` returns one :class:`neo.Block` with one :class:`neo.Segment` holding

* one ``neo.SpikeTrain`` per neuron (ms), annotated with ``neuron`` (global index, E first),
  ``index`` (index inside its population) and ``population`` (``"E"`` / ``"I"``), in the
  order of the global index, and the same trains in one ``neo.Group`` per population;
* when the run recorded state, the sampled ``V_m`` (mV), ``I_syn_ex`` and ``I_syn_in``
  (pA) as ``neo.AnalogSignal`` (times x recorded neurons) with the array annotation
  ``neuron``; each population's group holds a ``neo.ChannelView`` of its rows;
* the run's metadata as block annotations: run id, preset, seed, parameters, derived
  quantities, versions, the window, ``dt_ms`` and ``T_ms``.

Window: spikes with ``t_start <= t < t_stop`` (ms, the rule of
:mod:`balanced.analysis.stats`), each train with those ``t_start`` / ``t_stop``; the
default is the whole run ``[0, T)``. NEST stamps a spike at the end of the step in which
it happened, so a spike of the last step carries ``t = T``; the half-open window leaves
it out, which keeps Elephant's binning from dropping it with a warning
(``BinnedSpikeTrain`` has no bin for ``t = t_stop``) and makes Elephant's rates on these
trains equal the ones in ``stats.json``.

Speed: the trains are slices of one ``SpikeTrain`` of all spikes sorted by neuron (one
sort, no search per neuron), which skips the unit and range checks that dominate a
``SpikeTrain`` constructor per neuron (``benchmarks/bench_neo.py`` times it). Each train
gets its own annotations dictionary; its data are a view of the block's sorted copy of the
run's spike times, never of the run's arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from balanced.rundir import Run

from .selection import _stable_order

STATE_UNITS = {"V_m": "mV", "I_syn_ex": "pA", "I_syn_in": "pA"}


def neo_window(run: Run, t_start: float | None, t_stop: float | None) -> tuple[float, float]:
    """``(t_start, t_stop)`` in ms, default ``(0, T)``; ValueError naming the allowed range."""
    t_total = run.t_stop_ms
    a = 0.0 if t_start is None else float(t_start)
    b = t_total if t_stop is None else float(t_stop)
    if not (0.0 <= a < b <= t_total + 1e-9):
        raise ValueError(f"window: ({a:g}, {b:g}) ms; allowed: 0 <= t_start < t_stop <= T = {t_total:g} ms")
    return a, b


def spike_trains(run: Run, t_start: float, t_stop: float, closed: bool = False) -> list:
    """One ``neo.SpikeTrain`` (ms) per neuron of the run, in global-index order: the spikes
    with ``t_start <= t < t_stop`` (``<= t_stop`` if ``closed``)."""
    import neo
    import quantities as pq

    neuron, time = run.spikes.neuron, run.spikes.time
    keep = (time >= t_start) & ((time <= t_stop) if closed else (time < t_stop))
    idx = neuron[keep].astype(np.int64)
    t = time[keep]
    order = _stable_order(idx)  # spikes.npz is time-sorted, so each train comes out sorted
    idx, t = idx[order], t[order]
    n_total = sum(p.size for p in run.populations)
    bounds = np.searchsorted(idx, np.arange(n_total + 1)).tolist()
    base = neo.SpikeTrain(t, units=pq.ms, t_start=t_start * pq.ms, t_stop=t_stop * pq.ms, copy=None)
    trains = []
    for pop in run.populations:
        for i in range(pop.size):
            g = pop.first + i
            st = base[bounds[g] : bounds[g + 1]]
            st.annotations = {"neuron": g, "index": i, "population": pop.name}
            st.name = f"{pop.name}{i}"
            trains.append(st)
    return trains


def state_signals(run: Run, t_start: float, t_stop: float) -> list:
    """``V_m``, ``I_syn_ex``, ``I_syn_in`` inside the window as signals (times x neurons)."""
    import neo
    import quantities as pq

    state = run.state
    if state is None:
        return []
    cols = np.flatnonzero((state.time >= t_start) & (state.time < t_stop))
    if len(cols) == 0:
        return []
    times = state.time[cols]
    steps = np.diff(times)
    regular = len(times) < 2 or np.allclose(steps, steps[0], rtol=0, atol=1e-9)
    signals = []
    for key, unit in STATE_UNITS.items():
        data = np.ascontiguousarray(getattr(state, key)[:, cols].T)
        if regular:
            period = float(steps[0]) if len(steps) else run.dt_ms
            sig = neo.AnalogSignal(
                data, units=unit, t_start=float(times[0]) * pq.ms, sampling_period=period * pq.ms, name=key
            )
        else:
            sig = neo.IrregularlySampledSignal(times * pq.ms, data, units=unit, time_units="ms", name=key)
        sig.array_annotate(neuron=np.asarray(state.neuron, np.int64))
        signals.append(sig)
    return signals


def run_annotations(run: Run, window: tuple[float, float], closed: bool = False) -> dict[str, Any]:
    """The block's annotations: what the manifest says about the run."""
    m = run.manifest
    out = {
        "run_id": m.get("run_id", run.path.name),
        "preset": m.get("preset"),
        "seed": m.get("seed"),
        "params": m.get("params", {}),
        "derived": m.get("derived", {}),
        "versions": m.get("versions", {}),
        "T_ms": run.t_stop_ms,
        "dt_ms": run.dt_ms,
        "window_ms": [float(window[0]), float(window[1])],
        "window_closed": bool(closed),
        "n_spikes": int(len(run.spikes)),
    }
    if m.get("diagnosis"):
        out["diagnosis"] = list(m["diagnosis"])
    return {k: v for k, v in out.items() if v is not None}


def to_neo(
    run: Run, t_start: float | None = None, t_stop: float | None = None, state: bool = True, closed: bool = False
):
    """The run as a ``neo.Block`` (see the module docstring); times in ms.

    ``run``: an opened run (:func:`balanced.rundir.load_run`). ``t_start`` / ``t_stop``:
    the window in ms (default the whole run). ``state``: include the recorded signals.
    ``closed``: keep the spikes at ``t = t_stop`` too (neo's own rule; Elephant's binning
    then discards them with a warning), e.g. to have every spike of ``[0, T]``.
    """
    import neo

    window = neo_window(run, t_start, t_stop)
    block = neo.Block(
        name=str(run.manifest.get("run_id", run.path.name)),
        file_origin=str(run.path),
        **run_annotations(run, window, closed),
    )
    seg = neo.Segment(name="run", index=0)
    block.segments.append(seg)
    trains = spike_trains(run, *window, closed=closed)
    seg.spiketrains.extend(trains)
    for st in trains:
        st.segment = seg
    signals = state_signals(run, *window) if state else []
    for sig in signals:
        sig.segment = seg
        if isinstance(sig, neo.AnalogSignal):
            seg.analogsignals.append(sig)
        else:
            seg.irregularlysampledsignals.append(sig)
    recorded = run.state.neuron if (signals and run.state is not None) else np.empty(0, np.int64)
    for pop in run.populations:
        group = neo.Group(name=pop.name, population=pop.name, first=pop.first, size=pop.size)
        group.spiketrains.extend(trains[pop.first : pop.stop])
        rows = np.flatnonzero((recorded >= pop.first) & (recorded < pop.stop))
        if len(rows):
            for sig in signals:
                group.add(neo.ChannelView(sig, rows, name=f"{sig.name} {pop.name}"))
        block.groups.append(group)
    return block
