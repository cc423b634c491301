#!/usr/bin/env python
"""Sweep throughput: points per minute with a fresh process per point against long-lived
workers (``balanced sweep --fresh-processes`` against the default), taking turns.

Default: the case of the issue, 6 points of the balanced preset at N = 2000
(N_E = N_I = 1000, K = 100), 1 s of model time each, drive factors d = 0.8 ... 1.3, with
``--jobs`` processes (default: the usable cores). Each repeat runs the whole sweep once
per mode into a new folder (the order alternates between repeats, so both modes see the
same machine conditions on average) and measures its wall time, from the start of
``run_sweep`` to the table on disk (no figures), and the CPU time of its processes (the
fresh processes or the workers, from ``getrusage(RUSAGE_CHILDREN)``; on a shared machine
the CPU time per point is the steadier of the two). After each pair the spikes of every
point are compared between the two modes (they must be identical).

``--phases`` adds the cost model: the points run once more one after the other in this
process (as one worker runs them), with the CPU time of each, of its run (of each of its
calls: create, connect, simulate, write; within it NEST's connect and simulate by NEST's
own CPU timers, and the rest: kernel reset, creating the neurons, NEST's preparation,
reading the recorders, files, manifest) and of its analysis; and the CPU time of a fresh
interpreter's start-up, import by import. The driver's own CPU time (the table after
every point) is printed apart. A fresh process costs ``F`` (CPU per point
of the fresh mode), a worker's later point ``P``, so a worker's start-up is ``S = F - P``
and a worker that runs ``n`` points reaches ``n F / (S + n P)`` times the points per
minute of fresh processes (``F / P`` for many; at least 2 needs ``P <= (n - 2) S / n``).

    .venv/bin/python benchmarks/sweep_throughput.py                 # the issue's case, 3 repeats
    .venv/bin/python benchmarks/sweep_throughput.py --tiny          # seconds: shows it works
    .venv/bin/python benchmarks/sweep_throughput.py --phases --json benchmarks/results/sweep-throughput.json

Measure on an idle machine: the ratio depends on how much of a point is start-up
(interpreter, imports) rather than connect + simulate + analysis.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# the points' processes run with one BLAS thread (balanced.sweep.runner.worker_env); so do
# the phases that --phases runs in this process (OpenBLAS reads it when NumPy loads)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

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


def children_cpu_s() -> float:
    """User + system CPU time of this process's finished (waited-for) children, s."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def one(spec, fresh: bool, jobs: int, root: Path) -> tuple[float, float, float, Path]:
    """(wall s, CPU s of the sweep's processes, CPU s of this driver process, sweep folder)
    of one sweep."""
    from balanced.sweep import run_sweep

    out = Path(tempfile.mkdtemp(prefix="fresh-" if fresh else "workers-", dir=root))
    c0, d0, t0 = children_cpu_s(), time.process_time(), time.perf_counter()
    res = run_sweep(spec, out, jobs=jobs, figures=False, fresh=fresh, log=lambda s: None)
    wall, cpu, driver = time.perf_counter() - t0, children_cpu_s() - c0, time.process_time() - d0
    assert not res.failed and len(res.ran) == len(res.rows), res.failed
    return wall, cpu, driver, out


# columns of the phase table from NEST's own CPU timers (manifest ``nest_timers_s``): NEST
# restarts ``simulate_cpu`` at every Simulate call (the run sums them) and keeps the others
PHASES = (("NEST connect", "construction_connect_cpu"), ("NEST simulate", "simulate_cpu"))
CALLS = ("create", "connect", "simulate", "write")  # the Network calls of a run, CPU s of each


# A fresh interpreter importing what a worker imports, one step at a time: CPU s of each.
STARTUP_CHILD = Path(__file__).resolve().parent / "children" / "sweep_startup_child.py"


