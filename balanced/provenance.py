"""Where, how and by what a run was made, for its manifest: host, command line, package
version and git commit, launcher, SLURM job, and NEST's own kernel timers. Imports no NEST.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from . import __version__
from .launch import Launch, detect_launch

# SLURM variables worth keeping with a run (job, array task, allocation), when set.
SLURM_VARS = (
    "SLURM_JOB_ID",
    "SLURM_ARRAY_JOB_ID",
    "SLURM_ARRAY_TASK_ID",
    "SLURM_JOB_NAME",
    "SLURM_JOB_PARTITION",
    "SLURM_JOB_NODELIST",
    "SLURM_JOB_NUM_NODES",
    "SLURM_NTASKS",
    "SLURM_CPUS_PER_TASK",
    "SLURM_CPUS_ON_NODE",
    "SLURM_STEP_ID",
    "SLURM_CLUSTER_NAME",
    "SLURM_SUBMIT_DIR",
)


_OWN_CHECKOUT: dict = {}  # this package's answer, looked up once per process (a sweep worker runs many points)


def git_commit(path: str | os.PathLike | None = None) -> dict | None:
    """The git commit of the checkout holding ``path`` (default: this package, asked once per
    process: its code was loaded at import) and whether it has uncommitted changes; ``None``
    when not run from a git checkout (an installed wheel)."""
    if not path:
        if "git" not in _OWN_CHECKOUT:
            _OWN_CHECKOUT["git"] = _git_commit(Path(__file__).resolve().parent)
        found = _OWN_CHECKOUT["git"]
        return dict(found) if found else None
    return _git_commit(Path(path))


def _git_commit(folder: Path) -> dict | None:
    try:
        top = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "--show-toplevel", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        if top.returncode != 0:
            return None
        root, commit = top.stdout.split()[:2]
        # only a checkout of this package counts, not a repository the venv happens to live in
        if not (Path(root) / "balanced" / "__init__.py").is_file() or not str(folder).startswith(root):
            return None
        dirty = subprocess.run(
            ["git", "-C", root, "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return {"commit": commit, "dirty": bool(dirty.stdout.strip()) if dirty.returncode == 0 else None}
    except (OSError, ValueError, subprocess.SubprocessError):
        return None


def slurm_info(environ=None) -> dict:
    """The SLURM job this process runs in (the set ones of :data:`SLURM_VARS`); empty outside."""
    env = os.environ if environ is None else environ
    return {k: env[k] for k in SLURM_VARS if env.get(k)}


def collect(launch: Launch | None = None, environ=None, argv: list[str] | None = None) -> dict:
    """Provenance of this process, for the manifest's ``provenance`` entry.

    ``hosts``: this host (rank 0's), and the job's node list under SLURM; ``argv``: the
    command line; ``launch``: launcher, tasks, rank (:func:`balanced.launch.detect_launch`).
    """
    env = os.environ if environ is None else environ
    launch = launch or detect_launch(env)
    slurm = slurm_info(env)
    hosts = {"host": socket.gethostname()}
    if slurm.get("SLURM_JOB_NODELIST"):
        hosts["nodes"] = slurm["SLURM_JOB_NODELIST"]
    return {
        "hosts": hosts,
        "argv": list(sys.argv if argv is None else argv),
        "cwd": os.getcwd(),
        "package": {"version": __version__, "git": git_commit()},
        "launch": launch.as_dict(),
        "slurm": slurm or None,
    }


def kernel_timers(nest) -> dict:
    """NEST's own kernel timers now (``GetKernelStatus()`` ``time_*`` keys without the prefix,
    seconds; a per-thread list where NEST keeps one per thread)."""
    status = nest.GetKernelStatus()
    timers = {}
    for key, value in sorted(status.items()):
        if not key.startswith("time_"):
            continue
        try:
            values = [float(v) for v in value] if hasattr(value, "__len__") else [float(value)]
        except (TypeError, ValueError):
            continue
        timers[key[len("time_") :]] = round(values[0], 6) if len(values) == 1 else [round(v, 6) for v in values]
    return timers


# NEST timers that a Simulate call does not restart: construction, and the preparation of
# the connection infrastructure (timed only when the connections changed)
KEPT_TIMERS = ("construction_", "communicate_prepare")


class KernelTimers:
    """NEST's kernel timers summed over a run's ``Simulate`` calls (one per chunk): NEST
    restarts its simulation timers at every call and keeps the :data:`KEPT_TIMERS`."""

    def __init__(self):
        self._sum: dict = {}

    def add(self, nest) -> None:
        """Take the timers after one ``Simulate`` call."""
        for key, value in kernel_timers(nest).items():
            if key.startswith(KEPT_TIMERS) or key not in self._sum:
                self._sum[key] = value
            elif isinstance(value, list):
                self._sum[key] = [round(a + b, 6) for a, b in zip(self._sum[key], value, strict=True)]
            else:
                self._sum[key] = round(self._sum[key] + value, 6)

    def as_dict(self) -> dict:
        """Seconds per timer, for the manifest's ``nest_timers_s`` entry."""
        return dict(self._sum)
