"""Export a complete run directory to the formats the field shares data in: NWB and NIX.

* **NWB** (``pynwb``): a ``Units`` table with one row per neuron (every neuron, silent
  ones with no spikes), ``spike_times`` in seconds and the columns ``neuron`` (global
  index, E first), ``population`` and ``index`` (inside the population); the recorded
  state, when there is one, as ``TimeSeries`` ``V_m`` (volts), ``I_syn_ex`` and
  ``I_syn_in`` (amperes) in ``acquisition``: the data as recorded (mV, pA) with NWB's
  ``conversion`` factor to SI (1e-3, 1e-12), timestamps in seconds, and a table
  ``recorded_neurons`` naming the neuron of each column. Session metadata from the
  manifest: identifier and session id (run id), start time (``created``), description
  (preset, network size, T), and the parameters, derived quantities, seed, versions and
  layout as JSON in ``notes``.
* **NIX** (``nixio``, through ``neo.io.NixIO``): the block of
  :func:`balanced.analysis.neo.to_neo` over the whole run including spikes stamped at
  ``T`` (window ``[0, T]``), nested annotations as JSON text (NIX stores flat values).

Spike times are every spike of ``spikes.npz``; nothing is windowed. Both need the
optional extra ``pip install 'balanced[export]'``. The file is written next to its target
and renamed at the end, so a failed export leaves no half-written file.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from balanced.rundir import Run, load_run
from balanced.transaction import OutputError

FORMATS = {"nwb": ".nwb", "nix": ".nix"}
EXPORT_DIR = "export"
# NWB TimeSeries: unit name and factor from the recorded unit to it
SI = {"V_m": ("volts", 1e-3), "I_syn_ex": ("amperes", 1e-12), "I_syn_in": ("amperes", 1e-12)}
PACKAGES = {"nwb": "pynwb", "nix": "nixio"}


class ExportUnavailable(Exception):
    """The package a format needs is not installed (message says how to install it)."""


def _require(fmt: str) -> None:
    import importlib.util

    if importlib.util.find_spec(PACKAGES[fmt]) is None:
        raise ExportUnavailable(
            f"--format {fmt}: needs the package {PACKAGES[fmt]!r}, which is not installed; "
            "install it with: pip install 'balanced[export]'"
        )


def default_path(run: Run, fmt: str) -> Path:
    """``RUN_DIR/export/RUN_ID.nwb`` (or ``.nix``)."""
    run_id = str(run.manifest.get("run_id", run.path.name))
    return run.path / EXPORT_DIR / f"{run_id}{FORMATS[fmt]}"


def export_run(
    run_dir: str | os.PathLike, fmt: str, out: str | os.PathLike | None = None, overwrite: bool = False
) -> Path:
    """Write the run ``run_dir`` as ``fmt`` (``"nwb"`` or ``"nix"``) to ``out`` (default
    :func:`default_path`, inside the run directory, replaced by a new export); returns the
    path. An existing ``out`` is replaced only with ``overwrite``. Raises
    :class:`balanced.rundir.RunDirError` for an incomplete run,
    :class:`balanced.transaction.OutputError` for an ``out`` that exists,
    :class:`ExportUnavailable` without the package, ValueError for an unknown format."""
    if fmt not in FORMATS:
        raise ValueError(f"format: {fmt!r}; allowed: {', '.join(FORMATS)}")
    run = load_run(run_dir)
    _require(fmt)
    path = Path(out) if out is not None else default_path(run, fmt)
    if out is not None and (path.exists() or path.is_symlink()):
        if path.is_dir():
            raise OutputError(f"--out {path}: is a folder; name the file to write")
        if not overwrite:
            raise OutputError(f"--out {path}: exists; pass --overwrite to replace it, or choose another --out")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")  # this process's own
    try:
        (write_nwb if fmt == "nwb" else write_nix)(run, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


# --------------------------------------------------------------------------- NWB
def _start_time(manifest: dict[str, Any]) -> _dt.datetime:
    try:
        t = _dt.datetime.fromisoformat(str(manifest.get("created")))
    except ValueError:
        t = _dt.datetime.fromtimestamp(0)
    return t if t.tzinfo is not None else t.replace(tzinfo=_dt.UTC)


def _session_notes(run: Run) -> str:
    m = run.manifest
    keys = ("params", "derived", "seed", "versions", "layout", "model", "diagnosis", "populations", "counts")
    return json.dumps({k: m[k] for k in keys if k in m}, indent=1, sort_keys=True)


def _units_table(run: Run):
    """The Units table built from the flat arrays in one pass (no add_unit per neuron)."""
    from hdmf.common import VectorData, VectorIndex
    from pynwb.misc import Units

    n_total = sum(p.size for p in run.populations)
    neuron, time = run.spikes.neuron, run.spikes.time
    order = np.lexsort((time, neuron))
    times_s = time[order] / 1000.0
    ends = np.searchsorted(neuron[order], np.arange(1, n_total + 1))
    pop_name = np.empty(n_total, dtype=object)
    index = np.empty(n_total, dtype=np.int64)
    for pop in run.populations:
        pop_name[pop.first : pop.stop] = pop.name
        index[pop.first : pop.stop] = np.arange(pop.size)
    spike_times = VectorData(name="spike_times", data=times_s, description="spike times (s), NEST's end-of-step stamps")
    columns = [
        spike_times,
        VectorIndex(name="spike_times_index", data=ends, target=spike_times),
        VectorData(name="neuron", data=np.arange(n_total), description="global neuron index (0-based, E first)"),
        VectorData(name="population", data=pop_name.tolist(), description="population of the neuron (E or I)"),
        VectorData(name="index", data=index, description="index of the neuron inside its population"),
    ]
    return Units(
        name="units",
        id=np.arange(n_total),
        columns=columns,
        resolution=run.dt_ms / 1000.0,
        description="every neuron of the network, one row each (silent neurons have no spikes)",
    )


def write_nwb(run: Run, path: str | os.PathLike) -> None:
    """Write ``run`` as an NWB file at ``path`` (see the module docstring)."""
    from hdmf.common import DynamicTable, VectorData
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries

    m = run.manifest
    run_id = str(m.get("run_id", run.path.name))
    n_total = sum(p.size for p in run.populations)
    sizes = ", ".join(f"{p.size} {p.name}" for p in run.populations)
    nwb = NWBFile(
        session_description=f"balanced E/I network simulation (preset {m.get('preset')}): {sizes} neurons, "
        f"T = {run.t_stop_ms:g} ms, dt = {run.dt_ms:g} ms, seed {m.get('seed')}",
        identifier=f"balanced-{run_id}-{m.get('created')}",
        session_id=run_id,
        session_start_time=_start_time(m),
        experiment_description="van Vreeswijk & Sompolinsky (1996) balanced network simulated with NEST "
        f"{m.get('versions', {}).get('nest', '')}; written by balanced "
        f"{m.get('versions', {}).get('balanced', '')}",
        notes=_session_notes(run),
        source_script="balanced run",
        source_script_file_name="balanced",
    )
    nwb.units = _units_table(run)
    state = run.state
    if state is not None:
        t_s = np.asarray(state.time, np.float64) / 1000.0
        for key, (unit, factor) in SI.items():
            nwb.add_acquisition(
                TimeSeries(
                    name=key,
                    data=np.ascontiguousarray(getattr(state, key).T),
                    unit=unit,
                    conversion=factor,
                    timestamps=t_s,
                    description=f"{key} of the recorded neurons (columns: recorded_neurons), "
                    f"stored as recorded ({'mV' if key == 'V_m' else 'pA'})",
                )
            )
        pops = np.empty(len(state.neuron), dtype=object)
        for pop in run.populations:
            pops[(state.neuron >= pop.first) & (state.neuron < pop.stop)] = pop.name
        nwb.add_acquisition(
            DynamicTable(
                name="recorded_neurons",
                description="the neuron of each column of V_m, I_syn_ex and I_syn_in",
                columns=[
                    VectorData(name="neuron", data=np.asarray(state.neuron, np.int64), description="global index"),
                    VectorData(name="population", data=pops.tolist(), description="E or I"),
                ],
            )
        )
    assert len(nwb.units) == n_total
    with NWBHDF5IO(str(path), mode="w") as io:
        io.write(nwb)


# --------------------------------------------------------------------------- NIX
def _flat_annotations(annotations: dict[str, Any]) -> dict[str, Any]:
    """NIX keeps numbers, strings and flat lists: nested values become JSON text."""
    out = {}
    for key, value in annotations.items():
        flat = isinstance(value, (int, float, str)) or (
            isinstance(value, list) and all(isinstance(v, (int, float)) for v in value) and value
        )
        out[key] = value if flat else json.dumps(value, sort_keys=True)
    return out


def write_nix(run: Run, path: str | os.PathLike) -> None:
    """Write ``run`` as a NIX file at ``path`` through ``neo.io.NixIO``."""
    from neo.io import NixIO

    from .neo import to_neo

    block = to_neo(run, closed=True)  # every spike of [0, T], also those stamped at T
    block.annotations = _flat_annotations(block.annotations)
    with NixIO(str(path), mode="ow") as io:
        io.write_block(block)
