"""How this process was launched, and how a multi-task launch ends when something fails.
Imports no NEST.

* :func:`detect_launch`: number of tasks, this task's rank and the launcher (``local``,
  ``mpirun``, ``srun``) from the launchers' environment variables (Open MPI, MPICH/Hydra,
  PMI, PMIx, SLURM), a pure function of the environment.
* :func:`check_nest_launch`: refuses a launch that would run copies of the network (several
  tasks with a NEST without MPI, or an MPI NEST whose world is smaller than the launch).
* :func:`abort_all`: ends every rank at once (``MPI_Abort`` on ``MPI_COMM_WORLD`` through
  the MPI library NEST loaded, by ctypes), for an error that only some ranks see.
* :func:`child_env`: the environment for helper processes, which must not believe they are
  tasks of the launch.

The kernel set-up, the build and the command line ask this module, so launch detection
lives in one place.
"""

from __future__ import annotations

import ctypes
import os
import sys
from dataclasses import dataclass

# Environment variables by which MPI launchers announce the number of ranks.
_MPI_SIZE_VARS = (
    "OMPI_COMM_WORLD_SIZE",  # Open MPI
    "PMI_SIZE",  # MPICH/Hydra, Intel MPI, Slurm PMI-2
    "PMIX_SIZE",
    "MPI_LOCALNRANKS",  # MPICH/Hydra (ranks on this node)
    "MV2_COMM_WORLD_SIZE",  # MVAPICH2
    "PALS_SIZE",
)
# (size, rank, local size, local rank) per MPI launcher, in order of precedence: a launcher
# that starts its daemons through srun (mpirun inside an allocation) leaves SLURM step
# variables of its own daemons behind, so the MPI launcher's variables win.
_MPIRUN_VARS = (
    ("OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"),
    ("MV2_COMM_WORLD_SIZE", "MV2_COMM_WORLD_RANK", "MV2_COMM_WORLD_LOCAL_SIZE", "MV2_COMM_WORLD_LOCAL_RANK"),
    ("PALS_SIZE", "PALS_RANKID", "PALS_LOCAL_SIZE", "PALS_LOCAL_RANKID"),
)
# Hydra (MPICH's mpiexec) sets PMI_SIZE/PMI_RANK plus MPI_LOCALNRANKS/MPI_LOCALRANKID.
_HYDRA_VARS = ("PMI_SIZE", "PMI_RANK", "MPI_LOCALNRANKS", "MPI_LOCALRANKID")
# Prefixes of variables that make a child process believe it is an MPI rank.
_MPI_ENV_PREFIXES = ("OMPI_", "PMI_", "PMIX_", "MPI_LOCAL", "MV2_", "HYDRA_", "PALS_")
# SLURM variables that make a child process believe it is a task of an srun step.
_SLURM_STEP_VARS = (
    "SLURM_STEP_ID",
    "SLURM_STEPID",
    "SLURM_PROCID",
    "SLURM_LOCALID",
    "SLURM_NTASKS",
    "SLURM_NPROCS",
    "SLURM_STEP_NUM_TASKS",
    "SLURM_STEP_TASKS_PER_NODE",
    "SLURM_GTIDS",
)

LAUNCHERS = ("local", "mpirun", "srun")


class LaunchError(RuntimeError):
    """A launch that cannot run: every task sees the same facts and raises the same error,
    so only task 0 prints it (:attr:`everywhere`)."""

    everywhere = True


@dataclass(frozen=True)
class Launch:
    """How this process was started.

    ``tasks``: processes of the launch (MPI ranks to be); ``rank``: this one's index;
    ``local_tasks``/``local_rank``: the same on this node; ``launcher``: one of
    :data:`LAUNCHERS`; ``source``: the variable that said so (``None`` for local).
    """

    tasks: int = 1
    rank: int = 0
    local_tasks: int = 1
    local_rank: int = 0
    launcher: str = "local"
    source: str | None = None
    pmi: str | None = None  # the process-management interface offered to MPI: "pmix", "pmi", None

    def as_dict(self) -> dict:
        return {
            "launcher": self.launcher,
            "tasks": self.tasks,
            "rank": self.rank,
            "tasks_on_node": self.local_tasks,
            "source": self.source,
            "pmi": self.pmi,
        }


def _opt(env, name: str) -> int | None:
    """``env[name]`` as an integer, ``None`` when unset or not an integer."""
    try:
        return int(env[name])
    except (KeyError, ValueError, TypeError):
        return None


def _int(env, name: str, default: int) -> int:
    value = _opt(env, name)
    return default if value is None else value


def _slurm_tasks_per_node(value: str | None, node_id: int) -> int | None:
    """Tasks on node ``node_id`` from SLURM's compressed list, e.g. ``"2(x3),1"``."""
    if not value:
        return None
    counts: list[int] = []
    for part in value.split(","):
        n, _, rep = part.partition("(x")
        try:
            counts += [int(n)] * (int(rep.rstrip(")")) if rep else 1)
        except ValueError:
            return None
    return counts[node_id] if 0 <= node_id < len(counts) else None


