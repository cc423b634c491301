"""What every peer script shares: the network's parameters, its statistics, one JSON line.

Imported by the scripts beside it, each run by its own tool's Python (numpy only, no
``balanced``). The network is the BrainPy tutorial's (van Vreeswijk & Sompolinsky 1996 in
the tutorial form): N_E = N_I = N/2 leaky integrate-and-fire neurons (tau = 10 ms,
V_rest = -52, V_th = -50, V_reset = -60 mV, no refractory period, V(0) ~ Normal(-60, 10)
mV) with exponentially decaying current synapses (tau_s = 2 ms), K inputs from each
population onto every neuron (fixed in-degree), jumps J_E = -J_I = 1/sqrt(K) mV, constant
drive Ib = 3 mV, dt = 0.1 ms, synaptic delay one step (0.1 ms).

The statistics are those of ``balanced``'s analysis over its default window (50 ms after
the start to 50 ms before the end, half-open): E rate = E spikes in the window / N_E /
window; ISI CV = std/mean of each E neuron's inter-spike intervals in the window (ddof 0),
averaged over the E neurons with at least 3 spikes there.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

import numpy as np

TAU_MS = 10.0
TAU_S_MS = 2.0
V_REST_MV = -52.0
V_TH_MV = -50.0
V_RESET_MV = -60.0
V_INIT_MEAN_MV = -60.0
V_INIT_SD_MV = 10.0
IB_MV = 3.0
DT_MS = 0.1
DELAY_MS = 0.1


def parser(description: str) -> argparse.ArgumentParser:
    """The options every peer script takes (network size, model time, threads, seed)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--n", type=int, default=1000, help="neurons, N_E = N_I = n/2 (default 1000)")
    ap.add_argument("--k", type=int, default=50, help="in-degree from each population (default 50, the tutorial's)")
    ap.add_argument("--T", type=float, default=1000.0, help="model time, ms (default 1000)")
    ap.add_argument("--threads", type=int, default=2, help="threads the tool may use (default 2)")
    ap.add_argument("--seed", type=int, default=12345)
    return ap


def sizes(n: int, k: int) -> tuple[int, int, int, float]:
    """(N_E, N_I, K, J) for ``n`` neurons and in-degree ``k`` per population; J in mV."""
    n_e = n // 2
    n_i = n - n_e
    if not 0 < k <= min(n_e, n_i):
        sys.exit(f"--k: {k} must be between 1 and N/2 = {min(n_e, n_i)} (distinct sources per population)")
    return n_e, n_i, k, 1.0 / math.sqrt(k)


def window(T: float) -> tuple[float, float]:
    """The analysis window in ms (``balanced``'s default)."""
    return (50.0, T - 50.0) if T > 100.0 else (0.0, T)


def e_stats(neuron: np.ndarray, time_ms: np.ndarray, n_e: int, T: float) -> tuple[float, float]:
    """(E rate in Hz, mean ISI CV of E) from spikes of neurons 0..n_e-1 (E) and others (I).

    ``time_ms`` in NEST's convention (a spike is labelled with the end of its step).
    """
    t0, t1 = window(T)
    sel = (neuron < n_e) & (time_ms >= t0) & (time_ms < t1)
    idx, t = neuron[sel], time_ms[sel]
    rate = len(idx) / n_e / ((t1 - t0) / 1000.0)
    order = np.lexsort((t, idx))
    idx, t = idx[order], t[order]
    same = idx[1:] == idx[:-1]
    isi, owner = np.diff(t)[same], idx[1:][same]
    n_isi = np.bincount(owner, minlength=n_e).astype(float)
    ok = n_isi >= 2  # at least 3 spikes
    if not ok.any():
        return rate, float("nan")
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(owner, weights=isi, minlength=n_e) / n_isi
        dev = isi - mean[owner]
        var = np.bincount(owner, weights=dev * dev, minlength=n_e) / n_isi
    return rate, float((np.sqrt(var[ok]) / mean[ok]).mean())


def rss_kb() -> int:
    """This process's resident memory now, kB (``VmRSS``)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def emit(tool: str, version: str, threads: int, build_s: float, simulate_s: float, **fields) -> None:
    """Print the one JSON line the driver reads (the last line of stdout)."""
    out = {"tool": tool, "version": version, "threads": threads, "build_s": build_s, "simulate_s": simulate_s}
    out.update(fields)
    sys.stdout.flush()
    print(json.dumps(out), flush=True)
