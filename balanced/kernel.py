"""NEST kernel set-up in one place: import, reset, module, resolution, virtual processes, seed.

Also the one rank-aware console: every message meant for a person goes through
:func:`say`, which prints on the first rank only, so no ``if rank == 0`` is sprinkled
through the code.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from .build import BuildResult, cached_nest_facts, load_module, mpi_world_size_from_env


class NestUnavailable(RuntimeError):
    """NEST cannot be imported, or cannot run the way it was asked to (for example MPI)."""


_RANK = 0


def say(message: str, *, end: str = "\n", flush: bool = True) -> None:
    """Print to stderr on the first MPI rank only (progress, notes, warnings)."""
    if _RANK == 0:
        print(message, end=end, file=sys.stderr, flush=flush)


def import_nest():
    """Import NEST quietly and check that it can run with the processes it was started with.

    Raises :class:`NestUnavailable` when NEST is missing, or when the process was started by
    ``mpirun`` with several ranks but NEST has no MPI (each rank would run a full copy).
    """
    global _RANK
    os.environ.setdefault("PYNEST_QUIET", "1")  # no banner
    world = mpi_world_size_from_env()
    # A NEST without MPI exits the process at import under mpirun (code 127): decide first,
    # from the facts `balanced build` recorded about this NEST.
    facts = cached_nest_facts() if world > 1 else None
    if facts is not None and not facts.get("have_mpi"):
        raise NestUnavailable(_no_mpi_message(world, facts.get("version", "?")))
    try:
        import nest  # noqa: PLC0415 (imported lazily: the package must import without NEST)
    except ImportError as exc:
        raise NestUnavailable(
            f"NEST cannot be imported ({exc}). Install it with `make setup` (PyPI wheel, threads) or "
            "`make mpi-env` (MPI build); see README, Installation."
        ) from exc
    if world > 1 and nest.NumProcesses() == 1:
        raise NestUnavailable(_no_mpi_message(world, nest.__version__))
    _RANK = nest.Rank()
    if hasattr(nest, "VerbosityLevel"):
        nest.verbosity = nest.VerbosityLevel.WARNING
    return nest


def _no_mpi_message(world: int, version: str) -> str:
    return (f"started under MPI with {world} ranks, but this NEST ({version}) was built without MPI: "
            f"every rank would run its own full copy of the network. Use the MPI-enabled environment: "
            f"`make mpi-env`, then `mpirun -np {world} .venv-mpi/bin/balanced run ...` (README, MPI).")


@dataclass(frozen=True)
class Layout:
    """How the virtual processes are split: ``virtual_processes = mpi_ranks * threads_per_rank``."""

    mpi_ranks: int
    threads_per_rank: int
    virtual_processes: int
    rank: int

    def as_dict(self) -> dict:
        return {"mpi_ranks": self.mpi_ranks, "threads_per_rank": self.threads_per_rank,
                "virtual_processes": self.virtual_processes}


def setup_kernel(nest, *, dt: float, seed: int, threads: int = 1, module: BuildResult | None = None) -> Layout:
    """Reset the kernel, install the model module (again: a reset unloads it), set resolution,
    virtual processes and seed.

    Results depend on the total number of virtual processes (ranks x threads) and the seed,
    not on how the virtual processes are split between ranks and threads.
    """
    if threads < 1:
        raise ValueError(f"threads = {threads}: must be >= 1")
    nest.ResetKernel()
    if hasattr(nest, "VerbosityLevel"):
        nest.verbosity = nest.VerbosityLevel.WARNING
    if module is not None:
        load_module(nest, module)
    ranks = nest.NumProcesses()
    if hasattr(nest, "VerbosityLevel"):
        nest.verbosity = nest.VerbosityLevel.ERROR  # "resolution has changed" is expected here
    nest.set(resolution=dt, total_num_virtual_procs=ranks * threads, rng_seed=seed, print_time=False)
    if hasattr(nest, "VerbosityLevel"):
        nest.verbosity = nest.VerbosityLevel.WARNING
    return Layout(mpi_ranks=ranks, threads_per_rank=threads, virtual_processes=ranks * threads, rank=nest.Rank())
