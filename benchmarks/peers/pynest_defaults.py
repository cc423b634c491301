"""The network written the way a NEST user would, with NEST's defaults (plain PyNEST).

No ``balanced`` code: ``iaf_psc_exp`` (C_m = tau_m, so 1 pA = 1 mV), the default
``static_synapse``, ``fixed_indegree`` from E and from I onto all neurons (repeated sources
allowed, NEST's default; ``--no-multapses``: K distinct sources per target, the graph
``balanced`` builds), constant drive I_e = Ib, one spike recorder in memory, one
``Simulate``. NEST's OpenMP wait policy is libgomp's default. Prints one JSON line (see
``_peer.emit``); optionally saves the spikes (``--spikes FILE.npz``).

    python benchmarks/peers/pynest_defaults.py --n 20000 --k 1000 --threads 2
"""

from __future__ import annotations

import os
import time

T_START = time.perf_counter()
os.environ.setdefault("PYNEST_QUIET", "1")

import _peer  # noqa: E402
import numpy as np  # noqa: E402


def main(argv=None) -> int:
    ap = _peer.parser(__doc__.split("\n\n")[0])
    ap.add_argument("--no-multapses", action="store_true", help="K distinct sources per target (allow_multapses=False)")
    ap.add_argument("--spikes", help="also save the spikes (neuron from 0, time in ms) to this .npz")
    args = ap.parse_args(argv)
    n_e, n_i, k, j = _peer.sizes(args.n, args.k)

    import nest

    t_import = time.perf_counter()
    rss_base = _peer.rss_kb()
    nest.verbosity = nest.VerbosityLevel.WARNING  # log lines only; no effect on the simulation
    nest.ResetKernel()
    nest.set(resolution=_peer.DT_MS, local_num_threads=args.threads, rng_seed=args.seed, print_time=False)
    neuron = dict(
        C_m=_peer.TAU_MS,
        tau_m=_peer.TAU_MS,
        E_L=_peer.V_REST_MV,
        V_th=_peer.V_TH_MV,
        V_reset=_peer.V_RESET_MV,
        t_ref=0.0,
        tau_syn_ex=_peer.TAU_S_MS,
        tau_syn_in=_peer.TAU_S_MS,
        I_e=_peer.IB_MV,
    )
    E = nest.Create("iaf_psc_exp", n_e, params=neuron)
    I = nest.Create("iaf_psc_exp", n_i, params=neuron)  # noqa: E741
    (E + I).V_m = nest.random.normal(_peer.V_INIT_MEAN_MV, _peer.V_INIT_SD_MV)
    flags = {"allow_multapses": False} if args.no_multapses else {}
    for src, w in ((E, j), (I, -j)):
        nest.Connect(
            src, E + I, {"rule": "fixed_indegree", "indegree": k, **flags}, {"weight": w, "delay": _peer.DELAY_MS}
        )
    sr = nest.Create("spike_recorder")
    nest.Connect(E + I, sr)
    t_build = time.perf_counter()
    nest.Simulate(args.T)
    t_sim = time.perf_counter()
    ev = sr.events
    neuron_id = np.asarray(ev["senders"]) - E[0].global_id
    times = np.asarray(ev["times"])
    if args.spikes:
        np.savez(args.spikes, neuron=neuron_id, time=times)
    rate_e, cv_e = _peer.e_stats(neuron_id, times, n_e, args.T)
    _peer.emit(
        "pynest",
        nest.__version__,
        args.threads,
        t_build - t_import,
        t_sim - t_build,
        import_s=t_import - T_START,
        spikes=int(sr.n_events),
        n_synapses=int(nest.num_connections) - args.n,  # less the recorder's connections
        rate_e_hz=rate_e,
        cv_e=cv_e,
        rss_base_kb=rss_base,
        allow_multapses=not args.no_multapses,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
