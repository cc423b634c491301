"""Chaos: one extra spike makes the balanced network's spike trains diverge completely.

Sizes: the balanced preset at N_E = N_I = 2000, K = 200, 600 ms (two runs, about 10 s);
the tutorial network as shipped (two runs, about 2 s). Measured on this machine: in the
balanced network more than 95 % of spikes are unmatched (same neuron, same step) from
5 ms after the extra spike and about 98 % have no spike of the same neuron within 1 ms at
+50 ms, while the rates change by < 0.5 %. In the tutorial network the extra spike shifts
spikes by a step or so but they stay within 1 ms of the reference (< 5 % unmatched at
+-1 ms over 500 ms).
"""

from __future__ import annotations

import numpy as np
import pytest

from balanced.params import replace, resolve
from balanced.perturb import divergence, format_divergence, run_perturbation

CHAOS_AT = dict(N_E=2000, N_I=2000, K=200, T=600.0, record_n=0)


def test_divergence_measure_on_synthetic_spikes():
    dt = 0.1
    ref_n = np.array([0, 1, 2, 3, 0, 1])
    ref_t = np.array([1.0, 2.0, 12.0, 13.0, 22.0, 23.0])
    # identical before t = 10; after it: neuron 2 same, neuron 3 shifted one step (exact
    # mismatch but within 1 ms), neuron 0 moved by 5 ms, neuron 1 same
    per_n = np.array([0, 1, 2, 3, 0, 1])
    per_t = np.array([1.0, 2.0, 12.0, 13.1, 27.0, 23.0])
    d = divergence(ref_n, ref_t, per_n, per_t, 10.0, 30.0, dt, 4, bin_ms=10.0, tol_ms=1.0)
    assert d.identical_before and d.n_differences_before == 0
    assert d.first_difference_ms == pytest.approx(3.0)
    assert list(d.n_perturbed) == [2, 2]
    assert list(d.unmatched_perturbed) == pytest.approx([0.5, 0.5])
    assert list(d.unmatched_perturbed_tol) == pytest.approx([0.0, 0.5])
    assert d.at(20.0) == pytest.approx(0.5)
    assert d.time_to(0.4) == pytest.approx(10.0)
    assert d.time_to(0.9) is None


@pytest.fixture(scope="module")
def chaos(tmp_path_factory, built_model):
    p = replace(resolve("balanced"), **CHAOS_AT)
    return run_perturbation(
        p, tmp_path_factory.mktemp("chaos"), neuron=0, time_ms=200.0, bin_ms=5.0, preset="balanced", figures=True
    )


def test_balanced_network_is_chaotic(chaos):
    assert chaos["identical_before"]  # same seed: nothing differs before the extra spike
    assert chaos["first_difference_ms"] is not None and chaos["first_difference_ms"] < 1.0
    # the brief's criterion: most spikes misaligned (exact neuron and step) within 50 ms;
    # measured 1.00. A non-chaotic network (the tutorial) gives ~0.1 here.
    assert chaos["unmatched_at_50ms"] > 0.5
    assert chaos["time_to_half_ms"] is not None and chaos["time_to_half_ms"] <= 50.0
    # and not merely shifted by a step: most spikes have no partner within 1 ms (measured 0.98;
    # chance coincidence at 10-16 Hz within +-1 ms is 2-3 %)
    assert chaos["unmatched_tol_at_50ms"] > 0.5
    # the statistics stay: about 10^4 spikes per population in the window give a Poisson
    # error of about 1 % per run; 5 % is several of those (measured < 0.5 %)
    for pop in ("E", "I"):
        assert abs(chaos["stats"]["rate_change"][pop]) < 0.05, chaos["stats"]["rate_change"]
        ref, per = chaos["stats"]["reference"][pop], chaos["stats"]["perturbed"][pop]
        assert per["cv_isi_mean"] == pytest.approx(ref["cv_isi_mean"], abs=0.05)
    assert "unmatched" in format_divergence(chaos)


def test_without_the_extra_spike_the_runs_are_identical(tmp_path, built_model):
    p = replace(resolve("balanced"), **{**CHAOS_AT, "T": 300.0})
    r = run_perturbation(p, tmp_path, neuron=0, time_ms=100.0, preset="balanced", figures=False, perturb=False)
    assert r["identical"]
    assert r["first_difference_ms"] is None
    assert all(u == 0.0 for u in r["divergence"]["unmatched_perturbed"] if u is not None)


def test_tutorial_perturbation_stays_local_in_time(tmp_path, built_model):
    """The regular tutorial network is not chaotic: the extra spike shifts later spikes by a
    step here and there, but each stays within 1 ms of its reference spike."""
    r = run_perturbation(
        resolve("tutorial"), tmp_path, neuron=0, time_ms=250.0, bin_ms=5.0, preset="tutorial", figures=False
    )
    assert r["identical_before"]
    # measured 0.12 exact mismatch at +50 ms (one-step shifts), 0.0 beyond 1 ms
    assert r["unmatched_tol_at_50ms"] < 0.2
    tol = np.array([u for u in r["divergence"]["unmatched_perturbed_tol"] if u is not None])
    assert np.mean(tol) < 0.2
    for pop in ("E", "I"):
        assert abs(r["stats"]["rate_change"][pop]) < 0.01
