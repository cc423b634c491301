"""Population rate (the tutorial's box and Elephant's kernel) and its spectrum (Welch).

NumPy only: the FFT convolution and Welch's estimate are SciPy's definitions
(``scipy.signal.fftconvolve``, ``scipy.signal.welch``) written with ``numpy.fft``, because
importing ``scipy.signal`` takes longer than a small run's whole analysis
(docs/performance.md). tests/test_analysis.py holds them to SciPy's results.
"""

from __future__ import annotations

import math

import numpy as np


def grid_histogram(time: np.ndarray, t_total_ms: float, dt: float) -> np.ndarray:
    """Spikes per simulation step: sample ``j`` (time ``j dt``, j = 0 .. T/dt) counts the
    spikes whose time rounds to ``j dt``. NEST times sit on the grid, so no spike is
    split by floating-point error."""
    n = int(round(t_total_ms / dt)) + 1
    j = np.rint(np.asarray(time) / dt).astype(np.int64)
    np.clip(j, 0, n - 1, out=j)
    return np.bincount(j, minlength=n)


def tutorial_rate(hist: np.ndarray, n_neurons: int, dt: float, width_ms: float = 5.0) -> np.ndarray:
    """``bp.measure.firing_rate(spikes, width)`` from the per-step spike histogram of a
    population of ``n_neurons``: box of ``int(width / 2 / dt) * 2 + 1`` samples, height
    1000 / width Hz, ``np.convolve(mean spikes per neuron, box, 'same')``."""
    width1 = int(width_ms / 2 / dt) * 2 + 1
    window = np.ones(width1) * 1000.0 / width_ms
    return np.convolve(hist / max(n_neurons, 1), window, mode="same")


# Elephant's RectangularKernel for the default 5 ms box: sigma = width / (2 sqrt 3), its
# min_cutoff sqrt 3 and median 0 (elephant.kernels)
DEFAULT_BOX_SIGMA_MS = 5.0 / (2.0 * math.sqrt(3.0))
PER_MS_IN_HZ = 1000.0  # the factor quantities rescales 1/ms to Hz by


def _kernel_times_ms(sigma_ms: float, cutoff: float, median_ms: float, sampling_period_ms: float) -> np.ndarray:
    """Where ``instantaneous_rate`` evaluates its kernel: 2 ceil(cutoff sigma / period) + 1
    samples over +- cutoff sigma around the median (ms)."""
    half = math.ceil(cutoff * sigma_ms / sampling_period_ms)
    return np.linspace(-cutoff * sigma_ms + median_ms, cutoff * sigma_ms + median_ms, num=2 * half + 1, endpoint=True)


def default_box_kernel_hz(sampling_period_ms: float, cutoff: float = 5.0) -> np.ndarray:
    """``RectangularKernel(sigma=DEFAULT_BOX_SIGMA_MS ms)`` evaluated as ``instantaneous_rate``
    evaluates it (Hz), with Elephant's operations in Elephant's order: the same numbers
    without importing Elephant and quantities."""
    sigma_ms = DEFAULT_BOX_SIGMA_MS
    t = _kernel_times_ms(sigma_ms, max(cutoff, math.sqrt(3.0)), 0.0, sampling_period_ms)
    tau = math.sqrt(3) * sigma_ms
    return ((np.abs(t) < tau) * 1 / (2 * tau)) * PER_MS_IN_HZ