def startup_parts() -> dict:
    """CPU s of a fresh interpreter's start and of each import a worker needs."""
    out = subprocess.run([sys.executable, str(STARTUP_CHILD)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def worker_phases(spec, root: Path) -> list[dict]:
    """Run every point of ``spec`` in this process, one after the other, as a worker does
    (:func:`balanced.sweep.worker.run_job`; the run made with the calls of
    :func:`balanced.api.run_network`, one at a time): CPU s of each point, of its run and
    within it of each call (``create``: kernel reset, module, neurons and V_m; ``connect``;
    ``simulate``: NEST's simulate and preparation, reading the recorders; ``write``: files
    and manifest) and of NEST's own connect and simulate, and of its analysis. The first
    point also pays whatever this process has not imported yet."""
    from balanced.api import Network
    from balanced.kernel import import_nest
    from balanced.sweep.runner import job_file, prepare
    from balanced.sweep.worker import _output_to, analyze_point

    out = Path(tempfile.mkdtemp(prefix="phases-", dir=root))
    _, todo, _ = prepare(spec, out, log=lambda s: None)
    rows = []
    for p in todo:
        job_file(out, spec, p)
        run_dir = out / "points" / p.name
        with _output_to(str(out / "logs" / f"{p.name}.log")):
            c = [time.process_time()]
            import_nest(nest_extras=False)  # as run_point
            net = Network(
                params=p.params,
                preset=spec.preset,
                threads=1,
                out=run_dir,
                overwrite=True,
                progress=False,
                huge_pages="auto",
            )
            for call, args in ((net.create, ()), (net.connect, ()), (net.simulate, (p.params.T,)), (net.write, ())):
                call(*args)
                c.append(time.process_time())
            analyze_point(run_dir, spec.t_start, spec.t_stop)
            c.append(time.process_time())
        nest_cpu = json.loads((run_dir / "manifest.json").read_text()).get("nest_timers_s", {})
        row = {"point": p.name, "cpu_s": round(c[-1] - c[0], 3), "run": round(c[-2] - c[0], 3)}
        for i, name in enumerate(CALLS):
            row[name] = round(c[i + 1] - c[i], 3)
        for label, key in PHASES:
            row[label] = round(float(nest_cpu.get(key, 0.0)), 3)
        row["rest of run"] = round(row["run"] - sum(row[label] for label, _ in PHASES), 3)
        row["analysis"] = round(c[-1] - c[-2], 3)
        rows.append(row)
    return rows


def cost_model(fresh_cpu_per_point: float, phases: list[dict], per_worker: float) -> dict:
    """F, P, S = F - P and the expected ratios (module docstring) from CPU times."""
    later = [r["cpu_s"] for r in phases[1:]] or [phases[0]["cpu_s"]]
    f, p = fresh_cpu_per_point, median(later)
    s = f - p
    return {
        "F_fresh_cpu_s": round(f, 3),
        "P_worker_point_cpu_s": round(p, 3),
        "S_worker_startup_cpu_s": round(s, 3),
        "points_per_worker": per_worker,
        "expected_ratio": round(per_worker * f / (s + per_worker * p), 3),
        "expected_ratio_many_points": round(f / p, 3),
        # n F / (S + n P) >= 2  <=>  n >= 2 S / (S - P), reachable only where S > P
        "points_per_worker_for_twice": math.ceil(2 * s / (s - p)) if s > p else None,
    }


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
    ap.add_argument(
        "--phases", action="store_true", help="also the CPU time per phase of a worker's points, and the cost model"
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
    print(
        f"{'repeat':>6}  {'order':<15}  {'fresh pts/min':>13}  {'workers pts/min':>15}  {'ratio':>6}  "
        f"{'fresh CPU s/pt':>14}  {'workers CPU s/pt':>16}  {'CPU ratio':>9}  spikes"
    )
    rows = []
    phases: list[dict] = []
    startup: dict = {}
    with tempfile.TemporaryDirectory(prefix="sweep-throughput-") as tmp:
        root = Path(tmp)
        for r in range(args.repeats):
            order = (True, False) if r % 2 == 0 else (False, True)
            walls, cpus, drivers, outs = {}, {}, {}, {}
            for fresh in order:
                walls[fresh], cpus[fresh], drivers[fresh], outs[fresh] = one(spec, fresh, jobs, root)
            ppm = {k: 60.0 * len(names) / v for k, v in walls.items()}
            cpp = {k: v / len(names) for k, v in cpus.items()}
            same = same_spikes(outs[True], outs[False], names)
            row = {
                "repeat": r + 1,
                "order": "fresh,workers" if order[0] else "workers,fresh",
                "fresh_wall_s": round(walls[True], 3),
                "workers_wall_s": round(walls[False], 3),
                "fresh_points_per_min": round(ppm[True], 2),
                "workers_points_per_min": round(ppm[False], 2),
                "ratio": round(ppm[False] / ppm[True], 3),
                "fresh_cpu_s_per_point": round(cpp[True], 3),
                "workers_cpu_s_per_point": round(cpp[False], 3),
                "cpu_ratio": round(cpp[True] / cpp[False], 3),
                "fresh_driver_cpu_s": round(drivers[True], 3),
                "workers_driver_cpu_s": round(drivers[False], 3),
                "identical_spikes": same,
            }
            rows.append(row)
            print(
                f"{r + 1:>6}  {row['order']:<15}  {ppm[True]:>13.1f}  {ppm[False]:>15.1f}  {row['ratio']:>6.2f}  "
                f"{cpp[True]:>14.3f}  {cpp[False]:>16.3f}  {row['cpu_ratio']:>9.2f}  {'identical' if same else 'DIFFER'}"
            )
        if args.phases:
            phases = worker_phases(spec, root)
            startup = startup_parts()
    ratio = median([r["ratio"] for r in rows])
    print(f"median ratio workers / fresh: {ratio:.2f} (CPU time: {median([r['cpu_ratio'] for r in rows]):.2f})")
    print(
        "CPU s of this driver process per sweep (tables after every point; not in the CPU per point): "
        f"fresh {median([r['fresh_driver_cpu_s'] for r in rows]):.3f}, "
        f"workers {median([r['workers_driver_cpu_s'] for r in rows]):.3f}"
    )
    model = None
    if phases:
        cols = ["cpu_s", "run", *CALLS, *(label for label, _ in PHASES), "rest of run", "analysis"]
        print(f"one worker's points, CPU s:\n{'point':<12}" + "".join(f"{c:>14}" for c in cols))
        for row in phases:
            print(f"{row['point']:<12}" + "".join(f"{row[c]:>14.3f}" for c in cols))
        print("a fresh process's start-up, CPU s: " + ", ".join(f"{k} {v:.3f}" for k, v in startup.items()))
        model = cost_model(median([r["fresh_cpu_s_per_point"] for r in rows]), phases, math.ceil(len(names) / jobs))
        print(
            "cost model (CPU s): fresh point F = {F_fresh_cpu_s}, worker's later point P = {P_worker_point_cpu_s}, "
            "worker start-up S = F - P = {S_worker_startup_cpu_s}; expected ratio with {points_per_worker:g} "
            "points per worker {expected_ratio}, with many {expected_ratio_many_points}".format(**model)
        )
        twice = model["points_per_worker_for_twice"]
        print(
            f"twice the points per minute from {twice} points per worker"
            if twice
            else "twice the points per minute is out of reach: S <= P"
        )
    if args.json:
        doc = {
            "config": {"N": args.n, "K": args.k, "T_ms": args.t, "points": len(names), "jobs": jobs},
            "machine": m,
            "rows": rows,
            "median_ratio": ratio,
            "worker_phases_cpu_s": phases,
            "startup_cpu_s": startup,
            "cost_model": model,
        }
        Path(args.json).write_text(portable_json(doc) + "\n")
    return 0 if all(r["identical_spikes"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
