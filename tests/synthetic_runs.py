"""Synthetic run directories for the analysis tests and benchmarks (no NEST).

Writes what ``balanced run`` writes (docs/design.md): ``manifest.json`` with status
"complete", ``spikes.npz`` sorted by (time, neuron), optionally ``state.npz``, through
``balanced.rundir``'s writers.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from balanced.rundir import SCHEMA, SPIKES_FILE, STATE_FILE, atomic_save_npz, write_manifest


def poisson_spikes(
    n_neurons: int, rate_hz: float, t_stop_ms: float, seed: int = 0, first: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Independent homogeneous Poisson trains as flat (neuron, time) arrays, fast for
    millions of spikes (count per neuron ~ Poisson, times uniform)."""
    rng = np.random.default_rng(seed)
    counts = rng.poisson(rate_hz * t_stop_ms / 1000.0, size=n_neurons)
    neuron = np.repeat(np.arange(first, first + n_neurons, dtype=np.int32), counts)
    time = rng.uniform(0.0, t_stop_ms, size=len(neuron))
    return neuron, time


def regular_spikes(
    n_neurons: int, period_ms: float, t_stop_ms: float, first: int = 0, jitter_phase: bool = True, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Perfectly periodic trains (one phase per neuron)."""
    rng = np.random.default_rng(seed)
    phases = rng.uniform(0, period_ms, n_neurons) if jitter_phase else np.zeros(n_neurons)
    neurons, times = [], []
    for i in range(n_neurons):
        t = phases[i] + period_ms * np.arange(int((t_stop_ms - phases[i]) // period_ms) + 1)
        t = t[t < t_stop_ms]
        neurons.append(np.full(len(t), first + i, np.int32))
        times.append(t)
    return np.concatenate(neurons), np.concatenate(times)


def write_run(
    run_dir: str | os.PathLike,
    neuron: np.ndarray,
    time: np.ndarray,
    n_e: int,
    n_i: int,
    t_stop_ms: float,
    dt: float = 0.1,
    status: str = "complete",
    state: dict | None = None,
    diagnosis: list[str] | None = None,
    preset: str = "synthetic",
    seed: int = 1,
) -> Path:
    """Write a run directory holding the given spikes (any order; sorted here)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    neuron = np.asarray(neuron, np.int32)
    time = np.asarray(time, np.float64)
    order = np.lexsort((neuron, time))
    atomic_save_npz(run_dir / SPIKES_FILE, neuron=neuron[order], time=time[order])
    if state is not None:
        atomic_save_npz(run_dir / STATE_FILE, **state)
    manifest = {
        "schema": SCHEMA,
        "status": status,
        "error": None,
        "created": "2026-01-01T00:00:00",
        "finished": "2026-01-01T00:00:01" if status == "complete" else None,
        "preset": preset,
        "params": {"N_E": n_e, "N_I": n_i, "T": float(t_stop_ms), "dt": float(dt)},
        "derived": {},
        "seed": seed,
        "versions": {"balanced": "test"},
        "layout": {"mpi_ranks": 1, "threads_per_rank": 1, "virtual_processes": 1},
        "model": {"neuron_model": "synthetic", "nest_model": None, "module": None},
        "timers_s": {},
        "populations": [{"name": "E", "first": 0, "size": n_e}, {"name": "I", "first": n_e, "size": n_i}],
        "files": {"spikes": SPIKES_FILE, "state": STATE_FILE if state is not None else None},
        "counts": {"spikes": int(len(neuron))},
    }
    if diagnosis is not None:
        manifest["diagnosis"] = list(diagnosis)
    write_manifest(run_dir, manifest)
    return run_dir


def synthetic_state(neurons: np.ndarray, t_stop_ms: float, sample_ms: float = 1.0, seed: int = 0) -> dict:
    """A fake state recording: E input ~ +0.6, I input ~ -0.6 pA, V ~ -55 +- 2 mV."""
    rng = np.random.default_rng(seed)
    times = np.arange(0.0, t_stop_ms, sample_ms)
    shape = (len(neurons), len(times))
    return {
        "neuron": np.asarray(neurons, np.int32),
        "time": times,
        "V_m": -55.0 + 2.0 * rng.standard_normal(shape),
        "I_syn_ex": 0.6 + 0.05 * rng.standard_normal(shape),
        "I_syn_in": -0.6 + 0.05 * rng.standard_normal(shape),
    }


def poisson_run(
    run_dir: str | os.PathLike,
    n_e: int = 400,
    n_i: int = 100,
    rate_hz: float = 10.0,
    t_stop_ms: float = 2000.0,
    seed: int = 0,
    with_state: bool = True,
    **kwargs,
) -> Path:
    """A complete run of independent Poisson neurons (optionally with recorded state)."""
    neuron, time = poisson_spikes(n_e + n_i, rate_hz, t_stop_ms, seed=seed)
    state = None
    if with_state:
        state = synthetic_state(np.r_[np.arange(5), n_e + np.arange(5)], t_stop_ms, seed=seed)
    return write_run(run_dir, neuron, time, n_e, n_i, t_stop_ms, state=state, **kwargs)
