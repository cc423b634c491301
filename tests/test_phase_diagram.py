"""The phase plane: where the balance solution exists when g scales the I -> E coupling
and d both drives, the delayed rate model's critical delay (pure functions), and the
labels of a 2 x 2 grid with the theory figure drawn over it (four 600 ms runs, ~19 s)."""

from __future__ import annotations

import numpy as np
import pytest

from balanced.params import resolve
from balanced.theory import balance_rates
from balanced.theory.phase import (
    critical_delay,
    delay_stabilities,
    delay_stability,
    delay_stability_instantaneous,
    phase_boundaries,
    phase_rates,
)

J = ((30.0, -60.0), (60.0, -75.0))  # the balanced preset
I = (1.2, 1.05)


def test_phase_rates_match_the_balance_equations():
    p = resolve("balanced")
    assert (p.j_EE, p.j_EI, p.j_IE, p.j_II, p.i_E, p.i_I) == (30.0, -60.0, 60.0, -75.0, 1.2, 1.05)
    for g, d in ((1.0, 1.0), (0.8, 2.0), (1.3, 0.5)):
        j = ((J[0][0], g * J[0][1]), J[1])
        ref = balance_rates(j, (d * I[0], d * I[1]), 2.0).rates_hz
        assert np.allclose(phase_rates(J, I, 2.0, g, d), ref)
    nu_E, nu_I = phase_rates(J, I, 2.0, 1.0, 1.0)
    assert (nu_E, nu_I) == (pytest.approx(10.0), pytest.approx(15.0))  # the preset's comment
    g = np.linspace(0.7, 1.4, 8)
    assert np.allclose(phase_rates(J, I, 2.0, g, 3.0)[0], 3 * phase_rates(J, I, 2.0, g, 1.0)[0])  # linear in d


def test_existence_band_in_g():
    b = phase_boundaries(J, I)
    assert b.g_det == pytest.approx(0.625)  # j_EE j_II / (j_EI j_IE) = 2250 / 3600
    assert b.g_E0 == pytest.approx(90.0 / 63.0)  # j_II i_E / (j_EI i_I)
    assert (b.g_min, b.g_max) == (pytest.approx(0.625), pytest.approx(90.0 / 63.0))
    for g in (0.6, 1.5):  # just outside: a rate is negative
        assert min(phase_rates(J, I, 2.0, g, 1.0)) < 0
    assert min(phase_rates(J, I, 2.0, 1.0, 1.0)) > 0
    # E and I with the same excitation and drive: nu_I = 0 for every g, no band
    none = phase_boundaries(((30.0, -60.0), (30.0, -75.0)), (1.2, 1.2))
    assert none.g_min is None and none.g_max is None


def test_critical_delay_is_where_the_mode_reaches_the_imaginary_axis():
    tau_s = 2.0
    for mu in (-1.9 + 1.9j, -3.0 + 0.5j, -2.5 + 0j):
        D, w = critical_delay(mu, tau_s)
        lam = 1j * w
        # lambda = i omega solves (1 + lambda tau_s) = mu exp(-lambda D) at D = D_c
        assert abs(1 + lam * tau_s - mu * np.exp(-lam * D)) < 1e-9
        assert 0 < D < 2 * np.pi / w
    assert critical_delay(1.2 + 0j, tau_s)[0] == 0.0  # unstable without delay
    assert critical_delay(-0.5 + 0.5j, tau_s)[0] == np.inf  # |mu| < 1: stable at every delay


def test_preset_is_stable_at_one_step_and_oscillates_at_long_delays():
    old = delay_stability_instantaneous(J, I, 100)
    assert old.rates_hz[0] == pytest.approx(10.95, rel=1e-3)  # the sweep table's mf_rate_E at K = 100
    # instantaneous response: a pair crosses at 237 Hz once D > 0.69 ms
    assert old.critical_delay_ms == pytest.approx(0.693, rel=1e-3) and old.frequency_hz == pytest.approx(
        236.6, rel=1e-3
    )
    # with the LIF's lag in the loop the fast mode is damped: the crossing comes at 71 Hz
    # and needs D > 1.83 ms; the preset's 0.1 ms is far below either
    s = delay_stability(J, I, 100)
    assert s.rates_hz == pytest.approx(old.rates_hz)
    assert s.critical_delay_ms == pytest.approx(1.83, rel=0.01) and s.frequency_hz == pytest.approx(70.7, rel=0.01)
    assert s.eigenvalues == pytest.approx(old.eigenvalues, rel=1e-3)  # G(0) W: the same static gains


