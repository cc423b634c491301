"""The network in Brian2: C++ standalone (``--mode standalone``) or the cython runtime.

One ``NeuronGroup`` of N neurons (E the first N/2, I the rest) integrated exactly
(``method='exact'``), two ``Synapses`` (from E, from I) with one weight each and one
homogeneous delay of 0.1 ms, connected from numpy index arrays: every neuron gets K
distinct sources from each population (fixed in-degree, self-connections allowed, as
``balanced`` builds it; Brian2's generator syntax only draws targets, not sources). One
``SpikeMonitor``.

build_s is everything before the simulation loop (objects, connectivity, code generation,
compilation, the standalone binary's set-up), simulate_s Brian2's own time of the loop
(``device._last_run_time``). Standalone builds in a persistent folder per configuration
(``--build-dir``, default under ``$XDG_CACHE_HOME`` or ``~/.cache``), so a rerun
recompiles nothing, as a Brian2 user's rerun; the cython runtime keeps Brian2's own
extension cache. OpenMP threads: ``--threads`` (standalone); the runtime runs one thread.

    python benchmarks/peers/brian2_net.py --mode standalone --n 10000 --k 1000 --threads 2
"""

from __future__ import annotations

import os
import time
from pathlib import Path

T_START = time.perf_counter()

import _peer  # noqa: E402
import numpy as np  # noqa: E402


def indegree_sources(rng: np.random.Generator, n_src: int, n_tgt: int, k: int) -> np.ndarray:
    """(n_tgt, k) int32: k distinct sources in [0, n_src) for every target, drawn uniformly."""
    src = rng.integers(0, n_src, size=(n_tgt, k), dtype=np.int32)
    rows = np.arange(n_tgt)
    while len(rows):
        block = np.sort(src[rows], axis=1)
        dup = np.zeros(block.shape, dtype=bool)
        dup[:, 1:] = block[:, 1:] == block[:, :-1]
        n_dup = int(dup.sum())
        block[dup] = rng.integers(0, n_src, size=n_dup, dtype=np.int32)
        src[rows] = block
        rows = rows[dup.any(axis=1)]  # redrawn values may collide again: only those rows are checked again
    return src


def default_build_dir(args) -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "balanced-peers" / f"brian2-standalone-n{args.n}-k{args.k}-t{args.threads}-s{args.seed}"


def main(argv=None) -> int:
    ap = _peer.parser(__doc__.split("\n\n")[0])
    ap.add_argument("--mode", choices=("standalone", "cython"), default="standalone")
    ap.add_argument("--build-dir", help="standalone project folder (default: a per-configuration cache folder)")
    args = ap.parse_args(argv)
    n_e, n_i, k, j = _peer.sizes(args.n, args.k)

    import brian2 as b2

    t_import = time.perf_counter()
    rss_base = _peer.rss_kb()
    b2.BrianLogger.log_level_warn()
    if args.mode == "standalone":
        build_dir = Path(args.build_dir) if args.build_dir else default_build_dir(args)
        b2.set_device("cpp_standalone", directory=str(build_dir), build_on_run=False)
        b2.prefs.devices.cpp_standalone.openmp_threads = args.threads
        threads = args.threads
    else:
        b2.prefs.codegen.target = "cython"
        threads = 1
    b2.seed(args.seed)
    b2.defaultclock.dt = _peer.DT_MS * b2.ms
    ms, mV = b2.ms, b2.mV
    namespace = dict(
        tau=_peer.TAU_MS * ms,
        tau_s=_peer.TAU_S_MS * ms,
        V_rest=_peer.V_REST_MV * mV,
        V_th=_peer.V_TH_MV * mV,
        V_reset=_peer.V_RESET_MV * mV,
        Ib=_peer.IB_MV * mV,
        J_E=j * mV,
        J_I=-j * mV,
    )
    eqs = """
    dv/dt = (-(v - V_rest) + Ib + I_syn) / tau : volt
    dI_syn/dt = -I_syn / tau_s : volt
    """
    G = b2.NeuronGroup(args.n, eqs, threshold="v >= V_th", reset="v = V_reset", method="exact", namespace=namespace)
    G.v = (_peer.V_INIT_MEAN_MV + _peer.V_INIT_SD_MV * np.random.default_rng(args.seed).standard_normal(args.n)) * mV
    rng = np.random.default_rng(args.seed + 1)
    synapses = []
    for first, size, weight in ((0, n_e, "J_E"), (n_e, n_i, "J_I")):
        S = b2.Synapses(
            G[first : first + size], G, on_pre=f"I_syn_post += {weight}", delay=_peer.DELAY_MS * ms, namespace=namespace
        )
        src = indegree_sources(rng, size, args.n, k)
        S.connect(i=src.ravel(), j=np.repeat(np.arange(args.n, dtype=np.int32), k))
        del src
        synapses.append(S)
    mon = b2.SpikeMonitor(G)
    net = b2.Network(G, *synapses, mon)
    net.run(args.T * ms)
    if args.mode == "standalone":
        b2.device.build(directory=str(build_dir), compile=True, run=True, with_output=False)
    t_end = time.perf_counter()
    simulate = float(b2.device._last_run_time)
    neuron = np.asarray(mon.i[:], dtype=np.int64)
    times = np.asarray(mon.t[:] / ms) + _peer.DT_MS  # NEST's convention: the end of the step
    rate_e, cv_e = _peer.e_stats(neuron, times, n_e, args.T)
    n_syn = int(sum(len(S) for S in synapses))
    _peer.emit(
        f"brian2-{args.mode}",
        b2.__version__,
        threads,
        t_end - t_import - simulate,
        simulate,
        import_s=t_import - T_START,
        spikes=int(len(neuron)),
        n_synapses=n_syn,
        rate_e_hz=rate_e,
        cv_e=cv_e,
        rss_base_kb=rss_base,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
