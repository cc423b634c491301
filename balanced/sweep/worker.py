"""The sweep worker: runs and analyses sweep points from job files, many in one process.

A job file ``SWEEP_DIR/jobs/NAME.json`` (written by :mod:`balanced.sweep.runner`) holds
``params`` (the point's full parameters), ``preset`` and the analysis window
``t_start``/``t_stop`` (ms, null = default). Where the point goes follows from where the
job file is, never from its contents: the run directory ``SWEEP_DIR/points/NAME``, the log
``SWEEP_DIR/logs/NAME.log``.
For each job the worker checks the run directory first (:func:`point_status`): a complete,
analysed run with the same parameters is skipped, a complete one only analysed, anything
else run again from scratch. So any job can be given again after an interruption.

Command line (public; ``balanced sweep`` starts it for you)::

    python -m balanced.sweep.worker JOB.json [JOB.json ...]   run the jobs in this process
    python -m balanced.sweep.worker --array TASKS.json        one SLURM array task: the jobs
                                                              of task $SLURM_ARRAY_TASK_ID
    python -m balanced.sweep.worker --serve                   read job paths from stdin, one
                                                              a line; answer one line each

Exit status 0 when every job ended complete and analysed, 1 otherwise; 2 for bad usage.

Many points in one process pay the interpreter start-up and the imports (NEST, NumPy,
SciPy, Elephant) once: between points the NEST kernel is reset and the model module
installed again (:func:`balanced.kernel.setup_kernel`), which gives the same spikes as a
fresh process (tests/test_sweep.py checks it). After each point the worker gives the
network's memory back (:func:`balanced.kernel.release_memory`) before it says it is done,
so a worker waiting for its next point holds no network. NEST is imported without the optional
libraries a point never uses (:func:`run_point`); docs/sweeps.md has where a point's time
goes.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from .. import rundir
from ..kernel import release_memory
from ..params import ParamError, Params, validate
from .spec import SAFE_NAME_RULE, is_safe_name
from .table import POINT_FILE


def point_status(run_dir: Path, params: Params) -> tuple[str, str]:
    """('done' | 'analyze' | 'run', reason) for an existing or absent point directory."""
    if not (run_dir / rundir.MANIFEST).exists():
        return "run", "new"
    try:
        manifest = rundir.read_manifest(run_dir)
    except rundir.RunDirError as exc:
        return "run", f"unreadable manifest ({exc})"
    status = manifest.get("status")
    if status != "complete":
        return "run", f"status {status!r}"
    try:
        same = validate(manifest.get("params", {})) == params
    except (ParamError, TypeError):
        same = False
    if not same:
        return "run", "parameters differ from the sweep file"
    if not ((run_dir / "analysis" / "stats.json").is_file() and (run_dir / "analysis" / POINT_FILE).is_file()):
        return "analyze", "complete, not analysed"
    return "done", "complete, parameters match"


def run_point(params: Params, out: Path, preset: str | None) -> None:
    """Run one point into ``out`` (replacing it) with one thread, as every executor does.

    NEST is imported without the libraries PyNEST imports if it can and no point needs
    (``nest_extras=False``: matplotlib, pandas, h5py), unless it is already imported."""
    from ..api import run_network
    from ..kernel import import_nest

    import_nest(nest_extras=False)
    run_network(params, out, threads=1, overwrite=True, preset=preset, progress=False)


def analyze_point(run_dir: Path, t_start: float | None, t_stop: float | None) -> dict[str, Any]:
    """stats.json (no figures) and sweep_point.json (what the table needs beyond stats.json)."""
    import numpy as np

    from ..analysis.regimes import population_rate_cv
    from ..analysis.report import analyze_run

    stats = analyze_run(run_dir, t_start=t_start, t_stop=t_stop, figures=False)
    w0, w1 = stats["window_ms"]
    with np.load(run_dir / rundir.SPIKES_FILE) as data:
        t = data["time"]
    extra = {"pop_rate_cv_1ms": population_rate_cv(t, w0, w1, 1.0), "window_ms": [w0, w1]}
    rundir.atomic_write_text(run_dir / "analysis" / POINT_FILE, json.dumps(rundir.json_ready(extra), indent=2) + "\n")
    return stats


@contextlib.contextmanager
def _output_to(log: str | None):
    """Send this process's stdout and stderr (Python's and NEST's C++ output) to ``log``."""
    if not log:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for f in (fd, *saved):
            os.close(f)