def test_critical_delay_of_many_points_is_that_of_each():
    pts = [(((30.0, -60.0 * g), (60.0, -75.0)), (1.2 * d, 1.05 * d)) for g, d in ((0.8, 3.0), (1.3, 1.0), (1.0, 0.1))]
    many = delay_stabilities([p[0] for p in pts], [p[1] for p in pts], 100)
    for (j, i), s in zip(pts, many, strict=True):
        one = delay_stability(j, i, 100)
        # one grid for the batch (its step set by the widest point): 5e-6 apart
        assert s.critical_delay_ms == pytest.approx(one.critical_delay_ms, rel=1e-4, nan_ok=True)
    # weak I -> E coupling and a strong drive: unstable at the 1.5 ms delay (0.60 ms); g = 1.3,
    # d = 1 stable up to 3.9 ms
    assert many[0].critical_delay_ms < 1.5 < many[1].critical_delay_ms


SMALL_GRID = """
name = "phase_small"
preset = "balanced"
[fixed]
N_E = 1000
N_I = 1000
K = 100
T = 600.0
record_n = 20
[sweep]
j_EI = [-60.0, -96.0]
d = [0.1, 1.0]
[analysis]
t_start = 200.0
t_stop = 550.0
"""


def test_small_grid_labels_and_theory_figure(tmp_path, built_model):
    """Four points (about 19 s): quiescent under a drive below threshold, asynchronous
    irregular inside the balance band, and what the theory says outside it."""
    import tomllib

    from balanced.phase_diagram import main as phase_main
    from balanced.sweep import parse_spec, run_sweep

    res = run_sweep(
        parse_spec(tomllib.loads(SMALL_GRID), source="small"),
        tmp_path / "sw",
        jobs=1,
        figures=False,
        log=lambda _: None,
    )
    assert not res.failed
    assert phase_main([str(tmp_path / "sw")]) == 0
    import json

    out = json.loads((tmp_path / "sw" / "phase_diagram_theory.json").read_text())
    by = {(round(q["g"], 2), q["d"]): q for q in out["points"]}
    # d = 0.1: the drive sqrt(K) i_E d = 1.2 mV is below the 2 mV threshold distance
    assert by[(1.0, 0.1)]["label"] == "Q" and by[(1.6, 0.1)]["label"] == "Q"
    assert by[(1.0, 1.0)]["label"] == "AI" and by[(1.0, 1.0)]["inside_band"]
    assert not by[(1.6, 1.0)]["inside_band"]  # g > 1.43: the balance solution has nu_E < 0
    assert (tmp_path / "sw" / "phase_diagram_theory.png").stat().st_size > 10_000
    # another --out: new, or its own again; a user's folder is refused, nothing written in it
    assert phase_main([str(tmp_path / "sw"), "--out", str(tmp_path / "fig")]) == 0
    assert phase_main([str(tmp_path / "sw"), "--out", str(tmp_path / "fig")]) == 0
    (tmp_path / "user").mkdir()
    (tmp_path / "user" / "notes.txt").write_text("keep")
    assert phase_main([str(tmp_path / "sw"), "--out", str(tmp_path / "user")]) == 2
    assert [p.name for p in (tmp_path / "user").iterdir()] == ["notes.txt"]


def test_shipped_phase_sweeps_are_8_by_8_across_the_band():
    from pathlib import Path

    from balanced.sweep import load_spec, points

    for name, delay in (("phase_diagram_jEI", None), ("phase_diagram_jEI_delay", 1.5)):
        spec = load_spec(Path(__file__).parent.parent / "sweeps" / f"{name}.toml")
        assert len(points(spec)) == 64 and spec.fixed.get("delay") == delay
        g = [v / -60.0 for v in dict(spec.axes)["j_EI"]]
        b = phase_boundaries(J, I)
        assert min(g) < b.g_max < max(g)  # the grid crosses the theory's nu_E = 0 line
