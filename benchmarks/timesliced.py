#!/usr/bin/env python
"""End to end A/B of two whole commands, taking turns on the machine in time slices.

``interleaved.py`` compares simulate time chunk by chunk inside two processes. An end to
end comparison (start-up, build, simulation, statistics, figures) needs whole commands,
and on a shared machine two separate runs of the same command differ by up to 2x (the
2-core VM: simulate 58-113 s for one network). Here both commands run at once, but only
one at a time: each is started in its own process group, and the groups take turns in
slices of ``--slice-s`` seconds while the other group is stopped (SIGSTOP / SIGCONT), so
both see the same machine, minute by minute. A command's time is the wall time of its
slices, start to exit: what it would take alone on that machine. Stopping costs the
resumed process its cache contents once per slice (milliseconds against seconds).

    .venv/bin/python benchmarks/timesliced.py --pairs 3 \\
        --a ".venv/bin/python benchmarks/nest_defaults.py --n 20000 --k 1000 --threads 2" \\
        --b ".venv/bin/balanced run --out /tmp/ts-run --overwrite --quiet --set N_E=10000 ..."

Pairs alternate which command gets the first slice. Prints each pair and the geometric
mean of the ratios B/A, and writes them as JSON (``--out``). A command that fails stops
the measurement. Linux and macOS (process groups and job-control signals).
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

POLL_S = 0.02  # how often a running slice checks whether its command has exited


class Command:
    """One command in its own process group; started at its first slice."""

    def __init__(self, label: str, argv: list[str], log: Path):
        self.label, self.argv, self.log = label, argv, log
        self.proc: subprocess.Popen | None = None
        self.active_s = 0.0

    @property
    def done(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    def run_slice(self, seconds: float) -> None:
        """Let the command run for ``seconds`` (or until it exits), then stop its group."""
        t0 = time.perf_counter()
        if self.proc is None:
            with open(self.log, "w") as fh:
                self.proc = subprocess.Popen(self.argv, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        else:
            os.killpg(self.proc.pid, signal.SIGCONT)
        while time.perf_counter() - t0 < seconds and self.proc.poll() is None:
            time.sleep(POLL_S)
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGSTOP)
        self.active_s += time.perf_counter() - t0

    def kill(self) -> None:
        """End the command's group; SIGKILL ends stopped processes too."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()


def run_pair(a: Command, b: Command, slice_s: float) -> None:
    """Alternate slices of ``a`` and ``b`` (``a`` first) until both have exited."""
    try:
        while not (a.done and b.done):
            for cmd in (a, b):
                if not cmd.done:
                    cmd.run_slice(slice_s)
                    if cmd.done and cmd.proc.returncode != 0:
                        raise SystemExit(f"{cmd.label} failed (exit {cmd.proc.returncode}); its output: {cmd.log}")
    finally:
        a.kill()
        b.kill()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--a", required=True, help="command A (one shell-quoted string)")
    ap.add_argument("--b", required=True, help="command B")
    ap.add_argument("--label-a", default="A")
    ap.add_argument("--label-b", default="B")
    ap.add_argument("--pairs", type=int, default=3, help="pairs; they alternate which command starts")
    ap.add_argument("--slice-s", type=float, default=2.0, help="seconds per turn")
    ap.add_argument("--out", default=str(C.RESULTS), help="folder for the JSON result and the commands' output")
    args = ap.parse_args(argv)
    if args.slice_s <= 0 or args.pairs < 1:
        ap.error("--slice-s must be > 0 and --pairs >= 1")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    rows = []
    for i in range(args.pairs):
        a = Command(args.label_a, shlex.split(args.a), out / f"timesliced-{stamp}-pair{i}-a.log")
        b = Command(args.label_b, shlex.split(args.b), out / f"timesliced-{stamp}-pair{i}-b.log")
        first = "a" if i % 2 == 0 else "b"
        if first == "a":
            run_pair(a, b, args.slice_s)
        else:
            run_pair(b, a, args.slice_s)
        row = {
            "pair": i,
            "first": first,
            "a_s": round(a.active_s, 2),
            "b_s": round(b.active_s, 2),
            "ratio_b_over_a": round(b.active_s / a.active_s, 4),
        }
        rows.append(row)
        print(
            f"pair {i} ({first} first): {args.label_a} {a.active_s:.1f} s, {args.label_b} {b.active_s:.1f} s, "
            f"B/A {row['ratio_b_over_a']:.3f}",
            flush=True,
        )
    ratios = [r["ratio_b_over_a"] for r in rows]
    gmean = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
    summary = {
        "a": args.a,
        "b": args.b,
        "label_a": args.label_a,
        "label_b": args.label_b,
        "slice_s": args.slice_s,
        "pairs": rows,
        "ratio_gmean": round(gmean, 4),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
    }
    print(
        f"B/A ({args.label_b} / {args.label_a}): geometric mean {gmean:.3f} over {len(rows)} pairs "
        f"(min {min(ratios):.3f}, max {max(ratios):.3f})"
    )
    name = f"timesliced-{args.label_a}-vs-{args.label_b}-{stamp}.json"
    path = out / "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    path.write_text(C.portable_json({"machine": C.machine(), "summary": summary}))
    print(f"written: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
