#!/usr/bin/env python
"""What a neighbour at idle priority costs NEST's threads: simulate time, chunk by chunk,
with the neighbour running and stopped in turns.

Where NEST's threads take every core, ``balanced run`` stops its analysis worker while
they connect and simulate (:mod:`balanced.analysis.worker`). A process at Linux's idle
priority (``SCHED_IDLE``) would run only while a core has nothing else to run, as while a
thread sleeps at NEST's barrier, and so could import SciPy and matplotlib during the run
instead of after it. This measures whether that is free: one network is built, then
``--chunks`` pairs of 100 ms ``Simulate`` calls, one with the neighbour running and one
with it stopped (SIGSTOP), the order alternating, so that both see the same machine.

The neighbour (``--neighbour``): ``imports`` (what the worker would do: fresh interpreters
importing NumPy, SciPy's signal module, the theory and matplotlib, one after the other),
``python`` (an interpreter loop building dictionaries) or ``stream`` (NumPy adding over
64 MB, memory traffic), at idle priority, or with ``--nice 19`` at the lowest normal priority::

    .venv/bin/python benchmarks/idle_neighbour.py --size 1e4 --chunks 10
    .venv/bin/python benchmarks/idle_neighbour.py --size 1e4 --neighbour stream --json idle-stream.json

Prints the median chunk time with the neighbour stopped and running and their ratio (and
the median of the pairs' ratios). Linux only.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import machine, median, network_overrides, parse_size  # noqa: E402

CHUNK_MS = 100.0
NEIGHBOURS = {
    "imports": (
        "import subprocess, sys\n"
        "while True:\n"
        "    subprocess.run([sys.executable, '-c', 'import numpy, scipy.signal, balanced.theory, "
        "matplotlib.pyplot, matplotlib.backends.backend_pdf'])\n"
    ),
    "python": "while True:\n    table = {i: str(i) for i in range(20000)}\n",
    "stream": "import numpy as np\na = np.ones(8_000_000)\nwhile True:\n    a += 1.0\n",
}


def start_neighbour(kind: str, nice: int | None) -> subprocess.Popen:
    """The neighbour in its own process group (its children too), stopped."""
    lower = f"os.nice({nice})" if nice is not None else "os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))"
    proc = subprocess.Popen([sys.executable, "-c", f"import os\n{lower}\n{NEIGHBOURS[kind]}"], process_group=0)
    time.sleep(1.0)  # started (and, for imports, its first child too)
    os.killpg(proc.pid, signal.SIGSTOP)
    return proc


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="1e4", help="N (default 1e4; K = 1000 above 1e3)")
    ap.add_argument("--threads", type=int, default=None, help="NEST threads (default: the usable cores)")
    ap.add_argument("--chunks", type=int, default=10, help="pairs of 100 ms chunks (default 10)")
    ap.add_argument("--neighbour", choices=sorted(NEIGHBOURS), default="imports")
    ap.add_argument("--nice", type=int, default=None, help="a nice value instead of idle priority")
    ap.add_argument("--json", default=None, metavar="FILE", help="also write the results here")
    args = ap.parse_args(argv)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

    from balanced.api import Network
    from balanced.kernel import import_nest, usable_cores
    from balanced.params import resolve

    n = parse_size(args.size)
    threads = args.threads or usable_cores()
    params = resolve("tutorial", None, [*network_overrides(n, "nestml"), "record_n=0"])
    nest = import_nest()  # with the OpenMP wait policy balanced run uses

    with tempfile.TemporaryDirectory(prefix="idle-neighbour-") as tmp:
        net = Network(params=params, threads=threads, out=Path(tmp) / "run", progress=False)
        net.create()
        net.connect()
        neighbour = start_neighbour(args.neighbour, args.nice)
        try:
            nest.Simulate(CHUNK_MS)  # the first call's preparation, not timed
            times: dict[str, list[float]] = {"stopped": [], "running": []}
            for i in range(args.chunks):
                for state in ("stopped", "running") if i % 2 == 0 else ("running", "stopped"):
                    os.killpg(neighbour.pid, signal.SIGCONT if state == "running" else signal.SIGSTOP)
                    t0 = time.perf_counter()
                    nest.Simulate(CHUNK_MS)
                    times[state].append(time.perf_counter() - t0)
        finally:
            os.killpg(neighbour.pid, signal.SIGKILL)
            neighbour.wait()
    stopped, running = median(times["stopped"]), median(times["running"])
    result = {
        "size": args.size,
        "threads": threads,
        "neighbour": args.neighbour,
        "priority": f"nice {args.nice}" if args.nice is not None else "SCHED_IDLE",
        "omp_wait_policy": {k: os.environ.get(k) for k in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")},
        "chunks": args.chunks,
        "chunk_ms": CHUNK_MS,
        "median_stopped_s": round(stopped, 4),
        "median_running_s": round(running, 4),
        "ratio": round(running / stopped, 3),
        "median_pair_ratio": round(median([r / s for r, s in zip(times["running"], times["stopped"], strict=True)]), 3),
        "times_s": {k: [round(t, 4) for t in v] for k, v in times.items()},
        "machine": machine(),
    }
    print(
        f"N = {args.size}, {threads} threads, neighbour {args.neighbour} at {result['priority']}, "
        f"{args.chunks} pairs of {CHUNK_MS:g} ms: stopped {stopped:.3f} s, running {running:.3f} s, "
        f"ratio {result['ratio']:.3f} (median of the pairs {result['median_pair_ratio']:.3f})"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
