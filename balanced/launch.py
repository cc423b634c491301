"""How this process was launched: MPI launcher variables, and the environment for child
processes that must not believe they are MPI ranks. Imports no NEST.

The kernel set-up, the build and the command line ask this module, so launch detection
lives in one place.
"""

from __future__ import annotations

import os

# Environment variables by which MPI launchers announce the number of ranks.
_MPI_SIZE_VARS = (
    "OMPI_COMM_WORLD_SIZE",  # Open MPI
    "PMI_SIZE",  # MPICH/Hydra, Intel MPI, Slurm PMI-2
    "PMIX_SIZE",
    "MPI_LOCALNRANKS",  # MPICH/Hydra (ranks on this node)
    "MV2_COMM_WORLD_SIZE",  # MVAPICH2
    "PALS_SIZE",
)
# Prefixes of variables that make a child process believe it is an MPI rank.
_MPI_ENV_PREFIXES = ("OMPI_", "PMI_", "PMIX_", "MPI_LOCAL", "MV2_", "HYDRA_", "PALS_")


def mpi_world_size_from_env(environ: dict | None = None) -> int:
    """Number of MPI ranks announced by the launcher's environment (1 if none)."""
    env = os.environ if environ is None else environ
    size = 1
    for var in _MPI_SIZE_VARS:
        value = env.get(var)
        if value:
            try:
                size = max(size, int(value))
            except ValueError:
                pass
    return size


def child_env(extra: dict | None = None) -> dict:
    """Environment for child processes: without MPI rank variables, NEST quiet."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_MPI_ENV_PREFIXES)}
    env["PYNEST_QUIET"] = "1"
    env.setdefault("OMP_NUM_THREADS", "1")
    if extra:
        env.update(extra)
    return env