def detect_launch(environ=None) -> Launch:
    """The launch as the environment announces it (a pure function of ``environ``).

    Precedence: an MPI launcher's own variables (``mpirun``/``mpiexec`` of Open MPI,
    MVAPICH2, PALS, MPICH's Hydra), then an ``srun`` step (``SLURM_STEP_ID`` with
    ``SLURM_STEP_NUM_TASKS``/``SLURM_NTASKS``, ``SLURM_PROCID``; ``srun --mpi=pmix`` or
    ``pmi2`` add ``PMIX_*``/``PMI_*``, which agree), then bare PMI/PMIx sizes. A batch
    script (``sbatch``) outside ``srun`` is one local task whatever ``--ntasks`` says.
    """
    env = os.environ if environ is None else environ
    for size_var, rank_var, lsize_var, lrank_var in _MPIRUN_VARS:
        size = _opt(env, size_var)
        if size is not None and size >= 1:
            return Launch(
                size,
                _int(env, rank_var, 0),
                _int(env, lsize_var, size),
                _int(env, lrank_var, 0),
                "mpirun",
                size_var,
                "pmix" if "PMIX_RANK" in env else None,
            )
    hydra_size = _opt(env, "PMI_SIZE")
    if "MPI_LOCALNRANKS" in env and hydra_size is not None:
        size = max(hydra_size, _int(env, "MPI_LOCALNRANKS", 1))  # the world holds this node's ranks
        return Launch(
            size,
            _int(env, "PMI_RANK", 0),
            _int(env, "MPI_LOCALNRANKS", size),
            _int(env, "MPI_LOCALRANKID", 0),
            "mpirun",
            "PMI_SIZE",
            "pmi",
        )
    if "SLURM_STEP_ID" in env or "SLURM_STEPID" in env:
        size_var = "SLURM_STEP_NUM_TASKS" if "SLURM_STEP_NUM_TASKS" in env else "SLURM_NTASKS"
        size = _opt(env, size_var) or _int(env, "SLURM_NPROCS", 1)
        local = (
            _slurm_tasks_per_node(env.get("SLURM_STEP_TASKS_PER_NODE"), _int(env, "SLURM_NODEID", 0))
            or _slurm_tasks_per_node(env.get("SLURM_TASKS_PER_NODE"), _int(env, "SLURM_NODEID", 0))
            or size
        )
        pmi = "pmix" if "PMIX_RANK" in env else "pmi" if ("PMI_RANK" in env or "PMI_FD" in env) else None
        return Launch(
            size, _int(env, "SLURM_PROCID", 0), min(local, size), _int(env, "SLURM_LOCALID", 0), "srun", size_var, pmi
        )
    for size_var, rank_var in (("PMIX_SIZE", "PMIX_RANK"), ("PMI_SIZE", "PMI_RANK")):
        size = _opt(env, size_var)
        if size is not None and size >= 1:
            return Launch(
                size,
                _int(env, rank_var, 0),
                size,
                _int(env, rank_var, 0),
                "mpirun",
                size_var,
                "pmix" if size_var == "PMIX_SIZE" else "pmi",
            )
    return Launch()


def mpi_world_size_from_env(environ=None) -> int:
    """Number of tasks announced by the launcher's environment (1 if none)."""
    return detect_launch(environ).tasks


def _mpi_hint(launch: Launch) -> str:
    if launch.launcher == "srun":
        return (
            f"`srun --mpi=pmix -n {launch.tasks} .venv-mpi/bin/balanced run ...` "
            "(docs/hpc.md; `srun --mpi=list` shows the plugins)"
        )
    return f"`mpirun -np {launch.tasks} .venv-mpi/bin/balanced run ...` (README, MPI)"


