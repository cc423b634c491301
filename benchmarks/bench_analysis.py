"""Time and memory of the analysis (balanced.analysis) against the number of spikes.

For each size, writes a synthetic Poisson run directory (~10 Hz) into a temporary folder,
then runs, each in a fresh child process, (a) load + full statistics
(``compute_statistics``) and (b) the figures from those statistics, and reports wall
time and the child's peak resident memory (``resource.getrusage(RUSAGE_SELF).ru_maxrss``
read by the child at its end). The statistics child includes interpreter start and the
imports of numpy / scipy / neo / Elephant (about 120 MiB); the figures child recomputes
the statistics first, then renders every report figure to PNG and PDF.

    .venv/bin/python benchmarks/bench_analysis.py            # 1e4, 1e6, 1e7 spikes
    .venv/bin/python benchmarks/bench_analysis.py --sizes 1e4 1e6 --no-figures
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

# (label, N neurons, T ms) at 10 Hz: spikes = N * T / 100
CASES = {
    "1e4": (1_000, 1_000.0),
    "1e5": (10_000, 1_000.0),
    "1e6": (10_000, 10_000.0),
    "1e7": (100_000, 10_000.0),
}

CHILD = Path(__file__).resolve().parent / "children" / "analysis_child.py"


def run_child(what: str, run_dir: Path) -> dict:
    """Run one measurement in a fresh interpreter; peak RSS is the child's own
    ``getrusage(RUSAGE_SELF).ru_maxrss`` at its end (Linux: KiB)."""
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, str(CHILD), what, str(run_dir)], check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["wall_s"] = wall
    result["peak_rss_mib"] = result.pop("self_maxrss_mib")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["1e4", "1e6", "1e7"], choices=sorted(CASES))
    parser.add_argument("--no-figures", action="store_true", help="time statistics only")
    parser.add_argument("--rate", type=float, default=10.0)
    args = parser.parse_args(argv)

    from synthetic_runs import poisson_spikes, write_run

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-analysis-") as tmp:
        for label in sorted(args.sizes, key=float):
            n, t_ms = CASES[label]
            n_e = int(0.8 * n)
            t0 = time.perf_counter()
            neuron, times = poisson_spikes(n, args.rate, t_ms, seed=1)
            run_dir = write_run(Path(tmp) / f"run-{label}", neuron, times, n_e, n - n_e, t_ms)
            del neuron, times
            gen = time.perf_counter() - t0
            stats_res = run_child("stats", run_dir)
            row = {
                "case": label,
                "neurons": n,
                "T_ms": t_ms,
                "gen_s": gen,
                **{f"stats_{k}": v for k, v in stats_res.items()},
            }
            if not args.no_figures:
                fig_res = run_child("figures", run_dir)
                row.update({f"fig_{k}": v for k, v in fig_res.items()})
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)

    print()
    print(
        f"{'spikes':>10} {'neurons':>8} {'T (s)':>6} | {'load s':>7} {'stats s':>8} {'child wall s':>12} "
        f"{'peak RSS MiB':>12} | {'figures s':>9} {'fig wall s':>10} {'fig RSS MiB':>11}"
    )
    for r in rows:
        fig = (
            f"{r['fig_figures_s']:9.2f} {r['fig_wall_s']:10.2f} {r['fig_peak_rss_mib']:11.0f}"
            if "fig_figures_s" in r
            else f"{'-':>9} {'-':>10} {'-':>11}"
        )
        print(
            f"{r['stats_n_spikes']:>10d} {r['neurons']:>8d} {r['T_ms'] / 1000:6.0f} | {r['stats_load_s']:7.2f} "
            f"{r['stats_stats_s']:8.2f} {r['stats_wall_s']:12.2f} {r['stats_peak_rss_mib']:12.0f} | {fig}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
