"""The SLURM executor: the points that still need work go to SLURM as one job array
(``sbatch --array``), each array task runs one or a few points with
``python -m balanced.sweep.worker --array``, and the driver waits for the array to end
before the collect step builds the table and figures.

Files under ``SWEEP_DIR/slurm/``: ``array.sh`` (the batch script, all options as
``#SBATCH`` lines), ``tasks.json`` (the job files of each array task), ``job.json`` (the
submitted job id). Array task output goes to ``SWEEP_DIR/logs/slurm-JOBID_TASK.out``, each
point's own output to ``SWEEP_DIR/logs/NAME.log``.

Resuming: a re-submission puts only the points that are not complete and analysed into
the new array; a worker checks its point again before running it. While a submitted
array of this sweep is still queued or running, the driver waits for it instead of
submitting a second one.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import rundir
from ..params import ParamError
from .errors import SweepError
from .spec import Point, SweepSpec

ACTIVE_STATES = "pending,running,suspended,completing,configuring,requeued,resizing"
_TIME = re.compile(r"(\d+-)?\d+(:\d{1,2}){0,2}|\d+-\d+(:\d{1,2}){0,2}|UNLIMITED|INFINITE", re.IGNORECASE)
_MEM = re.compile(r"\d+[KMGT]?", re.IGNORECASE)
_PARTITION = re.compile(r"[A-Za-z0-9_.,-]+")


@dataclass(frozen=True)
class SlurmOptions:
    """What each array task asks SLURM for. ``time`` in SLURM's formats (``MM``, ``HH:MM:SS``,
    ``D-HH``...); ``mem`` per task (``4G``, ``500M``); ``extra``: further ``#SBATCH`` lines
    (``--account=X``); ``points_per_task``: points one array task runs in one process;
    ``max_running``: at most this many array tasks at once (``%N``), None = no limit.

    Each point runs with one thread (the same virtual-process count, so the same spikes, as
    ``--executor local``); more CPUs per task only help the analysis."""

    partition: str | None = None
    time: str | None = None
    cpus_per_task: int = 1
    mem: str | None = None
    extra: tuple[str, ...] = ()
    points_per_task: int = 1
    max_running: int | None = None
    poll_s: float = 1.0

    def check(self) -> None:
        """ParamError naming the option for any value sbatch would reject or misread."""
        if self.partition is not None and not _PARTITION.fullmatch(self.partition):
            raise ParamError(f"--partition {self.partition!r}: must be a partition name (letters, digits, '_.,-')")
        if self.time is not None and not _TIME.fullmatch(self.time):
            raise ParamError(
                f"--time {self.time!r}: must be a SLURM time (MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS)"
            )
        if self.mem is not None and not _MEM.fullmatch(self.mem):
            raise ParamError(f"--mem {self.mem!r}: must be a size per task such as 500M or 4G")
        for name, value in (("--cpus-per-task", self.cpus_per_task), ("--points-per-task", self.points_per_task)):
            if not isinstance(value, int) or value < 1:
                raise ParamError(f"{name} {value!r}: must be an integer >= 1")
        if self.max_running is not None and self.max_running < 1:
            raise ParamError(f"--max-running {self.max_running!r}: must be an integer >= 1")
        for line in self.extra:
            if "\n" in line or "\r" in line or not line.strip().startswith("-"):
                raise ParamError(
                    f"--sbatch-line {line!r}: must be one sbatch option on one line, such as --account=NAME"
                )


def _sbatch_lines(spec: SweepSpec, sweep_dir: Path, n_tasks: int, opts: SlurmOptions) -> list[str]:
    array = f"0-{n_tasks - 1}" + (f"%{opts.max_running}" if opts.max_running else "")
    lines = [
        f"--job-name=balanced-sweep-{spec.name}",
        f"--array={array}",
        f"--output={sweep_dir / 'logs' / 'slurm-%A_%a.out'}",
        "--ntasks=1",
        f"--cpus-per-task={opts.cpus_per_task}",
    ]
    if opts.partition:
        lines.append(f"--partition={opts.partition}")
    if opts.time:
        lines.append(f"--time={opts.time}")
    if opts.mem:
        lines.append(f"--mem={opts.mem}")
    lines += [line.strip() for line in opts.extra]
    return lines


def write_plan(spec: SweepSpec, sweep_dir: Path, jobs: list[Path], opts: SlurmOptions, python: str) -> dict[str, Any]:
    """Write ``slurm/tasks.json`` and ``slurm/array.sh`` for ``jobs``; return the plan
    (``script``, ``tasks``, ``command``: the exact sbatch argv)."""
    opts.check()
    sweep_dir = sweep_dir.resolve()
    folder = sweep_dir / "slurm"
    folder.mkdir(exist_ok=True)
    k = opts.points_per_task
    tasks = [[str(j) for j in jobs[i : i + k]] for i in range(0, len(jobs), k)]
    rundir.atomic_write_text(folder / "tasks.json", json.dumps({"tasks": tasks}, indent=2) + "\n")
    script = ["#!/bin/bash", f"# balanced sweep {spec.name}: {len(jobs)} points in {len(tasks)} array tasks"]
    script += [f"#SBATCH {line}" for line in _sbatch_lines(spec, sweep_dir, len(tasks), opts)]
    script += [
        "",
        "# one thread per point: NEST's virtual processes (and so the spikes) as with --executor local",
        "export OMP_NUM_THREADS=1",
        f"exec {shlex.quote(python)} -m balanced.sweep.worker --array {shlex.quote(str(folder / 'tasks.json'))}",
        "",
    ]
    rundir.atomic_write_text(folder / "array.sh", "\n".join(script))
    command = ["sbatch", "--parsable", str(folder / "array.sh")]
    return {
        "script": str(folder / "array.sh"),
        "tasks": len(tasks),
        "points": len(jobs),
        "command": command,
        "command_line": shlex.join(command),
    }


#: the SLURM commands a submitted sweep runs (submit, then wait)
SUBMIT_TOOLS = ("sbatch", "squeue")


def check_tools() -> None:
    """Raise :class:`SweepError` unless every command of :data:`SUBMIT_TOOLS` is on PATH
    (before the sweep makes any folder)."""
    for name in SUBMIT_TOOLS:
        _tool(name)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise SweepError(
            f"--executor slurm: {name!r} not found on PATH; run on a SLURM login node "
            "(or use --plan to write the job files only)"
        )
    return path


def active(job_id: str) -> bool:
    """True while any task of job ``job_id`` is queued or running."""
    proc = subprocess.run(
        [_tool("squeue"), "-h", "-j", job_id, "-t", ACTIVE_STATES, "-o", "%i"], capture_output=True, text=True
    )
    if proc.returncode != 0:
        if "Invalid job id" in proc.stderr:
            return False
        raise SweepError(f"squeue -j {job_id} failed: {proc.stderr.strip() or proc.returncode}")
    return bool(proc.stdout.strip())


def submit(plan: dict[str, Any], sweep_dir: Path) -> str:
    """Run the plan's sbatch command; record and return the job id."""
    _tool("sbatch")
    proc = subprocess.run(plan["command"], capture_output=True, text=True)
    if proc.returncode != 0:
        msg = " ".join(proc.stderr.split()) or f"exit {proc.returncode}"
        raise SweepError(f"sbatch refused the sweep's job array ({plan['script']}): {msg}")
    job_id = proc.stdout.strip().split(";")[0]
    rundir.atomic_write_text(
        sweep_dir / "slurm" / "job.json",
        json.dumps(
            {
                "job_id": job_id,
                "tasks": plan["tasks"],
                "points": plan["points"],
                "command": plan["command"],
                "submitted": time.time(),
            },
            indent=2,
        )
        + "\n",
    )
    return job_id


