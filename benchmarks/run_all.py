#!/usr/bin/env python
"""Benchmark suite: time, memory and where the time goes, by network size, threads and model.

Every configuration runs ``balanced run`` (build-cache check, kernel, network, chunked
simulation, spike files, merge, manifest, analysis with stats.json and PNG + PDF figures)
in a fresh child process; see ``benchmarks/_common.py`` for the probes and the network
sizes (1e3 = the tutorial network with K = 50; larger sizes the tutorial form with
K = 1000 per population, p = K/N_source, J = 1/sqrt(K)).

    .venv/bin/python benchmarks/run_all.py                       # 1e3 1e4 2e4, 2 threads, both models
    .venv/bin/python benchmarks/run_all.py --sizes 1e3 1e4 --threads 1 2 --repeat 3
    .venv/bin/python benchmarks/run_all.py --sizes 1e5 --models builtin --synapses auto static_synapse
    .venv/bin/python benchmarks/run_all.py --small               # seconds; what CI runs
    make bench

Prints a Markdown table and writes it, with every raw measurement, to
``benchmarks/results/run_all-<time>.{md,json}`` (``--out DIR`` to choose the folder).
Columns: ``build_s`` = create + connect (NEST), ``simulate_s`` = the chunked Simulate calls,
``e2e_s`` = the whole ``balanced run`` process (interpreter start to exit, analysis and
figures included unless ``--no-analysis``), ``peak_rss_mb`` = the child's peak resident
memory, ``bytes_per_synapse`` = (peak RSS after the simulation - RSS before the network
was built) / synapses (``bytes_per_synapse_steady``: the same with the RSS after the
simulation instead of the peak: what the connections keep), ``events_per_s`` = spikes x mean out-degree / simulate_s. The
profile columns: ``import_kernel_s`` (interpreter start, imports, model-cache check,
kernel set-up), ``write_merge_s``, ``analysis_s`` and NEST's own kernel timers
(``nest_construction_connect`` ..., last Simulate call for ``nest_simulate``).
With ``--repeat R`` the table shows the median of each time (and the min in ``*_min``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

from balanced.hugepages import HUGE_PAGE_SETTINGS  # noqa: E402 (stdlib only)

COLUMNS = [
    "size",
    "N",
    "K",
    "model",
    "threads",
    "ranks",
    "synapse_model",
    "huge_pages",
    "huge_mib",
    "synapses",
    "build_s",
    "simulate_s",
    "simulate_s_min",
    "e2e_s",
    "e2e_s_min",
    "peak_rss_mb",
    "bytes_per_synapse",
    "bytes_per_synapse_steady",
    "events_per_s",
    "rate_hz",
]
PROFILE_COLUMNS = [
    "size",
    "model",
    "threads",
    "synapse_model",
    "import_kernel_s",
    "build_s",
    "huge_pages_s",
    "simulate_s",
    "write_merge_s",
    "analysis_s",
    "e2e_s",
    "nest_construction_create",
    "nest_construction_connect",
    "nest_communicate_prepare",
    "nest_simulate",
]
TIME_KEYS = ("import_kernel_s", "build_s", "huge_pages_s", "simulate_s", "write_merge_s", "analysis_s", "e2e_s")


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--sizes",
        nargs="+",
        default=["1e3", "1e4", "2e4"],
        help="network sizes N (1e3 = tutorial, K = 50; others K = 1000); add 1e5 for the big one "
        "(several minutes, ~1.5 GB with the default synapse)",
    )
    ap.add_argument("--threads", nargs="+", type=int, default=[2], help="threads per process (default 2)")
    ap.add_argument(
        "--models",
        nargs="+",
        default=["nestml", "builtin"],
        choices=["nestml", "builtin"],
        help="neuron models: our NESTML model and/or NEST's iaf_psc_exp",
    )
    ap.add_argument(
        "--synapses",
        nargs="+",
        default=["auto"],
        help="synapse_model values (auto = static_synapse_hom_w_hpc; static_synapse = NEST's default)",
    )
    ap.add_argument(
        "--huge-pages",
        nargs="+",
        default=["auto"],
        choices=HUGE_PAGE_SETTINGS,
        help="`balanced run --huge-pages` settings to measure (default auto)",
    )
    ap.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra parameter override for every configuration (repeatable), e.g. allow_multapses=true",
    )
    ap.add_argument("--repeat", type=int, default=1, help="runs per configuration (table: median, and min)")
    ap.add_argument("--T", type=float, default=1000.0, help="simulated time, ms (default 1000)")
    ap.add_argument("--no-analysis", action="store_true", help="stop `balanced run` after the merge (no stats/figures)")
    ap.add_argument(
        "--small",
        action="store_true",
        help="seconds-long CI configuration: 1e3 (tutorial), T = 200 ms, 1 thread, both models",
    )
    ap.add_argument("--python", default=sys.executable, help="python of the environment to measure")
    ap.add_argument("--out", default=str(C.RESULTS), help="folder for the .md and .json results")
    ap.add_argument("--tag", default="run_all", help="file name prefix of the results")
    ap.add_argument(
        "--src",
        default=None,
        help="measure the `balanced` package in this folder instead of this "
        "checkout (e.g. an exported older commit, for before/after comparisons)",
    )
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per configuration")
    args = ap.parse_args(argv)
    if args.small:
        args.sizes, args.threads, args.T, args.repeat = ["1e3"], [1], 200.0, 1
        args.tag = args.tag if args.tag != "run_all" else "small"
    return args


def aggregate(rows: list[dict]) -> dict:
    """Median of the times over repeats (min kept as *_min); other fields from the first run."""
    row = dict(rows[0])
    for key in TIME_KEYS + ("events_per_s",):
        vals = [r[key] for r in rows if r.get(key) is not None]
        if vals:
            row[key] = round(C.median(vals), 3)
            if key in ("simulate_s", "e2e_s"):
                row[key + "_min"] = round(min(vals), 3)
    row["peak_rss_mb"] = max(r["peak_rss_mb"] for r in rows)
    row["repeats"] = len(rows)
    return row


def main(argv=None) -> int:
    args = parse_args(argv)
    machine = C.machine()
    machine["busy_percent_before"] = C.busy_cpu_percent(1.0)
    started = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    print(
        f"# balanced benchmark {started}: {machine['cpu']}, {machine['cores']} cores, "
        f"{machine['memory_gb']} GB; load average {machine['load_avg']}, CPU busy {machine['busy_percent_before']}%",
        flush=True,
    )
    raw, table = [], []
    for size, model, threads, syn, huge in itertools.product(
        args.sizes, args.models, args.threads, args.synapses, args.huge_pages
    ):
        n = C.parse_size(size)
        runs = []
        for rep in range(args.repeat):
            extra = ((f"synapse_model={syn}",) if syn != "auto" else ()) + tuple(args.sets)
            cfg = {
                "threads": threads,
                "sets": C.network_overrides(n, model, T=args.T, extra=extra),
                "no_analysis": args.no_analysis,
                "huge_pages": huge,
            }
            busy = C.busy_cpu_percent(0.5)
            res = C.run_child(args.python, cfg, timeout=args.timeout, src=args.src)
            row = C.summarize(n, model, threads, 1, res, T=args.T)
            row["busy_percent_before"] = busy
            runs.append(row)
            raw.append({"config": cfg, "row": row, "result": {k: v for k, v in res.items() if k != "spikes"}})
            print(
                f"  {row['size']:>4} {model:<7} threads {threads} {row['synapse_model']:<24} huge pages "
                f"{row['huge_pages']} ({row['huge_mib']} MiB) rep {rep + 1}: build {row['build_s']:.2f} s, simulate {row['simulate_s']:.2f} s, "
                f"e2e {row['e2e_s']:.2f} s, peak {row['peak_rss_mb']:.0f} MB, "
                f"{row['bytes_per_synapse']} B/syn (CPU busy before: {busy}%)",
                flush=True,
            )
        table.append(aggregate(runs))
    machine["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    md = [
        f"# balanced benchmark {started}",
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gb']} GB RAM, Python "
        f"{machine['python']}. Load average before {machine['load_avg']}, after {machine['load_avg_after']}; "
        f"CPU busy before: {machine['busy_percent_before']}%. T = {args.T:g} ms, repeats {args.repeat}"
        f"{' (times: median; *_min: minimum)' if args.repeat > 1 else ''}"
        f"{', no analysis' if args.no_analysis else ''}.",
        "",
        "## Results",
        "",
        C.markdown_table(table, COLUMNS),
        "",
        "## Where the time goes (seconds)",
        "",
        C.markdown_table(table, PROFILE_COLUMNS),
        "",
    ]
    ratios = []
    for r in table:
        if r["model"] != "nestml":
            continue
        ref = next(
            (
                b
                for b in table
                if b["model"] == "builtin"
                and b["N"] == r["N"]
                and b["threads"] == r["threads"]
                and b["synapse_model"] == r["synapse_model"]
                and b["huge_pages"] == r["huge_pages"]
            ),
            None,
        )
        if ref and ref["simulate_s"]:
            ratios.append(
                {
                    "size": r["size"],
                    "threads": r["threads"],
                    "huge_pages": r["huge_pages"],
                    "nestml_simulate_s": r["simulate_s"],
                    "builtin_simulate_s": ref["simulate_s"],
                    "ratio": round(r["simulate_s"] / ref["simulate_s"], 3),
                    "same_spike_count": r["spikes"] == ref["spikes"],
                }
            )
    if ratios:
        md += [
            "## NESTML vs built-in (simulate time)",
            "",
            C.markdown_table(
                ratios,
                [
                    "size",
                    "threads",
                    "huge_pages",
                    "nestml_simulate_s",
                    "builtin_simulate_s",
                    "ratio",
                    "same_spike_count",
                ],
            ),
            "",
        ]
    text = "\n".join(md)
    print("\n" + text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"{args.tag}-{started}"
    stem.with_suffix(".md").write_text(text)
    stem.with_suffix(".json").write_text(
        C.portable_json(
            {"machine": machine, "args": vars(args), "table": table, "nestml_vs_builtin": ratios, "raw": raw}
        )
    )
    print(f"\nwritten: {stem}.md, {stem}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
