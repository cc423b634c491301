"""Tests for balanced.theory: hand-computed values, no NEST, fast (< 5 s)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, signal

from balanced import theory as th

# The recommended `balanced` preset (scaled form): K = 400, balance rates 10 / 15 Hz.
PRESET_J = np.array([[30.0, -60.0], [60.0, -75.0]])
PRESET_I = np.array([1.2, 1.05])
PRESET_K = 400

# The tutorial network: N_E = N_I = 500, p = 0.1 (K = 50), J_E = 1/sqrt(50), J_I = -1/sqrt(50), Ib = 3.
TUT = dict(p=0.1, J_E=1 / math.sqrt(50), J_I=-1 / math.sqrt(50), Ib=3.0, N_E=500, N_I=500)


# ----------------------------------------------------------------------------- balance


def test_balance_rates_simple_system():
    # j = [[10, -20], [10, -15]], i = [0.3, 0.2], tau_s = 2 (rates in 1/ms):
    #   0.3 + 2 (10 nE - 20 nI) = 0  ->  10 nE - 20 nI = -0.15
    #   0.2 + 2 (10 nE - 15 nI) = 0  ->  10 nE - 15 nI = -0.10
    #   subtract: -5 nI = -0.05 -> nI = 0.01/ms = 10 Hz; 10 nE = -0.15 + 0.2 -> nE = 5 Hz
    #   det = 10 (-15) - (-20)(10) = 50
    sol = th.balance_rates([[10, -20], [10, -15]], [0.3, 0.2], tau_s=2.0)
    assert sol.exists
    np.testing.assert_allclose(sol.rates_hz, [5.0, 10.0], rtol=1e-12)
    assert sol.determinant == pytest.approx(50.0)
    np.testing.assert_allclose(sol.rates_per_ms, [0.005, 0.01])
    # 1998 form: J_E = 20/10 = 2, J_I = 15/10 = 1.5, E = 0.3/10, I = 0.2/10:
    #   E/I = 1.5 > J_E/J_I = 4/3 > 1
    c = th.balance_condition_vvs([[10, -20], [10, -15]], [0.3, 0.2])
    assert c.holds
    assert c.E_over_I == pytest.approx(1.5)
    assert c.JE_over_JI == pytest.approx(4 / 3)
    assert "both inequalities hold" in c.statement


def test_balance_existence_fails_first_inequality():
    # i = [0.2, 0.2]: 10 nE - 20 nI = -0.1 and 10 nE - 15 nI = -0.1 -> nI = 0, nE = -0.01/ms = -10 Hz
    # E/I = 1 < J_E/J_I = 4/3: first inequality fails
    sol = th.balance_rates([[10, -20], [10, -15]], [0.2, 0.2], tau_s=2.0)
    assert not sol.exists
    np.testing.assert_allclose(sol.rates_hz, [-10.0, 0.0], atol=1e-12)
    c = th.balance_condition_vvs([[10, -20], [10, -15]], [0.2, 0.2])
    assert not c.holds
    assert "first inequality fails" in c.statement
    assert "J_E/J_I = 1.333 > 1 holds" in c.statement


def test_balance_unstable_branch():
    # j = [[10, -15], [10, -20]], i = [0.2, 0.3]: J_E/J_I = 0.75, E/I = 2/3 < 0.75 < 1
    #   10 nE - 15 nI = -0.1, 10 nE - 20 nI = -0.15 -> nI = 0.01 (10 Hz), nE = 0.005 (5 Hz): positive,
    #   but the 1998 condition fails (the paper's unstable branch)
    sol = th.balance_rates([[10, -15], [10, -20]], [0.2, 0.3], tau_s=2.0)
    assert sol.exists
    np.testing.assert_allclose(sol.rates_hz, [5.0, 10.0])
    c = th.balance_condition_vvs([[10, -15], [10, -20]], [0.2, 0.3])
    assert not c.holds
    assert "second inequality fails" in c.statement and "unstable" in c.statement
    d = th.diagnose_regime([[10, -15], [10, -20]], [0.2, 0.3], 400, mean_field=False)
    assert any("unstable" in w for w in d.warnings)


def test_tutorial_is_degenerate():
    # J_E sqrt(K) = 1, J_I sqrt(K) = -1 with K = 50: j = [[1, -1], [1, -1]], det = -1 + 1 = 0
    f = th.tutorial_to_scaled(**TUT)
    np.testing.assert_allclose(f.j, [[1, -1], [1, -1]], rtol=1e-12)
    np.testing.assert_allclose(f.i, [3 / math.sqrt(50)] * 2)
    np.testing.assert_allclose(f.J, [[TUT["J_E"], TUT["J_I"]]] * 2)
    np.testing.assert_allclose(f.I_drive, [3.0, 3.0])
    sol = th.balance_rates(f.j, f.i, 2.0)
    assert not sol.exists and sol.rates_hz is None
    assert sol.determinant == pytest.approx(0.0, abs=1e-12)
    assert "singular" in sol.reason and "identical" in sol.reason
    c = th.balance_condition_vvs(f.j, f.i)
    assert not c.holds
    assert c.E_over_I == pytest.approx(1.0) and c.JE_over_JI == pytest.approx(1.0)
    assert "with equality" in c.statement


def test_tutorial_to_scaled_uneven_populations():
    # 4:1 with p = 0.1: K_E = 400, K_I = 100, J_E = 1/20, J_I = -1/10, reference K = K_E:
    #   j_aE = 400 (1/20) / 20 = 1, j_aI = 100 (-1/10) / 20 = -0.5
    f = th.tutorial_to_scaled(0.1, 0.05, -0.1, 3.0, 4000, 1000)
    assert f.K == 400 and f.K_source == (400, 100)
    np.testing.assert_allclose(f.j, [[1, -0.5], [1, -0.5]])
    np.testing.assert_allclose(f.J, [[0.05, -0.1], [0.05, -0.1]])


# ----------------------------------------------------------------------------- f-I curve


def test_fi_curve_continuous_and_grid():
    # tutorial neuron, drive 3: mu = -49, T = 10 ln((-49 + 60)/(-49 + 50)) = 10 ln 11 = 23.979 ms
    assert th.lif_isi_constant_input(-49.0) == pytest.approx(10 * math.log(11))
    assert th.lif_rate_constant_input(-49.0) == pytest.approx(1000 / (10 * math.log(11)))
    assert th.lif_rate_constant_input(-49.0) == pytest.approx(41.70, abs=0.005)
    # on the 0.1 ms grid: ceil(239.79) = 240 steps = 24.0 ms, 41.67 Hz
    assert th.lif_isi_constant_input(-49.0, dt=0.1) == pytest.approx(24.0)
    assert th.lif_rate_constant_input(-49.0, dt=0.1) == pytest.approx(1000 / 24)
    # silent at or below threshold
    assert th.lif_rate_constant_input(-50.0) == 0.0
    assert th.lif_rate_constant_input(-51.0, dt=0.1) == 0.0
    assert th.lif_isi_constant_input(-50.0) == math.inf


@pytest.mark.parametrize(
    "I_e,t_ref,isi_nest",
    [
        # measured in NEST 3.10 iaf_psc_exp (C_m 10, tau_m 10, E_L -52, V_th -50, V_reset -60, dt 0.1)
        (2.5, 0.0, 30.5),
        (3.0, 0.0, 24.0),
        (4.0, 0.0, 18.0),
        (6.0, 0.0, 12.6),
        (2.5, 2.0, 32.5),
        (3.0, 2.0, 26.0),
        (4.0, 2.0, 20.0),
        (6.0, 2.0, 14.6),
    ],
)
def test_fi_grid_matches_nest(I_e, t_ref, isi_nest):
    assert th.lif_isi_constant_input(-52.0 + I_e, t_ref=t_ref, dt=0.1) == pytest.approx(isi_nest)


def test_fi_vectorised():
    r = th.lif_rate_constant_input(np.array([-51.0, -49.0, -48.0]), dt=0.1)
    np.testing.assert_allclose(r, [0.0, 1000 / 24, 1000 / 18])


def test_siegert_limits():
    # small noise -> deterministic f-I curve
    assert th.siegert_rate(-49.0, 1e-12) == pytest.approx(th.lif_rate_constant_input(-49.0), rel=1e-9)
    assert th.siegert_rate(-49.0, 0.01) == pytest.approx(th.lif_rate_constant_input(-49.0), rel=1e-3)
    # far below threshold: zero; monotone in mu and in sigma below threshold
    assert th.siegert_rate(-200.0, 1.0) == 0.0
    r = [th.siegert_rate(m, 2.0) for m in (-56, -54, -52, -50)]
    assert all(a < b for a, b in zip(r, r[1:], strict=False))
    assert th.siegert_rate(-53, 1.0) < th.siegert_rate(-53, 3.0)
    # the Fourcaud-Brunel shift lowers the rate (threshold moves up)
    assert th.siegert_rate(-52, 3.0, tau_s=2.0) < th.siegert_rate(-52, 3.0, tau_s=0.0)
    assert th.FB_ALPHA_HALF == pytest.approx(1.03263, abs=1e-5)


# ----------------------------------------------------------------------------- Campbell


@pytest.mark.parametrize("tau_m,tau_s", [(10.0, 2.0), (20.0, 5.0), (10.0, 10.0)])
def test_psp_kernel_integrals_numerical(tau_m, tau_s):
    # closed form: int h = tau_s, int h^2 = tau_s^2 / (2 (tau_m + tau_s)); (10, 2) -> 2 and 4/24
    h = lambda t: float(th.psp_kernel(t, tau_m, tau_s))  # noqa: E731
    i1, _ = integrate.quad(h, 0, np.inf)
    i2, _ = integrate.quad(lambda t: h(t) ** 2, 0, np.inf)
    c1, c2 = th.psp_kernel_integrals(tau_m, tau_s)
    assert i1 == pytest.approx(c1, rel=1e-8)
    assert i2 == pytest.approx(c2, rel=1e-8)
    # the kernel solves tau_m h' = -h + exp(-t/tau_s) with h(0) = 0
    t = np.linspace(0.1, 30, 50)
    dh = (th.psp_kernel(t + 1e-6, tau_m, tau_s) - th.psp_kernel(t - 1e-6, tau_m, tau_s)) / 2e-6
    np.testing.assert_allclose(tau_m * dh, -th.psp_kernel(t, tau_m, tau_s) + np.exp(-t / tau_s), atol=1e-6)
    assert th.psp_kernel(0.0, tau_m, tau_s) == 0.0 and th.psp_kernel(-1.0, tau_m, tau_s) == 0.0


def test_free_membrane_moments_hand_values():
    # rates 5 and 10 Hz (0.005, 0.01 /ms), K = 400, J = (0.5, -1) mV, tau_m 10, tau_s 2, drive 6:
    #   mean = -52 + 6 + 2 (400*0.5*0.005 - 400*1*0.01) = -46 + 2 (1 - 4) = -52
    #   var  = 4/24 (400*0.25*0.005 + 400*1*0.01) = (1/6)(0.5 + 4) = 0.75 -> SD 0.8660
    m, sd = th.free_membrane_moments([5.0, 10.0], 400, [0.5, -1.0], 10.0, 2.0, -52.0, 6.0)
    assert float(m) == pytest.approx(-52.0)
    assert float(sd) == pytest.approx(math.sqrt(0.75))
    # matrix form, [target][source]
    m2, sd2 = th.free_membrane_moments([5.0, 10.0], 400, [[0.5, -1.0], [1.0, -1.0]], I_drive=[6.0, 0.0])
    assert m2.shape == (2,)
    assert m2[0] == pytest.approx(-52.0) and sd2[0] == pytest.approx(math.sqrt(0.75))
    # target I: mean = -52 + 2 (2 - 4) = -56, var = (1/6)(400*0.005 + 400*0.01) = 1 -> SD 1
    assert m2[1] == pytest.approx(-56.0) and sd2[1] == pytest.approx(1.0)
    # diffusion sigma^2 = (tau_s^2/tau_m) sum K J^2 nu = 0.4 * 4.5 = 1.8
    mu, sig = th.diffusion_parameters([5.0, 10.0], 400, [0.5, -1.0], I_drive=6.0)
    assert float(mu) == pytest.approx(-52.0) and float(sig) == pytest.approx(math.sqrt(1.8))


def test_free_membrane_moments_shot_noise_simulation():
    # Poisson shot noise through the two exponential filters, simulated on a fine grid
    rng = np.random.default_rng(1)
    dt, T, tau_m, tau_s = 0.02, 60_000.0, 10.0, 2.0
    n = int(T / dt)
    K, J, nu = np.array([400, 400]), np.array([0.5, -1.0]), np.array([5.0, 10.0])
    x = sum(Jb * rng.poisson(Kb * nub / 1000 * dt, n) for Kb, Jb, nub in zip(K, J, nu, strict=True))
    a_s, a_m = math.exp(-dt / tau_s), math.exp(-dt / tau_m)
    I = signal.lfilter([1.0], [1.0, -a_s], x.astype(float))  # synaptic current (mV)
    V = signal.lfilter([(1 - a_m)], [1.0, -a_m], I)  # membrane (mV), E_L = drive = 0
    V = V[int(100 / dt) :]
    m, sd = th.free_membrane_moments(nu, K, J, tau_m, tau_s, 0.0, 0.0)
    assert V.mean() == pytest.approx(float(m), abs=0.05)
    assert V.std() == pytest.approx(float(sd), rel=0.04)


# ----------------------------------------------------------------------------- mean field


def test_mean_field_tends_to_balance():
    bal = th.balance_rates(PRESET_J, PRESET_I, 2.0)
    np.testing.assert_allclose(bal.rates_hz, [10.0, 15.0])
    dev = {}
    for K in (1e4, 1e6):
        mf = th.mean_field_rates(PRESET_J, PRESET_I, K)
        assert mf.converged, mf.message
        dev[K] = np.max(np.abs(mf.rates_hz / bal.rates_hz - 1))
    assert dev[1e4] < 0.03
    # finite-K deviation ~ 1/sqrt(K): a factor 100 in K gives about a factor 10
    assert 0.05 < dev[1e6] / dev[1e4] < 0.2


def test_mean_field_preset_finite_k():
    # K = 400: within 10% of the balance solution (NEST gives 10.1 / 15.9 Hz at K = 400)
    mf = th.mean_field_rates(PRESET_J, PRESET_I, PRESET_K)
    assert mf.converged
    np.testing.assert_allclose(mf.rates_hz, [10.0, 15.0], rtol=0.10)
    assert np.all(mf.mu < -50.0)  # fluctuation-driven: mean input below threshold
    assert np.all(np.abs(mf.residual) < 1e-8)


def test_mean_field_tutorial_close_to_fi_curve():
    # tutorial: mean recurrent input cancels, mu = -49; weak noise (sigma 0.18 mV) -> near the
    # f-I curve 41.70 Hz (the synaptic-filtering shift lowers it slightly; NEST gives 41.5 Hz)
    f = th.tutorial_to_scaled(**TUT)
    mf = th.mean_field_rates(f.j, f.i, f.K, K_source=f.K_source)
    assert mf.converged
    np.testing.assert_allclose(mf.rates_hz, [41.5, 41.5], rtol=0.05)
    np.testing.assert_allclose(mf.mu, [-49.0, -49.0], atol=1e-6)


# ----------------------------------------------------------------------------- diagnosis


def test_diagnose_tutorial():
    d = th.diagnose_tutorial(**TUT)
    assert d.regime == "mean-driven" and d.mean_driven and d.drive_alone_above_threshold
    assert d.balance is not None and not d.balance.exists
    assert any("degenerate" in n for n in d.notes)
    assert any("mean-driven" in w for w in d.warnings)
    assert not any("silent state" in w for w in d.warnings)  # sqrt(K) i = 3 > 2
    np.testing.assert_allclose(d.free_mean, [-49.0, -49.0], atol=1e-6)
    text = th.format_diagnosis(d)
    assert "regime: mean-driven" in text and "singular" in text


def test_diagnose_preset():
    d = th.diagnose_regime(PRESET_J, PRESET_I, PRESET_K)
    assert d.regime == "fluctuation-driven" and not d.mean_driven
    assert d.drive_alone_above_threshold  # sqrt(400) 1.2 = 24 mV above rest
    assert d.balance.exists and d.condition.holds
    np.testing.assert_allclose(d.predicted_rates_hz, [10.0, 15.0])
    assert d.mean_field.converged
    assert np.all(d.free_mean < -50.0) and np.all(d.free_sd > 1.0)
    assert d.warnings == []
    assert len(d.lines()) >= 5


def test_diagnose_silent_state_warning():
    # sqrt(K) i_E = 20 * 0.09 = 1.8 mV <= V_th - V_rest = 2 mV
    d = th.diagnose_regime(PRESET_J, PRESET_I * 0.075, PRESET_K, mean_field=False)
    assert any("silent state is stable" in w for w in d.warnings)


# ----------------------------------------------------------------------------- slow inhibition


def test_rate_stability_hand_computed_hopf():
    # g = 1, W = [[2, -3], [2, -2]], tau_E = 1: M = -1 + G W = [[1, -3], [2, -3]];
    # trace(A) = 1/tau_E - 3/tau_I = 0 at tau_I/tau_E = 3; det M = -3 + 6 = 3, so at the
    # critical ratio det A = 3 / (1 * 3) = 1: eigenvalues +-i (1/ms), f = 1000/(2 pi) Hz.
    g, W = [1.0, 1.0], [[2.0, -3.0], [2.0, -2.0]]
    s = th.rate_stability(g, W, 1.0, 3.0)
    assert s.critical_ratio == pytest.approx(3.0)
    assert s.large_K_ratio == pytest.approx(1.0)  # g_I |W_II| / (g_E W_EE) = 2/2
    assert s.frequency_hz == pytest.approx(1000.0 / (2 * math.pi))
    assert np.allclose(s.eigenvalues.real, 0.0, atol=1e-12)
    assert np.allclose(sorted(s.eigenvalues.imag), [-1.0, 1.0])
    assert th.rate_stability(g, W, 1.0, 2.9).stable
    assert not th.rate_stability(g, W, 1.0, 3.1).stable
    # without a self-exciting E loop (g_E W_EE < 1) slowing inhibition never destabilises
    assert math.isinf(th.rate_stability([0.4, 1.0], W, 1.0, 100.0).critical_ratio)


def test_siegert_gain_matches_the_lif_f_i_slope_without_noise():
    # sigma -> 0: nu = 1/(tau ln((mu - V_r)/(mu - th))); d nu/d mu = nu^2 tau (1/(mu-th) - 1/(mu-V_r))
    mu, tau = -48.0, 10.0
    L = math.log((mu + 60.0) / (mu + 50.0))
    nu = 1.0 / (tau * L)
    want = nu**2 * tau * (1 / (mu + 50.0) - 1 / (mu + 60.0))
    assert th.siegert_gain(mu, 0.0, tau_s=0.0) == pytest.approx(want, rel=1e-5)  # central difference, h = 1e-3 mV


def test_slow_inhibition_threshold_of_the_preset_tends_to_its_large_K_limit():
    crit = {K: th.slow_inhibition_stability_instantaneous(PRESET_J, PRESET_I, K) for K in (100, 400, 6400)}
    # the Hopf line sits above the K -> inf limit and approaches it as 1/sqrt(K)
    # (W ~ sqrt K): 5.06, 3.49, 2.71 against a limit of 2.52 at K = 6400 (gains change a little with K)
    assert crit[100].critical_ratio > crit[400].critical_ratio > crit[6400].critical_ratio
    assert crit[6400].critical_ratio == pytest.approx(crit[6400].large_K_ratio, rel=0.1)
    assert crit[400].stable  # tau_I = tau_E: the preset's asynchronous state is stable
    assert not th.slow_inhibition_stability_instantaneous(PRESET_J, PRESET_I, 400, ratio=4.0).stable
    assert crit[400].gains[0] > 0 and crit[400].gains[1] > 0


# ----------------------------------------------------------------------------- LIF transfer function

# the preset's operating point at K = 100 (mean field): E and I populations
OP_MU = np.array([-54.687, -54.933])
OP_SIGMA = np.array([5.426, 7.458])


def test_lif_transfer_at_zero_frequency_is_the_siegert_slope():
    mus = np.array([-62.0, -58.0, -54.7, -50.0, -45.0])
    sig = np.array([4.0, 3.0, 5.4, 2.0, 8.0])
    G0 = th.lif_transfer(0.0, mus, sig).real
    want = [th.siegert_gain(m, s) for m, s in zip(mus, sig, strict=True)]
    # threshold integration (second order after extrapolation) against a central difference
    # (h = 1e-3 mV) of the Siegert quadrature: measured within 8e-5 relative
    assert G0 == pytest.approx(want, rel=3e-4)
    # the same integration's stationary rate is the Siegert rate (with the same threshold shift)
    # (measured within 3e-5 relative)
    assert th.lif_rate(mus, sig) == pytest.approx(
        [th.siegert_rate(m, s, tau_s=2.0) for m, s in zip(mus, sig, strict=True)], rel=1e-4
    )
    # and with a refractory period, and without the colored-noise shift
    assert th.lif_rate(-54.7, 5.4, t_ref=2.0, colored_noise_correction=False) == pytest.approx(
        th.siegert_rate(-54.7, 5.4, t_ref=2.0, tau_s=2.0, colored_noise_correction=False), rel=1e-4
    )


def test_lif_transfer_lags_more_and_falls_at_higher_frequency():
    f = np.array([1.0, 10.0, 50.0, 100.0, 200.0, 2000.0])
    G = th.lif_transfer(2 * np.pi * f / 1000.0, OP_MU, OP_SIGMA)
    phase = np.degrees(np.angle(G))
    assert np.all(np.diff(phase[:, :-1], axis=-1) < 0)  # the lag grows with omega (to 50 degrees at 200 Hz)
    assert np.all(np.diff(np.abs(G), axis=-1) < 0)  # fluctuation-driven: a low-pass, no resonance
    assert np.all(np.abs(phase[:, -1] + 45.0) < 3.0)  # and returns to the white-noise limit of 45 degrees
    # mean-driven (mu above threshold, little noise): resonance at the firing rate
    Gm = np.abs(th.lif_transfer(2 * np.pi * np.array([5.0, 50.0]) / 1000.0, -48.0, 1.0))
    assert th.lif_rate(-48.0, 1.0) == pytest.approx(50, abs=5) and Gm[1] > 1.5 * Gm[0]


def test_lif_transfer_white_noise_high_frequency_limit():
    # Brunel & Hakim (1999) / Lindner & Schimansky-Geier (2001): for white noise
    # G ~ sqrt(2) nu0 / (sigma sqrt(i omega tau_m)) as omega -> inf (D = sigma^2/2 in their units)
    mu, s = -54.7, 5.4
    nu0 = th.lif_rate(mu, s, tau_s=0.0) / 1000.0
    w = 2 * np.pi * 3.0  # 3 kHz: omega tau_m = 190
    G = th.lif_transfer(w, mu, s, tau_s=0.0)
    assert G == pytest.approx(
        np.sqrt(2) * nu0 / (s * np.sqrt(1j * w * 10.0)), rel=0.08
    )  # next order ~ 1/sqrt(omega tau_m)


def test_transfer_interpolant_matches_the_direct_integration():
    G = th.transfer_interpolant(OP_MU, OP_SIGMA)
    w = 2 * np.pi * np.array([3.0, 77.0, 333.0, 2500.0]) / 1000.0
    assert G(w).T == pytest.approx(th.lif_transfer(w, OP_MU, OP_SIGMA), rel=1e-4)  # measured 4e-6
    with pytest.raises(ValueError, match="0 .. 4 kHz"):
        G(np.array([2 * np.pi * 5.0]))


# ----------------------------------------------------------------------------- loop stability


def _static_loop(g, W, taus):
    def B(w):
        H = np.stack([th.synaptic_filter(w, t) for t in taus], axis=-1)
        return np.asarray(g)[None, :, None] * np.asarray(W)[None] * H[:, None, :]

    return B


def test_loop_with_a_static_gain_is_the_instantaneous_theory():
    from balanced.theory import loop
    from balanced.theory.phase import critical_delay as critical_delay_instantaneous

    old = th.slow_inhibition_stability_instantaneous(PRESET_J, PRESET_I, 100)
    g, W = old.gains, old.W

    def family(r):
        return _static_loop(g, W, (2.0, 2.0 * r))

    r_c = loop.critical_parameter(family, 0.25, 50.0)
    assert r_c == pytest.approx(old.critical_ratio, rel=1e-5)  # Hopf line: trace(A) = 0, 5.06
    f_c = loop.onset_frequency(family(r_c), 0.0) / (2 * np.pi) * 1000
    assert f_c == pytest.approx(old.frequency_hz, rel=1e-3)  # sqrt(det A): 137 Hz
    assert loop.unstable_roots(family(0.99 * r_c)) == 0 and loop.unstable_roots(family(1.01 * r_c)) == 2
    # the delay: each eigenvalue mu of G W is one mode (1 + lambda tau_s) = mu e^{-lambda D}
    D, w = loop.critical_delay(_static_loop(g, W, (2.0, 2.0)))
    D_old, w_old = min(critical_delay_instantaneous(complex(m), 2.0) for m in np.linalg.eigvals(g[:, None] * W))
    assert (D, w) == (pytest.approx(D_old, rel=1e-6), pytest.approx(w_old, rel=1e-6))  # 0.69 ms, 237 Hz
    assert loop.unstable_roots(_static_loop(g, W, (2.0, 2.0)), 0.99 * D) == 0
    assert loop.unstable_roots(_static_loop(g, W, (2.0, 2.0)), 1.01 * D) == 2


def test_unstable_roots_counts_a_real_root_and_none():
    from balanced.theory import loop

    # M = diag(m) H: 1 - m/(1 + lambda tau) has the root lambda = (m - 1)/tau
    def B(m):
        return _static_loop([1.0, 1.0], [[m, 0.0], [0.0, 0.5]], (2.0, 2.0))

    assert loop.unstable_roots(B(2.0)) == 1  # one real root at +0.5/ms
    assert loop.unstable_roots(B(0.5)) == 0
    assert loop.critical_delay(B(2.0)) == (0.0, pytest.approx(np.nan, nan_ok=True))
    assert loop.critical_delay(B(0.9))[0] == np.inf  # |m| < 1 at every frequency: stable at any delay


def test_lif_response_lowers_the_slow_inhibition_threshold():
    new = {K: th.slow_inhibition_stability(PRESET_J, PRESET_I, K, delay_ms=0.1) for K in (100, 400)}
    # the neuron's lag adds to the slow inhibitory filter's: the Hopf line moves from
    # 5.06 / 3.49 (instantaneous) to 2.80 / 1.58 (K = 100 / 400, with the preset's 0.1 ms delay)
    assert new[100].critical_ratio == pytest.approx(2.80, rel=0.01)
    assert new[400].critical_ratio == pytest.approx(1.58, rel=0.01)
    for s in new.values():
        assert s.critical_ratio < 0.8 * s.instantaneous.critical_ratio
        assert s.stable and s.unstable_roots == 0  # the preset, tau_I = tau_E
        assert s.gains == pytest.approx(s.instantaneous.gains, rel=1e-3)
        assert 40 < s.frequency_hz < s.instantaneous.frequency_hz
    assert not th.slow_inhibition_stability(PRESET_J, PRESET_I, 100, ratio=3.0, delay_ms=0.1).stable


# ----------------------------------------------------------------------------- rate distribution


def test_vectorised_siegert_matches_the_adaptive_one():
    mu = np.array([-62.0, -55.0, -50.0, -45.0, -30.0])
    want = [th.siegert_rate(m, 4.0, tau_s=2.0) for m in mu]
    # 96 Gauss-Legendre nodes on a smooth integrand: agreement to 1e-7 relative
    assert th.siegert_rates(mu, 4.0) == pytest.approx(want, rel=1e-7)


@pytest.fixture(scope="module")
def disorder_K100():
    return {c: th.rate_distribution(PRESET_J, PRESET_I, 100, 0.1, c) for c in ("pairwise_bernoulli", "fixed_indegree")}


def test_fixed_indegree_disorder_collapses_to_the_homogeneous_mean_field(disorder_K100):
    d = disorder_K100["fixed_indegree"]
    mf = th.mean_field_rates(PRESET_J, PRESET_I, 100)
    assert d.converged
    # loop gain of the rate spread is about 0.2 < 1, so the spread decays to zero
    assert d.rates_hz == pytest.approx(mf.rates_hz, rel=1e-4)
    assert np.all(d.sd_hz < 0.05)


def test_bernoulli_disorder_is_broad_and_self_consistent(disorder_K100):
    d = disorder_K100["pairwise_bernoulli"]
    assert d.converged
    # s_a^2 = tau_s^2 (1 - p) sum_b j_ab^2 q_b, q in 1/ms^2
    want = np.sqrt(4.0 * 0.9 * (PRESET_J**2 @ (d.second_moment / 1e6)))
    assert d.s == pytest.approx(want, rel=1e-9)
    assert np.all(d.sd_hz > 0.7 * d.rates_hz)  # O(1) disorder: SD comparable to the mean (11.3 / 11.4 Hz for E)
    z = np.array([-1.0, 0.0, 1.5])
    assert d.cdf(0, d.rate_of(0, z)) == pytest.approx(stats_norm_cdf(z), abs=1e-6)
    c = d.count_cdf(0, 1000.0, [0, 5, 10, 1000])
    assert np.all(np.diff(c) > 0) and c[-1] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="connectivity"):
        th.rate_distribution(PRESET_J, PRESET_I, 100, 0.1, "fixed_outdegree")


def stats_norm_cdf(z):
    return 0.5 * (1 + np.vectorize(math.erf)(np.asarray(z) / math.sqrt(2)))


def test_diagnosis_of_the_same_parameters_is_remembered_as_a_copy():
    from balanced.params import resolve
    from balanced.theory import diagnose_params, diagnosis_lines
    from balanced.theory.diagnosis import _diagnose_params

    p = resolve("balanced", overrides=["K=100", "N_E=1000", "N_I=1000"])
    first = diagnose_params(p)
    first.notes.append("changed by a caller")
    again = diagnose_params(resolve("balanced", overrides=["K=100", "N_E=1000", "N_I=1000"]))
    assert "changed by a caller" not in again.notes
    assert again.lines() == _diagnose_params(p).lines() == diagnosis_lines(p)
    assert diagnose_params(resolve("balanced", overrides=["K=200"])).lines() != again.lines()
