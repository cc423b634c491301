"""Memory per synapse, phase by phase: where NEST's peak comes from.

Builds the network the way ``balanced run`` does (the package's own
``create_populations`` / ``connect_network``; tutorial form, N_E = N_I = N/2, K inputs from
each population, as ``benchmarks/_common.py``), in this process, and reads after every
phase (kernel set-up, Create, each ``nest.Connect`` call, Prepare, the first step, the rest
of the simulation in chunks with the recorders emptied, Cleanup):

* ``VmRSS`` and the phase's own peak (``VmHWM`` after resetting it with
  ``/proc/self/clear_refs`` before the phase), from ``/proc/self``;
* glibc's heap in use and free-but-kept (``mallinfo2``: ``uordblks + hblkhd`` and
  ``fordblks``), so that fragmentation and NEST's own allocations can be told apart;
* NEST's connection count.

It compiles ``benchmarks/nest_sizeof.cpp`` against the installed NEST's headers (``g++``)
for the sizes of the connection classes, ``Source`` (source table entry), ``Target``
(target table entry) and ``SpikeData``, and prints the breakdown in bytes per synapse:
what NEST's structures must take (connections x sizeof, source table 8 B each) against
what each phase added.

    nice .venv/bin/python benchmarks/memory_breakdown.py --n 1e5 --label before
    nice .venv/bin/python benchmarks/memory_breakdown.py --n 1e5 --kernel keep_source_table=false
    .venv/bin/python benchmarks/memory_breakdown.py --n 2000 --k 100 --T 20 --out /tmp/m   # seconds

Memory figures do not depend on the machine's load; one run per configuration suffices.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, network_overrides, parse_size, size_label  # noqa: E402

HERE = Path(__file__).resolve().parent
SYNAPSE_CLASSES = ("static_synapse", "static_synapse_hom_w", "static_synapse_hom_w_hpc", "static_synapse_hpc")


class MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


_LIBC = ctypes.CDLL(None)
_LIBC.mallinfo2.restype = MallInfo2


def status_kb(key: str) -> int:
    """A ``/proc/self/status`` field in KiB (``VmRSS``, ``VmHWM``)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def reset_peak() -> bool:
    """Reset this process's ``VmHWM`` to its current RSS (Linux 4.0+); False where refused."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


class Probe:
    """Memory after each phase; each phase's own peak when the kernel lets us reset it."""

    def __init__(self, nest=None):
        self.nest = nest
        self.rows: list[dict] = []
        self.per_phase_peak = reset_peak()
        self._t = time.perf_counter()

    def __call__(self, phase: str) -> dict:
        info = _LIBC.mallinfo2()
        row = {
            "phase": phase,
            "seconds": round(time.perf_counter() - self._t, 3),
            "rss_mb": status_kb("VmRSS") / 1024,
            "phase_peak_mb": status_kb("VmHWM") / 1024,
            "heap_in_use_mb": (info.uordblks + info.hblkhd) / 2**20,
            "heap_free_kept_mb": info.fordblks / 2**20,
            "connections": int(self.nest.num_connections) if self.nest is not None else 0,
        }
        self.rows.append(row)
        self.per_phase_peak = reset_peak()
        self._t = time.perf_counter()
        return row


def nest_sizes(nest) -> dict:
    """Sizes of NEST's per-connection structures, from its installed headers (empty on failure)."""
    include = Path(nest.__file__).resolve().parent / "include"
    with tempfile.TemporaryDirectory(prefix="nest-sizeof-") as tmp:
        exe = Path(tmp) / "sizeof"
        cmd = ["g++", "-std=c++20", "-O0", f"-I{include / 'nest'}", f"-I{include}"]
        cmd += [str(HERE / "nest_sizeof.cpp"), "-o", str(exe), "-Wl,--unresolved-symbols=ignore-all"]
        try:
            subprocess.run(cmd, check=True, capture_output=True, timeout=300)
            out = subprocess.run([str(exe)], check=True, capture_output=True, text=True, timeout=60).stdout
        except (OSError, subprocess.SubprocessError):
            return {}
    return {name: int(value) for name, value in (line.split() for line in out.splitlines())}


def parse_kernel(items: list[str]) -> dict:
    """``key=value`` NEST kernel settings (true/false, integers, floats, else strings)."""
    out: dict = {}
    for item in items:
        key, _, text = item.partition("=")
        low = text.strip().lower()
        value: object = {"true": True, "false": False}.get(low, text)
        if isinstance(value, str):
            for kind in (int, float):
                try:
                    value = kind(text)
                    break
                except ValueError:
                    pass
        out[key.strip()] = value
    return out


