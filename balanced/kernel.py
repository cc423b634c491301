"""NEST kernel set-up in one place: import, reset, module, resolution, virtual processes, seed,
and how many threads a run gets when the user does not say.

Also the one rank-aware console: every message meant for a person goes through
:func:`say`, which prints on the first rank only, so no ``if rank == 0`` is sprinkled
through the code.
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .build import BuildResult, cached_nest_facts, load_module
from .launch import mpi_world_size_from_env

if TYPE_CHECKING:
    from .params import Params


class NestUnavailable(RuntimeError):
    """NEST cannot be imported, or cannot run the way it was asked to (for example MPI)."""


_RANK = 0

# OpenMP waiting at NEST's thread barriers (one every min_delay, 0.1 ms in the tutorial).
# libgomp's default spins up to 300000 iterations before sleeping: fastest on an idle
# machine, but a thread that spins while its partner is descheduled (another process keeps
# a core busy) makes a 2-thread simulation 10-30x slower. OMP_WAIT_POLICY=passive avoids
# that collapse but costs up to 8x on an idle machine at small N. A bounded spin
# (GOMP_SPINCOUNT) keeps most of the idle speed and does not collapse under load; see
# docs/performance.md for the measurements. Applied only when the user has set neither
# variable, and only before NEST (libgomp) is loaded: libgomp reads them once, at load.
OMP_ENV_KEYS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
DEFAULT_GOMP_SPINCOUNT = "10000"
_OMP_POLICY: dict = {}


def apply_omp_wait_policy() -> dict:
    """Set ``GOMP_SPINCOUNT`` to :data:`DEFAULT_GOMP_SPINCOUNT` unless the user chose a policy.

    Returns (and remembers, for the run manifest) what applies: the two variables and
    ``source``: ``"user"`` (either was set), ``"balanced"`` (our default) or
    ``"unchanged: nest already imported"`` (too late to take effect).
    """
    if _OMP_POLICY:
        return dict(_OMP_POLICY)
    if any(k in os.environ for k in OMP_ENV_KEYS):
        source = "user"
    elif "nest" in sys.modules:
        source = "unchanged: nest already imported"
    else:
        os.environ["GOMP_SPINCOUNT"] = DEFAULT_GOMP_SPINCOUNT
        source = "balanced"
    _OMP_POLICY.update({k: os.environ.get(k) for k in OMP_ENV_KEYS}, source=source)
    return dict(_OMP_POLICY)


def omp_policy() -> dict:
    """The OpenMP wait policy in force (see :func:`apply_omp_wait_policy`), for the manifest."""
    return dict(_OMP_POLICY) or {**{k: os.environ.get(k) for k in OMP_ENV_KEYS}, "source": "unknown"}


def say(message: str, *, end: str = "\n", flush: bool = True) -> None:
    """Print to stderr on the first MPI rank only (progress, notes, warnings)."""
    if _RANK == 0:
        print(message, end=end, file=sys.stderr, flush=flush)


@contextlib.contextmanager
def _unimportable(name: str):
    """``import name`` raises ImportError inside the block, unless it was imported before."""
    if name in sys.modules:
        yield
        return
    sys.modules[name] = None  # the import system's marker for "cannot be imported"
    try:
        yield
    finally:
        if name in sys.modules and sys.modules[name] is None:
            del sys.modules[name]


def import_nest(*, nest_plotting: bool = True):
    """Import NEST quietly and check that it can run with the processes it was started with.

    Before the import, sets the OpenMP wait policy (:func:`apply_omp_wait_policy`) unless
    the user has chosen one. Raises :class:`NestUnavailable` when NEST is missing, or when the process was started by
    ``mpirun`` with several ranks but NEST has no MPI (each rank would run a full copy).
    ``nest_plotting=False`` (the command line): PyNEST imports matplotlib for its spatial
    plotting helpers if it can (0.25 s on the 2-core VM, on the critical path of a short
    run); not needed here, so NEST is imported without them (``nest.PlotLayer`` and
    friends then say matplotlib is missing). No effect if matplotlib is already imported.
    """
    global _RANK
    os.environ.setdefault("PYNEST_QUIET", "1")  # no banner
    apply_omp_wait_policy()  # before libgomp is loaded with nest
    world = mpi_world_size_from_env()
    # A NEST without MPI exits the process at import under mpirun (code 127): decide first,
    # from the facts `balanced build` recorded about this NEST.
    facts = cached_nest_facts() if world > 1 else None
    if facts is not None and not facts.get("have_mpi"):
        raise NestUnavailable(_no_mpi_message(world, facts.get("version", "?")))
    try:
        with contextlib.nullcontext() if nest_plotting else _unimportable("matplotlib"):
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


AUTO_THREADS_MIN_NEURONS = 5000  # below this, 2 threads save < 0.3 s and lose under load


def choose_threads(params: Params, ranks: int = 1) -> int:
    """Threads per rank when the caller passes ``threads=None``: decided by the network, not
    by the machine's load, so that the same command gives the same virtual-process count
    (and so the same spikes) every time.

    * 1 under MPI (ranks > 1): the ranks already use the cores;
    * 1 for networks below :data:`AUTO_THREADS_MIN_NEURONS` neurons (the tutorial): a
      thread barrier every 0.1 ms step dominates there; 2 threads simulate the tutorial
      in 0.2 s instead of 0.5 s on an idle 2-core machine but take 1.8 s when another
      process keeps a core busy (docs/performance.md);
    * otherwise 2 (2.2-2.7x faster simulation and 2x faster connection at N = 1e4 on an
      idle machine; under load about as fast as 1 thread, 9.3 vs 8.6 s), or 1 on a
      single-core machine.
    Pass ``threads`` explicitly for more.
    """
    if ranks > 1 or params.N_E + params.N_I < AUTO_THREADS_MIN_NEURONS:
        return 1
    return max(1, min(2, usable_cores()))


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS reports it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
