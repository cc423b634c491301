"""Fast tracking: the balanced network follows a step of its input rate in a fraction of
tau_m, faster at larger K; uncoupled neurons with matched input follow it slower, and the
mean-driven tutorial network jumps at once but overshoots and rings: it spends about twice
as long away from its new rate.

Sizes: the balanced preset at K = 100 (N_E = N_I = 500) and K = 400 (2000), its uncoupled
controls, and the tutorial network; 2 seeds x 25 up steps each (1.6 s runs, 10 runs),
about 80 s on the shared machine. Measured at these sizes: t63 0.62 ms (K = 100) and
0.54 ms (K = 400), uncoupled 4.1 and 3.6 ms, tutorial overshoot R_max 2.5 (the full-size
numbers are in docs/balanced-state.md).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from balanced import rundir
from balanced.derived import derive
from balanced.params import replace, resolve
from balanced.tracking import PoissonSquareWave, main, run_tracking, step_sources, uncoupled_params, uncoupled_sources
from balanced.tracking_estimate import BIN_MS, fit_step, response, settling_time, tracking_error


def test_fit_recovers_a_delayed_exponential():
    t = (np.arange(75) + 0.5) * BIN_MS
    R = np.where(t > 0.3, 1 - np.exp(-(t - 0.3) / 1.2), 0.0)
    f = fit_step(R)
    assert f["delay_ms"] == pytest.approx(0.3, abs=0.051)  # the delay grid is 0.05 ms
    assert f["t63_ms"] == pytest.approx(1.5, rel=0.04)  # the tau grid is 3 % apart
    noisy = R + np.random.default_rng(1).normal(0, 0.3, len(R))
    assert fit_step(noisy)["t63_ms"] == pytest.approx(1.5, rel=0.25)  # noise 0.3 per bin, 75 bins


def test_settling_time_counts_an_overshoot():
    t = (np.arange(75) + 0.5) * BIN_MS
    assert settling_time(1 - np.exp(-t / 2.0)) == pytest.approx(2.0)  # 1 ms bins: R > 0.63 after 2 tau
    ring = 1 + 1.5 * np.exp(-t / 6.0) * np.sin(2 * math.pi * t / 8.0)
    assert settling_time(ring) > 5.0
    assert tracking_error(ring) > 3 * tracking_error(1 - np.exp(-t / 0.5))


def test_response_counts_spikes_in_causal_bins():
    # E neuron 0 fires at 100.1 and 100.2 (after the up switch at 100), I neuron 1 at 99.9
    sp = rundir.Spikes(neuron=np.array([0, 0, 1], dtype=np.int32), time=np.array([100.1, 100.2, 99.9]))
    c = response(sp, 1, 1, [100.0, 130.0], 30.0)
    nb = int(round(30.0 / BIN_MS))
    assert c["up_E"][nb] == 2 and c["up_E"].sum() == 2  # both in the first bin after the switch, (100, 100.2]
    assert c["up_I"][nb - 1] == 1 and c["up_I"][nb:].sum() == 0


def test_step_sources_add_the_fraction_of_the_drive():
    p = resolve("balanced")
    d = derive(p)
    for s, drive in zip(step_sources(p, 0.5), d.drive_pA, strict=True):
        assert s.rate_low_hz == 0 and s.rate_high_hz / 1000 * s.weight_pA * p.tau_s == pytest.approx(0.5 * drive)
    u = uncoupled_params(p)
    assert derive(u).drive_pA == pytest.approx(d.drive_pA) and derive(u).weight_pA == ((0, 0), (0, 0))
    src = uncoupled_sources(p, (10.0, 15.0), 0.5)
    assert [s.rate_high_hz for s in src[:4]] == pytest.approx([4000, 6000, 4000, 6000])  # K x rate
    hook = PoissonSquareWave(src, 100.0, 30.0, 0.1)
    assert hook.times(200.0)[:4] == [0.1, 100.0, 130.0, 160.0]


@pytest.mark.parametrize(
    "args, tail",
    [
        (["--K", "1,x"], "must be comma-separated integers, for example 100,200,400"),
        (["--step", "0"], "must be in (0, 2] (a fraction of the drive)"),
        (["--half-period", "10"], "must be >= 22.5 ms (the response window)"),
    ],
)
def test_bad_input_is_one_line(tmp_path, capsys, args, tail):
    assert main(["--out", str(tmp_path), *args]) == 2
    assert capsys.readouterr().err.strip().endswith(tail)


@pytest.fixture(scope="module")
def tracking(tmp_path_factory, built_model):
    out = tmp_path_factory.mktemp("tracking")
    base = replace(resolve("balanced"), N_E=500, N_I=500, K=100)
    res = run_tracking(base, out, [100, 400], seeds=2, cycles=25, tutorial=resolve("tutorial"), preset="balanced")
    return res["conditions"]


def test_balanced_network_tracks_in_a_fraction_of_tau_m(tracking):
    k100, k400 = tracking["balanced K=100"]["up"], tracking["balanced K=400"]["up"]
    tau_m = 10.0
    assert k100["t63_ms"] < tau_m / 3 and k400["t63_ms"] < tau_m / 3
    # measured 0.62 and 0.54 ms here (0.66 and 0.52 with 160 steps at full size); the runs
    # are seeded, and with a margin of 0.08 ms only the order is asked for, not a ratio
    assert k400["t63_ms"] < k100["t63_ms"]


def test_uncoupled_and_mean_driven_contrasts_are_slower(tracking):
    bal = tracking["balanced K=100"]["up"]
    unc = tracking["uncoupled K=100"]["up"]
    tut = tracking["tutorial"]["up"]
    # uncoupled neurons follow their filtered input: measured 4.1 ms, 6-7x the network's
    assert unc["t63_ms"] > 2 * bal["t63_ms"] and unc["R_max"] < 1.3
    # the oscillators' rate jumps with the input current and rings (R up to 2.4, mean
    # |R - 1| from 1 to 15 ms measured 0.66 against 0.27 for the network, noise included)
    assert tut["R_max"] > 1.8 and tut["tracking_error"] > 1.5 * bal["tracking_error"]
    # so it is slower to be at its new rate: t_abs, the time spent away from it (the
    # integral of |1 - R| over 15 ms), measured 9.7 ms against 5.2 (K = 100) and 3.6 ms
    # (K = 400) for the network, whose overshoot is shorter; t63 of a ringing response is
    # only its first crossing
    k400 = tracking["balanced K=400"]["up"]
    assert tut["t_abs_ms"] > 1.5 * bal["t_abs_ms"] and tut["t_abs_ms"] > 2 * k400["t_abs_ms"]
