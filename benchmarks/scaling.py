#!/usr/bin/env python
"""Scale-out: the same network over MPI ranks x OpenMP threads; strong and weak scaling.

Strong scaling: fixed N (``--sizes``, default 2e4 with K = 1000 per population), total
virtual processes VP = 1, 2, 4, ... ``--max-vps``; every power-of-two split ranks x threads
of each VP count. Weak scaling: N = ``--weak-n-per-vp`` x VP (K = 1000), splits 1 x VP
(threads) and VP x 1 (ranks). Every configuration is a fresh ``balanced run --no-analysis``
(``mpirun`` for ranks > 1) of the MPI-enabled environment. At a fixed total VP count NEST's
results do not depend on the split: the merged spikes of every split are compared with
the first one (``identical`` column; the script exits 1 if any differ).

Efficiency (simulate time t): strong E(VP) = t(1) / (VP t(VP)), weak E(VP) = t(1) / t(VP),
each against the 1 x 1 run of the same table; the same for the build (create + connect).

    .venv-mpi/bin/python benchmarks/scaling.py --out benchmarks/results            # this machine
    .venv-mpi/bin/python benchmarks/scaling.py --max-vps 16 --out /tmp/scaling16     # 16 cores

Ranks start with ``mpirun``, or inside a SLURM allocation with ``srun --mpi=pmix``
(``--launcher``, default ``auto``: srun when ``SLURM_JOB_ID`` is set and srun exists), so the
same command runs in an sbatch script as on a workstation:

    sbatch -n 16 --wrap ".venv-mpi/bin/python benchmarks/scaling.py --max-vps 16 --out results"

Needs only the repository and ``.venv-mpi`` (``make mpi-env``); this process never imports
NEST (a process that has initialised MPI cannot start mpirun). Without a launcher on PATH
it measures threads only. ``--budget-s`` (default 420) stops starting new configurations
once spent, so the run stays within about 8 minutes; skipped ones are listed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

MPI_ENV = {
    "OMPI_ALLOW_RUN_AS_ROOT": "1",
    "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
    "OMPI_MCA_rmaps_base_oversubscribe": "1",
    "PYNEST_QUIET": "1",
}
COLUMNS = [
    "kind",
    "size",
    "N",
    "vps",
    "ranks",
    "threads",
    "build_s",
    "simulate_s",
    "e2e_s",
    "peak_rss_mb_rank0",
    "spikes",
    "identical",
    "speedup_sim",
    "efficiency_sim",
    "efficiency_build",
    "events_per_s",
]


def powers_of_two(limit: int) -> list[int]:
    out, v = [], 1
    while v <= limit:
        out.append(v)
        v *= 2
    return out


def rank_launcher(choice: str = "auto") -> str | None:
    """Path of ``mpirun`` or ``srun`` for runs with several ranks (``None``: neither found)."""
    if choice == "auto":
        choice = "srun" if os.environ.get("SLURM_JOB_ID") and shutil.which("srun") else "mpirun"
    return shutil.which(choice)


def launch_prefix(launcher: str, ranks: int) -> list[str]:
    """The command prefix that starts ``ranks`` ranks with ``launcher`` (mpirun or srun)."""
    if Path(launcher).name == "srun":
        # --overcommit: ranks x threads may exceed the allocation's CPUs, as --oversubscribe does
        return [launcher, "--mpi=pmix", "--kill-on-bad-exit=1", "--overcommit", "-n", str(ranks)]
    return [launcher, "-np", str(ranks), "--oversubscribe", "--bind-to", "none"]


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--max-vps", type=int, default=os.cpu_count() or 1, help="largest ranks x threads (default: cores)")
    ap.add_argument(
        "--mpi-python",
        default=str(C.ROOT / ".venv-mpi" / "bin" / "python"),
        help="python of the MPI-enabled NEST environment (default .venv-mpi/bin/python)",
    )
    ap.add_argument("--sizes", nargs="+", default=["2e4"], help="N for strong scaling (K = 1000; 1e3 = tutorial)")
    ap.add_argument(
        "--weak-n-per-vp",
        type=int,
        default=5000,
        help="neurons per virtual process for weak scaling (0 = no weak scaling)",
    )
    ap.add_argument("--model", default="builtin", choices=["builtin", "nestml"])
    ap.add_argument("--T", type=float, default=100.0, help="simulated time, ms (default 100)")
    ap.add_argument("--out", default=str(C.RESULTS), help="folder for scaling-<time>.{md,json}")
    ap.add_argument("--budget-s", type=float, default=420.0, help="start no configuration after this many seconds")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per configuration")
    ap.add_argument(
        "--launcher",
        choices=["auto", "mpirun", "srun"],
        default="auto",
        help="how runs with several ranks start (default auto: srun --mpi=pmix inside a SLURM allocation, else mpirun)",
    )
    ap.add_argument(
        "--threads-only",
        action="store_true",
        help="no MPI ranks even if mpirun exists (a NEST without MPI, e.g. the PyPI wheel)",
    )
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if not Path(args.mpi_python).is_file():
        print(f"scaling: no python at {args.mpi_python}: run `make mpi-env` or pass --mpi-python", file=sys.stderr)
        return 2
    mpirun = None if args.threads_only else rank_launcher(args.launcher)
    env = {**os.environ, **MPI_ENV}
    machine = C.machine()
    machine["busy_percent_before"] = C.busy_cpu_percent(1.0)
    machine["mpirun"] = mpirun
    started = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    print(
        f"# scaling {started}: {machine['cpu']}, {machine['cores']} cores; load {machine['load_avg']}, "
        f"CPU busy {machine['busy_percent_before']}%; ranks via: {mpirun or 'missing (threads only)'}",
        flush=True,
    )
    vps_list = powers_of_two(args.max_vps)

    plan = []  # (kind, N, vps, ranks, threads)
    for size in args.sizes:
        n = C.parse_size(size)
        for vps in vps_list:
            for ranks in powers_of_two(vps) if mpirun else [1]:
                plan.append(("strong", n, vps, ranks, vps // ranks))
    if args.weak_n_per_vp:
        for vps in vps_list:
            n = args.weak_n_per_vp * vps
            for ranks in sorted({1, vps} if mpirun else {1}):
                plan.append(("weak", n, vps, ranks, vps // ranks))

    t_start = time.monotonic()
    rows, skipped, reference_spikes = [], [], {}
    for kind, n, vps, ranks, threads in plan:
        if time.monotonic() - t_start > args.budget_s:
            skipped.append({"kind": kind, "N": n, "ranks": ranks, "threads": threads})
            continue
        cfg = {
            "threads": threads,
            "sets": C.network_overrides(n, args.model, T=args.T, extra=("record_n=0",)),
            "no_analysis": True,
            "keep_spikes": True,
        }
        launcher = None
        if ranks > 1:
            launcher = launch_prefix(mpirun, ranks)
        res = C.run_child(args.mpi_python, cfg, env=env, timeout=args.timeout, launcher=launcher)
        row = C.summarize(n, args.model, threads, ranks, res, T=args.T)
        row.update(kind=kind, vps=vps, peak_rss_mb_rank0=row["peak_rss_mb"])
        neuron, times = res["spikes"]
        key = (kind, n, vps)
        if key not in reference_spikes:
            reference_spikes[key] = (neuron, times)
            row["identical"] = "ref"
        else:
            ref = reference_spikes[key]
            row["identical"] = bool(len(ref[0]) == len(neuron) and (ref[0] == neuron).all() and (ref[1] == times).all())
        rows.append(row)
        print(
            f"  {kind:<6} N {n:>6} VP {vps:>2} = {ranks} x {threads}: build {row['build_s']:.2f} s, "
            f"simulate {row['simulate_s']:.2f} s, e2e {row['e2e_s']:.2f} s, spikes {row['spikes']}, "
            f"identical {row['identical']}",
            flush=True,
        )

    for kind in ("strong", "weak"):
        for r in rows:
            if r["kind"] != kind:
                continue
            base = next(
                (b for b in rows if b["kind"] == kind and b["vps"] == 1 and (kind == "weak" or b["N"] == r["N"])), None
            )
            if base is None:
                continue
            scale = r["vps"] if kind == "strong" else 1
            r["speedup_sim"] = round(base["simulate_s"] / r["simulate_s"], 2)
            r["efficiency_sim"] = round(base["simulate_s"] / (scale * r["simulate_s"]), 2)
            r["efficiency_build"] = round(base["build_s"] / (scale * r["build_s"]), 2)
    machine["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    mismatches = [r for r in rows if r["identical"] is False]
    md = [
        f"# balanced scaling {started}",
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gb']} GB; load average before "
        f"{machine['load_avg']}, after {machine['load_avg_after']}; CPU busy before {machine['busy_percent_before']}%. "
        f"Model {args.model}, T = {args.T:g} ms, K = 1000 per population, no analysis; "
        f"ranks via: {mpirun or 'missing (threads only)'}. Strong: fixed N; weak: N = {args.weak_n_per_vp} x VP. "
        f"Efficiency = t(1 VP) / (VP t) (strong) or t(1 VP) / t (weak). `identical`: merged spikes equal to the "
        f"first split of the same VP count.",
        "",
        C.markdown_table(rows, COLUMNS),
        "",
    ]
    if skipped:
        md += [
            f"Skipped (budget {args.budget_s:g} s spent): "
            + ", ".join(f"{s['kind']} N={s['N']} {s['ranks']}x{s['threads']}" for s in skipped),
            "",
        ]
    md.append(
        "Spikes identical across splits at every VP count: "
        + ("yes" if not mismatches else f"NO ({len(mismatches)} differ)")
    )
    text = "\n".join(md)
    print("\n" + text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"scaling-{started}"
    stem.with_suffix(".md").write_text(text + "\n")
    stem.with_suffix(".json").write_text(
        C.portable_json({"machine": machine, "args": vars(args), "rows": rows, "skipped": skipped})
    )
    print(f"\nwritten: {stem}.md, {stem}.json")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
