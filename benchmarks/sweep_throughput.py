#!/usr/bin/env python
"""Sweep throughput: points per minute with a fresh process per point against long-lived
workers (``balanced sweep --fresh-processes`` against the default), taking turns.

Default: the case of the issue, 6 points of the balanced preset at N = 2000
(N_E = N_I = 1000, K = 100), 1 s of model time each, drive factors d = 0.8 ... 1.3, with
``--jobs`` processes (default: the usable cores). Each repeat runs the whole sweep once
per mode into a new folder (the order alternates between repeats, so both modes see the
same machine conditions on average) and measures its wall time, from the start of
``run_sweep`` to the table on disk (no figures). After each pair the spikes of every point
are compared between the two modes (they must be identical).

    .venv/bin/python benchmarks/sweep_throughput.py                 # the issue's case, 3 repeats
    .venv/bin/python benchmarks/sweep_throughput.py --tiny          # seconds: shows it works
    .venv/bin/python benchmarks/sweep_throughput.py --json benchmarks/results/sweep-throughput.json

Measure on an idle machine: the ratio depends on how much of a point is start-up
(interpreter, imports) rather than connect + simulate + analysis.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import machine, median, portable_json  # noqa: E402


def make_spec(n: int, k: int, t_ms: float, n_points: int):
    from balanced.sweep import parse_spec

    d = [round(x, 4) for x in np.linspace(0.8, 1.3, n_points)] if n_points > 1 else [1.0]
    doc = {
        "name": "throughput",
        "preset": "balanced",
        "fixed": {"N_E": n // 2, "N_I": n - n // 2, "K": k, "T": t_ms, "record_n": min(20, n // 2)},
        "sweep": {"d": d},
        "analysis": {"t_start": min(100.0, t_ms / 4)},
    }
    return parse_spec(doc, source="benchmark")


def one(spec, fresh: bool, jobs: int, root: Path) -> tuple[float, Path]:
    from balanced.sweep import run_sweep

    out = Path(tempfile.mkdtemp(prefix="fresh-" if fresh else "workers-", dir=root))
    t0 = time.perf_counter()
    res = run_sweep(spec, out, jobs=jobs, figures=False, fresh=fresh, log=lambda s: None)
    wall = time.perf_counter() - t0
    assert not res.failed and len(res.ran) == len(res.rows), res.failed
    return wall, out


def same_spikes(a: Path, b: Path, names: list[str]) -> bool:
    for name in names:
        with np.load(a / "points" / name / "spikes.npz") as x, np.load(b / "points" / name / "spikes.npz") as y:
            if not (np.array_equal(x["neuron"], y["neuron"]) and np.array_equal(x["time"], y["time"])):
                return False
    return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=None, help="neurons per point, N_E + N_I (default 2000)")
    ap.add_argument("--k", type=int, default=None, help="in-degree K (default 100)")
    ap.add_argument("--t", type=float, default=None, help="model time per point, ms (default 1000)")
    ap.add_argument("--points", type=int, default=None, help="points in the sweep (default 6)")
    ap.add_argument("--jobs", type=int, default=None, help="processes at once (default: usable cores)")
    ap.add_argument("--repeats", type=int, default=None, help="pairs of sweeps, order alternating (default 3)")
    ap.add_argument(
        "--tiny", action="store_true", help="defaults N = 300, K = 30, 200 ms, 4 points, 1 repeat (seconds)"
    )
    ap.add_argument("--json", default=None, metavar="FILE", help="also write the results as JSON")
    args = ap.parse_args(argv)
    defaults = (300, 30, 200.0, 4, 1) if args.tiny else (2000, 100, 1000.0, 6, 3)
    for key, value in zip(("n", "k", "t", "points", "repeats"), defaults, strict=True):
        if getattr(args, key) is None:
            setattr(args, key, value)
    jobs = args.jobs or max(1, len(os.sched_getaffinity(0)))
    from balanced.build import build_model
    from balanced.sweep import points

    build_model()  # a cache hit after the first time; not part of either measurement
    spec = make_spec(args.n, args.k, args.t, args.points)
    names = [p.name for p in points(spec)]
    m = machine()
    print(
        f"sweep throughput: {len(names)} points, N = {args.n}, K = {args.k}, T = {args.t:g} ms, "
        f"{jobs} processes at once; {m['cores']} cores, load {m['load_avg']}"
    )
    print(f"{'repeat':>6}  {'order':<15}  {'fresh pts/min':>13}  {'workers pts/min':>15}  {'ratio':>6}  spikes")
    rows = []
    with tempfile.TemporaryDirectory(prefix="sweep-throughput-") as tmp:
        root = Path(tmp)
        for r in range(args.repeats):
            order = (True, False) if r % 2 == 0 else (False, True)
            walls, outs = {}, {}
            for fresh in order:
                walls[fresh], outs[fresh] = one(spec, fresh, jobs, root)
            ppm = {k: 60.0 * len(names) / v for k, v in walls.items()}
            same = same_spikes(outs[True], outs[False], names)
            row = {
                "repeat": r + 1,
                "order": "fresh,workers" if order[0] else "workers,fresh",
                "fresh_wall_s": round(walls[True], 3),
                "workers_wall_s": round(walls[False], 3),
                "fresh_points_per_min": round(ppm[True], 2),
                "workers_points_per_min": round(ppm[False], 2),
                "ratio": round(ppm[False] / ppm[True], 3),
                "identical_spikes": same,
            }
            rows.append(row)
            print(
                f"{r + 1:>6}  {row['order']:<15}  {ppm[True]:>13.1f}  {ppm[False]:>15.1f}  {row['ratio']:>6.2f}  "
                f"{'identical' if same else 'DIFFER'}"
            )
    ratio = median([r["ratio"] for r in rows])
    print(f"median ratio workers / fresh: {ratio:.2f}")
    if args.json:
        doc = {
            "config": {"N": args.n, "K": args.k, "T_ms": args.t, "points": len(names), "jobs": jobs},
            "machine": m,
            "rows": rows,
            "median_ratio": ratio,
        }
        Path(args.json).write_text(portable_json(doc) + "\n")
    return 0 if all(r["identical_spikes"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