def measure(args) -> dict:
    from balanced.choices import connection_builder
    from balanced.derived import derive
    from balanced.kernel import import_nest, setup_kernel
    from balanced.network import connect_network, create_populations
    from balanced.params import resolve
    from balanced.runwriter import Recording

    n = parse_size(args.n)
    sets = network_overrides(n, args.model, T=args.T, k=args.k)
    sets.append(f"synapse_model={args.synapse_model}")
    params = resolve("tutorial", overrides=sets)
    d = derive(params)
    probe = Probe()
    probe("python_start")
    nest = import_nest(nest_extras=False)
    probe.nest = nest
    from balanced.build import build_model, cached_model

    # the module for the NESTML neuron, or for its connection rule where built (as `balanced run`)
    module = build_model() if params.neuron_model == "nestml" else cached_model()
    model = module.model if module and params.neuron_model == "nestml" else params.neuron_model
    setup_kernel(nest, dt=params.dt, seed=params.seed, threads=args.threads, module=module)
    kernel = parse_kernel(args.kernel)
    if kernel:
        nest.set(**kernel)
    probe("import_nest_kernel")
    E, I = create_populations(nest, params, d, model)
    probe("create")

    class ProbedNest:
        """NEST, with a probe after every ``Connect`` call (PyNEST's module refuses new attributes)."""

        def __getattr__(self, name):
            return getattr(nest, name)

        def Connect(self, pre, post, *a, **kw):  # noqa: N802 (NEST's name)
            result = nest.Connect(pre, post, *a, **kw)
            label = next(labels, None) or f"connect devices ({pre[0].model} -> {post[0].model})"
            probe(label)
            return result

    labels = iter(["connect E<-E", "connect I<-E", "connect E<-I", "connect I<-I"])
    module_rule = connection_builder(d.n_synapses_expected).value == "module"  # as `balanced run` chooses
    handles = connect_network(ProbedNest(), params, d, E, I, args.synapse_model, module_rule)
    synapses = handles.n_synapses
    nest.Prepare()
    probe("prepare (sort, target tables)")
    if args.huge_pages:
        from balanced import hugepages

        hugepages.collapse_anonymous_memory()
        probe("huge-page collapse")
    if args.trim:
        _LIBC.malloc_trim(0)
        probe("malloc_trim")
    recording = Recording(None)
    nest.Run(params.dt)
    probe("first step")
    done = params.dt
    while done < params.T - 1e-9:
        edge = min((math.floor(done / args.chunk + 1e-9) + 1) * args.chunk, params.T)
        nest.Run(edge - done)
        done = edge
        nest.Cleanup()
        recording.take(handles)
        if done < params.T - 1e-9:
            nest.Prepare()
    probe("simulate (chunks, recorders emptied)")
    spikes = sum(len(t) for _, t in recording.spikes)
    return {
        "params": {"N": n, "K": args.k, "T_ms": params.T, "threads": args.threads, "model": model},
        "synapse_model": args.synapse_model,
        "kernel": kernel,
        "huge_pages": args.huge_pages,
        "synapses": synapses,
        "spikes": spikes,
        "rate_hz": spikes / n / (params.T / 1000.0),
        "peak_mb": status_kb("VmHWM") / 1024
        if not probe.per_phase_peak
        else max(r["phase_peak_mb"] for r in probe.rows),
        "phases": probe.rows,
        "sizes": nest_sizes(nest) if not args.no_sizeof else {},
        "nest_kernel_flags": {k: nest.GetKernelStatus(k) for k in ("keep_source_table", "use_compressed_spikes")},
    }


def breakdown(res: dict) -> list[tuple[str, float, str]]:
    """(part, bytes per synapse, how it was obtained) rows for the report."""
    syn = max(1, res["synapses"])
    rows = {r["phase"]: r for r in res["phases"]}
    ph = res["phases"]
    sizes = res["sizes"]
    base = rows["import_nest_kernel"]["rss_mb"]
    out = [("python, numpy, NEST library (before the network)", base * 2**20 / syn, "RSS before Create")]
    out.append(("neurons (Create)", (rows["create"]["rss_mb"] - base) * 2**20 / syn, "RSS step at Create"))
    connects = [r for r in ph if r["phase"].startswith("connect E") or r["phase"].startswith("connect I")]
    rss_connect = connects[-1]["rss_mb"] - rows["create"]["rss_mb"]
    out.append(("4 recurrent Connect calls", rss_connect * 2**20 / syn, "RSS step over the 4 calls"))
    conn_b = sizes.get(res["synapse_model"])
    if conn_b:
        out.append((f"  of which connection objects ({conn_b} B each)", float(conn_b), "sizeof, nest_sizeof.cpp"))
        out.append(
            (f"  of which source table ({sizes.get('Source', 8)} B each)", float(sizes.get("Source", 8)), "sizeof")
        )
        rest = rss_connect * 2**20 / syn - conn_b - sizes.get("Source", 8)
        out.append(("  rest: allocator (free kept, block slack)", rest, "difference"))
    dev = [r for r in ph if r["phase"].startswith("connect devices")]
    if dev:
        out.append(("device connections", (dev[-1]["rss_mb"] - connects[-1]["rss_mb"]) * 2**20 / syn, "RSS step"))
    last = dev[-1] if dev else connects[-1]
    prep = rows["prepare (sort, target tables)"]
    out.append(("Prepare: kept after", (prep["rss_mb"] - last["rss_mb"]) * 2**20 / syn, "RSS step at Prepare"))
    out.append(
        ("Prepare: transient above that", (prep["phase_peak_mb"] - prep["rss_mb"]) * 2**20 / syn, "VmHWM in Prepare")
    )
    sim = ph[-1]
    before_sim = rows["first step"]
    out.append(
        ("first step", (before_sim["rss_mb"] - ph[ph.index(before_sim) - 1]["rss_mb"]) * 2**20 / syn, "RSS step")
    )
    out.append(("simulation and recording", (sim["rss_mb"] - before_sim["rss_mb"]) * 2**20 / syn, "RSS step"))
    out.append(("peak (VmHWM)", res["peak_mb"] * 2**20 / syn, "max of the phase peaks"))
    out.append(("steady (RSS at the end)", sim["rss_mb"] * 2**20 / syn, "VmRSS"))
    return out


