"""Time of the Neo conversion (balanced.analysis.neo.to_neo) against the network size.

For each size, writes a synthetic Poisson run directory (10 Hz, 80 % E, state of 100
neurons sampled every 1 ms) into a temporary folder, opens it, and times in this process
(neo and quantities imported beforehand, so imports are not counted): the spike trains
alone (``state=False``) and the whole block; best of ``--repeat``.

    .venv/bin/python benchmarks/bench_neo.py                 # 1e3, 1e4, 1e5 neurons, T = 1 s
    .venv/bin/python benchmarks/bench_neo.py --neurons 1e4 --t-ms 200
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def best_of(repeat: int, fn) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurons", nargs="+", type=float, default=[1e3, 1e4, 1e5])
    parser.add_argument("--t-ms", type=float, default=1000.0)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    import neo  # noqa: F401
    import quantities  # noqa: F401
    from synthetic_runs import poisson_spikes, synthetic_state, write_run

    from balanced.analysis.neo import to_neo
    from balanced.rundir import load_run

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-neo-") as tmp:
        for n in (int(x) for x in args.neurons):
            n_e = int(0.8 * n)
            neuron, times = poisson_spikes(n, args.rate, args.t_ms, seed=1)
            state = synthetic_state(np.linspace(0, n - 1, min(n, 100)).astype(int), args.t_ms)
            run = load_run(
                write_run(
                    Path(tmp) / f"run-{n}", np.asarray(neuron), np.round(times, 1), n_e, n - n_e, args.t_ms, state=state
                )
            )
            trains_s = best_of(args.repeat, lambda run=run: to_neo(run, state=False))
            block_s = best_of(args.repeat, lambda run=run: to_neo(run))
            row = {
                "neurons": n,
                "T_ms": args.t_ms,
                "spikes": len(run.spikes),
                "trains_s": trains_s,
                "block_s": block_s,
                "us_per_train": 1e6 * trains_s / n,
            }
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)

    print(f"{'neurons':>8} {'spikes':>9} | {'trains s':>8} {'block s':>8} {'us/train':>8}")
    for r in rows:
        print(
            f"{r['neurons']:>8d} {r['spikes']:>9d} | {r['trains_s']:8.3f} {r['block_s']:8.3f} {r['us_per_train']:8.1f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
