"""The same network written the way a NEST user would, with NEST's defaults: the baseline
for "end to end faster than NEST's defaults" (issue: N = 2e4, K = 1000, 2 threads).

Plain PyNEST, no `balanced` code: `iaf_psc_exp` (C_m = tau_m so 1 pA = 1 mV), the default
`static_synapse`, `fixed_indegree` E->E, E->I, I->E, I->I (repeated sources allowed,
NEST's default; ``--no-multapses``: K distinct sources per target, the graph `balanced`
builds, which NEST connects more slowly), constant drive I_e = Ib, a
spike recorder in memory, one `Simulate`, spikes written with numpy. NEST's OpenMP wait
policy is left at libgomp's default. Prints one JSON line with the phase times; the
parent measures the process's wall time.

    .venv/bin/python benchmarks/nest_defaults.py --n 20000 --k 1000 --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

CHILD = r"""
import json, math, sys, time
t0 = time.perf_counter()
import numpy as np
import nest
a = json.loads(sys.argv[1])
t_import = time.perf_counter()
nest.ResetKernel()
nest.set(resolution=0.1, local_num_threads=a["threads"], rng_seed=a["seed"], print_time=False)
half = a["n"] // 2
k = min(a["k"], half)
j = 1.0 / math.sqrt(k)
neuron = dict(C_m=10.0, tau_m=10.0, E_L=-52.0, V_th=-50.0, V_reset=-60.0, t_ref=0.0,
              tau_syn_ex=2.0, tau_syn_in=2.0, I_e=3.0)
E = nest.Create("iaf_psc_exp", half, params=neuron)
I = nest.Create("iaf_psc_exp", a["n"] - half, params=neuron)
(E + I).V_m = nest.random.normal(-60.0, 10.0)
for src, w in ((E, j), (I, -j)):
    nest.Connect(src, E + I, {"rule": "fixed_indegree", "indegree": k, **a["conn_flags"]}, {"weight": w, "delay": 0.1})
sr = nest.Create("spike_recorder")
nest.Connect(E + I, sr)
t_build = time.perf_counter()
nest.Simulate(a["T"])
t_sim = time.perf_counter()
ev = sr.events
np.savez(a["out"], neuron=np.asarray(ev["senders"]) - 1, time=np.asarray(ev["times"]))
t_end = time.perf_counter()
print(json.dumps({"import_s": t_import - t0, "build_s": t_build - t_import, "simulate_s": t_sim - t_build,
                  "write_s": t_end - t_sim, "spikes": int(sr.n_events),
                  "synapses": int(nest.num_connections)}))
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=20000, help="neurons (N_E = N_I = n/2)")
    ap.add_argument("--k", type=int, default=1000, help="in-degree from each population")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--T", type=float, default=1000.0, help="model time, ms")
    ap.add_argument("--seed", type=int, default=12345)
    ap.add_argument(
        "--no-multapses",
        action="store_true",
        help="K distinct sources per target (allow_multapses=False, as `balanced`'s presets); "
        "NEST's default allows repeats",
    )
    ap.add_argument("--python", default=sys.executable)
    args = ap.parse_args(argv)
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    env["PYNEST_QUIET"] = "1"
    with tempfile.TemporaryDirectory() as tmp:
        cfg = dict(
            n=args.n,
            k=args.k,
            threads=args.threads,
            T=args.T,
            seed=args.seed,
            out=os.path.join(tmp, "spikes.npz"),
            conn_flags={"allow_multapses": False} if args.no_multapses else {},
        )
        t0 = time.perf_counter()
        out = subprocess.run([args.python, "-c", CHILD, json.dumps(cfg)], capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t0
    if out.returncode != 0:
        print(out.stderr[-3000:], file=sys.stderr)
        return 1
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res.update(
        e2e_s=wall,
        n=args.n,
        k=args.k,
        threads=args.threads,
        T_ms=args.T,
        allow_multapses=not args.no_multapses,
        events_per_s=res["spikes"] * (2 * min(args.k, args.n // 2)) / res["simulate_s"],
    )
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
