"""The NESTML neuron ``lif_psc_exp_nestml`` against NEST's ``iaf_psc_exp`` and theory.

Every comparison runs both models side by side in one NEST kernel with the same
parameters and inputs and demands V_m equal to 1e-9 mV at every step and identical
spike times. Every test runs twice: for the module generated from the package's
templates (the fast spike input) and for the one from NESTML's own templates.
"""

from __future__ import annotations

import math

import nest
import numpy as np
import pytest

from balanced.build import load_module

H = 0.1  # ms, simulation resolution
TOL_MV = 1e-9

BASE = dict(
    C_m=250.0,
    tau_m=10.0,
    tau_syn_ex=2.0,
    tau_syn_in=5.0,
    t_ref=2.0,
    E_L=-70.0,
    V_reset=-70.0,
    V_th=-55.0,
    I_e=0.0,
    V_m=-70.0,
)
TUTORIAL = dict(
    C_m=10.0,
    tau_m=10.0,
    tau_syn_ex=2.0,
    tau_syn_in=2.0,
    t_ref=0.0,
    E_L=-52.0,
    V_reset=-60.0,
    V_th=-50.0,
    I_e=3.0,
    V_m=-60.0,
)


@pytest.fixture(params=["balanced", "stock"])
def kernel(request):
    """A reset kernel at 0.1 ms with the module of one template variant installed;
    returns the NEST model name."""
    module = request.getfixturevalue("built_model" if request.param == "balanced" else "built_model_stock")
    nest.verbosity = nest.VerbosityLevel.WARNING
    nest.ResetKernel()
    nest.resolution = H
    nest.rng_seed = 12345
    load_module(nest, module)
    return module.model


def _record(nodes, fields=("V_m", "I_syn_ex", "I_syn_in"), delay=1.0):
    """Multimeter and spike recorder; ``delay`` (ms) of their connections counts in max_delay."""
    mm = nest.Create("multimeter", params={"record_from": list(fields), "interval": H})
    nest.Connect(mm, nodes, syn_spec={"delay": delay})
    sr = nest.Create("spike_recorder")
    nest.Connect(nodes, sr, syn_spec={"delay": delay})
    return mm, sr


def _traces(mm, sr, node):
    ev, sev = mm.events, sr.events
    m = ev["senders"] == node.global_id
    order = np.argsort(ev["times"][m], kind="stable")
    out = {k: np.asarray(ev[k])[m][order] for k in ev if k not in ("senders",)}
    out["spikes"] = np.sort(np.asarray(sev["times"])[sev["senders"] == node.global_id])
    return out


def _assert_same(a, b, min_spikes=1):
    assert np.array_equal(a["times"], b["times"])
    dv = np.max(np.abs(a["V_m"] - b["V_m"]))
    assert dv < TOL_MV, f"max |dV_m| = {dv:g} mV"
    for k in ("I_syn_ex", "I_syn_in"):
        if k in a:
            assert np.max(np.abs(a[k] - b[k])) < 1e-9, k
    assert len(a["spikes"]) >= min_spikes, "the comparison needs spikes to mean anything"
    np.testing.assert_array_equal(a["spikes"], b["spikes"])


def _pair(model, params):
    ref = nest.Create("iaf_psc_exp", params=params)
    new = nest.Create(model, params=params)
    return ref, new


# ------------------------------------------------------------ vs iaf_psc_exp


def test_defaults_equal_iaf_psc_exp(kernel):
    ref, new = nest.Create("iaf_psc_exp"), nest.Create(kernel)
    for name in ("C_m", "tau_m", "tau_syn_ex", "tau_syn_in", "t_ref", "E_L", "V_reset", "V_th", "I_e", "V_m"):
        assert new.get(name) == ref.get(name), name
    for n in (ref, new):  # changing E_L alone leaves V_m where it is, in both models
        n.E_L = -52.0
    assert new.V_m == ref.V_m == -70.0
    rec = set(new.get("recordables"))
    assert {"V_m", "I_syn_ex", "I_syn_in"} <= rec


@pytest.mark.parametrize("t_ref", [0.0, 2.0])
def test_dc_drive_matches_builtin(kernel, t_ref):
    ref, new = _pair(kernel, {**BASE, "I_e": 400.0, "t_ref": t_ref})
    mm, sr = _record(ref + new)
    nest.Simulate(200.0)
    a, b = _traces(mm, sr, ref), _traces(mm, sr, new)
    _assert_same(a, b, min_spikes=5)


