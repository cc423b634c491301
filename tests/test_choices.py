"""Every automatic choice is a pure function of its inputs (balanced.choices)."""

import pytest

from balanced import choices as C
from balanced.params import ParamError

GB = 1e9


def test_synapse_model_fast_while_it_fits():
    small = C.synapse_model("auto", 2e7, 24 * GB)  # N = 1e4, K = 1000: 0.96 GB
    assert small.value == "static_synapse" and small.source == "auto" and "under 0.25" in small.reason
    big = C.synapse_model("auto", 2e8, 24 * GB)  # 9.6 GB > 6 GB
    assert big.value == "static_synapse_hom_w_hpc" and "exceed" in big.reason
    assert C.synapse_model("static_synapse_hom_w", 1e12, 1.0) == C.Choice(
        "static_synapse_hom_w", "user", "synapse_model set in the parameters"
    )


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
