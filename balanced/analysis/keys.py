"""The stats.json keys with unit and definition (docs/analysis.md shows the same table)."""

from __future__ import annotations

#: (key, unit, definition) of every stats.json entry; docs/analysis.md shows the same table.
STATS_KEYS: list[tuple[str, str, str]] = [
    ("E.n_neurons / I.n_neurons", "1", "size of the population"),
    ("<pop>.n_spikes", "1", "spikes of the population in the window"),
    (
        "<pop>.rate_mean_hz",
        "Hz",
        "mean over all neurons of (spikes in window / window length); silent neurons count as 0 Hz",
    ),
    ("<pop>.rate_sd_hz", "Hz", "SD (ddof 0) across neurons of the same per-neuron rates"),
    ("<pop>.n_silent", "1", "neurons without a spike in the window"),
    (
        "<pop>.cv_isi_mean",
        "1",
        "mean over neurons with >= 3 spikes of elephant.statistics.cv(isi(train)) (SD/mean of ISIs, ddof 0)",
    ),
    ("<pop>.cv_isi_sd", "1", "SD across those neurons of the ISI CV"),
    ("<pop>.lv_mean", "1", "mean over neurons with >= 3 spikes of elephant.statistics.lv(isi(train))"),
    ("<pop>.cv2_mean", "1", "mean over neurons with >= 3 spikes of elephant.statistics.cv2(isi(train))"),
    ("<pop>.n_cv_neurons", "1", "neurons entering cv/lv/cv2 (>= 3 spikes in the window)"),
    (
        "<pop>.fano_mean",
        "1",
        "mean over neurons with nonzero mean count of var/mean (ddof 0) of the neuron's counts in consecutive fano_window_ms windows (100 ms)",
    ),
    ("<pop>.n_fano_neurons", "1", "neurons entering fano_mean"),
    (
        "<pop>.corr_mean",
        "1",
        "mean over all distinct pairs of a seeded subsample of corr_n_neurons (200) active neurons of elephant correlation_coefficient on corr_bin_ms (10 ms) bins",
    ),
    ("<pop>.corr_sd", "1", "SD (ddof 0) of those pair coefficients"),
    ("<pop>.n_corr_neurons / n_corr_pairs", "1", "size of the correlation subsample / number of pairs"),
    (
        "<pop>.chi",
        "1",
        "Golomb's synchrony chi of the same subsample: sqrt(Var_t(mean_i x_i) / mean_i Var_t(x_i)), x_i = spike count in a sliding chi_window_ms (5 ms) box sampled every chi_bin_ms (1 ms)",
    ),
    (
        "<pop>.pop_rate_mean_hz",
        "Hz",
        "time mean of the population rate smoothed as the tutorial (bp.measure.firing_rate, 5 ms box, +2 % at dt = 0.1 ms)",
    ),
    ("<pop>.pop_rate_sd_hz", "Hz", "time SD of that smoothed population rate"),
    (
        "<pop>.pop_rate_kernel_sd_hz",
        "Hz",
        "time SD of elephant instantaneous_rate (pooled, 5 ms RectangularKernel, sampled at dt) of the population",
    ),
    ("network.chi", "1", "Golomb's chi over the union of the E and I subsamples"),
    ("network.n_chi_neurons", "1", "neurons entering network.chi"),
    ("network.pop_rate_mean_hz", "Hz", "time mean of the tutorial-smoothed rate of all neurons"),
    ("network.pop_rate_sd_hz", "Hz", "time SD of the tutorial-smoothed rate of all neurons"),
    (
        "network.pop_rate_kernel_mean_hz / _sd_hz",
        "Hz",
        "time mean / SD of elephant instantaneous_rate of all neurons (5 ms box kernel)",
    ),
    (
        "network.peak_freq_hz",
        "Hz",
        "frequency of the maximum of the Welch PSD (Hann, 1 s segments or the whole window) of the unsmoothed all-neuron rate in psd_bin_ms (1 ms) bins, frequencies >= psd_min_freq_hz (2 Hz)",
    ),
    ("balance.n_neurons", "1", "neurons with recorded state (state.npz)"),
    ("balance.mean_exc_input", "pA (= mV)", "mean over recorded neurons and window samples of I_syn_ex"),
    ("balance.mean_inh_input", "pA (= mV)", "mean over recorded neurons and window samples of I_syn_in (negative)"),
    (
        "balance.mean_net_input",
        "pA (= mV)",
        "mean_exc_input + mean_inh_input (recurrent synaptic input; the constant drive is not included)",
    ),
    ("balance.v_mean", "mV", "mean over recorded neurons of each neuron's temporal mean of V_m"),
    ("balance.v_sd", "mV", "mean over recorded neurons of each neuron's temporal SD (ddof 0) of V_m"),
    ("balance.chi_v", "1", "Golomb's chi of V_m of the recorded neurons"),
    (
        "balance.per_population.<pop>.*",
        "as above",
        "the same balance numbers restricted to one population's recorded neurons",
    ),
    ("window_ms", "ms", "[t_start, t_stop]: spikes with t_start <= t < t_stop are analysed; default [50, T - 50]"),
    (
        "diagnosis",
        "-",
        "the regime diagnosis of the run's parameters (balanced.theory; list of strings), when they can be diagnosed",
    ),
    ("meta.run_id / preset / seed / status", "-", "from the manifest (run_id defaults to the directory name)"),
    ("meta.n_neurons / n_spikes_total / dt_ms", "1 / 1 / ms", "network size, all spikes of the run, simulation step"),
    ("meta.analysis", "-", "the AnalysisParams used (bins, windows, subsample sizes, seed)"),
    ("meta.run_dir", "-", "path of the analysed run directory"),
]


def keys_markdown() -> str:
    """The stats.json key table as Markdown (for docs/analysis.md and the README)."""
    lines = ["| key | unit | definition |", "|---|---|---|"]
    lines += [f"| `{k}` | {u} | {d} |" for k, u, d in STATS_KEYS]
    return "\n".join(lines) + "\n"