@pytest.mark.parametrize("t_ref", [0.0, 0.5, 1.0, 2.0])
def test_poisson_input_matches_builtin(kernel, t_ref):
    """Random excitatory and inhibitory spikes (seeded), tau_syn_ex != tau_syn_in."""
    ref, new = _pair(kernel, {**BASE, "t_ref": t_ref, "I_e": 300.0})
    # parrots make both neurons see the very same Poisson trains
    pe, pi = (
        nest.Create("poisson_generator", params={"rate": 8000.0}),
        nest.Create("poisson_generator", params={"rate": 2000.0}),
    )
    parrots = nest.Create("parrot_neuron", 2)
    nest.Connect(pe, parrots[0])
    nest.Connect(pi, parrots[1])
    for n in (ref, new):
        nest.Connect(parrots[0], n, syn_spec={"weight": 40.0, "delay": 1.0})
        nest.Connect(parrots[1], n, syn_spec={"weight": -50.0, "delay": 1.5})
    mm, sr = _record(ref + new)
    nest.Simulate(500.0)
    a, b = _traces(mm, sr, ref), _traces(mm, sr, new)
    assert a["I_syn_in"].min() < 0 < a["I_syn_ex"].max()  # inhibitory current is negative
    _assert_same(a, b, min_spikes=10)
    # refractory clamp: no two spikes closer than t_ref + one step
    if len(b["spikes"]) > 1:
        assert np.min(np.diff(b["spikes"])) >= t_ref + H - 1e-9


def test_current_input_port_matches_builtin(kernel):
    """A dc_generator (CurrentEvent, receptor 0) acts in the same step in both models."""
    ref, new = _pair(kernel, {**BASE, "I_e": 100.0})
    dc = nest.Create("dc_generator", params={"amplitude": 300.0, "start": 20.0, "stop": 120.0})
    nest.Connect(dc, ref)
    nest.Connect(dc, new)
    mm, sr = _record(ref + new)
    nest.Simulate(200.0)
    _assert_same(_traces(mm, sr, ref), _traces(mm, sr, new), min_spikes=3)


@pytest.mark.parametrize("generator_delay", [H, 1.0])
def test_tutorial_parameters_match_builtin(kernel, generator_delay):
    """The tutorial neuron with its tiny network-sized inputs (weights +-0.1414 pA).

    With every delay one step the input ring has min_delay + max_delay = 2 slots; with a
    1 ms delay anywhere it has 11 (the input slots of balanced.build's templates).
    Both must give iaf_psc_exp's traces.
    """
    ref, new = _pair(kernel, TUTORIAL)
    pe, pi = (
        nest.Create("poisson_generator", params={"rate": 2000.0}),
        nest.Create("poisson_generator", params={"rate": 2000.0}),
    )
    parrots = nest.Create("parrot_neuron", 2)
    nest.Connect(pe, parrots[0], syn_spec={"delay": generator_delay})
    nest.Connect(pi, parrots[1], syn_spec={"delay": generator_delay})
    for n in (ref, new):
        nest.Connect(parrots[0], n, syn_spec={"weight": 1 / math.sqrt(50), "delay": H})
        nest.Connect(parrots[1], n, syn_spec={"weight": -1 / math.sqrt(50), "delay": H})
    mm, sr = _record(ref + new, delay=generator_delay)
    assert nest.GetKernelStatus("max_delay") == pytest.approx(generator_delay)
    nest.Simulate(500.0)
    _assert_same(_traces(mm, sr, ref), _traces(mm, sr, new), min_spikes=15)


def test_recurrent_network_matches_builtin(kernel):
    """Two copies of one recurrent E/I network with mixed delays (input rings of 2 to 16
    slots in use), one of each model: the same spike trains, neuron by neuron."""
    n, n_e, k_e, k_i = 200, 160, 20, 5
    rng = np.random.default_rng(7)
    pre = np.concatenate([rng.integers(0, n_e, (n, k_e)), rng.integers(n_e, n, (n, k_i))], axis=1).ravel()
    post = np.repeat(np.arange(n), k_e + k_i)
    weight = np.where(pre < n_e, 2.0, -8.0)  # pA
    delay = rng.choice([H, 0.5, 1.5], size=pre.size)
    drive = nest.Create("poisson_generator", params={"rate": 3000.0})
    parrots = nest.Create("parrot_neuron", n)  # the same external spikes for both copies
    nest.Connect(drive, parrots)
    recorders = []
    for model in ("iaf_psc_exp", kernel):
        pop = nest.Create(model, n, params={**TUTORIAL, "I_e": 1.5})  # below rheobase (2 pA)
        ids = np.asarray(pop.tolist())
        nest.Connect(ids[pre], ids[post], "one_to_one", syn_spec={"weight": weight, "delay": delay})
        nest.Connect(parrots, pop, "one_to_one", syn_spec={"weight": 1.0, "delay": 1.0})
        sr = nest.Create("spike_recorder")
        nest.Connect(pop, sr)
        recorders.append((ids[0], sr))
    nest.Simulate(500.0)
    trains = []
    for first, sr in recorders:
        ev = sr.events
        order = np.lexsort((ev["times"], ev["senders"]))
        trains.append((np.asarray(ev["senders"])[order] - first, np.asarray(ev["times"])[order]))
    (s_ref, t_ref), (s_new, t_new) = trains
    assert len(t_ref) > 10 * n, "the comparison needs a network that fires"
    assert len(np.unique(s_ref)) > n // 2
    np.testing.assert_array_equal(s_new, s_ref)
    np.testing.assert_array_equal(t_new, t_ref)


# ------------------------------------------------------------------ theory


