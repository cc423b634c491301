"""The LIF transfer function against NEST's iaf_psc_exp.

A population of uncoupled neurons with the package's neuron (tau_m 10 ms, E_L -52,
V_th -50, V_reset -60 mV, no refractory period, C_m = tau_m so 1 pA is 1 mV) at the
balanced preset's E operating point for K = 100 (mean field: mu = -54.69 mV,
sigma = 5.43 mV). The noise is colored like synaptic input: a noise_generator
(independent white noise per neuron, one value per 0.1 ms step) enters receptor 1 of
iaf_psc_exp, which filters it through the 2 ms synaptic kernel. Three ac_generators
modulate the mean membrane input (receptor 0: straight into the membrane, as
``mu_1``) at 10, 50 and 200 Hz at once; the population rate's Fourier coefficient at
each frequency, divided by the input's, is the measured G(omega) (about 20 s).

Measured (seed 20261202): rate 11.06 Hz (theory 10.95); 10 Hz: 4.26 Hz/mV at -14 deg
(theory 3.89 at -17); 50 Hz: 2.67 at -25 deg (2.21 at -43); 200 Hz: 1.74 at -21 deg
(0.97 at -50). The threshold-integration G (white noise, Fourcaud-Brunel shifted
boundaries) holds at low frequency; from about 50 Hz the real neuron with filtered
noise responds more and sooner, towards the finite colored-noise limit
G_inf = 1.86 Hz/mV at 0 deg (:func:`balanced.theory.transfer.colored_noise_limit`).
"""

from __future__ import annotations

import numpy as np
import pytest

from balanced.theory import lif_transfer, siegert_rate
from balanced.theory.transfer import colored_noise_limit

MU, SIGMA = -54.69, 5.43  # mV; theory: 10.95 Hz
H = 0.1  # ms, resolution and the generators' delay
N, T_SKIP, T = 2000, 200.0, 10000.0  # neurons; ms discarded; ms analysed (a whole number of periods)
#: modulation amplitudes (mV), chosen so that each gives about 1.5 Hz of rate modulation
#: (|G| = 3.9, 2.2, 0.97 Hz/mV): 3 % statistical error each, 13 % of the rate at most
AMPLITUDE = {10.0: 0.4, 50.0: 0.75, 200.0: 1.5}


@pytest.fixture(scope="module")
def measured():
    import nest

    nest.ResetKernel()
    nest.verbosity = nest.VerbosityLevel.ERROR
    nest.resolution = H
    nest.rng_seed = 20261202
    nest.local_num_threads = 1
    n = nest.Create(
        "iaf_psc_exp",
        N,
        params=dict(
            C_m=10.0,
            tau_m=10.0,
            E_L=-52.0,
            V_th=-50.0,
            V_reset=-60.0,
            t_ref=0.0,
            tau_syn_ex=2.0,
            tau_syn_in=2.0,
            I_e=MU + 52.0,
        ),
    )
    n.V_m = nest.random.uniform(-60.0, -50.0)
    # white noise of variance std^2 per step h has intensity std^2 h; sigma^2 tau_m = std^2 h
    noise = nest.Create("noise_generator", params=dict(mean=0.0, std=SIGMA * np.sqrt(10.0 / H), dt=H))
    nest.Connect(noise, n, syn_spec={"receptor_type": 1, "delay": H})
    for f, a in AMPLITUDE.items():
        ac = nest.Create("ac_generator", params=dict(amplitude=a, frequency=f))
        nest.Connect(ac, n, syn_spec={"receptor_type": 0, "delay": H})
    sr = nest.Create("spike_recorder", params=dict(start=T_SKIP))
    nest.Connect(n, sr)
    nest.Simulate(T_SKIP + T)
    t = np.asarray(sr.events["times"], dtype=float)
    return t[t > T_SKIP]


def test_stationary_rate_is_the_siegert_rate(measured):
    rate = len(measured) / N / T * 1000.0
    print(f"rate {rate:.3f} Hz, Siegert {siegert_rate(MU, SIGMA, tau_s=2.0):.3f} Hz")
    # 2.2e5 spikes: 0.3 % statistical error; the Fourcaud-Brunel shift is first order in
    # sqrt(tau_s/tau_m) = 0.45 and the threshold is checked on the 0.1 ms grid
    assert rate == pytest.approx(siegert_rate(MU, SIGMA, tau_s=2.0), rel=0.05)
    assert lif_transfer(0.0, MU, SIGMA).real * 1e3 == pytest.approx(4.16, rel=1e-3)  # Hz/mV


def measured_gain(times: np.ndarray, f_hz: float) -> complex:
    """G (1/(ms mV)) from the population's spike times at one modulation frequency."""
    w = 2 * np.pi * f_hz / 1000.0  # rad/ms
    # the ac_generator's current is a sin(w t) one delay (0.1 ms) late: mu_1 = -i a e^{-i w h};
    # spikes are stamped at the end of their step, on average h/2 after the crossing
    nu1 = 2.0 / (N * T) * np.sum(np.exp(-1j * w * (times - H / 2)))  # 1/ms
    return complex(nu1 / (-1j * AMPLITUDE[f_hz] * np.exp(-1j * w * H)))


def _deg(z: complex) -> float:
    return float(np.degrees(np.angle(z)))


def test_low_frequency_response_is_the_transfer_function(measured):
    w = 2 * np.pi * 10.0 / 1000.0
    G_meas, G = measured_gain(measured, 10.0), complex(lif_transfer(w, MU, SIGMA))
    # 3 % statistical error; the static gain carries the first-order shift's error, as the
    # rate does (measured 1 % above the Siegert rate here, 9 % above in gain)
    assert abs(G_meas) == pytest.approx(abs(G), rel=0.15)
    assert _deg(G_meas / G) == pytest.approx(0.0, abs=8.0)  # 2 deg statistical; measured 2.4 deg


@pytest.mark.parametrize("f_hz", [50.0, 200.0])
def test_filtered_noise_makes_the_neuron_faster_than_the_shifted_white_noise_theory(measured, f_hz):
    """The known limit of the shifted-boundary theory, measured: at omega tau_s = 0.6 and
    2.5 the real response is larger and lags less (the reason the docs' stability lines
    are bounds, not the last word)."""
    w = 2 * np.pi * f_hz / 1000.0
    G_meas, G = measured_gain(measured, f_hz), complex(lif_transfer(w, MU, SIGMA))
    assert abs(G_meas) > 1.1 * abs(G)  # measured 1.20x (50 Hz), 1.80x (200 Hz)
    assert _deg(G_meas) > _deg(G) + 10.0  # lag 25 vs 43 deg, 21 vs 50 deg
    if f_hz == 200.0:
        # near the colored-noise limit G_inf = P(V_th)/tau_m (1.86 Hz/mV at 0 deg): measured
        # 0.93 of it at -21 deg, still approaching
        assert abs(G_meas) == pytest.approx(colored_noise_limit(MU, SIGMA), rel=0.15)
        assert -35.0 < _deg(G_meas) < 0.0
