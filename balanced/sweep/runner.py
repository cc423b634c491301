"""Running a sweep: which points still need work, the job files, the local executor (a pool
of long-lived workers, or one fresh process per point), and the collect step that writes
the table and figures. The SLURM executor is :mod:`balanced.sweep.slurm`.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import rundir
from ..blas import one_thread_env
from ..params import ParamError
from ..transaction import OutputError, folder_entries, some_names
from .errors import SweepError
from .fits import sweep_fits
from .spec import Point, SweepSpec, base_params, points
from .table import RESULTS_CSV, RESULTS_JSON, RUNS_CSV, fold_seeds, run_rows, write_results
from .worker import point_status

EXECUTORS = ("local", "slurm")


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass
class SweepResult:
    sweep_dir: Path
    rows: list[dict[str, Any]]
    fits: dict[str, Any]
    figures: list[str]
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    wall_s: float = 0.0
    plan: dict[str, Any] | None = None  # the SLURM plan (--plan, or what was submitted)


def job_file(sweep_dir: Path, spec: SweepSpec, p: Point) -> Path:
    """Write (atomically) and return the worker's job file of point ``p``."""
    job = {"params": p.params.to_dict(), "preset": spec.preset, "t_start": spec.t_start, "t_stop": spec.t_stop}
    path = sweep_dir / "jobs" / f"{p.name}.json"
    rundir.atomic_write_text(path, json.dumps(job, indent=2) + "\n")
    return path.resolve()


#: what a sweep folder holds (the layout in :mod:`balanced.sweep`)
SWEEP_ENTRIES = frozenset(
    {"sweep.json", "points", "logs", "jobs", "slurm", "figures", RESULTS_CSV, RUNS_CSV, RESULTS_JSON}
)


def check_sweep_folder(sweep_dir: Path) -> None:
    """Raise :class:`OutputError` unless ``sweep_dir`` is absent, an empty folder or a sweep
    folder of this package (its ``sweep.json`` names a spec and points, or it holds only
    what a sweep makes, as after a sweep killed while starting): a sweep never writes
    among files that are not its own."""
    entries = folder_entries(sweep_dir, "the sweep")
    if not entries:
        return
    try:
        doc = json.loads((sweep_dir / "sweep.json").read_text())
        ours = isinstance(doc, dict) and "spec" in doc and isinstance(doc.get("points"), list)
    except (OSError, ValueError):
        ours = False
    if not ours and not set(entries) <= SWEEP_ENTRIES:
        raise OutputError(
            f"--out {sweep_dir}: exists and is not a sweep folder of balanced ({some_names(entries)}); "
            "a sweep writes only into a new or empty folder, or its own: choose another --out"
        )


def prepare(spec: SweepSpec, sweep_dir: Path, log=_say) -> tuple[list[Point], list[Point], list[str]]:
    """Create the sweep folder and sweep.json; return (all runs, runs still to do, skipped names)."""
    pts = points(spec)
    for sub in ("points", "logs", "jobs"):
        (sweep_dir / sub).mkdir(parents=True, exist_ok=True)
    rundir.atomic_write_text(
        sweep_dir / "sweep.json",
        json.dumps(
            rundir.json_ready(
                {
                    "spec": spec.as_dict(),
                    "base_params": base_params(spec).to_dict(),
                    "points": [{"name": p.name, "group": p.group, "seed": p.seed, **p.assignment} for p in pts],
                }
            ),
            indent=2,
        )
        + "\n",
    )
    todo, skipped = [], []
    for p in pts:
        state, reason = point_status(sweep_dir / "points" / p.name, p.params)
        tag = f"[{p.index + 1}/{len(pts)}] {p.name}"
        if state == "done":
            log(f"{tag}: skip ({reason})")
            skipped.append(p.name)
        else:
            log(f"{tag}: {'analyse' if state == 'analyze' else 'run'} ({reason})")
            todo.append(p)
    return pts, todo, skipped


def worker_env() -> dict[str, str]:
    """The environment of a point's process: this one's, with one BLAS thread unless the
    user chose a count (as ``balanced`` commands and SLURM array tasks run; a point runs
    NEST with one thread, :mod:`balanced.blas` says why)."""
    return dict(one_thread_env())