def _spikes_of(model, params, t_sim):
    n = nest.Create(model, params=params)
    sr = nest.Create("spike_recorder")
    nest.Connect(n, sr)
    nest.Simulate(t_sim)
    return np.sort(np.asarray(sr.events["times"]))


def test_tutorial_neuron_fires_every_24_ms(kernel):
    spikes = _spikes_of(kernel, TUTORIAL, 1000.0)
    assert len(spikes) == 41
    np.testing.assert_allclose(spikes, 24.0 * np.arange(1, 42), rtol=0, atol=1e-9)


@pytest.mark.parametrize("i_e", [2.5, 3.0, 4.0, 6.0])
def test_rate_follows_lif_f_i_curve(kernel, i_e):
    isi_theory = TUTORIAL["tau_m"] * math.log((i_e + 8.0) / (i_e - 2.0))  # ms, from V_reset
    spikes = _spikes_of(kernel, {**TUTORIAL, "I_e": i_e}, 2000.0)
    isi = np.diff(spikes)
    assert len(isi) >= 10
    assert np.ptp(isi) < 1e-9, "an uncoupled neuron with t_ref = 0 fires periodically"
    # on the grid the crossing is detected at the end of the step in which it happens
    assert 0.0 <= isi[0] - isi_theory < H
    assert isi[0] == pytest.approx(math.ceil(isi_theory / H - 1e-9) * H, abs=1e-9)
    rate = 1000.0 / isi[0]
    assert abs(rate - 1000.0 / isi_theory) <= 1000.0 / isi_theory - 1000.0 / (isi_theory + H)


@pytest.mark.parametrize("i_e", [0.0, 1.0, 2.0])
def test_silent_at_or_below_rheobase(kernel, i_e):
    # I_e = 2 pA puts the fixed point exactly on V_th: approached, never crossed. 250 ms
    # keeps the remaining gap (10 mV e^(-25)) far above the floating-point resolution.
    params = {**TUTORIAL, "I_e": i_e}
    ref, new = _pair(kernel, params)
    mm, sr = _record(ref + new, ("V_m",))
    nest.Simulate(250.0)
    a, b = _traces(mm, sr, ref), _traces(mm, sr, new)
    assert len(a["spikes"]) == len(b["spikes"]) == 0
    assert np.max(b["V_m"]) < params["V_th"]
    assert np.max(np.abs(a["V_m"] - b["V_m"])) < TOL_MV


@pytest.mark.parametrize("weight,tau_key", [(100.0, "tau_syn_ex"), (-100.0, "tau_syn_in")])
def test_single_psp_is_difference_of_exponentials(kernel, weight, tau_key):
    params = {**BASE, "tau_syn_ex": 2.0, "tau_syn_in": 5.0}
    tau_s, tau_m, c_m = params[tau_key], params["tau_m"], params["C_m"]
    n = nest.Create(kernel, params=params)
    sg = nest.Create("spike_generator", params={"spike_times": [10.0]})
    delay = 1.0
    nest.Connect(sg, n, syn_spec={"weight": weight, "delay": delay})
    mm = nest.Create("multimeter", params={"record_from": ["V_m", "I_syn_ex", "I_syn_in"], "interval": H})
    nest.Connect(mm, n)
    nest.Simulate(80.0)
    ev = mm.events
    t, v = np.asarray(ev["times"]), np.asarray(ev["V_m"])
    # the spike sent at 10.0 ms reaches the current at the end of the step ending at
    # 10.0 + delay; V_m feels it from the next step on
    t0 = 10.0 + delay
    s = t - t0
    expected = (
        np.where(
            s >= 0,
            weight / c_m * tau_m * tau_s / (tau_m - tau_s) * (np.exp(-s / tau_m) - np.exp(-s / tau_s)),
            0.0,
        )
        + params["E_L"]
    )
    np.testing.assert_allclose(v, expected, rtol=0, atol=TOL_MV)
    cur = np.asarray(ev["I_syn_ex" if weight > 0 else "I_syn_in"])
    np.testing.assert_allclose(
        cur, np.where(s >= 0, weight * np.exp(-np.clip(s, 0, None) / tau_s), 0.0), rtol=0, atol=1e-9
    )
    assert np.all(np.asarray(ev["I_syn_in" if weight > 0 else "I_syn_ex"]) == 0.0)
    peak = np.argmax(np.abs(v - params["E_L"]))
    t_peak = math.log(tau_s / tau_m) * tau_m * tau_s / (tau_s - tau_m)
    assert abs(s[peak] - t_peak) <= H


def test_refractory_counts_whole_steps(kernel):
    """t_ref = 1.0 ms clamps V_m for exactly 10 steps after each spike."""
    n = nest.Create(kernel, params={**BASE, "t_ref": 1.0, "I_e": 2000.0})
    mm, sr = _record(n, ("V_m",))
    nest.Simulate(50.0)
    tr = _traces(mm, sr, n)
    first = tr["spikes"][0]
    i = int(round(first / H)) - 1  # index of the sample at the spike time
    clamped = tr["V_m"][i : i + 11]
    assert np.all(clamped == BASE["V_reset"])
    assert tr["V_m"][i + 11] > BASE["V_reset"]
