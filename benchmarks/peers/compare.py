#!/usr/bin/env python
"""``balanced run`` against its peers, side by side: one network, whole processes, one table.

Runs ``balanced run`` (the project's ``.venv``, statistics and figure included) and the
same network written in plain PyNEST with NEST's defaults, BrainPy and Brian2 (C++
standalone and the cython runtime), each in a fresh process with its own virtual
environment (``make bench-peers``), at each size, the tools taking turns and their order
reversed on every other repeat; prints one Markdown table of the medians and saves it
with every raw measurement to ``benchmarks/results/peers-<cores>core-<time>.{md,json}``.

    .venv/bin/python benchmarks/peers/compare.py --sizes 1e3,1e4,2e4,1e5 --repeats 2
    .venv/bin/python benchmarks/peers/compare.py --sizes 1e3 --tools balanced,pynest \\
        --python pynest=.venv/bin/python       # PyNEST from the project's own environment

Sizes: ``1e3`` is the tutorial network (N_E = N_I = 500, K = 50 per population); larger
sizes keep its form with K = 1000 per population (``--k`` to choose), J = 1/sqrt(K).
Columns (benchmarks/peers/README.md): end-to-end = the whole process, interpreter start to
exit (the driver's clock); build = network construction (Brian2: code generation and
compilation too); simulate = the simulation loop; peak = the process tree's peak resident
memory (``wait4``'s ``ru_maxrss``: the largest process); B/synapse = (peak - the tool's RSS
just before it built the network) / synapses; events/s/core = spikes x mean out-degree /
simulate / threads; E rate and the mean ISI CV of E over 50 ms to T - 50 ms.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import _common as C  # noqa: E402

ROOT = C.ROOT
# tool -> (environment, script, extra arguments); the environment names a venv folder
TOOLS = {
    "balanced": ("balanced", None, []),
    "pynest": ("pynest", "pynest_defaults.py", []),
    "pynest-distinct": ("pynest", "pynest_defaults.py", ["--no-multapses"]),
    "brainpy": ("brainpy", "brainpy_net.py", []),
    "brian2-standalone": ("brian2", "brian2_net.py", ["--mode", "standalone"]),
    "brian2-cython": ("brian2", "brian2_net.py", ["--mode", "cython"]),
}
VENVS = {
    "balanced": ".venv",
    "pynest": ".venv-peers-pynest",
    "brainpy": ".venv-peers-brainpy",
    "brian2": ".venv-peers-brian2",
}
WARMUP = {"brian2-standalone", "brian2-cython"}  # tools with a persistent compile cache
NUMERIC = ("e2e_s", "build_s", "simulate_s", "peak_mb", "bytes_per_synapse", "events_per_s_core", "rate_e_hz", "cv_e")
COLUMNS = [
    ("tool", "tool"),
    ("N", "N"),
    ("K", "K"),
    ("threads", "threads"),
    ("e2e_s", "end-to-end s"),
    ("build_s", "build s"),
    ("simulate_s", "simulate s"),
    ("peak_mb", "peak MB"),
    ("bytes_per_synapse", "B/synapse"),
    ("events_per_s_core", "events/s/core"),
    ("rate_e_hz", "E rate Hz"),
    ("cv_e", "CV E"),
]


def run_measured(cmd: list[str], env: dict, timeout: float) -> dict:
    """Run ``cmd`` to its end; its wall time, the tree's peak RSS (kB), exit code, output."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=str(ROOT))
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
        out.seek(0)
        err.seek(0)
        return {
            "wall_s": wall,
            "maxrss_kb": usage.ru_maxrss,
            "rc": proc.returncode,
            "stdout": out.read().decode(errors="replace"),
            "stderr": err.read().decode(errors="replace"),
        }


def shown(token: str) -> str:
    """A command-line token as saved: paths in the checkout relative to it, others by name only."""
    name, sep, value = token.rpartition("=") if "=" in token else ("", "", token)
    if value.startswith("/"):
        path = Path(os.path.abspath(value))  # symlinks kept: a venv's python links outside it
        try:
            value = str(path.relative_to(ROOT))
        except ValueError:
            value = f"<path>/{path.name}"
    return f"{name}{sep}{value}"


def python_of(tool: str, overrides: dict[str, str]) -> Path:
    envname = TOOLS[tool][0]
    path = overrides.get(tool) or overrides.get(envname) or str(ROOT / VENVS[envname] / "bin" / "python")
    return Path(path)


def peer_env() -> dict:
    """The environment of a peer: the caller's, less OpenMP settings (each tool's defaults)."""
    return {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}