class _Worker:
    """One long-lived ``python -m balanced.sweep.worker --serve`` process and its current point."""

    def __init__(self, python: str):
        self.proc = subprocess.Popen(
            [python, "-m", "balanced.sweep.worker", "--serve"],
            env=worker_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            bufsize=1,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None  # both are pipes
        self.stdin, self.stdout = self.proc.stdin, self.proc.stdout
        self.point: Point | None = None
        self.started = 0.0

    def give(self, p: Point, job: Path) -> bool:
        self.point, self.started = p, time.perf_counter()
        try:
            self.stdin.write(f"{job}\n")
            self.stdin.flush()
            return True
        except (BrokenPipeError, OSError):
            return False

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc.poll() is None:
            try:
                self.stdin.close()
            except OSError:
                pass
            if self.point is not None:
                self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def run_local(
    spec: SweepSpec,
    sweep_dir: Path,
    pts: list[Point],
    todo: list[Point],
    result: SweepResult,
    jobs: int,
    python: str,
    fresh: bool,
    log=_say,
    on_done=None,
) -> None:
    """Bring the ``todo`` points to complete with ``jobs`` processes at once.

    ``fresh``: one new process per point (``python -m balanced.sweep.worker JOB``); otherwise
    up to ``jobs`` long-lived workers that each run point after point in one process, each
    started when a point may start and no worker is free. Points
    start side by side only while their estimated peaks fit together in the memory free
    now (:mod:`balanced.sweep.admission`), in the order of ``todo``.
    ``on_done(point)`` is called after each point ended (done or failed)."""
    from ..memory import memory_budget
    from .admission import MemoryGate, point_memory_bytes

    total = len(pts)
    gate = MemoryGate(memory_budget())
    need = {p.name: point_memory_bytes(p.params, gate.budget) for p in todo}

    def may_start(p: Point) -> bool:
        if gate.admits(p.name, need[p.name]):
            return True
        line = gate.waiting_line(p.name, need[p.name])
        if line is not None:
            log(line)
        return False

    def finished(p: Point, ok: bool, started: float, why: str = "") -> None:
        gate.release(p.name)
        dt = time.perf_counter() - started
        if ok:
            result.ran.append(p.name)
            log(f"[{p.index + 1}/{total}] {p.name}: done in {dt:.1f} s")
        else:
            result.failed.append(p.name)
            log(
                f"[{p.index + 1}/{total}] {p.name}: FAILED ({why}) after {dt:.1f} s; "
                f"see {sweep_dir / 'logs' / (p.name + '.log')}"
            )
        if on_done is not None:
            on_done(p)

    queue = [(p, job_file(sweep_dir, spec, p)) for p in todo]
    if fresh:
        running: dict[str, tuple[subprocess.Popen, Point, float]] = {}
        try:
            while queue or running:
                while queue and len(running) < jobs and may_start(queue[0][0]):
                    try:
                        proc = subprocess.Popen(
                            [python, "-m", "balanced.sweep.worker", str(queue[0][1])],
                            env=worker_env(),
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL,
                        )
                    except OSError:  # no process left: fewer at once, tried again as one ends
                        if not running:
                            raise
                        break
                    p, _ = queue.pop(0)
                    gate.take(p.name, need[p.name])
                    running[p.name] = (proc, p, time.perf_counter())
                time.sleep(0.05)
                for name in list(running):
                    proc, p, started = running[name]
                    if proc.poll() is not None:
                        del running[name]
                        finished(p, proc.returncode == 0, started, f"exit {proc.returncode}")
        finally:
            for proc, *_ in running.values():
                if proc.poll() is None:
                    proc.terminate()
            for proc, *_ in running.values():
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
        return

    sel = selectors.DefaultSelector()
    pool: list[_Worker] = []
    try:

        def start_one() -> bool:
            """A new worker in the pool; False if no process is left for it (the pool
            goes on with fewer; with none, the error is raised)."""
            try:
                w = _Worker(python)
            except OSError:
                if not pool:
                    raise
                return False
            pool.append(w)
            sel.register(w.stdout, selectors.EVENT_READ, w)
            return True

        def feed(w: _Worker) -> None:
            """The next point to an idle worker, if one may start now (else it stays idle)."""
            while queue and may_start(queue[0][0]):
                p, job = queue.pop(0)
                gate.take(p.name, need[p.name])
                if w.give(p, job):
                    return
                finished(p, False, time.perf_counter(), "worker not running")
            w.point = None

        wanted = min(jobs, len(queue))
        no_process_left = False

        def feed_idle() -> None:
            """Points to idle workers; a new worker (up to ``jobs``) only for a point that may
            start now while every worker is busy, so memory that admits one point at a
            time gets one worker."""
            nonlocal no_process_left
            for w in pool:
                if w.point is None:
                    feed(w)
            while (
                queue
                and (not no_process_left or not pool)
                and len(pool) < jobs
                and all(w.point is not None for w in pool)
                and may_start(queue[0][0])
            ):
                if not start_one():
                    no_process_left = True
                    log(f"only {len(pool)} of {wanted} workers could be started (no process left)")
                    break
                feed(pool[-1])

        feed_idle()
        while any(w.point is not None for w in pool):
            for key, _ in sel.select(timeout=1.0):
                w = key.data
                line = w.stdout.readline()
                p = w.point
                if not line:  # the worker died: its point failed; a new worker takes the rest
                    sel.unregister(w.stdout)
                    w.proc.wait()
                    pool.remove(w)
                    if p is not None:
                        finished(p, False, w.started, f"worker exited with {w.proc.returncode}")
                    feed_idle()  # starts a new worker for the rest
                    continue
                parts = line.split(maxsplit=2)
                w.point = None
                if p is not None:
                    finished(p, parts[0] == "ok", w.started, parts[2].strip() if len(parts) > 2 else "")
                feed_idle()
    finally:
        for w in pool:
            w.stop()
        sel.close()


def collect(
    spec: SweepSpec,
    sweep_dir: Path,
    pts: list[Point],
    result: SweepResult,
    figures: bool,
    theory: dict[str, dict[str, Any]] | None = None,
    known: dict[str, dict[str, Any]] | None = None,
) -> None:
    """Build the table (and figures) from whatever the point folders hold now (``known``:
    rows read earlier, kept for the points whose folders have not changed since)."""
    runs = run_rows(spec, pts, sweep_dir, theory, known)
    rows = fold_seeds(spec, pts, runs)
    fits = sweep_fits(rows, spec.keys)
    write_results(sweep_dir, spec, rows, fits, runs)
    result.rows, result.fits, result.runs = rows, fits, runs
    if figures:
        from .figures import write_figures

        result.figures = write_figures(sweep_dir, rows, fits, spec.keys, title=spec.name)


def run_sweep(
    spec: SweepSpec,
    sweep_dir: str | os.PathLike,
    jobs: int = 1,
    figures: bool = True,
    python: str | None = None,
    log=_say,
    *,
    executor: str = "local",
    fresh: bool = False,
    slurm: Any = None,
    plan: bool = False,
) -> SweepResult:
    """Run (or resume) every point of ``spec`` under ``sweep_dir``; write the table and figures.

    ``executor``: ``"local"`` (``jobs`` workers on this machine; ``fresh``: a new process per
    point instead) or ``"slurm"`` (a job array, :class:`balanced.sweep.slurm.SlurmOptions`
    in ``slurm``; ``plan``: write the job files and the sbatch command, submit nothing).
    Raises :class:`SweepError` after writing the table if any point failed.
    """
    if executor not in EXECUTORS:
        raise ParamError(f"--executor {executor!r}: must be one of {', '.join(EXECUTORS)}")
    if jobs < 1:
        raise ParamError(f"--jobs {jobs}: must be >= 1")
    if executor == "slurm":
        from .slurm import SlurmOptions, check_tools

        slurm = slurm or SlurmOptions()
        slurm.check()  # before any folder is made
        if not plan:
            check_tools()
        if fresh:
            raise ParamError(
                "--fresh-processes: only with --executor local (an array task runs its points "
                "in one process; use --points-per-task 1 for one point per process)"
            )
    else:
        if plan:
            raise ParamError("--plan: only with --executor slurm (it writes the job array's files)")
        if slurm is not None:
            from .slurm import SlurmOptions

            if slurm != SlurmOptions():
                raise ParamError(
                    "--partition, --time, --cpus-per-task, --mem, --points-per-task, --sbatch-line: "
                    "only with --executor slurm"
                )
    t0 = time.perf_counter()
    sweep_dir = Path(sweep_dir)
    python = python or sys.executable
    check_sweep_folder(sweep_dir)
    pts, todo, skipped = prepare(spec, sweep_dir, log)
    result = SweepResult(sweep_dir, [], {}, [], skipped=skipped)
    theory: dict[str, dict[str, Any]] = {}
    # the table is rewritten after every point; only the point that just ended is read again
    known: dict[str, dict[str, Any]] = {}

    def point_ended(p: Point) -> None:
        known.pop(p.name, None)
        collect(spec, sweep_dir, pts, result, False, theory, known)

    if executor == "slurm":
        from .slurm import run_slurm

        result.plan = run_slurm(spec, sweep_dir, pts, todo, result, slurm, python, plan, log)
        if plan:
            result.wall_s = time.perf_counter() - t0
            return result
    else:
        run_local(
            spec,
            sweep_dir,
            pts,
            todo,
            result,
            jobs,
            python,
            fresh,
            log,
            on_done=point_ended,
        )
    collect(spec, sweep_dir, pts, result, figures, theory, known)
    result.wall_s = time.perf_counter() - t0
    if result.failed:
        raise SweepError(
            f"sweep {spec.name!r}: {len(result.failed)} of {len(pts)} points failed "
            f"({', '.join(result.failed)}); logs in {sweep_dir / 'logs'}; rerun the same command "
            "to retry them (completed points are skipped)"
        )
    return result
