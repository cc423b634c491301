"""Every automatic choice a run makes from the machine, decided once, with its reason, and
the refusal of a network that cannot fit in the memory the run may use
(:mod:`balanced.memory`: the machine's, its control group's or its SLURM allocation's).

Each decision is a pure function of its inputs (unit-tested); :func:`decide` gathers the
machine's facts, and the run records the result in its manifest (``choices``) and passes
the values down: the network builder gets a synapse model, it never reads the machine.
The figures behind the rules are in docs/performance.md. Imports no NEST.

The other machine-dependent settings act where they must and are recorded beside these:
threads per rank (:func:`balanced.kernel.resolve_threads`, manifest ``threads``) and the
OpenMP wait policy (:func:`balanced.kernel.apply_omp_wait_policy`, ``omp``) belong to the
kernel set-up, which must apply them before NEST loads; one BLAS thread is set by the
command line before NumPy loads (:func:`balanced.blas.single_thread_blas`, ``blas_threads``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .hugepages import HUGE_PAGE_SETTINGS
from .memory import MemoryBudget, memory_budget
from .params import ParamError

FAST_SYNAPSE = "static_synapse"  # fastest delivery, ~48 bytes per synapse
SMALL_SYNAPSE = "static_synapse_hom_w_hpc"  # smallest NEST connection, ~24 bytes per synapse
FAST_BYTES_PER_SYNAPSE = 48.0
# the fast synapse while its estimated peak is at most half of the memory runs may use:
# the estimate is an average, and the rest is for the system, the page cache and the analysis
FAST_SYNAPSE_MEMORY_FRACTION = 0.5

# Huge pages: the collapse costs about COLLAPSE_S_PER_GB of one core per GB of heap and
# saves about HUGE_PAGE_SAVING of the simulation from HUGE_PAGE_MIN_SYNAPSES synapses per
# rank on (none measurable below). The simulation takes SIMULATE_S_PER_SYNAPSE_MS
# core-seconds per synapse and ms of model time at REFERENCE_SYNAPSES (N = 2e4, K = 1000),
# growing as (synapses / REFERENCE_SYNAPSES) ** SIMULATE_SIZE_EXPONENT (7.4x per synapse at
# N = 1e5, same day): spike delivery misses the caches more in a larger network.
COLLAPSE_S_PER_GB = 2.8
HUGE_PAGE_SAVING = 0.15
HUGE_PAGE_MIN_SYNAPSES = 30_000_000
SIMULATE_S_PER_SYNAPSE_MS = 6.4e-10
REFERENCE_SYNAPSES = 4e7
SIMULATE_SIZE_EXPONENT = 1.24
# Peak memory per synapse and per neuron with NEST 3.10 (connections, source and target
# tables, recording included; docs/performance.md, "Memory per synapse"): a neuron's node
# and tables (2.8 KiB), its connection to the spike recorder (8 KiB) and its share of the
# first Prepare (2.3 KiB).
BYTES_PER_SYNAPSE = {FAST_SYNAPSE: 48.0, "static_synapse_hom_w": 40.0, SMALL_SYNAPSE: 24.0}
BYTES_PER_NEURON = 13.0 * 1024


@dataclass(frozen=True)
class Choice:
    """A decided value, who decided it (``"user"`` or ``"auto"``) and why, in one sentence."""

    value: Any
    source: str
    reason: str


def synapse_model(
    setting: str, n_synapses: float, n_neurons: int, budget: MemoryBudget, ranks: int = 1, tasks_on_node: int = 1
) -> Choice:
    """The NEST synapse model behind ``synapse_model = setting``.

    ``auto``: ``static_synapse`` (weight and target pointer in every connection; delivery
    1.3-1.65x faster than the homogeneous-weight variants at N = 2e4, 1.6x at 1e5) while
    the run's estimated peak with it on this node (:func:`estimated_memory_bytes` times
    the ranks on the node) is at most :data:`FAST_SYNAPSE_MEMORY_FRACTION` of what the
    node's runs may use (``budget``: the machine, its control group or the SLURM
    allocation), else ``static_synapse_hom_w_hpc`` (one weight per projection, ~24 bytes).
    Same spikes.
    """
    if setting != "auto":
        return Choice(setting, "user", "synapse_model set in the parameters")
    on_node = max(1, min(tasks_on_node, ranks))
    need = estimated_memory_bytes(n_synapses, n_neurons, FAST_SYNAPSE, ranks) * on_node
    of_budget = f"{FAST_SYNAPSE_MEMORY_FRACTION:g} of {budget.limit / 1e9:.3g} GB ({budget.source})"
    peak = f"{need / 1e9:.3g} GB estimated peak with {FAST_SYNAPSE} (48 B/synapse)"
    if need <= FAST_SYNAPSE_MEMORY_FRACTION * budget.limit:
        return Choice(FAST_SYNAPSE, "auto", f"{peak} is within {of_budget}")
    return Choice(SMALL_SYNAPSE, "auto", f"{peak} would exceed {of_budget}")


def connection_builder(n_synapses_per_rank: float) -> Choice:
    """Who draws ``fixed_indegree`` connections: ``"module"``, the package's module rule
    (:data:`balanced.network.FAST_FIXED_INDEGREE`, where the module is loaded: always for
    the NESTML neuron, for a built-in one where the module is already built; NEST's own
    elsewhere). The same connections as NEST's, in about half the time, and the simulation
    after it as fast from 2e7 to 2e8 synapses (docs/performance.md, "The module's
    fixed_indegree")."""
    return Choice(
        "module",
        "auto",
        f"{n_synapses_per_rank:.3g} synapses per rank: the module's fixed_indegree draws the same "
        "connections in about half of NEST's time, and the simulation after it is as fast",
    )


def expected_simulate_core_s(n_synapses: float, T_ms: float) -> float:
    """Core-seconds NEST needs to simulate ``n_synapses`` for ``T_ms`` (an estimate)."""
    scale = max(1.0, n_synapses / REFERENCE_SYNAPSES) ** SIMULATE_SIZE_EXPONENT
    return SIMULATE_S_PER_SYNAPSE_MS * scale * n_synapses * T_ms


def huge_pages(
    setting: str,
    n_synapses_per_rank: float,
    T_ms: float,
    threads: int,
    collapse_works: bool,
    synapse_model: str = FAST_SYNAPSE,
) -> Choice:
    """Whether to move the network's memory into huge pages before simulating.

    ``auto``: only where the expected saving (:data:`HUGE_PAGE_SAVING` of a simulation
    of ``n_synapses_per_rank`` synapses for ``T_ms`` on ``threads`` threads) exceeds the
    collapse's cost (one core, :data:`COLLAPSE_S_PER_GB` per GB of connections of
    ``synapse_model``). At N = 2e4 and 2 threads it pays from about 2.8 s of model time;
    at N = 1e5 from about 0.3 s.
    """
    if setting not in HUGE_PAGE_SETTINGS:
        raise ParamError(f"huge_pages = {setting!r}: must be one of {', '.join(HUGE_PAGE_SETTINGS)}")
    if setting != "auto":
        return Choice(setting == "on", "user", f"--huge-pages {setting}")
    if not collapse_works:
        return Choice(False, "auto", "this system cannot collapse memory into huge pages")
    if n_synapses_per_rank < HUGE_PAGE_MIN_SYNAPSES:
        return Choice(
            False,
            "auto",
            f"{n_synapses_per_rank:.3g} synapses per rank: below "
            f"{HUGE_PAGE_MIN_SYNAPSES:.0e}, huge pages save nothing measurable",
        )
    saving = HUGE_PAGE_SAVING * expected_simulate_core_s(n_synapses_per_rank, T_ms) / max(1, threads)
    cost = COLLAPSE_S_PER_GB * n_synapses_per_rank * BYTES_PER_SYNAPSE.get(synapse_model, FAST_BYTES_PER_SYNAPSE) / 1e9
    verdict = "saves" if saving > cost else "would cost more than it saves"
    return Choice(saving > cost, "auto", f"expected saving {saving:.3g} s against {cost:.3g} s of collapse: {verdict}")


@dataclass(frozen=True)
class RunChoices:
    """What :func:`decide` chose for one run."""

    synapse_model: Choice
    huge_pages: Choice
    connection_builder: Choice

    def as_dict(self) -> dict[str, dict[str, Any]]:
        return {name: asdict(choice) for name, choice in self.__dict__.items()}


def decide(
    synapse_setting: str,
    huge_page_setting: str,
    n_synapses: float,
    ranks: int,
    threads: int,
    T_ms: float,
    n_neurons: int = 0,
    tasks_on_node: int = 1,
    budget: MemoryBudget | None = None,
) -> RunChoices:
    """The run's machine-dependent choices, from the machine's facts (same on every rank
    of nodes alike); ``budget``: :func:`balanced.memory.memory_budget` when not given."""
    from . import hugepages

    budget = budget or memory_budget()
    synapse = synapse_model(synapse_setting, n_synapses, n_neurons, budget, ranks, tasks_on_node)
    return RunChoices(
        synapse_model=synapse,
        huge_pages=huge_pages(
            huge_page_setting,
            n_synapses / max(1, ranks),
            T_ms,
            threads,
            bool(hugepages.support().get("collapse")),
            synapse.value,
        ),
        connection_builder=connection_builder(n_synapses / max(1, ranks)),
    )


def estimated_memory_bytes(n_synapses: float, n_neurons: int, synapse_model: str, ranks: int) -> float:
    """Peak memory of one rank for a network of this size (bytes, an estimate)."""
    per_synapse = BYTES_PER_SYNAPSE.get(synapse_model, max(BYTES_PER_SYNAPSE.values()))
    return (n_synapses * per_synapse + n_neurons * BYTES_PER_NEURON) / max(1, ranks)


def check_memory(
    n_synapses: float,
    n_neurons: int,
    synapse_model: str,
    ranks: int,
    tasks_on_node: int = 1,
    budget: MemoryBudget | None = None,
) -> None:
    """Refuse (:class:`balanced.params.ParamError`) a network whose estimated memory on this
    node (per rank, times the ranks on the node) exceeds what the node's runs may still
    allocate (``budget.available``: the machine's free memory, its control group's or the
    SLURM allocation's), before NEST allocates any of it."""
    budget = budget or memory_budget()
    on_node = max(1, min(tasks_on_node, ranks))
    per_rank = estimated_memory_bytes(n_synapses, n_neurons, synapse_model, ranks)
    need = per_rank * on_node
    if need > budget.available:
        smaller = "" if synapse_model == SMALL_SYNAPSE else f"set synapse_model = '{SMALL_SYNAPSE}', "
        where = f"{on_node} ranks on this node, " if on_node > 1 else ""
        raise ParamError(
            f"network size N_E + N_I = {n_neurons}: needs about {need / 2**30:.3g} GiB "
            f"({where}{n_synapses:.3g} synapses of {synapse_model}, {ranks} rank{'s' if ranks > 1 else ''}) "
            f"but {budget.available / 2**30:.3g} GiB are available ({budget.source}); "
            f"reduce N_E, N_I or K, {smaller}or run on more MPI ranks"
        )
