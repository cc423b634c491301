"""NEST kernel set-up in one place: import, reset, module, resolution, virtual processes, seed,
and how many threads a run gets when the user does not say.

Also the one rank-aware console: every message meant for a person goes through
:func:`say`, which prints on the first rank only, so no ``if rank == 0`` is sprinkled
through the code.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .build import BuildResult, cached_nest_facts, load_module
from .launch import Launch, check_nest_launch, detect_launch

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
    """A message for a person (progress, notes, warnings): logged at INFO by the ``balanced``
    logger, which shows it on the first rank only (:mod:`balanced.progress`)."""
    from .progress import emit

    emit(message, end=end, rank=_RANK)


# What PyNEST imports at `import nest` if it can, for features the command line never uses:
# matplotlib (spatial plotting helpers), pandas (GetStatus(output="pandas")), h5py (SONATA).
NEST_OPTIONAL_IMPORTS = ("matplotlib", "pandas", "h5py")


@contextlib.contextmanager
def _unimportable(*names: str):
    """``import name`` raises ImportError inside the block, for each of ``names`` not
    imported before."""
    blocked = [name for name in names if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment]  # the import system's marker for "cannot be imported"
    try:
        yield
    finally:
        for name in blocked:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


def import_nest(*, nest_extras: bool = True):
    """Import NEST quietly and check that it can run with the processes it was started with.

    Before the import, sets the OpenMP wait policy (:func:`apply_omp_wait_policy`) unless
    the user has chosen one. Raises :class:`NestUnavailable` when NEST is missing, and
    :class:`~balanced.launch.LaunchError` (on every task alike) when the launch would run
    copies of the network: several tasks (``mpirun``, ``srun``) with a NEST without MPI, or
    an MPI NEST whose world is not the launch (``srun`` without ``--mpi=pmix``).
    ``nest_extras=False`` (the command line): PyNEST imports matplotlib, pandas and h5py
    if it can (:data:`NEST_OPTIONAL_IMPORTS`; about 0.3 s on the 2-core VM where pynwb
    brought pandas and h5py, on the critical path of a short run) for features not used
    here, so NEST is imported without them (``nest.PlotLayer``, ``output="pandas"`` and
    SONATA then say they are missing); they stay importable afterwards. No effect on
    those already imported.
    """
    global _RANK
    os.environ.setdefault("PYNEST_QUIET", "1")  # no banner
    apply_omp_wait_policy()  # before libgomp is loaded with nest
    launch = detect_launch()
    _RANK = launch.rank  # until NEST says: so that a refusal is printed by task 0 only
    # A NEST without MPI exits the process at import under mpirun (code 127): decide first,
    # from the facts `balanced build` recorded about this NEST, or from its library.
    if launch.tasks > 1:
        facts = cached_nest_facts() or {}
        have_mpi = facts.get("have_mpi")
        if have_mpi is None:
            have_mpi = nest_links_mpi()
        if have_mpi is not None:
            check_nest_launch(launch, have_mpi=bool(have_mpi), nest_processes=None, version=facts.get("version", "?"))
    try:
        with contextlib.nullcontext() if nest_extras else _unimportable(*NEST_OPTIONAL_IMPORTS):
            import nest  # noqa: PLC0415 (imported lazily: the package must import without NEST)
    except ImportError as exc:
        raise NestUnavailable(
            f"NEST cannot be imported ({exc}). Install it with `make setup` (PyPI wheel, threads) or "
            "`make mpi-env` (MPI build); see README, Installation."
        ) from exc
    check_nest_launch(
        launch,
        have_mpi=bool(nest.build_info.get("have_mpi")),
        nest_processes=nest.NumProcesses(),
        version=nest.__version__,
    )
    _RANK = nest.Rank()
    if hasattr(nest, "VerbosityLevel"):
        nest.verbosity = nest.VerbosityLevel.WARNING
    return nest


def nest_links_mpi() -> bool | None:
    """Whether the importable NEST links an MPI library, read from its kernel module's file
    without importing it (``None`` when it cannot be found)."""
    import importlib.util

    spec = importlib.util.find_spec("nest")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        for path in sorted(os.listdir(folder)):
            if path.startswith("nestkernel_api") and ".so" in path:
                with open(os.path.join(folder, path), "rb") as f:
                    data = f.read()
                return b"libmpi.so" in data or b"libmpich.so" in data
    return None


def release_memory() -> None:
    """Reset the NEST kernel (if NEST is imported) and give the freed heap back to the system.

    For a process that goes on after a run (a sweep worker waiting for its next point): NEST
    frees a network only at the next reset, and glibc keeps freed heap memory mapped until
    ``malloc_trim``, so the process would hold the last network while others need the memory.
    """
    nest = sys.modules.get("nest")
    if nest is not None:
        nest.ResetKernel()
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim
        pass


@dataclass(frozen=True)
class Layout:
    """How the virtual processes are split: ``virtual_processes = mpi_ranks * threads_per_rank``."""

    mpi_ranks: int
    threads_per_rank: int
    virtual_processes: int
    rank: int

    def as_dict(self) -> dict:
        return {
            "mpi_ranks": self.mpi_ranks,
            "threads_per_rank": self.threads_per_rank,
            "virtual_processes": self.virtual_processes,
        }


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
MAX_THREADS_PER_CPU = 4  # --threads above this many per usable CPU is refused


@dataclass(frozen=True)
class ThreadChoice:
    """Threads per rank and why: ``source`` is ``"user"`` or a sentence naming the rule."""

    threads: int
    source: str
    usable_cpus: int  # CPUs this task may use (see :func:`task_cpus`)
    cpus_from: str  # where that count came from

    def as_dict(self) -> dict:
        return {
            "threads_per_rank": self.threads,
            "source": self.source,
            "usable_cpus": self.usable_cpus,
            "cpus_from": self.cpus_from,
        }


def task_cpus(
    affinity: int, slurm_cpus_per_task: int | None, tasks_on_node: int, slurm_cpus_on_node: int | None = None
) -> tuple[int, str]:
    """CPUs one task may use, and where that came from (pure).

    ``affinity``: CPUs in this process's affinity mask. ``slurm_cpus_per_task``:
    ``SLURM_CPUS_PER_TASK`` (``srun -c``/``sbatch -c``), which a SLURM without task binding
    does not turn into a mask, so it caps the mask. Otherwise the mask, capped by the job's
    ``SLURM_CPUS_ON_NODE``, is shared by the ``tasks_on_node`` tasks of this launch on this
    node (a launcher that binds each task to its own cores gives it a mask of those cores;
    at least one CPU each).
    """
    affinity = max(1, affinity)
    if slurm_cpus_per_task and slurm_cpus_per_task >= 1:
        return min(slurm_cpus_per_task, affinity), "SLURM_CPUS_PER_TASK"
    cpus, source = affinity, "CPU affinity"
    if slurm_cpus_on_node and 1 <= slurm_cpus_on_node < affinity:
        cpus, source = slurm_cpus_on_node, "SLURM_CPUS_ON_NODE"
    if tasks_on_node > 1:
        return max(1, cpus // tasks_on_node), f"{source} shared by {tasks_on_node} tasks on this node"
    return cpus, source


def default_threads(n_neurons: int, cpus: int) -> tuple[int, str]:
    """Threads per rank for a network of ``n_neurons`` on ``cpus`` usable CPUs (pure).

    1 below :data:`AUTO_THREADS_MIN_NEURONS` neurons: a thread barrier every 0.1 ms step
    dominates there (2 threads simulate the tutorial in 0.2 s instead of 0.5 s on an idle
    2-core machine but take 1.8 s when another process keeps a core busy,
    docs/performance.md). Otherwise every usable CPU, no fixed cap.
    """
    if n_neurons < AUTO_THREADS_MIN_NEURONS:
        return 1, f"auto: 1 below {AUTO_THREADS_MIN_NEURONS} neurons"
    return max(1, cpus), "auto: one per usable CPU"


def check_threads(threads, cpus: int) -> None:
    """Refuse ``--threads`` below 1 or above :data:`MAX_THREADS_PER_CPU` x ``cpus`` (ParamError):
    more threads than cores wait for each other at NEST's barrier every step."""
    from .params import ParamError

    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ParamError(f"--threads {threads!r}: must be an integer >= 1 (threads per MPI rank)")
    if threads > MAX_THREADS_PER_CPU * cpus:
        raise ParamError(
            f"--threads {threads}: at most {MAX_THREADS_PER_CPU} per usable CPU "
            f"({MAX_THREADS_PER_CPU * cpus} here: {cpus} CPU{'s' if cpus != 1 else ''} this task may use)"
        )


def resolve_threads(params: Params, threads: int | None, launch: Launch | None = None, environ=None) -> ThreadChoice:
    """Threads per rank: ``threads`` checked (:func:`check_threads`), or chosen when ``None``
    from the CPUs this task may use (:func:`task_cpus`) and the network (:func:`default_threads`)."""
    env = os.environ if environ is None else environ
    launch = launch or detect_launch(env)

    def slurm_int(name: str) -> int | None:
        try:
            return int(env.get(name, "").split("(")[0].split(",")[0])
        except ValueError:
            return None

    cpus, cpus_from = task_cpus(
        usable_cores(), slurm_int("SLURM_CPUS_PER_TASK"), launch.local_tasks, slurm_int("SLURM_CPUS_ON_NODE")
    )
    if threads is not None:
        check_threads(threads, cpus)
        return ThreadChoice(threads, "user", cpus, cpus_from)
    n, source = default_threads(params.N_E + params.N_I, cpus)
    return ThreadChoice(n, source, cpus, cpus_from)


def choose_threads(params: Params, ranks: int = 1) -> int:
    """Threads per rank when the caller passes ``threads=None`` (see :func:`resolve_threads`)."""
    return resolve_threads(params, None).threads


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS reports it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
