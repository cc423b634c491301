"""The network in BrainPy 2.9, as the tutorial writes it, on JAX's CPU backend.

The tutorial's ``EINet``: ``bp.neurons.LIF`` for E and I, four ``bp.synapses.Exponential``
projections (event-driven CSR, current-based), ``bp.DSRunner`` with the constant input
Ib. One change: ``bp.conn.FixedPreNum(K)`` (every neuron gets K distinct sources from each
population, self-connections allowed: fixed in-degree, drawn with numba) instead of the
tutorial's ``FixedProb(p)``, so that all tools simulate the same graph statistics. BrainPy
2.9 moved ``bp.dyn.Network`` and ``bp.dyn.DSRunner`` to ``bp.Network`` and
``bp.DSRunner``; the rest of the tutorial runs unchanged. Single precision, BrainPy's
default.

build_s: network and connectivity (numba, then CSR on JAX) and the runner; simulate_s:
the ``run`` calls, the JIT compilation included (``first_chunk_s``: the first call).
As in the tutorial, one ``run`` call for up to 1 s of model time (``--chunk-ms``) and a
dense monitor of E's spikes (T/dt x N_E booleans); I's spikes are counted per step.
``--threads``: this process's CPU affinity, set before JAX starts, which sizes XLA's
thread pools.

    python benchmarks/peers/brainpy_net.py --n 10000 --k 1000 --threads 2
"""

from __future__ import annotations

import os
import time

T_START = time.perf_counter()

import _peer  # noqa: E402
import numpy as np  # noqa: E402

CHUNK_MS = 1000.0


def main(argv=None) -> int:
    ap = _peer.parser(__doc__.split("\n\n")[0])
    ap.add_argument("--chunk-ms", type=float, default=CHUNK_MS, help=f"model time per run call (default {CHUNK_MS:g})")
    args = ap.parse_args(argv)
    n_e, n_i, k, j = _peer.sizes(args.n, args.k)
    cpus = sorted(os.sched_getaffinity(0))
    threads = min(args.threads, len(cpus))
    os.sched_setaffinity(0, cpus[:threads])
    os.environ.setdefault("JAX_PLATFORMS", "cpu")

    import brainpy as bp
    import brainpy.math as bm

    t_import = time.perf_counter()
    rss_base = _peer.rss_kb()
    bm.set_platform("cpu")
    bm.set_dt(_peer.DT_MS)
    bm.random.seed(args.seed)
    pars = dict(
        V_rest=_peer.V_REST_MV,
        V_th=_peer.V_TH_MV,
        V_reset=_peer.V_RESET_MV,
        tau=_peer.TAU_MS,
        tau_ref=0.0,
        V_initializer=bp.init.Normal(_peer.V_INIT_MEAN_MV, _peer.V_INIT_SD_MV),
    )

    class EINet(bp.Network):
        def __init__(self):
            E = bp.neurons.LIF(n_e, **pars)
            I = bp.neurons.LIF(n_i, **pars)  # noqa: E741
            projections = []
            for s, (pre, post, w) in enumerate(((E, E, j), (E, I, j), (I, E, -j), (I, I, -j))):
                conn = bp.conn.FixedPreNum(k, include_self=True, allow_multi_conn=False, seed=args.seed + s)
                projections.append(bp.synapses.Exponential(pre, post, conn, g_max=w, tau=_peer.TAU_S_MS))
            super().__init__(*projections, E=E, I=I)

    net = EINet()
    runner = bp.DSRunner(
        net,
        inputs=[("E.input", _peer.IB_MV), ("I.input", _peer.IB_MV)],
        monitors={"E.spike": net.E.spike, "I.count": lambda: bm.sum(net.I.spike)},
        progress_bar=False,
    )
    n_syn = int(sum(int(p.comm.indices.size) for p in net.nodes(level=1).subset(bp.synapses.Exponential).values()))
    t_build = time.perf_counter()
    neurons, times, chunks = [], [], []
    n_i_spikes = 0
    done = 0.0
    while done < args.T - 1e-9:
        length = min(args.chunk_ms, args.T - done)
        t0 = time.perf_counter()
        runner.run(length)
        chunks.append(time.perf_counter() - t0)
        ts = np.asarray(runner.mon["ts"])
        step, idx = np.nonzero(np.asarray(runner.mon["E.spike"]))
        neurons.append(idx.astype(np.int64))
        times.append(ts[step] + _peer.DT_MS)  # NEST's convention: the end of the step
        n_i_spikes += int(np.asarray(runner.mon["I.count"]).sum())
        done += length
    t_sim = time.perf_counter()
    neuron, time_ms = np.concatenate(neurons), np.concatenate(times)
    rate_e, cv_e = _peer.e_stats(neuron, time_ms, n_e, args.T)
    _peer.emit(
        "brainpy",
        bp.__version__,
        threads,
        t_build - t_import,
        t_sim - t_build,
        import_s=t_import - T_START,
        first_chunk_s=chunks[0],
        chunks_s=[round(c, 3) for c in chunks],
        spikes=int(len(neuron)) + n_i_spikes,
        n_synapses=n_syn,
        rate_e_hz=rate_e,
        cv_e=cv_e,
        rss_base_kb=rss_base,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
