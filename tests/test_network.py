"""Network tier: connectivity read back from NEST, reproducibility, the tutorial's numbers,
NESTML vs built-in equivalence, run directories and interrupted runs."""

import json
from pathlib import Path

import numpy as np
import pytest

from balanced import choices, rundir
from balanced import params as P
from balanced.api import run_network
from balanced.derived import derive
from balanced.memory import memory_budget
from balanced.transaction import OutputError

TUTORIAL_WINDOW = (50.0, 950.0)


def run(tmp_path, name, *overrides, preset="tutorial", threads=1, **kw):
    p = P.resolve(preset, overrides=list(overrides))
    out = tmp_path / name
    manifest = run_network(p, out, threads=threads, preset=preset, progress=False, **kw)
    return manifest, rundir.load_run(out)


def per_neuron(spikes, n, window=TUTORIAL_WINDOW):
    """Rates (Hz) and ISI CVs (ddof 0, neurons with >= 3 spikes) computed directly with numpy."""
    t0, t1 = window
    sel = (spikes.time >= t0) & (spikes.time < t1)
    neuron, t = spikes.neuron[sel], spikes.time[sel]
    order = np.lexsort((t, neuron))
    neuron, t = neuron[order], t[order]
    counts = np.bincount(neuron, minlength=n)
    rates = counts / ((t1 - t0) / 1000.0)
    cvs = []
    starts = np.concatenate([[0], np.cumsum(counts)])
    for i in range(n):
        if counts[i] >= 3:
            isi = np.diff(t[starts[i] : starts[i + 1]])
            cvs.append(isi.std() / isi.mean())
    return rates, np.array(cvs)


# ----------------------------------------------------------------------------- connectivity
@pytest.fixture(scope="module")
def nest_kernel():
    from balanced.kernel import import_nest

    return import_nest()


def _build(nest, built_model, *overrides):
    from balanced.kernel import setup_kernel
    from balanced.network import build_network

    p = P.resolve(overrides=list(overrides))
    setup_kernel(nest, dt=p.dt, seed=p.seed, threads=1, module=built_model)
    d = derive(p)
    synapse = choices.synapse_model(p.synapse_model, d.n_synapses_expected, d.N, memory_budget()).value
    return p, build_network(nest, p, d, built_model.model, synapse)


@pytest.mark.parametrize("synapse_model", ["static_synapse", "static_synapse_hom_w"])
def test_fixed_indegree_read_back(nest_kernel, built_model, synapse_model):
    nest = nest_kernel
    p, net = _build(nest, built_model, f"synapse_model={synapse_model}")
    d = derive(p)
    for target_pop, t in (("E", 0), ("I", 1)):
        targets = net.E if target_pop == "E" else net.I
        for source_pop, s in (("E", 0), ("I", 1)):
            sources = net.E if source_pop == "E" else net.I
            conns = nest.GetConnections(source=sources, target=targets)
            tgt = np.asarray(conns.get("target"))
            counts = np.bincount(tgt - targets[0].global_id, minlength=len(targets))
            assert np.all(counts == d.indegree[t][s]), (target_pop, source_pop, np.unique(counts))
            np.testing.assert_allclose(conns.get("weight"), d.weight_pA[t][s], rtol=0, atol=1e-15)
            np.testing.assert_allclose(conns.get("delay"), p.delay)
            # allow_multapses = false: no repeated (source, target) pair
            pairs = np.stack([np.asarray(conns.get("source")), tgt], axis=1)
            assert len(np.unique(pairs, axis=0)) == len(pairs)


