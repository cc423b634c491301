"""Time the model build: cold (fresh temporary cache), cached, and loading into NEST.

    python benchmarks/bench_build.py [--python PATH] [--repeat N]

Every phase runs in a fresh subprocess so that no state (imported NEST, NESTML, page
cache of the facts) leaks between phases except what the cache is meant to keep.
``--python`` times the build for another environment's NEST (e.g. .venv-mpi).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = Path(__file__).resolve().parent / "children" / "build_child.py"


def _run(args, python=sys.executable):
    env = {**os.environ, "PYNEST_QUIET": "1"}
    for k in [k for k in env if k.startswith(("OMPI_", "PMI_", "PMIX_"))]:
        del env[k]
    out = subprocess.run([python, str(CHILD), *args], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        sys.exit(f"benchmark step failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python", default="", help="interpreter whose NEST to build for (default: this one)")
    ap.add_argument("--repeat", type=int, default=5, help="cached builds and loads to time")
    ns = ap.parse_args()
    target_python = ns.python or sys.executable
    with tempfile.TemporaryDirectory(prefix="balanced-bench-") as cache:
        cold = _run(["build", cache, ns.python, "0"])
        assert not cold["cached"]
        hits = [_run(["build", cache, ns.python, "0"]) for _ in range(ns.repeat)]
        assert all(h["cached"] for h in hits)
        info = {k: cold[k] for k in ("module", "model", "cached", "key", "seconds", "nest", "directory")}
        info["nest_version"] = info.pop("nest")
        load = _run(["load", json.dumps(info), str(ns.repeat)], python=target_python)["load"]

    rows = [
        ("cold build (fresh cache)", cold["wall"], cold["seconds"]),
        ("cached build, process wall (median)", statistics.median(h["wall"] for h in hits), None),
        ("cached build, build_model() (median)", statistics.median(h["seconds"] for h in hits), None),
        ("load: nest.Install after ResetKernel (median)", statistics.median(load), None),
    ]
    print(f"NEST {cold['nest']} via {target_python}; model {cold['model']}; {ns.repeat} repeats")
    print(f"{'phase':<48} {'seconds':>10}")
    print("-" * 59)
    for name, wall, _ in rows:
        print(f"{name:<48} {wall:>10.4f}")


if __name__ == "__main__":
    main()