def to_markdown(res: dict) -> str:
    p = res["params"]
    lines = [
        f"# Memory per synapse, N = {size_label(p['N'])}, K = {p['K']}",
        "",
        f"{res['synapses']:,} recurrent synapses, `{res['synapse_model']}`, {p['threads']} threads, "
        f"T = {p['T_ms']:g} ms, {p['model']}, kernel {res['kernel'] or 'NEST defaults'} "
        f"({res['nest_kernel_flags']}), huge pages {'on' if res['huge_pages'] else 'off'}; "
        f"{res['spikes']} spikes ({res['rate_hz']:.1f} Hz). Peak {res['peak_mb']:.0f} MiB = "
        f"**{res['peak_mb'] * 2**20 / max(1, res['synapses']):.2f} B/synapse** (whole process).",
        "",
        "## Phases",
        "",
        "| phase | s | RSS MiB | phase peak MiB | heap in use MiB | heap free kept MiB | connections |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in res["phases"]:
        lines.append(
            f"| {r['phase']} | {r['seconds']:.1f} | {r['rss_mb']:.0f} | {r['phase_peak_mb']:.0f} | "
            f"{r['heap_in_use_mb']:.0f} | {r['heap_free_kept_mb']:.0f} | {r['connections']:,} |"
        )
    lines += ["", "## Bytes per synapse", "", "| part | B/synapse | from |", "|---|---|---|"]
    lines += [f"| {part} | {value:.2f} | {how} |" for part, value, how in breakdown(res)]
    if res["sizes"]:
        lines += ["", "NEST sizes (bytes): " + ", ".join(f"{k} {v}" for k, v in res["sizes"].items())]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", default="1e5", help="neurons (N_E = N_I = N/2); 1e5 needs about 2.5-5 GB")
    ap.add_argument("--k", type=int, default=1000, help="inputs per population")
    ap.add_argument("--T", type=float, default=100.0, help="model time (ms)")
    ap.add_argument("--chunk", type=float, default=10.0, help="model time per Simulate chunk (ms)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--model", default="nestml", help="nestml or builtin")
    ap.add_argument("--synapse-model", default="static_synapse_hom_w_hpc")
    ap.add_argument("--kernel", action="append", default=[], help="NEST kernel setting key=value (repeat)")
    ap.add_argument("--huge-pages", action="store_true", help="collapse the heap after Prepare, as balanced run")
    ap.add_argument("--trim", action="store_true", help="malloc_trim(0) after Prepare")
    ap.add_argument("--no-sizeof", action="store_true", help="skip compiling nest_sizeof.cpp")
    ap.add_argument("--label", default="", help="name part of the results files")
    ap.add_argument("--out", default=str(RESULTS), help="folder for the .json and .md")
    args = ap.parse_args(argv)
    if args.threads < 1 or args.k < 1 or args.T <= 0 or args.chunk <= 0:
        print("memory_breakdown: --threads, --k, --T and --chunk must be positive", file=sys.stderr)
        return 2
    res = measure(args)
    res["date"] = time.strftime("%Y-%m-%d %H:%M:%S")
    res["machine"] = {"cores": os.cpu_count(), "kernel": os.uname().release}
    md = to_markdown(res)
    print(md)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"memory-{size_label(res['params']['N'])}{'-' + args.label if args.label else ''}-{time.strftime('%Y%m%d-%H%M%S')}"
    (out / f"{stem}.json").write_text(json.dumps(res, indent=1))
    (out / f"{stem}.md").write_text(md)
    print(f"wrote {out / stem}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
