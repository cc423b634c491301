#!/usr/bin/env python
"""Two checkouts side by side: the same ``balanced`` command as whole processes, taking
turns (A B, B A, A B, ...), wall time of each, medians and their ratio B / A.

A checkout is given by the Python of its environment (each with its checkout installed,
editable or not). The order alternates within the pairs so that both see the same machine
on average; measure on an idle machine.

    .venv/bin/python benchmarks/ab_checkouts.py OLD/.venv/bin/python .venv/bin/python --pairs 10
    .venv/bin/python benchmarks/ab_checkouts.py A/python B/python -- run --preset tutorial --figures none

The command after ``--`` is what follows ``python -m balanced`` (default: the tutorial
``run`` with statistics and figure). A ``run`` gets ``--out`` and ``--overwrite --quiet``,
and the time after the run is printed too: from the manifest of the complete run (its
file's modification time) to the end of the command, the analysis's share. Any other
command (a ``sweep``, say, whose options differ between versions) gets only ``--out``, a
new folder each time, so that nothing of an earlier run is reused.
Each command runs in a temporary folder with ``python -P``, so that a ``balanced`` folder
in the current directory (the checkout this script is started from) cannot shadow the
package of the Python given; the package each Python imports is printed and recorded,
and two different Pythons importing the same package are refused.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import machine, median  # noqa: E402

DEFAULT_COMMAND = ["run", "--preset", "tutorial"]


def source_of(python: str, cwd: Path) -> str:
    """The ``balanced`` package folder that ``python`` imports when started as :func:`one` starts it."""
    code = "import os, balanced; print(os.path.dirname(os.path.realpath(balanced.__file__)))"
    proc = subprocess.run([python, "-P", "-c", code], capture_output=True, text=True, cwd=cwd, timeout=120)
    if proc.returncode != 0:
        raise SystemExit(f"{python}: cannot import balanced: {proc.stderr.strip()[-500:]}")
    return proc.stdout.strip()


def commit_of(source: str) -> str:
    """The git commit of the checkout holding package folder ``source`` ("+dirty" with
    uncommitted changes), or "unknown" outside a checkout."""

    def git(*args: str) -> str:
        proc = subprocess.run(["git", "-C", source, *args], capture_output=True, text=True, timeout=60)
        return proc.stdout.strip() if proc.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD")
    if not commit:
        return "unknown"
    return commit + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def one(python: str, command: list[str], out: Path) -> tuple[float, float | None, list[str]]:
    """Wall seconds of ``python -P -m balanced COMMAND --out OUT`` (with ``--overwrite
    --quiet`` for a ``run``; any other command into an ``OUT`` removed first), run in the
    folder above ``out`` (not the caller's: ``-m`` would find a checkout there first), and
    the seconds from the run's manifest to the end (None without a new manifest), and the
    last lines the command printed."""
    argv = [python, "-P", "-m", "balanced", *command, "--out", str(out)]
    if command[:1] == ["run"]:
        argv += ["--overwrite", "--quiet"]
    else:
        shutil.rmtree(out, ignore_errors=True)
    started = time.time()
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=3600, cwd=out.parent)
    wall = time.perf_counter() - t0
    ended = time.time()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)}: exit {proc.returncode}: {proc.stderr.strip()[-500:]}")
    last_lines = proc.stdout.strip().splitlines()[-3:]
    try:
        written = (out / "manifest.json").stat().st_mtime
    except OSError:
        return wall, None, last_lines
    return wall, (ended - written if written >= started else None), last_lines


def points_run(lines: list[str]) -> int:
    """The points a sweep ran, from its summary line ("6 points run, 0 skipped, ..."), or 0."""
    for line in lines:
        words = line.split()
        if words[1:3] == ["points", "run,"] and words[0].isdigit():
            return int(words[0])
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = DEFAULT_COMMAND
    if "--" in argv:
        cut = argv.index("--")
        argv, command = argv[:cut], argv[cut + 1 :]
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("python_a", help="the Python of checkout A (the reference)")
    ap.add_argument("python_b", help="the Python of checkout B")
    ap.add_argument("--pairs", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs of each first (caches)")
    ap.add_argument("--json", help="write the times and medians here")
    args = ap.parse_args(argv)
    times: dict[str, list[float]] = {"A": [], "B": []}
    after_run: dict[str, list[float]] = {"A": [], "B": []}
    last_lines: dict[str, list[str]] = {"A": [], "B": []}  # of each one's latest command
    with tempfile.TemporaryDirectory(prefix="ab-") as tmp:
        outs = {"A": Path(tmp) / "a", "B": Path(tmp) / "b"}
        # absolute, as the commands run in the temporary folder (not resolved: a venv's python is a link)
        pythons = {"A": os.path.abspath(args.python_a), "B": os.path.abspath(args.python_b)}
        sources = {key: source_of(python, Path(tmp)) for key, python in pythons.items()}
        commits = {key: commit_of(source) for key, source in sources.items()}
        for key in ("A", "B"):
            print(f"{key}: {pythons[key]} imports {sources[key]} ({commits[key]})", flush=True)
        if pythons["A"] != pythons["B"] and sources["A"] == sources["B"]:
            raise SystemExit(
                "both Pythons import the same balanced package: install each checkout in its own environment"
            )
        for _ in range(args.warmup):
            for key in ("A", "B"):
                one(pythons[key], command, outs[key])
        for i in range(args.pairs):
            for key in ("A", "B") if i % 2 == 0 else ("B", "A"):
                wall, tail, last_lines[key] = one(pythons[key], command, outs[key])
                times[key].append(wall)
                if tail is not None:
                    after_run[key].append(tail)
            line = f"pair {i + 1}: A {times['A'][-1]:.3f} s, B {times['B'][-1]:.3f} s"
            if len(after_run["A"]) == len(after_run["B"]) == i + 1:
                line += f" (after the run: A {after_run['A'][-1]:.3f} s, B {after_run['B'][-1]:.3f} s)"
            print(line, flush=True)
    med = {k: median(v) for k, v in times.items()}
    ratio = med["B"] / med["A"]
    print(f"\nbalanced {' '.join(command)}: median A {med['A']:.3f} s, B {med['B']:.3f} s, B / A = {ratio:.3f}")
    per_minute = {key: 60 * n / med[key] for key in med if (n := points_run(last_lines[key]))}
    if len(per_minute) == 2:
        print(
            f"points per minute: A {per_minute['A']:.1f}, B {per_minute['B']:.1f}, "
            f"B / A = {per_minute['B'] / per_minute['A']:.3f}"
        )
    med_after = {k: median(v) for k, v in after_run.items() if len(v) == args.pairs}
    if len(med_after) == 2:
        print(f"after the run: median A {med_after['A']:.3f} s, B {med_after['B']:.3f} s")
    if args.json:
        record = {
            "command": command,
            "pairs": args.pairs,
            "times_s": times,
            "median_s": med,
            "after_run_s": after_run,
            "after_run_median_s": med_after,
            "commits": commits,
            "last_lines": last_lines,
            "points_per_minute": per_minute,
            "ratio_b_over_a": ratio,
            "machine": machine(),
        }
        Path(args.json).write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