def run_job(job_path: str | os.PathLike) -> str:
    """Bring one point to complete and analysed; return what was done ('skip', 'analyse', 'run').

    Its output goes to the job's log file. Raises on failure (the log has the details)."""
    job_path = Path(job_path)
    sweep_dir, name = job_path.resolve().parent.parent, job_path.stem
    if job_path.resolve().parent.name != "jobs" or not is_safe_name(name):
        raise ValueError(f"job file {str(job_path)!r}: must be SWEEP_DIR/jobs/NAME.json with NAME {SAFE_NAME_RULE}")
    job = json.loads(job_path.read_text())
    params = validate(job["params"])
    out = sweep_dir / "points" / name
    state, reason = point_status(out, params)
    if state == "done":  # its log stays as the run left it
        return "skip"
    with _output_to(str(sweep_dir / "logs" / f"{name}.log")):
        print(f"point {out.name}: {state} ({reason})", file=sys.stderr, flush=True)
        try:
            if state == "run":
                run_point(params, out, job.get("preset"))
            analyze_point(out, job.get("t_start"), job.get("t_stop"))
        except BaseException:
            traceback.print_exc()
            raise
        print(f"point {out.name}: analysed", file=sys.stderr, flush=True)
    return "analyse" if state == "analyze" else "run"


def run_jobs(job_paths: list[str], say=None) -> int:
    """Run the jobs one after the other in this process; 0 if all ended analysed, else 1."""
    say = say or (lambda m: print(m, file=sys.stderr, flush=True))
    failed = 0
    for i, path in enumerate(job_paths):
        t0 = time.perf_counter()
        try:
            what = run_job(path)
            say(f"{Path(path).stem}: {what} in {time.perf_counter() - t0:.1f} s")
        except Exception as exc:  # the next point runs in a reset kernel
            failed += 1
            say(f"{Path(path).stem}: FAILED ({type(exc).__name__}: {exc})")
        if i + 1 < len(job_paths):
            release_memory()
    return 1 if failed else 0


def serve() -> int:
    """Read job paths from stdin; answer ``ok NAME WHAT SECONDS`` or ``failed NAME MESSAGE`` per line
    on the original stdout (the points' own output goes to their log files)."""
    reply = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # stray prints must not reach the reply channel
    os.close(devnull)
    for line in sys.stdin:
        path = line.strip()
        if not path:
            continue
        t0 = time.perf_counter()
        try:
            what = run_job(path)
            answer = f"ok {Path(path).stem} {what} {time.perf_counter() - t0:.3f}"
        except Exception as exc:
            msg = " ".join(f"{type(exc).__name__}: {exc}".split())
            answer = f"failed {Path(path).stem} {msg}"
        release_memory()  # before the answer: from it on, the sweep counts the point's memory free
        reply.write(answer + "\n")
    return 0


def array_task(tasks_path: str, index: int | None = None) -> int:
    """Run the jobs of one SLURM array task (``tasks`` list in TASKS.json, indexed by
    ``SLURM_ARRAY_TASK_ID`` unless ``index`` is given)."""
    if index is None:
        raw = os.environ.get("SLURM_ARRAY_TASK_ID")
        if raw is None or not raw.isdigit():
            print(
                "balanced sweep worker: --array needs SLURM_ARRAY_TASK_ID (run it as an sbatch --array task) "
                "or --index N",
                file=sys.stderr,
            )
            return 2
        index = int(raw)
    tasks = json.loads(Path(tasks_path).read_text())["tasks"]
    jobs_dir = Path(tasks_path).resolve().parent.parent / "jobs"
    if not 0 <= index < len(tasks):
        print(f"balanced sweep worker: task index {index}: {tasks_path} has tasks 0..{len(tasks) - 1}", file=sys.stderr)
        return 2
    outside = [j for j in tasks[index] if Path(j).resolve().parent != jobs_dir]
    if outside:
        print(f"balanced sweep worker: {tasks_path}: job {outside[0]!r} is not in {jobs_dir}", file=sys.stderr)
        return 2
    return run_jobs(tasks[index])


USAGE = "usage: python -m balanced.sweep.worker JOB.json [JOB.json ...] | --array TASKS.json [--index N] | --serve"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv == ["--serve"]:
        return serve()
    if argv[:1] == ["--array"] and len(argv) in (2, 4):
        index = None
        if len(argv) == 4:
            if argv[2] != "--index" or not argv[3].isdigit():
                print(USAGE, file=sys.stderr)
                return 2
            index = int(argv[3])
        return array_task(argv[1], index)
    if argv and not any(a.startswith("-") for a in argv):
        return run_jobs(argv)
    print(USAGE, file=sys.stderr)
    return 2


if __name__ == "__main__":
    from ..interrupt import install_handlers

    install_handlers()  # scancel's SIGTERM ends a point cleanly: its staging folder removed
    sys.exit(main())
