#!/usr/bin/env python
"""The module's ``fixed_indegree`` against NEST's: build and the simulation after it.

Builds the tutorial-form network (N_E = N_I = N/2, K distinct sources from each
population, the NESTML neuron) with the package's own ``build_network`` twice per pair,
once with each builder (``balanced.network.nest_rule``), in separate processes taking
turns (the order alternates between pairs), and prints build, Prepare and Run seconds and
the ratios module / NEST; the spike counts of both must agree.

    .venv/bin/python benchmarks/connect_rule.py --n 1e4 --pairs 3
    .venv/bin/python benchmarks/connect_rule.py --n 1e5 --T 50 --synapse-model static_synapse_hom_w_hpc --pairs 2
    .venv/bin/python benchmarks/connect_rule.py --n 2000 --k 100 --T 50 --pairs 1   # seconds

Measure on an idle machine (docs/performance.md, "The module's fixed_indegree").
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import median, network_overrides, parse_size  # noqa: E402

CHILD = ROOT / "benchmarks" / "children" / "connect_rule_child.py"


def one(builder: str, args) -> dict:
    sets = network_overrides(args.n, "nestml", args.T, args.k, ("seed=12345", f"synapse_model={args.synapse_model}"))
    cfg = {
        "sets": sets,
        "threads": args.threads,
        "model_file": str(ROOT / "models" / "lif_psc_exp.nestml"),
        "module_rule": builder == "module",
        "huge_pages": args.huge_pages,
    }
    out = subprocess.run(
        [sys.executable, str(CHILD), json.dumps(cfg)], capture_output=True, text=True, cwd=ROOT, timeout=args.timeout
    )
    if out.returncode != 0:
        sys.exit(f"{builder}: child failed ({out.returncode}): {out.stderr[-1500:]}")
    return json.loads(out.stdout.splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=parse_size, default=parse_size("1e4"), help="neurons (default 1e4)")
    ap.add_argument("--k", type=int, default=None, help="inputs per population (default 1000)")
    ap.add_argument("--T", type=float, default=1000.0, help="model time, ms")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--synapse-model", default="static_synapse")
    ap.add_argument("--huge-pages", action="store_true", help="collapse into huge pages after Prepare")
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=3600.0)
    ap.add_argument("--json", type=Path, help="also write the records here")
    args = ap.parse_args(argv)
    records = []
    for pair in range(args.pairs):
        order = ("module", "nest") if pair % 2 == 0 else ("nest", "module")
        for builder in order:
            rec = {"pair": pair + 1, "builder": builder, **one(builder, args)}
            records.append(rec)
            print(json.dumps(rec), flush=True)
    by = {b: [r for r in records if r["builder"] == b] for b in ("module", "nest")}
    if len({r["spikes"] for r in records}) != 1:
        print("spike counts differ between the builders", file=sys.stderr)
        return 1
    print(f"\nN = {args.n:g}, T = {args.T:g} ms, {args.threads} threads, {args.synapse_model}, {args.pairs} pairs")
    print("| | module | NEST | module / NEST |\n|---|---|---|---|")
    for key in ("build_s", "prepare_s", "run_s"):
        m, n = median([r[key] for r in by["module"]]), median([r[key] for r in by["nest"]])
        print(f"| {key} (median) | {m:.2f} | {n:.2f} | {m / n:.3f} |")
    pairs = [
        next(r for r in by["module"] if r["pair"] == k)["run_s"]
        / next(r for r in by["nest"] if r["pair"] == k)["run_s"]
        for k in range(1, args.pairs + 1)
    ]
    print(f"\nrun_s module / NEST in each pair: {', '.join(f'{x:.3f}' for x in pairs)}; median {median(pairs):.3f}")
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"json": str(args.json)}, "records": records}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