def wait(job_id: str, poll_s: float, log) -> None:
    """Block until no task of ``job_id`` is queued or running."""
    try:
        while active(job_id):
            time.sleep(poll_s)
    except BaseException as exc:  # Ctrl-C, or SIGTERM (balanced.interrupt.Interrupted)
        if isinstance(exc, Exception):
            raise
        log(
            f"stopped waiting; SLURM job {job_id} keeps running (scancel {job_id} stops it); run the same "
            "command again to wait for it and tabulate"
        )
        raise
    log(f"SLURM job {job_id}: ended")


def run_slurm(
    spec: SweepSpec,
    sweep_dir: Path,
    pts: list[Point],
    todo: list[Point],
    result,
    opts: SlurmOptions,
    python: str,
    plan_only: bool,
    log,
) -> dict[str, Any] | None:
    """Submit the ``todo`` points as a job array and wait for it (or, ``plan_only``, write the
    plan and return it). Points still not complete afterwards are added to ``result.failed``."""
    from .runner import job_file
    from .worker import point_status

    opts.check()
    previous = sweep_dir / "slurm" / "job.json"
    if not plan_only and previous.is_file():
        old = json.loads(previous.read_text()).get("job_id")
        if old and active(str(old)):
            log(f"SLURM job {old} of this sweep is still queued or running: waiting for it")
            wait(str(old), opts.poll_s, log)
            todo = [p for p in todo if point_status(sweep_dir / "points" / p.name, p.params)[0] != "done"]
    if not todo:
        return None
    jobs = [job_file(sweep_dir, spec, p) for p in todo]
    plan = write_plan(spec, sweep_dir, jobs, opts, python)
    if plan_only:
        log(f"plan: {plan['points']} points in {plan['tasks']} array tasks; submit with:\n  {plan['command_line']}")
        return plan
    job_id = submit(plan, sweep_dir)
    plan["job_id"] = job_id
    log(f"SLURM job {job_id}: {plan['points']} points in {plan['tasks']} array tasks ({plan['command_line']})")
    wait(job_id, opts.poll_s, log)
    for p in todo:
        state, reason = point_status(sweep_dir / "points" / p.name, p.params)
        if state == "done":
            result.ran.append(p.name)
        else:
            result.failed.append(p.name)
            log(
                f"[{p.index + 1}/{len(pts)}] {p.name}: not complete after the job ({reason}); "
                f"see {sweep_dir / 'logs' / (p.name + '.log')}"
            )
    return plan
