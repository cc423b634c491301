"""'Did you mean' for unknown parameter keys, NEST's names included (balanced.names)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from balanced import params as P
from balanced.names import NEST_NAMES, suggestion


def message(*overrides: str) -> str:
    with pytest.raises(P.ParamError) as err:
        P.resolve(overrides=list(overrides))
    return str(err.value)


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("tau_m", "20", "'tau_m': did you mean 'tau'? NEST's membrane time constant tau_m is 'tau' here (ms)"),
        ("E_L", "-65", "'E_L': did you mean 'V_rest'? NEST's leak reversal potential E_L is 'V_rest' here (mV)"),
        ("I_e", "5", "'I_e': did you mean 'Ib'? NEST's constant input current I_e is 'Ib' here, in pA = mV"),
        ("V_rst", "-60", "'V_rst': did you mean 'V_rest' or 'V_reset'?"),
        ("n_e", "100", "'n_e': did you mean 'N_E'? (keys are case-sensitive)"),
    ],
)
def test_suggestions_in_the_error(key, value, expected):
    text = message(f"{key}={value}")
    assert text.startswith(f"unknown parameter {key!r} in --set ({expected}")
    assert text.endswith(f"known parameters: {', '.join(P.KNOWN_KEYS)}")


def test_c_m_explains_the_unit_mapping():
    text = message("C_m=250")
    assert "C_m is not a parameter: it is set equal to tau (C_m in pF = tau in ms)" in text
    assert "a current of x pA shifts V_m by x mV" in text


def test_several_unknown_keys_and_no_hint_for_nonsense():
    text = message("tau_m=20", "E_L=-65", "qqqqqq=1")
    assert text.startswith("unknown parameters 'tau_m', 'E_L', 'qqqqqq' in --set ('tau_m': did you mean 'tau'?")
    assert "'E_L': did you mean 'V_rest'?" in text and "'qqqqqq'" not in text.split("(", 1)[1]
    assert suggestion("qqqqqq", P.KNOWN_KEYS) == ""


def test_every_nest_target_is_a_real_key():
    for name, (target, why) in NEST_NAMES.items():
        assert name not in P.FIELDS, name  # a NEST name that is also ours needs no hint
        assert target is None or target in P.FIELDS, (name, target)
        assert why


def test_the_cli_prints_the_hint_and_exits_2(tmp_path):
    cfg = tmp_path / "p.toml"
    cfg.write_text("tau_m = 20.0\n")
    proc = subprocess.run(
        [sys.executable, "-m", "balanced", "config", "show", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("balanced: error: unknown parameter 'tau_m' in ")
    assert "did you mean 'tau'?" in proc.stderr and "Traceback" not in proc.stderr
