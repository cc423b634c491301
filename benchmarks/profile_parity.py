#!/usr/bin/env python
"""Instruction counts of the NESTML neuron against ``iaf_psc_exp``, under callgrind.

Wall-clock ratios need an idle machine; instruction counts do not: valgrind's callgrind
counts the instructions each function executes, the same under any load. Each model runs
in its own process under ``valgrind --tool=callgrind`` with collection switched on only
inside ``nest::SimulationManager::run`` (the simulation loop, after the network is built
and prepared), so the counts are those of the simulated milliseconds alone. The network
is the benchmark's tutorial form (``benchmarks/_common.py``) at a small size, one thread
by default::

    .venv/bin/python benchmarks/profile_parity.py --size 4000 --k 200 --T 50
    .venv/bin/python benchmarks/profile_parity.py --size 4000 --k 200 --T 50 --cache-sim   # + D1/LL misses

Prints, per model, the total instructions and the inclusive and self counts of the
neuron's ``update``, ``handle(SpikeEvent&)`` and the kernel's delivery, and the ratio
NESTML / built-in; writes the rows as JSON (``--out``) and keeps the callgrind files
(``callgrind_annotate FILE`` shows every function). Instruction counts are not time:
cache misses (``--cache-sim``) and branch mispredictions add to it, so the wall-clock
ratio still has to be measured on an idle machine (``benchmarks/interleaved.py``,
``--separate`` for separate processes).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

CHILD = Path(__file__).resolve().parent / "children" / "parity_child.py"

#: Model labels: (neuron_model for the network, template variant for the NESTML build).
MODELS = {"builtin": ("iaf_psc_exp", None), "nestml": ("nestml", "balanced"), "nestml-stock": ("nestml", "stock")}

#: Function-name patterns reported (a regular expression on the demangled name, a label).
FUNCTIONS = [
    (r"::update\(nest::Time const&, long, long\)$", "neuron update"),
    (r"::handle\(nest::SpikeEvent&\)$", "neuron handle(SpikeEvent)"),
    (r"Connector<.*>::send\(unsigned long, unsigned long", "Connector::send (delivery)"),
    (r"SpikeEvent::operator\(\)\(\)", "SpikeEvent::operator()"),
    (r"SimulationManager::update_\(\)", "SimulationManager::update_"),
    (r"record_data\(long\)", "logger record_data"),
    (r"EventDeliveryManager::gather_spike_data", "gather_spike_data"),
]


def run_model(label: str, args, workdir: Path) -> dict:
    neuron_model, templates = MODELS[label]
    src = args.src or str(C.ROOT)  # the child imports ``balanced`` from its working folder
    sets = C.network_overrides(C.parse_size(args.size), neuron_model, T=args.T + args.warmup, k=args.k)
    # that checkout's model file: ``balanced.models`` resolves to the installed package's
    model_file = str(Path(src) / "models" / "lif_psc_exp.nestml")
    cfg = {
        "sets": sets,
        "threads": args.threads,
        "templates": templates,
        "model_file": model_file,
        "T": args.T,
        "warmup_ms": args.warmup,
    }
    if templates:  # build outside valgrind (a cache hit when it is current)
        subprocess.run([args.python, str(CHILD), "--build-only", json.dumps(cfg)], check=True, cwd=src)
    out = workdir / f"callgrind.{label}.out"
    cmd = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out}",
        "--collect-atstart=no",
        "--toggle-collect=nest::SimulationManager::run(*",
        *([f"--D1={args.d1}", f"--LL={args.ll}", "--cache-sim=yes", "--branch-sim=yes"] if args.cache_sim else []),
        args.python,
        str(CHILD),
        json.dumps(cfg),
    ]
    proc = subprocess.run(cmd, cwd=src, capture_output=True, text=True)
    if proc.returncode != 0 or not out.is_file():
        raise SystemExit(f"{label}: valgrind failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    spikes = json.loads(proc.stdout.strip().splitlines()[-1])["spikes"]
    return {"model": label, "spikes": spikes, **annotate(out), "callgrind_file": out.name}


def _rows(out: Path, inclusive: bool) -> dict[str, list[int]]:
    """``{function: [event counts]}`` from ``callgrind_annotate`` (all events, in file order)."""
    text = subprocess.run(
        [
            "callgrind_annotate",
            f"--inclusive={'yes' if inclusive else 'no'}",
            "--threshold=100",
            "--show-percs=no",
            "--auto=no",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows: dict[str, list[int]] = {}
    for line in text.splitlines():
        parts = line.split()
        nums = []
        for part in parts:
            if not re.fullmatch(r"[\d,]+|\.", part):
                break
            nums.append(0 if part == "." else int(part.replace(",", "")))
        if not nums or len(nums) == len(parts):
            continue
        rest = line.split(None, len(nums))[-1]
        if rest.startswith(("/", "???", ".")) and ":" in rest:
            rest = rest.split(":", 1)[1]  # file:function
        rows.setdefault(re.sub(r"\s+\[[^\]]*\]$", "", rest), nums)  # without the [object file]
    return rows


def _events(out: Path) -> list[str]:
    for line in out.read_text(errors="replace").splitlines():
        if line.startswith("events:"):
            return line.split()[1:]
    return ["Ir"]


def annotate(out: Path) -> dict:
    """Total counts and the counts of :data:`FUNCTIONS` (inclusive and self) of one file."""
    events = _events(out)
    totals = None
    for line in out.read_text(errors="replace").splitlines():
        if line.startswith("totals:") or line.startswith("summary:"):
            totals = [int(x) for x in line.split()[1:]]
    incl, self_ = _rows(out, True), _rows(out, False)
    funcs = {}
    for pattern, label in FUNCTIONS:
        hits = [n for n in incl if re.search(pattern, n) and ("iaf_psc_exp" in n or "nestml" in n or "nest::" in n)]
        neuron_hits = [n for n in hits if "iaf_psc_exp" in n or "nestml" in n]
        hits = neuron_hits or hits
        if not hits:
            continue
        name = max(hits, key=lambda n: incl[n][0])
        funcs[label] = {
            "function": name,
            "inclusive": dict(zip(events, incl[name], strict=True)),
            "self": dict(zip(events, self_.get(name, [0] * len(events)), strict=True)),
        }
    return {"events": events, "total": dict(zip(events, totals or [0] * len(events), strict=True)), "functions": funcs}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="4000", help="network size N (a number or 1e3, 1e4, ...)")
    ap.add_argument("--k", type=int, default=200, help="inputs from each population (K)")
    ap.add_argument("--T", type=float, default=50.0, help="counted model time (ms)")
    ap.add_argument("--warmup", type=float, default=20.0, help="model time simulated before counting (ms)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--models", nargs="+", default=["builtin", "nestml"], choices=list(MODELS))
    ap.add_argument("--cache-sim", action="store_true", help="also simulate caches and branch prediction")
    ap.add_argument("--d1", default="49152,12,64", help="simulated L1 data cache: size,associativity,line (bytes)")
    ap.add_argument(
        "--ll",
        default="2097152,16,64",
        help="simulated last-level cache (default one core's L2 here: the L3 is shared)",
    )
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument(
        "--src", default=None, help="profile the `balanced` package (templates, model) in this checkout instead"
    )
    ap.add_argument("--out", default=str(C.RESULTS), help="folder for the JSON and callgrind files")
    args = ap.parse_args(argv)
    if not shutil.which("valgrind"):
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    workdir = Path(args.out) / f"callgrind-{args.size}-k{args.k}-{args.threads}t-{stamp}"
    workdir.mkdir(parents=True, exist_ok=True)
    rows = [run_model(m, args, workdir) for m in args.models]
    base = rows[0]
    for r in rows:
        ev = r["events"]
        total = r["total"].get("Ir", 0)
        print(
            f"{r['model']}: {r['spikes']} spikes, total Ir {total:,} ({total / base['total']['Ir']:.3f} x {base['model']})"
        )
        extra = [e for e in ("D1mr", "DLmr", "D1mw", "Bcm") if e in ev]
        for label, f in r["functions"].items():
            b = base["functions"].get(label)
            ratio = f" ({f['inclusive']['Ir'] / b['inclusive']['Ir']:.3f} x)" if b and b["inclusive"]["Ir"] else ""
            more = "".join(f", {e} {f['inclusive'][e]:,}" for e in extra)
            print(f"  {label:28s} incl {f['inclusive']['Ir']:>15,}{ratio} self {f['self']['Ir']:>15,}{more}")
    path = workdir / "summary.json"
    path.write_text(
        C.portable_json(
            {
                "machine": C.machine(),
                "args": {k: v for k, v in vars(args).items() if k not in ("python", "src", "out")},
                "src": Path(args.src).name if args.src else None,
                "rows": rows,
            }
        )
    )
    print(f"written: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
