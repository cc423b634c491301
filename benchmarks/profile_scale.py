"""Where the time goes at scale: `balanced run`'s phases, NEST's kernel timers, a CPU profile
grouped into connect / deliver / update / communicate / record / analysis, and events per
second per core against a bare scatter-add loop on the same machine.

For each size, one `balanced run` in a fresh process (tutorial form, N_E = N_I = N/2,
K = 1000, as ``benchmarks/_common.py``), optionally under ``perf record`` (``--perf``; the
samples of the process and of its analysis worker are grouped by symbol, see
:data:`GROUPS`). The PyPI wheel of NEST 3.10 has no detailed timers
(``time_deliver_spike_data``, ``time_update``, ``time_gather_spike_data`` are absent), so
the split inside ``Simulate`` comes from the profile; the kernel timers that exist
(``time_construction_create``, ``time_construction_connect``, ``time_communicate_prepare``,
``time_simulate`` and their ``_cpu`` variants) are printed as fractions of the run.

The scatter-add reference (``benchmarks/scatter_add.c``, compiled with gcc here) builds the
same graph and adds one weight into a ring slot of every target of every spike, on one
core: the events per CPU-second it reaches are the physical limit of a synaptic event;
NEST's figure is events per CPU-second of ``Simulate`` (``time_simulate_cpu``, the master
thread's CPU time, times the threads, which run in step: barrier spinning counts as busy).

    nice .venv/bin/python benchmarks/profile_scale.py --sizes 2e4 1e5 --T 200 20 --perf
    .venv/bin/python benchmarks/profile_scale.py --sizes 2000 --k 100 --T 50 --out /tmp/p   # seconds

Fractions and CPU-second figures hold up on a shared machine; wall seconds do not.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

HERE = Path(__file__).resolve().parent

# Profile groups, first match wins: (name, pattern on "dso symbol").
GROUPS = (
    (
        "connect",
        r"ConnBuilder|Builder::|connection_required|add_connection|push_back|_Rb_tree|SparseNodeArray|"
        r"ConnectionManager::connect|Philox|mt19937|mersenne|RandomGenerator|uniform_int|add_source|"
        r"DelayChecker|proxynode|has_proxies|get_node_or_proxy|send_test_event",
    ),
    ("prepare (sort, target tables)", r"sort|SourceTable|TargetTable|target_data|restructure|compress|TargetData"),
    ("deliver", r"SpikeEvent|deliver_events|send_to_all|Connector<|::send\b|::handle\b|RingBuffer::add|add_value"),
    (
        "communicate",
        r"gather_spike_data|collocate_spike_data|communicate|MPIManager|spike_register|SpikeData|send_buffer",
    ),
    ("update", r"::update\b|update_\b|get_value|calibrate|pre_run_hook|UniversalDataLogger|record_data"),
    ("barrier (OpenMP wait)", r"libgomp|gomp_"),
    (
        "record (recorders, spike files)",
        r"RecordingBackend|recording_backend|spike_recorder|multimeter|DeviceData|Recording",
    ),
    ("kernel (page faults, huge pages)", r"\[kernel|kallsyms"),
    ("allocator (malloc, free)", r"libc\.so\S* \S*(malloc|free|_int_|realloc|memset|memcpy|memmove)"),
    (
        "python, analysis, figures",
        r"python|numpy|_multiarray|scipy|openblas|matplotlib|elephant|libm\.|ft2font|_path|png|libz",
    ),
)


def perf_groups(data: Path) -> tuple[dict, list, list]:
    """Percent of the samples per group, the 25 heaviest symbols and the heaviest of "other",
    from ``perf report``."""
    out = subprocess.run(
        ["perf", "report", "-i", str(data), "--stdio", "--no-children", "--sort", "dso,sym", "-q"],
        capture_output=True,
        text=True,
        timeout=900,
    ).stdout
    groups: dict[str, float] = {name: 0.0 for name, _ in GROUPS}
    groups["other"] = 0.0
    top, unmatched = [], []
    for line in out.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+\[.\]\s+(.*)$", line)
        if not m:
            continue
        pct, dso, sym = float(m.group(1)), m.group(2), m.group(3).strip()
        key = f"{dso} {sym}"
        for name, pattern in GROUPS:
            if re.search(pattern, key):
                groups[name] += pct
                break
        else:
            groups["other"] += pct
            if len(unmatched) < 15:
                unmatched.append((pct, dso, sym[:120]))
        if len(top) < 25:
            top.append((pct, dso, sym[:120]))
    return {k: round(v, 2) for k, v in groups.items()}, top, unmatched


def scatter_add(n: int, k: int, rate_hz: float, steps: int, seed: int = 1) -> dict:
    """Run ``benchmarks/scatter_add.c`` (compiled here with gcc -O3) for this network."""
    with tempfile.TemporaryDirectory(prefix="scatter-add-") as tmp:
        exe = Path(tmp) / "scatter_add"
        subprocess.run(["gcc", "-O3", "-march=native", "-o", str(exe), str(HERE / "scatter_add.c")], check=True)
        out = subprocess.run(
            [str(exe), str(n), str(k), f"{rate_hz:g}", str(steps), "0.1", str(seed)],
            check=True,
            capture_output=True,
            text=True,
            timeout=3600,
        ).stdout
    return json.loads(out)


def nest_seconds(timers: dict, key: str) -> float:
    value = timers.get(key, 0.0)
    return float(max(value)) if isinstance(value, list) else float(value)


def profile_size(args, n: int, T: float, out: Path) -> dict:
    sets = C.network_overrides(n, args.model, T=T, k=args.k)
    run_dir = out / f"run-{C.size_label(n)}"
    cfg = {"sets": sets, "threads": args.threads, "out": str(run_dir), "huge_pages": args.huge_pages}
    launcher = None
    perf_data = out / f"perf-{C.size_label(n)}.data"
    if args.perf:
        launcher = ["perf", "record", "-e", "cpu-clock", "-F", str(args.perf_hz), "-o", str(perf_data), "-q", "--"]
    res = C.run_child(args.python, cfg, timeout=args.timeout, launcher=launcher)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    timers = manifest["timers_s"]
    nt = manifest.get("nest_timers_s", {})
    spikes, synapses = manifest["counts"]["spikes"], manifest["counts"]["synapses"]
    events = spikes * synapses / n
    sim_cpu = nest_seconds(nt, "simulate_cpu")
    before_run = res["probe"].get("t_before_run_s", 0.0)  # interpreter start to run_network
    phases = {
        "start-up, import, kernel": before_run + timers.get("kernel", 0.0) + timers.get("build", 0.0),
        "create + connect": timers.get("create_connect", 0.0),
        "huge-page collapse (+ Prepare)": timers.get("huge_pages", 0.0),
        "simulate": timers.get("simulate", 0.0),
        "write spikes, merge": timers.get("write", 0.0) + timers.get("merge", 0.0),
        "analysis, figures": res["analysis_s"] - (before_run - res["startup_s"]),
    }
    phases["other (manifest, exit)"] = max(0.0, res["wall_s"] - sum(phases.values()))
    wall = res["wall_s"]
    row = {
        "N": n,
        "K": C.indegree_of(n, args.k),
        "T_ms": T,
        "threads": args.threads,
        "synapses": synapses,
        "spikes": spikes,
        "rate_hz": spikes / n / (T / 1000.0),
        "events": events,
        "wall_s": wall,
        "phases_s": phases,
        "phase_fractions": {k: v / wall for k, v in phases.items()},
        "nest_timers_s": nt,
        "nest_fractions_of_wall": {
            key: nest_seconds(nt, key) / wall
            for key in ("construction_create", "construction_connect", "communicate_prepare", "simulate")
            if key in nt
        },
        "detailed_timers": sorted(k for k in nt if k.startswith(("deliver", "update", "gather", "collocate"))),
        # time_simulate_cpu is the master thread's CPU time; the other threads run in step with it
        "nest_events_per_cpu_s": events / (sim_cpu * args.threads) if sim_cpu > 0 else None,
        "nest_events_per_wall_s_per_thread": events / timers["simulate"] / args.threads
        if timers.get("simulate")
        else None,
        "peak_rss_mb": res["peak_kb"] / 1024,
    }
    if args.perf and perf_data.is_file():
        row["perf_groups_pct"], row["perf_top"], row["perf_other"] = perf_groups(perf_data)
        if not args.keep_perf:
            perf_data.unlink()
    if not args.no_scatter:
        steps = max(1, int(round(args.scatter_ms / 0.1)))
        row["scatter_add"] = scatter_add(n, C.indegree_of(n, args.k), row["rate_hz"], steps)
        ref = row["scatter_add"]["events_per_s"]
        if row["nest_events_per_cpu_s"]:
            row["scatter_over_nest"] = ref / row["nest_events_per_cpu_s"]
    shutil.rmtree(run_dir, ignore_errors=True)
    return row


def to_markdown(rows: list[dict], meta: dict) -> str:
    lines = [
        "# Where the time goes at scale",
        "",
        f"{meta['date']}, {meta['cores']} cores, load average {meta['load']} at the start "
        "(absolute seconds taken on a shared machine: compare fractions and CPU-second rates).",
        "",
        "## Phases of `balanced run` (fraction of the process's wall time)",
        "",
        "| N | K | T ms | synapses | wall s | " + " | ".join(rows[0]["phases_s"]) + " |",
        "|---|---|---|---|---|" + "---|" * len(rows[0]["phases_s"]),
    ]
    for r in rows:
        cells = " | ".join(f"{r['phase_fractions'][k]:.1%}" for k in r["phases_s"])
        lines.append(
            f"| {C.size_label(r['N'])} | {r['K']} | {r['T_ms']:g} | {r['synapses']:.3g} | {r['wall_s']:.1f} | {cells} |"
        )
    lines += ["", "## NEST's kernel timers (fraction of wall)", ""]
    for r in rows:
        fr = ", ".join(f"{k} {v:.1%}" for k, v in r["nest_fractions_of_wall"].items())
        lines.append(f"- {C.size_label(r['N'])}: {fr}; detailed timers: {r['detailed_timers'] or 'none in this NEST'}")
    if any("perf_groups_pct" in r for r in rows):
        names = list(next(r for r in rows if "perf_groups_pct" in r)["perf_groups_pct"])
        lines += ["", "## CPU profile (perf, % of all samples of the run)", ""]
        lines += ["| N | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
        for r in rows:
            if "perf_groups_pct" in r:
                lines.append(
                    f"| {C.size_label(r['N'])} | " + " | ".join(f"{r['perf_groups_pct'][k]:.1f}" for k in names) + " |"
                )
        loop = ("deliver", "communicate", "update", "barrier (OpenMP wait)")
        lines += ["", "Inside the simulation loop (% of the samples of the four groups):", ""]
        lines += ["| N | " + " | ".join(loop) + " |", "|---|" + "---|" * len(loop)]
        for r in rows:
            if "perf_groups_pct" in r:
                total = sum(r["perf_groups_pct"][k] for k in loop) or 1.0
                cells = " | ".join(f"{100 * r['perf_groups_pct'][k] / total:.1f}" for k in loop)
                lines.append(f"| {C.size_label(r['N'])} | {cells} |")
        for r in rows:
            if "perf_top" in r:
                lines += ["", f"Heaviest symbols, N = {C.size_label(r['N'])}:", ""]
                lines += [f"- {pct:.1f}% {dso} {sym}" for pct, dso, sym in r["perf_top"][:12]]
                lines += ["", 'Heaviest in "other":', ""]
                lines += [f"- {pct:.1f}% {dso} {sym}" for pct, dso, sym in r["perf_other"][:8]]
    lines += [
        "",
        "## Events per CPU-second: NEST against a bare scatter-add",
        "",
        "| N | rate Hz | NEST events / core-s of Simulate | scatter-add events / core-s | scatter-add / NEST "
        "| NEST connect core-s | scatter-add graph build core-s |",
        "|---|---|---|---|---|---|---|",
    ]
    nan = float("nan")
    for r in rows:
        sa = r.get("scatter_add", {})
        connect_cpu = nest_seconds(r["nest_timers_s"], "construction_connect_cpu") * r["threads"]
        lines.append(
            f"| {C.size_label(r['N'])} | {r['rate_hz']:.1f} | {r['nest_events_per_cpu_s'] or nan:.3g} | "
            f"{sa.get('events_per_s', nan):.3g} | {r.get('scatter_over_nest') or nan:.1f} | "
            f"{connect_cpu:.3g} | {sa.get('build_s', nan):.3g} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", nargs="+", default=["2e4", "1e5"], help="network sizes N")
    ap.add_argument("--T", nargs="+", type=float, default=[200.0, 20.0], help="model time (ms) per size (last repeats)")
    ap.add_argument("--k", type=int, default=None, help="inputs per population (default 1000)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--model", default="nestml", choices=["nestml", "builtin"])
    ap.add_argument("--huge-pages", default="auto", choices=["auto", "on", "off"])
    ap.add_argument("--perf", action="store_true", help="profile with perf record (cpu-clock)")
    ap.add_argument("--perf-hz", type=int, default=199)
    ap.add_argument("--keep-perf", action="store_true", help="keep the perf.data files in --out")
    ap.add_argument("--no-scatter", action="store_true", help="skip the scatter-add reference")
    ap.add_argument("--scatter-ms", type=float, default=100.0, help="model time of the scatter-add run (ms)")
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--timeout", type=float, default=3600.0)
    ap.add_argument("--out", default=str(C.RESULTS))
    args = ap.parse_args(argv)
    if args.perf and shutil.which("perf") is None:
        print("profile_scale: --perf: perf is not installed (apt-get install linux-perf)", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "cores": os.cpu_count(), "load": os.getloadavg()[0]}
    rows = []
    for i, size in enumerate(args.sizes):
        T = args.T[min(i, len(args.T) - 1)]
        rows.append(profile_size(args, C.parse_size(size), T, out))
        print(f"{size}: done in {rows[-1]['wall_s']:.1f} s", flush=True)
    md = to_markdown(rows, meta)
    print(md)
    stem = f"profile-scale-{'-'.join(args.sizes)}-{time.strftime('%Y%m%d-%H%M%S')}"
    (out / f"{stem}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    (out / f"{stem}.md").write_text(md)
    print(f"wrote {out / stem}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