def _fixed_indegree_pairs(nest, module, rule, n_e, n_i, k, threads, autapses, multapses):
    """(source, target) of every connection drawn by ``rule``, sorted by target then source."""
    from balanced.kernel import setup_kernel

    setup_kernel(nest, dt=0.1, seed=11, threads=threads, module=module)
    E, I = nest.Create("iaf_psc_exp", n_e), nest.Create("iaf_psc_exp", n_i)
    spec = {"rule": rule, "indegree": k, "allow_autapses": autapses, "allow_multapses": multapses}
    nest.Connect(E, E + I, spec, {"weight": 1.0, "delay": 0.1})
    nest.Connect(I, E[:3] + I, {**spec, "indegree": max(1, k // 2)}, {"weight": -1.0, "delay": 0.1})
    conns = nest.GetConnections()
    src, tgt = np.asarray(conns.get("source")), np.asarray(conns.get("target"))
    order = np.lexsort((src, tgt))
    return src[order], tgt[order]


@pytest.mark.parametrize(
    "n_e, n_i, k, threads, autapses, multapses",
    [
        (300, 200, 40, 1, True, False),
        (300, 200, 40, 2, True, False),
        (300, 200, 299, 3, False, False),  # nearly every source: many redrawn duplicates
        (100, 100, 100, 2, True, False),  # every source once
        (200, 100, 30, 2, True, True),
    ],
)
def test_module_fixed_indegree_draws_nests_connections(
    nest_kernel, built_model, n_e, n_i, k, threads, autapses, multapses
):
    """The module's rule makes exactly NEST's fixed_indegree connections (same random draws),
    at any thread count, with and without autapses and multapses; runs use it."""
    from balanced.network import FAST_FIXED_INDEGREE, nest_rule

    nest = nest_kernel
    args = (n_e, n_i, k, threads, autapses, multapses)
    src_nest, tgt_nest = _fixed_indegree_pairs(nest, built_model, "fixed_indegree", *args)
    src_fast, tgt_fast = _fixed_indegree_pairs(nest, built_model, FAST_FIXED_INDEGREE, *args)
    assert len(src_nest) == (n_e + n_i) * k + (3 + n_i) * max(1, k // 2)
    np.testing.assert_array_equal(tgt_fast, tgt_nest)
    np.testing.assert_array_equal(src_fast, src_nest)
    assert nest_rule(nest, {"rule": "fixed_indegree"})["rule"] == FAST_FIXED_INDEGREE
    nest.ResetKernel()
    nest.Install(built_model.module)
    nest.set(local_num_threads=threads + 1)  # NEST initialises the module again: the rule stays, once
    assert nest.connection_rules.count(FAST_FIXED_INDEGREE) == 1


@pytest.mark.parametrize("delay", ["0.1", "1.5"])
def test_devices_do_not_lengthen_the_input_ring(nest_kernel, built_model, delay):
    """Recorder and multimeter are connected with the network's delay: NEST's max_delay is
    the network's, so each neuron's input ring has min_delay + max_delay = 2 x delay steps
    (2 slots at 0.1 ms, not 11 as with NEST's default 1 ms device delay)."""
    nest = nest_kernel
    p, net = _build(nest, built_model, f"delay={delay}", "record_n=4")
    assert net.multimeter is not None
    assert nest.GetKernelStatus(["min_delay", "max_delay"]) == pytest.approx((p.delay, p.delay))
    for device_conns in (nest.GetConnections(target=net.spike_recorder), nest.GetConnections(source=net.multimeter)):
        np.testing.assert_allclose(device_conns.get("delay"), p.delay)


def test_fixed_outdegree_read_back(nest_kernel, built_model):
    nest = nest_kernel
    p, net = _build(nest, built_model, "connectivity=fixed_outdegree")
    for sources in (net.E, net.I):
        for targets in (net.E, net.I):
            src = np.asarray(nest.GetConnections(source=sources, target=targets).get("source"))
            counts = np.bincount(src - sources[0].global_id, minlength=len(sources))
            assert np.all(counts == 50)


# ----------------------------------------------------------------------------- reproducibility
def test_same_seed_same_spikes_other_seed_differs(tmp_path):
    _, a = run(tmp_path, "a", "T=300", "record_n=0")
    _, b = run(tmp_path, "b", "T=300", "record_n=0")
    _, c = run(tmp_path, "c", "T=300", "record_n=0", "seed=7")
    assert len(a.spikes) > 1000
    assert np.array_equal(a.spikes.neuron, b.spikes.neuron) and np.array_equal(a.spikes.time, b.spikes.time)
    assert len(a.spikes) != len(c.spikes) or not np.array_equal(a.spikes.neuron, c.spikes.neuron)


def test_nestml_network_equals_builtin(tmp_path):
    _, a = run(tmp_path, "nestml", "T=500", "neuron_model=nestml")
    _, b = run(tmp_path, "builtin", "T=500", "neuron_model=iaf_psc_exp")
    assert np.array_equal(a.spikes.neuron, b.spikes.neuron)
    assert np.array_equal(a.spikes.time, b.spikes.time)
    np.testing.assert_allclose(a.state.V_m, b.state.V_m, rtol=0, atol=1e-9)


@pytest.mark.parametrize("threads", [1, 2])
def test_builtin_neuron_same_spikes_with_and_without_the_module(tmp_path, monkeypatch, built_model, threads):
    """A built-in neuron's run loads the already built module for its connection rule; with
    no module in the cache it gets NEST's rule, and the same spikes."""
    fast, a = run(tmp_path, "fast", "T=300", "record_n=0", "neuron_model=iaf_psc_exp", threads=threads)
    monkeypatch.setenv("BALANCED_CACHE", str(tmp_path / "empty-cache"))
    plain, b = run(tmp_path, "plain", "T=300", "record_n=0", "neuron_model=iaf_psc_exp", threads=threads)
    assert fast["model"]["nest_connection_rule"] == "balanced_fixed_indegree"
    assert fast["model"]["nest_model"] == "iaf_psc_exp" and fast["model"]["module"] == built_model.module
    assert plain["model"]["nest_connection_rule"] == "fixed_indegree" and plain["model"]["module"] is None
    assert not (tmp_path / "empty-cache" / built_model.key).exists()  # looked up, never built
    assert len(a.spikes) > 1000
    assert np.array_equal(a.spikes.neuron, b.spikes.neuron) and np.array_equal(a.spikes.time, b.spikes.time)


def test_threads_do_not_change_spikes_at_fixed_seed(tmp_path):
    # 2 threads = 2 virtual processes: a different (but reproducible) realisation than 1 VP.
    _, a = run(tmp_path, "t2a", "T=200", "record_n=0", threads=2)
    _, b = run(tmp_path, "t2b", "T=200", "record_n=0", threads=2)
    assert np.array_equal(a.spikes.time, b.spikes.time) and np.array_equal(a.spikes.neuron, b.spikes.neuron)


# ----------------------------------------------------------------------------- the tutorial's numbers
# Ranges measured in NEST, Brian2 and a BrainPy replica over 10 seeds.
@pytest.mark.parametrize(
    "connectivity, cv_range, sd_range",
    [
        ("fixed_indegree", (0.005, 0.015), (0.35, 0.8)),
        ("fixed_outdegree", (0.015, 0.022), (1.45, 1.95)),
        ("pairwise_bernoulli", (0.015, 0.022), (1.45, 1.95)),
    ],
)
def test_tutorial_statistics(tmp_path, connectivity, cv_range, sd_range):
    for seed in (1, 2):
        _, r = run(tmp_path, f"{connectivity}-{seed}", f"connectivity={connectivity}", f"seed={seed}")
        rates, cvs = per_neuron(r.spikes, 1000)
        for pop in (slice(0, 500), slice(500, 1000)):
            assert abs(rates[pop].mean() - 41.5) <= 1.0, rates[pop].mean()
        assert cv_range[0] <= cvs.mean() <= cv_range[1], cvs.mean()
        assert sd_range[0] <= rates[:500].std() <= sd_range[1], rates[:500].std()
        # balance of inputs (sampled neurons, mV = pA): E about +0.59, I about -0.59, net about 0
        w = (r.state.time >= 50) & (r.state.time < 950)
        exc, inh = r.state.I_syn_ex[:, w].mean(), r.state.I_syn_in[:, w].mean()
        assert 0.54 <= exc <= 0.64 and -0.64 <= inh <= -0.54 and abs(exc + inh) <= 0.05, (exc, inh)


# ----------------------------------------------------------------------------- run directory
def test_manifest_contents(tmp_path):
    manifest, r = run(tmp_path, "m", "T=100")
    m = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert m == manifest
    assert m["status"] == "complete" and m["seed"] == 12345 and m["preset"] == "tutorial"
    assert m["layout"] == {"mpi_ranks": 1, "threads_per_rank": 1, "virtual_processes": 1}
    assert set(m["versions"]) >= {"balanced", "nest", "nestml", "python"}
    assert m["populations"] == [{"name": "E", "first": 0, "size": 500}, {"name": "I", "first": 500, "size": 500}]
    assert m["counts"]["synapses"] == 100_000
    assert m["choices"]["connection_builder"]["value"] == "module"
    assert m["model"]["nest_connection_rule"] == "balanced_fixed_indegree"  # the NESTML module is loaded
    assert {"build", "kernel", "create_connect", "simulate", "merge", "total"} <= set(m["timers_s"])
    assert P.resolve(config=tmp_path / "m" / "params.toml") == P.resolve(overrides=["T=100"])
    assert not (tmp_path / "m" / "spikes").exists()  # per-rank files merged and removed
    assert r.state.V_m.shape == (40, 99)  # samples at 1, 2, ..., 99 ms (NEST records before each step)


def test_rerun_into_complete_directory_refuses(tmp_path):
    run(tmp_path, "x", "T=50", "record_n=0")
    with pytest.raises(OutputError, match="already holds a run .status 'complete'.; pass --overwrite"):
        run(tmp_path, "x", "T=50", "record_n=0")
    run(tmp_path, "x", "T=50", "record_n=0", overwrite=True)


def test_poisson_drive(tmp_path):
    """Without the constant drive the tutorial network is silent; an independent Poisson
    input per neuron (here 2 kHz of 0.5 pA jumps: mean 2 mV, enough to reach threshold
    with fluctuations) makes it fire."""
    _, silent = run(tmp_path, "silent", "Ib=0", "T=300", "record_n=0")
    _, driven = run(tmp_path, "driven", "Ib=0", "T=300", "record_n=0", "nu_ext=2000", "J_ext=0.5")
    # (initial V above threshold gives a few spikes in the first step; none after that)
    assert np.count_nonzero(silent.spikes.time > 1.0) == 0
    rates, cvs = per_neuron(driven.spikes, 1000, window=(50, 300))
    assert rates.mean() > 1.0 and cvs.mean() > 0.2  # noise-driven: irregular


def test_huge_pages_keep_the_spikes(tmp_path):
    # Same network with and without the collapse into huge pages: only where the bytes live
    # changes. "auto" leaves the tutorial (1e5 synapses) alone.
    m_on, on = run(tmp_path, "on", "T=200", "record_n=0", huge_pages="on")
    m_off, off = run(tmp_path, "off", "T=200", "record_n=0", huge_pages="off")
    m_auto, _ = run(tmp_path, "auto", "T=50", "record_n=0")
    assert m_auto["choices"]["huge_pages"]["value"] is False and "below" in m_auto["choices"]["huge_pages"]["reason"]
    assert m_auto["choices"]["synapse_model"] == {
        "value": "static_synapse",
        "source": "auto",
        "reason": m_auto["choices"]["synapse_model"]["reason"],
    }
    assert np.array_equal(on.spikes.neuron, off.spikes.neuron) and np.array_equal(on.spikes.time, off.spikes.time)
    assert m_on["huge_pages"]["setting"] == "on" and "huge_pages" in m_on["timers_s"]
    assert m_on["huge_pages"]["applied"] or m_on["huge_pages"]["reason"]
    assert m_off["huge_pages"] == {"setting": "off", "applied": False}
    assert m_auto["huge_pages"] == {"setting": "auto", "applied": False}
    with pytest.raises(ValueError, match="huge_pages = 'always': must be one of auto, on, off"):
        run(tmp_path, "bad", "T=50", huge_pages="always")


@pytest.mark.parametrize("k", [1, 100])
def test_memory_estimate_matches_a_measured_peak(tmp_path, k):
    """The estimate behind the memory refusal (choices.estimated_memory_bytes) against the
    peak a real run reaches above the process with NEST loaded: per neuron (K = 1) and
    with synapses (K = 100, 4e6 of them)."""
    import subprocess
    import sys

    out = tmp_path / "run"
    sets = ["N_E=10000", "N_I=10000", f"K={k}", "T=20", "record_n=1"]
    argv = ["--preset", "balanced", *sum((["--set", s] for s in sets), []), "--no-analysis", "--out", str(out)]
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("memory_probe.py")), *argv],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    measured = json.loads(proc.stdout.splitlines()[-1])
    manifest = json.loads((out / "manifest.json").read_text())
    estimate = choices.estimated_memory_bytes(
        manifest["counts"]["synapses"], 20000, manifest["choices"]["synapse_model"]["value"], 1
    )
    assert 0.8 <= estimate / (measured["peak"] - measured["base"]) <= 1.3, (estimate, measured)
