#!/usr/bin/env python
"""A/B simulate time with the two variants taking turns, chunk by chunk, on one machine.

On a shared machine (the 2-core VM, a cloud node) single runs of the same network vary
by 10-30 % from minute to minute, more than most of the differences worth measuring
(NESTML vs built-in, huge pages on vs off). Here both variants are built once, each in
its own process holding its network, and then simulate alternately: A runs a chunk while
B waits, then B runs a chunk while A waits, and so on. Both see the same machine
conditions at the same time, so the per-chunk ratio is far steadier than the ratio of two
separate runs.

Each variant: ``--a`` / ``--b`` as ``model[,huge_pages]`` with model ``nestml``,
``nestml-stock`` (the NESTML model generated from NESTML's own templates,
``balanced build --templates stock``) or ``builtin`` and huge_pages ``on`` (collapse after the build, what ``balanced run`` does),
``off`` (default) or ``malloc`` (the child started with glibc's malloc asking for huge
pages, :data:`MALLOC_TUNABLES`), optionally followed by the connection builder,
``nest-rule`` (NEST's ``fixed_indegree``) or ``module-rule`` (the package module's, which
``balanced run`` uses wherever the module is built, the default here too), for
example::

    .venv/bin/python benchmarks/interleaved.py --size 1e4 --a builtin --b nestml --chunks 7
    .venv/bin/python benchmarks/interleaved.py --size 2e4 --a builtin,off --b builtin,on
    .venv/bin/python benchmarks/interleaved.py --size 1e4 --a builtin --b builtin   # A/A control
    .venv/bin/python benchmarks/interleaved.py --separate --size 1e4 --threads 1 --a builtin,off,nest-rule --b nestml

A variant may name the source tree it measures, ``MODEL[,huge_pages]@FOLDER`` (a checkout
of another commit, e.g. ``git worktree add /tmp/before HEAD~1``), to compare two versions
of the package; without it, ``--src`` (default this checkout) is used::

    .venv/bin/python benchmarks/interleaved.py --size 2e4 --a nestml,on@/tmp/before --b nestml,on

The A/A control matters: two processes of the *same* variant differ too, because where
malloc puts the nodes and buffers differs from process to process (measured at 1e4: up
to +-20 % per pair). Compare a B/A ratio with the spread of A/A ratios, over several pairs.

``--separate`` measures the other way, for comparison: each variant's run is its own
process, started fresh, simulating all its chunks alone, and the variants take turns
process by process (A B, then B A, ...: ``--pairs`` pairs). The ratio of each pair (its
steady chunks' simulate time, B/A) and their median are printed. Separate processes see
the machine at different moments and place their memory differently, so their ratios
spread more; both methods together say what part of a difference is the model::

    .venv/bin/python benchmarks/interleaved.py --separate --pairs 5 --size 1e4 --threads 1 --a builtin --b nestml

The networks are the benchmark sizes (``benchmarks/_common.py``), built with the
package's own code (``balanced.network.build_network``), ``--threads`` threads each
(default 2). The first chunk includes NEST's preparation (sorting connections) and is
reported but left out of the ratio. Prints one line per chunk, then the median and total
ratio B/A, and writes the rows as JSON (``--out``). Both networks are in memory at once:
twice the memory of one run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

CHILD = Path(__file__).resolve().parent / "children" / "interleaved_child.py"


# The "malloc" variant: glibc (2.35+) asks for huge pages itself as its heap grows, and one
# arena for all threads so that every thread's memory is in that heap (glibc gives the
# other threads' arenas none). Measured at N = 2e4 against the collapse ("on"): 1.40x
# the simulate time, because the threads' nodes and tiny ring buffers then share cache
# lines (docs/performance.md); `balanced` collapses instead.
MALLOC_TUNABLES = "glibc.malloc.hugetlb=1:glibc.malloc.arena_max=1:glibc.malloc.tcache_count=4096"


RULES = {"nest-rule": False, "module-rule": True}  # the connection builder, where given


def parse_variant(text: str) -> dict:
    """``MODEL[,on|off|malloc][,nest-rule|module-rule][@FOLDER]``; the label names the folder
    by its last part. Without a rule the builder is the one ``balanced run`` chooses (the
    module's, the module loaded for its rule alone with ``builtin``); ``nest-rule`` asks for
    NEST's own."""
    spec, _, src = text.partition("@")
    model, *options = spec.split(",")
    huge = [o for o in options if o in ("on", "off", "malloc")]
    rule = [o for o in options if o in RULES]
    if (
        model not in (*C.MODEL_NAMES, "nestml-stock")
        or len(huge) > 1
        or len(rule) > 1
        or len(huge) + len(rule) < len(options)
    ):
        raise SystemExit(
            f"variant {text!r}: expected MODEL[,on|off|malloc][,nest-rule|module-rule][@FOLDER] with MODEL "
            "nestml, nestml-stock or builtin"
        )
    if src and not (Path(src) / "balanced" / "__init__.py").is_file():
        raise SystemExit(f"variant {text!r}: {src} is not a checkout of this package (no balanced/__init__.py)")
    huge_pages = huge[0] if huge else "off"
    label = f"{model},{huge_pages}" + (f",{rule[0]}" if rule else "") + (f"@{Path(src).resolve().name}" if src else "")
    return {
        "model": model,
        "huge_pages": huge_pages,
        "module_rule": RULES[rule[0]] if rule else None,
        "label": label,
        "src": src or None,
    }


def start(python: str, variant: dict, n: int, threads: int, T: float, src: str | None) -> tuple:
    src = variant["src"] or src
    stock = variant["model"] == "nestml-stock"
    cfg = {
        "sets": C.network_overrides(n, "nestml" if stock else variant["model"], T=T),
        "threads": threads,
        "huge_pages": variant["huge_pages"],
        "templates": "stock" if stock else None,
        "model_file": str(Path(src or C.ROOT) / "models" / "lif_psc_exp.nestml"),
    }
    if variant["module_rule"] is not None:
        cfg["module_rule"] = variant["module_rule"]
    env = {**os.environ, "GLIBC_TUNABLES": MALLOC_TUNABLES} if variant["huge_pages"] == "malloc" else None
    proc = subprocess.Popen(
        [python, str(CHILD), json.dumps(cfg)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=str(src or C.ROOT),
        env=env,
    )
    ready = proc.stdout.readline()
    if not ready:
        raise SystemExit(f"variant {variant['label']}: the child failed to build its network")
    return proc, json.loads(ready)


def ask(proc, text: str) -> dict:
    proc.stdin.write(text + "\n")
    proc.stdin.flush()
    return json.loads(proc.stdout.readline())


def _base(label: str) -> str:
    """``model,huge_pages`` of a saved label (``builtin#1`` -> ``builtin,off``)."""
    label = label.split("#")[0]
    return label if "," in label else label + ",off"


def summarize(paths: list[str]) -> list[dict]:
    """Position-corrected ratios over saved runs, one row per (size, threads, pair of variants).

    The process built second ran 3-10 % faster in A/A controls at N = 1e4, whatever it
    held; so each pair of variants is measured in both orders and combined: with
    ``g_xy`` the geometric mean of the total-time ratios with x as A and y as B,
    ``ratio y/x = sqrt(g_xy / g_yx)`` and the position factor ``sqrt(g_xy * g_yx)``.
    """
    groups: dict = {}
    for path in paths:
        s = json.loads(Path(path).read_text())["summary"]
        a, b = _base(s["a"]), _base(s["b"])
        key = (s.get("mode", "interleaved"), s["size"], s["threads"], *sorted((a, b)))
        groups.setdefault(key, {}).setdefault((a, b), []).append(s["ratio_total"])
    rows = []
    for (mode, size, threads, x, y), orders in sorted(groups.items()):

        def gmean(vals):
            return math.exp(sum(math.log(v) for v in vals) / len(vals)) if vals else None

        g_xy, g_yx = gmean(orders.get((x, y), [])), gmean(orders.get((y, x), []))
        row = {
            "mode": mode,
            "size": size,
            "threads": threads,
            "x": x,
            "y": y,
            "runs_x_first": len(orders.get((x, y), [])),
            "runs_y_first": len(orders.get((y, x), [])),
            "y_over_x_x_first": g_xy and round(g_xy, 3),
            "x_over_y_y_first": g_yx and round(g_yx, 3),
        }
        if x == y:  # A/A control: every run is "x first"
            row.update(runs_y_first=None, x_over_y_y_first=None, position_factor=round(g_xy, 3))
        elif g_xy and g_yx:
            row["ratio_y_over_x"] = round(math.sqrt(g_xy / g_yx), 3)
            row["position_factor"] = round(math.sqrt(g_xy * g_yx), 3)
        rows.append(row)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--summarize",
        nargs="+",
        metavar="JSON",
        default=None,
        help="print position-corrected ratios over saved runs (this script's JSON files) and exit",
    )
    ap.add_argument("--size", default="1e4", help="network size (1e3, 1e4, 2e4, 1e5 or a number)")
    ap.add_argument(
        "--a",
        help="variant A: MODEL[,on|off|malloc][,nest-rule|module-rule][@FOLDER] (on: collapse after the build; malloc: "
        "started with glibc malloc asking; FOLDER: measure the package in that checkout)",
    )
    ap.add_argument("--b", help="variant B: MODEL[,on|off|malloc][,nest-rule|module-rule][@FOLDER]")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--chunk-ms", type=float, default=100.0)
    ap.add_argument("--chunks", type=int, default=6, help="chunks per variant (the first is left out of the ratio)")
    ap.add_argument(
        "--separate", action="store_true", help="one fresh process per run, the variants taking turns (see above)"
    )
    ap.add_argument("--pairs", type=int, default=3, help="with --separate: pairs of runs (A B, B A, ...)")
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument(
        "--src", default=None, help="measure the `balanced` package in this folder (variants without @FOLDER)"
    )
    ap.add_argument("--out", default=str(C.RESULTS), help="folder for the JSON rows")
    args = ap.parse_args(argv)
    if args.summarize:
        rows = summarize(args.summarize)
        print(
            C.markdown_table(
                rows,
                [
                    "mode",
                    "size",
                    "threads",
                    "x",
                    "y",
                    "runs_x_first",
                    "runs_y_first",
                    "y_over_x_x_first",
                    "x_over_y_y_first",
                    "ratio_y_over_x",
                    "position_factor",
                ],
            )
        )
        return 0
    if not (args.a and args.b):
        ap.error("--a and --b are required (or --summarize)")
    n = C.parse_size(args.size)
    a, b = parse_variant(args.a), parse_variant(args.b)
    if a["label"] == b["label"]:  # A/A: the control that shows how much two processes of one variant differ
        a["label"], b["label"] = a["label"] + "#1", b["label"] + "#2"
    T = args.chunk_ms * args.chunks
    if args.separate:
        return run_separate(args, a, b, n, T)
    procs = {}
    for v in (a, b):  # built one after the other: building is not what is compared
        procs[v["label"]], info = start(args.python, v, n, args.threads, T, args.src)
        print(
            f"{v['label']:>12}: build {info['build_s']:.2f} s, prepare {info['prepare_s']:.2f} s, "
            f"huge pages {info['huge_pages'].get('huge_mib', 0) if info['huge_pages'].get('applied') else 'no'}",
            flush=True,
        )
    rows = []
    for i in range(args.chunks):
        row = {"chunk": i}
        for v in (a, b) if i % 2 == 0 else (b, a):  # alternate who goes first
            row[v["label"]] = ask(procs[v["label"]], f"{args.chunk_ms}")
        rows.append(row)
        ra, rb = row[a["label"]], row[b["label"]]
        print(
            f"chunk {i}: {a['label']} {ra['wall_s']:.2f} s ({ra['spikes']} spikes), "
            f"{b['label']} {rb['wall_s']:.2f} s ({rb['spikes']} spikes), B/A {rb['wall_s'] / ra['wall_s']:.3f}",
            flush=True,
        )
    ends = {label: ask(proc, "quit") for label, proc in procs.items()}
    for proc in procs.values():
        proc.wait()
    steady = rows[1:] or rows
    ratios = [r[b["label"]]["wall_s"] / r[a["label"]]["wall_s"] for r in steady]
    total = {v["label"]: sum(r[v["label"]]["wall_s"] for r in steady) for v in (a, b)}
    cpu = {v["label"]: sum(r[v["label"]]["cpu_s"] for r in steady) for v in (a, b)}
    summary = {
        "size": args.size,
        "N": n,
        "threads": args.threads,
        "a": a["label"],
        "b": b["label"],
        "chunk_ms": args.chunk_ms,
        "chunks": args.chunks,
        "ratio_median": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "ratio_total": total[b["label"]] / total[a["label"]],
        "ratio_cpu": cpu[b["label"]] / cpu[a["label"]],
        "total_s": total,
        "spikes": {k: e["spikes"] for k, e in ends.items()},
        "peak_rss_mb": {k: e["peak_rss_mb"] for k, e in ends.items()},
    }
    print(
        f"B/A ({b['label']} / {a['label']}), chunks 1-{args.chunks - 1}: median {summary['ratio_median']:.3f} "
        f"(min {summary['ratio_min']:.3f}, max {summary['ratio_max']:.3f}), total {summary['ratio_total']:.3f}, "
        f"CPU time {summary['ratio_cpu']:.3f}; spikes {summary['spikes']}; peak RSS {summary['peak_rss_mb']}"
    )
    write(args, a, b, summary, {"chunks": rows}, "interleaved")
    return 0


def write(args, a: dict, b: dict, summary: dict, rows: dict, mode: str) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    name = f"{mode}-{args.size}-{args.threads}t-{a['label']}-vs-{b['label']}-{stamp}.json"
    path = out / name.replace(",", "_").replace("#", "").replace("@", "_at_")
    path.write_text(C.portable_json({"machine": C.machine(), "summary": summary, **rows}))
    print(f"written: {path}")


def run_separate(args, a: dict, b: dict, n: int, T: float) -> int:
    """``--separate``: a fresh process per run, A and B taking turns; ratios per pair."""
    pairs = []
    for i in range(args.pairs):
        pair: dict = {"pair": i}
        for v in (a, b) if i % 2 == 0 else (b, a):  # alternate who goes first
            proc, info = start(args.python, v, n, args.threads, T, args.src)
            chunks = [ask(proc, f"{args.chunk_ms}") for _ in range(args.chunks)]
            end = ask(proc, "quit")
            proc.wait()
            steady = chunks[1:] or chunks
            pair[v["label"]] = {
                "wall_s": sum(c["wall_s"] for c in steady),
                "cpu_s": sum(c["cpu_s"] for c in steady),
                "spikes": end["spikes"],
                "build_s": info["build_s"],
                "peak_rss_mb": end["peak_rss_mb"],
            }
        pair["ratio"] = pair[b["label"]]["wall_s"] / pair[a["label"]]["wall_s"]
        pairs.append(pair)
        print(
            f"pair {i}: {a['label']} {pair[a['label']]['wall_s']:.2f} s, {b['label']} {pair[b['label']]['wall_s']:.2f} s, "
            f"B/A {pair['ratio']:.3f}",
            flush=True,
        )
    ratios = [p["ratio"] for p in pairs]
    total = {v["label"]: sum(p[v["label"]]["wall_s"] for p in pairs) for v in (a, b)}
    summary = {
        "mode": "separate",
        "size": args.size,
        "N": n,
        "threads": args.threads,
        "a": a["label"],
        "b": b["label"],
        "chunk_ms": args.chunk_ms,
        "chunks": args.chunks,
        "pairs": args.pairs,
        "ratio_median": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "ratio_total": total[b["label"]] / total[a["label"]],
        "total_s": total,
        "spikes": {v["label"]: [p[v["label"]]["spikes"] for p in pairs] for v in (a, b)},
    }
    print(
        f"B/A ({b['label']} / {a['label']}), separate processes, {args.pairs} pairs: median {summary['ratio_median']:.3f} "
        f"(min {summary['ratio_min']:.3f}, max {summary['ratio_max']:.3f}), total {summary['ratio_total']:.3f}; "
        f"spikes {summary['spikes']}"
    )
    write(args, a, b, summary, {"pairs": pairs}, "separate")
    return 0


if __name__ == "__main__":
    sys.exit(main())