def check_nest_launch(launch: Launch, *, have_mpi: bool, nest_processes: int | None, version: str = "?") -> None:
    """Refuse a launch that would run several copies of one network (raise :class:`LaunchError`).

    ``have_mpi``: the NEST was built with MPI; ``nest_processes``: its world size once
    imported (``None`` before). Several tasks need an MPI NEST whose world holds them all:
    ``srun`` without an MPI plugin starts each task as its own one-rank world.
    """
    if launch.tasks <= 1:
        return
    if not have_mpi:
        raise LaunchError(
            f"started as {launch.tasks} tasks by {launch.launcher} ({launch.source}={launch.tasks}), but this NEST "
            f"({version}) was built without MPI: every task would run its own full copy of the network. "
            f"Use the MPI-enabled environment (`make mpi-env`), then {_mpi_hint(launch)}, or start one task."
        )
    if launch.launcher == "srun" and launch.pmi is None:
        raise LaunchError(
            f"started as {launch.tasks} tasks by srun ({launch.source}={launch.tasks}) without an MPI plugin "
            f"(no PMIX_RANK or PMI_RANK): MPI cannot join the tasks into one world, so each would run its own "
            f"copy of the network. Pass `--mpi=pmix`: {_mpi_hint(launch)}."
        )
    if nest_processes is not None and nest_processes != launch.tasks:
        how = (
            "srun started the tasks without an MPI plugin that this MPI understands: pass `--mpi=pmix`"
            if launch.launcher == "srun"
            else "the MPI library did not join the tasks into one world"
        )
        raise LaunchError(
            f"started as {launch.tasks} tasks by {launch.launcher} ({launch.source}={launch.tasks}), but NEST's MPI "
            f"world has {nest_processes} process{'es' if nest_processes != 1 else ''}: {how}. "
            f"Every task would run its own copy of the network; use {_mpi_hint(launch)}."
        )


# ----------------------------------------------------------------------------- ending all ranks
_OMPI_COMM_WORLD = "ompi_mpi_comm_world"  # Open MPI: MPI_COMM_WORLD is &ompi_mpi_comm_world
_MPICH_COMM_WORLD = 0x44000000  # MPICH and derivatives: MPI_COMM_WORLD is this integer handle


def _loaded_mpi_library() -> str | None:
    """Path of the MPI library mapped into this process (by NEST), or ``None``."""
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.rsplit(" ", 1)[-1].strip()
                name = os.path.basename(path)
                if name.startswith(("libmpi.so", "libmpich.so", "libmpi_mt.so")):
                    return path
    except OSError:
        pass
    return None


def mpi_initialized() -> bool:
    """Whether this process has initialised (and not finalised) MPI through a loaded library."""
    lib = _open_mpi_library()
    if lib is None:
        return False
    flag, done = ctypes.c_int(0), ctypes.c_int(0)
    lib.MPI_Initialized(ctypes.byref(flag))
    lib.MPI_Finalized(ctypes.byref(done))
    return bool(flag.value) and not done.value


def _open_mpi_library():
    path = _loaded_mpi_library()
    if path is None:
        return None
    try:
        return ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)  # the copy already loaded: no second MPI
    except OSError:
        return None


def abort_all(code: int = 1) -> None:
    """End every rank of the MPI world now with exit status ``code``, when this process has
    initialised MPI with more than one rank; otherwise return (nothing to end).

    For an error that only some ranks see (rank 0 refuses ``--out``; one rank fails to
    write): the others would wait in NEST's next collective call, or in ``MPI_Finalize``
    at exit, forever. ``MPI_Abort`` makes the launcher (``mpirun``, ``srun``) end them all.
    Flushes stdout and stderr first, so that the error message is not lost.
    """
    lib = _open_mpi_library()
    if lib is None or not mpi_initialized():
        return
    size = ctypes.c_int(1)
    comm: ctypes.c_void_p | ctypes.c_int
    try:
        comm = ctypes.c_void_p(ctypes.addressof(ctypes.c_char.in_dll(lib, _OMPI_COMM_WORLD)))
    except ValueError:
        comm = ctypes.c_int(_MPICH_COMM_WORLD)
    lib.MPI_Comm_size(comm, ctypes.byref(size))
    if size.value <= 1:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    lib.MPI_Abort(comm, ctypes.c_int(code))
    os._exit(code)  # MPI_Abort does not return; should it, this rank ends anyway


# A rank other than the first waits this long before it reports an error and aborts: when
# the first rank has the same error it reports it alone (its abort ends this rank first).
_OTHER_RANK_GRACE_S = 1.0


def report_error(message: str, code: int, *, everywhere: bool = False, stream=None) -> None:
    """Print ``message`` once for the whole launch; then, under MPI with several ranks, end
    them all (:func:`abort_all`) unless every rank raised the same error (``everywhere``,
    e.g. :class:`LaunchError` or a bad parameter: then only the first rank prints, and
    every rank exits by itself with ``code``)."""
    stream = stream or sys.stderr
    rank = detect_launch().rank
    if everywhere:
        if rank == 0:
            print(message, file=stream, flush=True)
        return
    if rank != 0 and mpi_initialized():
        import time

        time.sleep(_OTHER_RANK_GRACE_S)
    print(message + (f" (rank {rank})" if rank else ""), file=stream, flush=True)
    abort_all(code)


def child_env(extra: dict | None = None) -> dict:
    """Environment for child processes: without MPI rank or SLURM step variables, NEST quiet."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_MPI_ENV_PREFIXES) and k not in _SLURM_STEP_VARS}
    env["PYNEST_QUIET"] = "1"
    env.setdefault("OMP_NUM_THREADS", "1")
    if extra:
        env.update(extra)
    return env