def measure(tool: str, python: Path, n: int, k: int, k_given: int | None, args) -> dict:
    """One whole-process run of ``tool``; a raw record (the row's numbers, or an error)."""
    rec: dict = {"tool": tool, "N": n, "K": k, "busy_cpu_percent": C.busy_cpu_percent(0.5)}
    with tempfile.TemporaryDirectory(prefix="balanced-peers-") as tmp:
        if tool == "balanced":
            sets = C.network_overrides(n, args.model, args.T, k_given, (f"seed={args.seed}",))
            cfg = {"out": f"{tmp}/run", "result": f"{tmp}/result.json", "threads": args.threads, "sets": sets}
            cmd = [str(python), str(C.CHILD), json.dumps(cfg)]  # `balanced run` with memory probes
            env = dict(os.environ)
        else:
            _, script, extra = TOOLS[tool]
            cmd = [str(python), str(HERE / script), *extra, "--n", str(n), "--k", str(k), "--T", f"{args.T:g}"]
            cmd += ["--threads", str(args.threads), "--seed", str(args.seed)]
            env = peer_env()
        shown_cmd = cmd if tool != "balanced" else [cmd[0], cmd[1], json.dumps({"sets": sets})]
        rec["command"] = shlex.join(shown(c) for c in shown_cmd)
        res = run_measured(cmd, env, args.timeout)
        rec.update(e2e_s=res["wall_s"], peak_mb=res["maxrss_kb"] / 1024, rc=res["rc"])
        if res["rc"] != 0:
            rec["error"] = f"failed (rc {res['rc']})"
            rec["stderr_tail"] = res["stderr"][-3000:]
            return rec
        if tool == "balanced":
            out = json.loads(Path(cfg["result"]).read_text())
            if out.get("rc"):
                rec.update(error=f"failed (rc {out['rc']})", stderr_tail=res["stderr"][-3000:])
                return rec
            manifest = json.loads((Path(cfg["out"]) / "manifest.json").read_text())
            stats = json.loads((Path(cfg["out"]) / "analysis" / "stats.json").read_text())
            line = {
                "version": manifest["versions"]["balanced"],
                "threads": manifest["layout"]["threads_per_rank"] * manifest["layout"]["mpi_ranks"],
                "build_s": manifest["timers_s"]["create_connect"],
                "simulate_s": manifest["timers_s"]["simulate"],
                "spikes": manifest["counts"]["spikes"],
                "n_synapses": manifest["counts"]["synapses"],
                "rate_e_hz": stats["E"]["rate_mean_hz"],
                "cv_e": stats["E"]["cv_isi_mean"],
                "rss_base_kb": out["probe"].get("rss_before_network_kb", 0),
                "neuron_model": manifest["model"]["nest_model"],
                "synapse_model": manifest["model"]["synapse_model"],
            }
        else:
            line = json.loads(res["stdout"].strip().splitlines()[-1])
    rec.update(line)
    rec["tool"] = tool  # a variant (pynest-distinct) reports its script's name
    syn, sim = rec["n_synapses"], rec["simulate_s"]
    rec["bytes_per_synapse"] = (res["maxrss_kb"] - rec["rss_base_kb"]) * 1024 / syn if syn else None
    rec["events_per_s_core"] = rec["spikes"] * (syn / n) / sim / rec["threads"] if sim > 0 else None
    return rec


def summarize(records: list[dict], tools: list[str], sizes: list[tuple[int, int]]) -> list[dict]:
    """One row per (size, tool): medians of the repeats (or the reason there is none)."""
    rows = []
    for n, k in sizes:
        for tool in tools:
            mine = [r for r in records if r["tool"] == tool and r["N"] == n and not r.get("warmup")]
            row: dict = {"tool": tool, "N": C.size_label(n), "K": k, "repeats": len(mine)}
            ok = [r for r in mine if "error" not in r]
            if not mine or not ok:
                row["e2e_s"] = mine[0]["error"] if mine else "not run"
                rows.append(row)
                continue
            row["threads"] = ok[0]["threads"]
            row["version"] = ok[0].get("version")
            for key in NUMERIC + ("spikes", "n_synapses"):
                vals = [r[key] for r in ok if r.get(key) is not None and r[key] == r[key]]
                row[key] = C.median(vals) if vals else None
            row["e2e_range_s"] = [min(r["e2e_s"] for r in ok), max(r["e2e_s"] for r in ok)]
            rows.append(row)
    return rows