def population_rate_kernel(
    time: np.ndarray,
    n_neurons: int,
    t_start: float,
    t_stop: float,
    sampling_period_ms: float,
    kernel=None,
    cutoff: float = 5.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Elephant's ``instantaneous_rate(trains, sampling_period, kernel,
    pool_spike_trains=True)`` for the population, from one histogram of all its spike
    times (Elephant builds N x bins; the convolution is linear, so the mean of the
    per-train rates is the rate of the pooled histogram divided by N).

    ``kernel``: an ``elephant.kernels.Kernel``; default a 5 ms box
    (``RectangularKernel(sigma = 5 ms / (2 sqrt 3))``). Returns (times_ms, rate_hz):
    Elephant's samples start at ``t_start``, one per ``sampling_period_ms``.
    """
    n_bins = int((t_stop - t_start) / sampling_period_ms)
    hist_end = t_start + n_bins * sampling_period_ms
    hist, _ = np.histogram(np.asarray(time), bins=n_bins, range=(t_start, hist_end))
    if kernel is None:
        k = default_box_kernel_hz(sampling_period_ms, cutoff)
    else:
        import quantities as pq

        sigma_ms = float(kernel.sigma.rescale(pq.ms).magnitude)
        cutoff = max(cutoff, kernel.min_cutoff)
        median_ms = float(kernel.icdf(0.5).rescale(pq.ms).magnitude)
        k = kernel(_kernel_times_ms(sigma_ms, cutoff, median_ms, sampling_period_ms) * pq.ms).rescale(pq.Hz).magnitude
    rate = fft_convolve_same(hist.astype(np.float64), k) / max(n_neurons, 1)
    np.clip(rate, 0.0, None, out=rate)
    times = t_start + sampling_period_ms * np.arange(n_bins)
    return times, rate


def dominant_frequency(
    rate_hz: np.ndarray, dt_ms: float, min_freq_hz: float = 2.0, segment_ms: float = 1000.0
) -> tuple[float, np.ndarray, np.ndarray]:
    """Peak of the Welch PSD of a rate signal sampled every ``dt_ms``, ignoring
    frequencies below ``min_freq_hz``. Returns (peak_hz, freqs_hz, psd)."""
    rate_hz = np.asarray(rate_hz, dtype=np.float64)
    if len(rate_hz) < 8 or not np.any(rate_hz != rate_hz[0]):
        return float("nan"), np.empty(0), np.empty(0)
    nperseg = min(len(rate_hz), max(8, int(round(segment_ms / dt_ms))))
    freqs, psd = welch_psd(rate_hz, 1000.0 / dt_ms, nperseg)
    sel = freqs >= min_freq_hz
    if not np.any(sel):
        return float("nan"), freqs, psd
    return float(freqs[sel][np.argmax(psd[sel])]), freqs, psd


def _fast_fft_length(n: int) -> int:
    """The smallest 5-smooth integer >= ``n`` (2^a 3^b 5^c: sizes the FFT handles fast)."""
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


def fft_convolve_same(signal: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``scipy.signal.fftconvolve(signal, kernel, mode="same")`` for 1-D float arrays: the
    full linear convolution through real FFTs, its centre ``len(signal)`` samples."""
    signal, kernel = np.asarray(signal, np.float64), np.asarray(kernel, np.float64)
    if signal.size == 0 or kernel.size == 0:
        return np.empty(0)
    full = signal.size + kernel.size - 1
    n_fft = _fast_fft_length(full)
    conv = np.fft.irfft(np.fft.rfft(signal, n_fft) * np.fft.rfft(kernel, n_fft), n_fft)[:full]
    start = (full - signal.size) // 2
    return conv[start : start + signal.size]


def welch_psd(x: np.ndarray, fs_hz: float, nperseg: int) -> tuple[np.ndarray, np.ndarray]:
    """``scipy.signal.welch(x, fs=fs_hz, nperseg=nperseg)`` with its defaults: periodic Hann
    window, half-overlapping segments (those that fit whole), each segment's mean removed,
    one-sided power spectral density (units of x squared per Hz), mean over segments.
    Returns (frequencies in Hz, density); ``nperseg`` is capped at ``len(x)``."""
    x = np.asarray(x, np.float64)
    nperseg = min(int(nperseg), x.size)
    if nperseg < 1:
        return np.empty(0), np.empty(0)
    step = nperseg - nperseg // 2
    n_segments = (x.size - nperseg // 2) // step
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(nperseg) / nperseg) if nperseg > 1 else np.ones(1)
    segments = np.lib.stride_tricks.sliding_window_view(x, nperseg)[::step][:n_segments]
    segments = segments - segments.mean(axis=-1, keepdims=True)
    spectra = np.fft.rfft(segments * window, nperseg)
    density = (spectra * spectra.conj()).real / (fs_hz * (window * window).sum())
    if nperseg % 2:
        density[..., 1:] *= 2
    else:
        density[..., 1:-1] *= 2
    return np.fft.rfftfreq(nperseg, 1.0 / fs_hz), density.mean(axis=0)
