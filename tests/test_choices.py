"""Every automatic choice is a pure function of its inputs (balanced.choices)."""

import pytest

from balanced import choices as C
from balanced.memory import MemoryBudget
from balanced.params import ParamError

GB = 1e9


def test_synapse_model_fast_while_half_the_budget_holds_it():
    machine = MemoryBudget(24 * GB, 20 * GB, "the machine")
    small = C.synapse_model("auto", 2e7, 10_000, machine)  # N = 1e4, K = 1000: 1.1 GB
    assert small.value == "static_synapse" and "within 0.5 of 24 GB (the machine)" in small.reason
    n1e5 = C.synapse_model("auto", 2e8, 100_000, machine)  # 9.6 + 1.3 GB: 1.6x faster delivery
    assert n1e5.value == "static_synapse"
    assert C.synapse_model("auto", 2.4e8, 120_000, machine).value == "static_synapse_hom_w_hpc"
    job = MemoryBudget(8 * GB, 8 * GB, "SLURM_MEM_PER_NODE=7629")
    in_job = C.synapse_model("auto", 2e8, 100_000, job)
    assert (
        in_job.value == "static_synapse_hom_w_hpc" and "would exceed 0.5 of 8 GB (SLURM_MEM_PER_NODE" in in_job.reason
    )
    # four ranks on one node hold the whole network between them; on four nodes a quarter each
    assert C.synapse_model("auto", 2e8, 100_000, job, ranks=4, tasks_on_node=4).value == "static_synapse_hom_w_hpc"
    assert C.synapse_model("auto", 2e8, 100_000, job, ranks=4, tasks_on_node=1).value == "static_synapse"
    assert C.synapse_model("static_synapse", 1e12, 1, job).source == "user"


def test_check_memory_names_the_binding_limit():
    job = MemoryBudget(2 * GB, 1.5 * GB, "the control group /slurm/job_7")
    C.check_memory(2e7, 10_000, "static_synapse_hom_w_hpc", 1, budget=job)  # 0.6 GB
    with pytest.raises(ParamError, match=r"are available \(the control group /slurm/job_7\)"):
        C.check_memory(4e7, 20_000, "static_synapse", 1, budget=job)  # 2.2 GB
    with pytest.raises(ParamError, match="2 ranks on this node"):
        C.check_memory(6e7, 20_000, "static_synapse_hom_w_hpc", 2, tasks_on_node=2, budget=job)  # 1.7 GB
    C.check_memory(6e7, 20_000, "static_synapse_hom_w_hpc", 2, tasks_on_node=1, budget=job)  # 0.86 GB here


def test_huge_pages_only_where_the_saving_beats_the_collapse():
    n = 4e7  # N = 2e4, K = 1000
    assert not C.huge_pages("auto", n, 1000.0, 2, True).value  # 1 s: costs more than it saves
    assert C.huge_pages("auto", n, 10000.0, 2, True).value  # 10 s: saves
    assert not C.huge_pages("auto", n, 10000.0, 16, True).value  # 16 threads: the saving shrinks
    assert not C.huge_pages("auto", 2e7, 1e6, 1, True).value  # below the size where it helps
    assert not C.huge_pages("auto", n, 1e6, 2, False).value  # the system cannot collapse
    assert C.huge_pages("on", 1.0, 1.0, 1, False) == C.Choice(True, "user", "--huge-pages on")
    assert C.huge_pages("off", 1e12, 1e9, 1, True).value is False
    with pytest.raises(ParamError, match="huge_pages = 'yes': must be one of auto, on, off"):
        C.huge_pages("yes", 1, 1, 1, True)


def test_break_even_model_time_shrinks_with_size():
    def first_paying_ms(n, synapse):
        return next(t for t in range(100, 20000, 100) if C.huge_pages("auto", n, float(t), 2, True, synapse).value)

    assert 2500 <= first_paying_ms(4e7, "static_synapse") <= 3100  # N = 2e4, K = 1000
    assert first_paying_ms(2e8, "static_synapse_hom_w_hpc") <= 500  # N = 1e5: a 1 s run collapses
    assert C.huge_pages("auto", 2e8, 1000.0, 2, True, "static_synapse_hom_w_hpc").value


def test_decide_records_every_choice():
    made = C.decide("auto", "auto", 1e5, 1, 1, 1000.0).as_dict()
    assert set(made) == {"synapse_model", "huge_pages", "connection_builder"}
    assert all(set(c) == {"value", "source", "reason"} for c in made.values())


def test_chunk_schedule_depends_on_the_network_not_the_clock():
    from balanced.run import Chunks, chunk_steps

    assert chunk_steps(1e5, 1, 0.1) == 1000  # the tutorial: 100 ms chunks
    assert 30 <= chunk_steps(2e8, 2, 0.1) <= 100  # N = 1e5, K = 1000: a few ms
    assert chunk_steps(1e12, 1, 0.1) == 1  # never below one step
    chunks = Chunks(250.0, 0.1, [55.0, 300.0], steps=1000)
    edges = []
    while not chunks.finished:
        edges.append(chunks.next_edge())
        chunks.advance(edges[-1])
    assert edges == [55.0, 155.0, 250.0]  # hook times are edges; times after T are ignored
    resumed = Chunks(200.0, 0.1, [], steps=1000, start=150.0)
    assert resumed.next_edge() == 200.0


def test_module_fixed_indegree_at_every_size():
    # measured as fast to simulate after it from 2e7 (N = 1e4) to 2e8 synapses (N = 1e5)
    for n_synapses in (1e5, 4e7, 2e8):
        choice = C.connection_builder(n_synapses)
        assert choice.value == "module" and choice.source == "auto" and "half" in choice.reason
    assert C.decide("auto", "auto", 2e8, 8, 1, 1000.0).connection_builder.value == "module"