def table(rows: list[dict]) -> str:
    def fmt(key, v):
        if v is None or isinstance(v, str):
            return v or "-"
        if key == "events_per_s_core":
            return f"{v:.2e}"
        if key in ("N", "K", "threads", "tool"):
            return str(v)
        return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"

    lines = ["| " + " | ".join(h for _, h in COLUMNS) + " |", "|" + "|".join("---" for _ in COLUMNS) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(fmt(key, r.get(key)) for key, _ in COLUMNS) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", default="1e3,1e4", help="comma-separated network sizes (default 1e3,1e4)")
    ap.add_argument("--k", type=int, help="in-degree per population (default: 50 at 1e3, else 1000)")
    ap.add_argument("--tools", default=",".join(TOOLS), help=f"comma-separated, of {', '.join(TOOLS)}")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2, help="threads for every tool (Brian2's runtime: 1)")
    ap.add_argument("--T", type=float, default=1000.0, help="model time, ms (default 1000)")
    ap.add_argument("--seed", type=int, default=12345, help="every tool's seed (default 12345)")
    ap.add_argument("--model", default="nestml", help="balanced's neuron model: nestml or iaf_psc_exp")
    ap.add_argument("--python", action="append", default=[], metavar="TOOL=PATH", help="a tool's interpreter")
    ap.add_argument("--no-warmup", action="store_true", help="no untimed first run of the Brian2 tools")
    ap.add_argument("--timeout", type=float, default=7200.0, help="seconds per process")
    ap.add_argument("--out", default=str(C.RESULTS), help="folder of the saved table (default benchmarks/results)")
    args = ap.parse_args(argv)

    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    for t in tools:
        if t not in TOOLS:
            print(f"--tools: unknown tool {t!r}; allowed: {', '.join(TOOLS)}", file=sys.stderr)
            return 2
    overrides = {}
    for item in args.python:
        name, sep, path = item.partition("=")
        if not sep or name not in set(TOOLS) | set(VENVS):
            print(f"--python: {item!r} must be TOOL=PATH with TOOL one of {', '.join(TOOLS)}", file=sys.stderr)
            return 2
        overrides[name] = path
    try:
        sizes = [(n, C.indegree_of(n, args.k)) for n in (C.parse_size(s) for s in args.sizes.split(","))]
    except ValueError:
        print(f"--sizes: {args.sizes!r} must be comma-separated sizes such as 1e3,1e4", file=sys.stderr)
        return 2
    pythons = {t: python_of(t, overrides) for t in tools}
    missing = {t for t, p in pythons.items() if not p.exists()}
    for t in sorted(missing):
        print(f"{t}: not installed (make bench-peers)", file=sys.stderr)

    started = dt.datetime.now()
    records: list[dict] = []
    for t in sorted(missing):
        for n, k in sizes:
            records.append({"tool": t, "N": n, "K": k, "error": "not installed (make bench-peers)"})
    runnable = [t for t in tools if t not in missing]
    for n, k in sizes:
        if not args.no_warmup:
            for tool in [t for t in runnable if t in WARMUP]:
                rec = measure(tool, pythons[tool], n, k, args.k, args)
                rec["warmup"] = True
                records.append(rec)
        for rep in range(args.repeats):
            order = runnable if rep % 2 == 0 else runnable[::-1]
            for tool in order:
                rec = measure(tool, pythons[tool], n, k, args.k, args)
                rec["repeat"] = rep
                records.append(rec)
                status = rec.get("error") or f"{rec['e2e_s']:.2f} s, {rec['rate_e_hz']:.2f} Hz"
                print(f"[{C.size_label(n)} repeat {rep + 1}] {tool}: {status}", file=sys.stderr, flush=True)
                if "stderr_tail" in rec:
                    print(rec["stderr_tail"], file=sys.stderr)
    rows = summarize(records, tools, sizes)
    md_table = table(rows)
    print(md_table)

    machine = C.machine()
    stamp = started.strftime("%Y%m%d-%H%M%S")
    versions = {r["tool"]: r["version"] for r in rows if r.get("version")}
    header = [
        f"# balanced run against its peers, {started:%Y-%m-%d %H:%M}",
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gb']} GB; "
        f"load average at the start {machine['load_avg']}.",
        f"Versions: {', '.join(f'{t} {v}' for t, v in versions.items())}.",
        f"Model time {args.T:g} ms, {args.threads} threads, medians of {args.repeats} repeats "
        "(whole processes, tools alternating); command: `benchmarks/peers/compare.py "
        + shlex.join(shown(a) for a in (sys.argv[1:] if argv is None else argv))
        + "`.",
        "",
    ]
    md = "\n".join(header) + "\n" + md_table + "\n"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    base = out / f"peers-{machine['cores']}core-{stamp}"
    saved_args = {**vars(args), "out": shown(args.out), "python": [shown(p) for p in args.python]}
    data = {"started": started.isoformat(timespec="seconds"), "machine": machine, "args": saved_args}
    data.update(rows=rows, records=records)
    base.with_suffix(".json").write_text(C.portable_json(data) + "\n")
    base.with_suffix(".md").write_text(json.loads(C.portable_json(md)))
    print(f"saved {base.with_suffix('.md').name} and .json in {out}", file=sys.stderr)
    failed = [r for r in records if "error" in r and r["error"].startswith("failed")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
