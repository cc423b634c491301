"""Parameters: presets, TOML round trip, overrides and every validation message (no NEST)."""

import math
import subprocess
import sys

import pytest

from balanced import params as P
from balanced.derived import derive


def test_tutorial_preset_is_the_seed():
    p = P.resolve("tutorial")
    assert (p.N_E, p.N_I, p.p, p.Ib) == (500, 500, 0.1, 3.0)
    assert p.J_E == pytest.approx(1 / math.sqrt(0.1 * 500), rel=1e-15)
    assert p.J_I == pytest.approx(-1 / math.sqrt(0.1 * 500), rel=1e-15)
    assert (p.tau, p.tau_s, p.V_rest, p.V_th, p.V_reset, p.t_ref) == (10.0, 2.0, -52.0, -50.0, -60.0, 0.0)
    assert (p.V_init_mean, p.V_init_sd, p.dt, p.delay, p.T) == (-60.0, 10.0, 0.1, 0.1, 1000.0)
    assert p.neuron_model == "nestml" and p.connectivity == "fixed_indegree"


def test_default_preset_is_tutorial():
    assert P.resolve() == P.resolve("tutorial")


@pytest.mark.parametrize("preset", P.preset_names())
def test_toml_round_trip(preset, tmp_path):
    p = P.resolve(preset)
    path = tmp_path / "p.toml"
    path.write_text(P.to_toml(p, header="a header"))
    assert P.resolve(config=path) == p
    # a file is applied on top of any preset: the resolved file is a complete specification
    other = [n for n in P.preset_names() if n != preset][0]
    assert P.resolve(other, config=path) == p


def test_set_overrides_and_types():
    p = P.resolve(overrides=["N_E=1000", "neuron_model=iaf_psc_exp", "Ib=4", "allow_autapses=false"])
    assert p.N_E == 1000 and p.neuron_model == "iaf_psc_exp" and p.Ib == 4.0 and p.allow_autapses is False
    assert isinstance(p.Ib, float)


def test_switching_coupling_form_drops_old_keys():
    p = P.resolve(
        "tutorial",
        overrides=["coupling=scaled", "K=40", "j_EE=1", "j_EI=-2", "j_IE=1", "j_II=-1.8", "i_E=0.3", "i_I=0.2"],
    )
    assert p.coupling == "scaled" and p.p is None and p.K == 40


def test_derived_tutorial_mapping():
    d = derive(P.resolve())
    assert d.indegree == ((50.0, 50.0), (50.0, 50.0))
    assert d.outdegree == ((50, 50), (50, 50))
    assert d.neuron_params["C_m"] == 10.0 and d.neuron_params["tau_m"] == 10.0
    assert d.drive_pA == (3.0, 3.0)
    assert d.weight_pA[0][1] < 0 < d.weight_pA[0][0]
    assert d.N == 1000 and d.steps == 10000
    assert d.n_synapses_expected == 1000 * 100


SCALED = ["coupling=scaled", "K=100", "j_EE=1", "j_EI=-2", "j_IE=1", "j_II=-1.8", "i_E=0.3", "i_I=0.2"]


def test_derived_scaled_mapping():
    d = derive(P.resolve("tutorial", overrides=SCALED))
    assert d.weight_pA[0][0] == pytest.approx(0.1) and d.weight_pA[0][1] == pytest.approx(-0.2)
    assert d.drive_pA == pytest.approx((3.0, 2.0))
    assert d.j_scaled[1][1] == pytest.approx(-1.8)
    assert d.probability[0][0] == pytest.approx(100 / 500)


@pytest.mark.parametrize(
    "override, message",
    [
        ("N_E=0", "parameter 'N_E' = 0: must be an integer > 0"),
        ("N_I=-3", "parameter 'N_I' = -3: must be an integer > 0"),
        ("p=0", "parameter 'p' = 0.0: must be in (0, 1]"),
        ("p=1.5", "parameter 'p' = 1.5: must be in (0, 1]"),
        ("p=0.001", "gives in-degree p * N_E = 0.5; must be >= 1"),
        ("p=0.1234", "must be a whole number of inputs"),
        ("dt=0", "parameter 'dt' = 0.0: must be > 0"),
        ("dt=-0.1", "parameter 'dt' = -0.1: must be > 0"),
        ("T=1000.05", "parameter 'T' = 1000.05: must be a positive multiple of dt = 0.1"),
        ("delay=0.05", "parameter 'delay' = 0.05: must be >= dt = 0.1"),
        ("tau_s=10", "parameter 'tau_s' = 10.0: must differ from tau = 10.0"),
        ("N_E=1.5", "parameter 'N_E' = 1.5 (float): must be an integer"),
        ("N_E=abc", "parameter 'N_E' = 'abc' (str): must be an integer"),
        ("Ib=true", "parameter 'Ib' = True (bool): must be a number"),
        ("neuron_model=lif", "parameter 'neuron_model' = 'lif': must be one of nestml, iaf_psc_exp"),
        ("connectivity=ring", "parameter 'connectivity' = 'ring': must be one of fixed_indegree"),
        ("coupling=weird", "parameter 'coupling' = 'weird': must be one of tutorial, scaled"),
        ("K=100", "parameter 'K' belongs to the scaled coupling form, but coupling = 'tutorial' uses p, J_E, J_I, Ib"),
        ("coupling=scaled", "coupling = 'scaled' needs 'K', 'j_EE', 'j_EI', 'j_IE', 'j_II', 'i_E', 'i_I' (missing)"),
        ("bogus=1", "unknown parameter 'bogus' in --set; known parameters: neuron_model, connectivity"),
        ("V_reset=-40", "parameter 'V_reset' = -40.0: must be below V_th = -50.0"),
        ("seed=0", "parameter 'seed' = 0: must be an integer >= 1"),
        ("record_n=501", "parameter 'record_n' = 501: must be between 0 and the smaller population size 500"),
        ("N_E", "--set 'N_E': expected key=value"),
    ],
)
def test_validation_messages(override, message):
    with pytest.raises(P.ParamError) as info:
        P.resolve(overrides=[override])
    assert message in str(info.value)


def test_indegree_larger_than_population():
    with pytest.raises(
        P.ParamError,
        match=r"parameter 'K' = 600: with fixed_indegree and allow_multapses = false, each E neuron would need 600 distinct inputs from E, but only 500 exist",
    ):
        P.resolve(overrides=SCALED[:1] + ["K=600"] + SCALED[2:])


def test_malformed_and_bad_files(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("N_E = = 3\n")
    with pytest.raises(P.ParamError, match="is not valid TOML"):
        P.resolve(config=bad)
    table = tmp_path / "table.toml"
    table.write_text("[network]\nN_E = 3\n")
    with pytest.raises(P.ParamError, match="tables \\['network'\\] are not allowed"):
        P.resolve(config=table)
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("N_EE = 3\n")
    with pytest.raises(P.ParamError, match="unknown parameter 'N_EE' in parameter file"):
        P.resolve(config=unknown)
    with pytest.raises(P.ParamError, match="cannot be read"):
        P.resolve(config=tmp_path / "missing.toml")


def test_unknown_preset():
    with pytest.raises(P.ParamError, match="preset 'nope' does not exist; presets: "):
        P.resolve("nope")


def test_import_does_not_import_nest():
    code = (
        "import sys, balanced, balanced.params, balanced.derived, balanced.theory, balanced.rundir, "
        "balanced.cli, balanced.analysis.stats, balanced.analysis.report;"
        "bad = [m for m in ('nest', 'pynestml', 'mpi4py') if m in sys.modules]; assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
