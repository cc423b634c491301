"""The same network written the way a NEST user would, with NEST's defaults: the baseline
for "end to end faster than NEST's defaults" (issue: N = 2e4, K = 1000, 2 threads).

Runs ``benchmarks/peers/pynest_defaults.py`` (plain PyNEST, no ``balanced`` code; see its
docstring) in a fresh process, with the spikes saved to a temporary ``.npz`` as a user's
script would, and adds the process's wall time (``e2e_s``) and the synaptic events per
second to its JSON line. ``benchmarks/peers/compare.py`` runs it beside the other peers.

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
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "peers" / "pynest_defaults.py"


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
    k = min(args.k, args.n // 2)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [args.python, str(SCRIPT), "--n", str(args.n), "--k", str(k), "--threads", str(args.threads)]
        cmd += ["--T", f"{args.T:g}", "--seed", str(args.seed), "--spikes", os.path.join(tmp, "spikes.npz")]
        if args.no_multapses:
            cmd.append("--no-multapses")
        t0 = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t0
    if out.returncode != 0:
        print(out.stderr[-3000:], file=sys.stderr)
        return 1
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res.update(
        e2e_s=wall,
        n=args.n,
        k=k,
        threads=args.threads,
        T_ms=args.T,
        events_per_s=res["spikes"] * (2 * k) / res["simulate_s"],
    )
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
