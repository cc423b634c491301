"""Slow inhibition: the asynchronous balanced state gives way to population oscillations.

The balanced preset at N_E = N_I = 1000, K = 100, 600 ms per point (4 points, about 20 s),
inhibitory synapses tau_I / tau_E = 1, 2, 2.5, 4 times slower at the same charge per spike.
Measured on this machine (seed 12345): chi 0.055, 0.13, 0.94, 0.94; the measured transition
lies between 2 and 2.5. Theory: 2.80 with the LIF's response G(omega) and the 0.1 ms delay
(5.06 with an instantaneous response); see docs/balanced-state.md.
"""

from __future__ import annotations

import pytest

from balanced.derived import derive
from balanced.params import ParamError, replace, resolve
from balanced.slow_inhibition import main, point_params, run_slow_inhibition

SMALL = dict(N_E=1000, N_I=1000, K=100, T=600.0, record_n=0)


def test_tau_s_I_defaults_to_tau_s_and_reaches_the_neuron():
    p = resolve("balanced")
    assert p.tau_s_I is None and "tau_s_I" not in p.to_dict()  # presets unchanged
    assert derive(p).neuron_params["tau_syn_in"] == p.tau_s
    q = point_params(p, 3.0)
    assert derive(q).neuron_params["tau_syn_in"] == pytest.approx(6.0)
    assert derive(q).neuron_params["tau_syn_ex"] == pytest.approx(2.0)
    # the same charge per inhibitory spike: J tau_I is unchanged
    assert q.j_EI * q.tau_s_I == pytest.approx(p.j_EI * p.tau_s)


@pytest.mark.parametrize(
    "value, message", [(0.0, "must be > 0"), (-1.0, "must be > 0"), (10.0, "must differ from tau")]
)
def test_tau_s_I_validation(value, message):
    with pytest.raises(ParamError, match=rf"'tau_s_I' = {value!r}: {message}"):
        replace(resolve("balanced"), tau_s_I=value)


def test_bad_ratio_is_an_input_error(tmp_path, capsys):
    assert main(["--out", str(tmp_path), "--ratios", "1,x"]) == 2
    assert capsys.readouterr().err.strip().endswith("must be comma-separated numbers, for example 1,2,4")
    assert main(["--out", str(tmp_path), "--preset", "tutorial"]) == 2
    assert "needs 'scaled'" in capsys.readouterr().err


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, built_model):
    base = replace(resolve("balanced"), **SMALL)
    return run_slow_inhibition(base, tmp_path_factory.mktemp("slow_inh"), [1.0, 2.0, 2.5, 4.0], preset="balanced")


def test_oscillations_appear_when_inhibition_is_slow(sweep):
    chi = {p["ratio"]: p["chi"] for p in sweep["points"]}
    # asynchronous at equal time constants (measured 0.055; 1/sqrt(2000) is 0.02) and
    # strongly synchronous once inhibition is 4x slower (measured 0.94); 0.2 / 0.5 leave
    # room for the seed without letting either state pass for the other
    assert chi[1.0] < 0.2 and chi[4.0] > 0.5
    assert not sweep["points"][0]["oscillating"] and sweep["points"][-1]["oscillating"]
    # the balance solution (10 / 15 Hz) holds in the asynchronous state: same charge per spike
    assert sweep["points"][0]["rate_E_hz"] == pytest.approx(10.0, rel=0.2)
    # the asynchronous state already rings (a damped oscillation): measured 152-164 Hz at
    # ratio 1, the theory's resonance there 94 Hz; its G lags too much above 50 Hz
    # (tests/test_transfer.py), which lowers its frequencies: a factor 2 either way
    assert 0.5 < sweep["points"][0]["peak_hz"] / sweep["theory"]["resonance_hz_at_ratio_1"] < 2.0


def test_measured_threshold_lies_within_a_factor_of_the_theory(sweep):
    th, me = sweep["theory"], sweep["measured"]
    assert th["critical_ratio"] == pytest.approx(2.80, rel=0.02)  # LIF response, 0.1 ms delay, K = 100
    assert th["instantaneous"]["critical_ratio"] == pytest.approx(5.06, rel=0.02)
    # With the LIF's response the full sweeps measured 0.76 (K = 100: 2.12 vs 2.80) and 1.18
    # (K = 400: 1.87 vs 1.58) of the theory, against 0.42 and 0.54 with an instantaneous
    # response; this test's bracket (2 - 2.5, middle 2.24 = 0.80) adds +-12 %. A factor 1.5
    # either way is the stated agreement (it was a factor 3, one-sided, before).
    assert th["critical_ratio"] / 1.5 <= me["critical_ratio"] <= th["critical_ratio"] * 1.5
    assert me["over_instantaneous"] < 0.6  # the instantaneous line misses by about 2x


def test_diagnosis_counts_the_charge_of_slow_inhibition():
    from balanced.theory import diagnose_params

    p = resolve("balanced")
    # slower inhibition at the same jump delivers r times the charge: the same balance
    # solution as the couplings scaled by r, and the same as the charge-conserving point
    slow = replace(p, tau_s_I=4.0)
    scaled = replace(p, j_EI=2 * p.j_EI, j_II=2 * p.j_II)
    assert diagnose_params(slow).balance.rates_hz == pytest.approx(diagnose_params(scaled).balance.rates_hz)
    assert diagnose_params(point_params(p, 2.0)).balance.rates_hz == pytest.approx([10.0, 15.0])
    assert any("tau_s_I" in n for n in diagnose_params(slow).notes)
    assert not any("tau_s_I" in n for n in diagnose_params(p).notes)
