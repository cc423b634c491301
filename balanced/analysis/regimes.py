"""Regime labels of a run from its summary statistics, and the population-rate
irregularity they use.

Labels (:func:`classify`): quiescent if the mean rate is below 0.5 Hz or more than 90 %
of the neurons are silent; otherwise regular if the ISI CV < 0.5, synchronous if the mean
pairwise count correlation (10 ms bins) > 0.01, or the SD/mean of the population rate in
1 ms bins > 1, or Golomb's chi > 0.3 (chi from >= 200 neurons). SR = synchronous and
regular, SI = synchronous and irregular, AI = asynchronous irregular, AR = asynchronous
regular (see docs/balanced-state.md).
"""

from __future__ import annotations

import numpy as np

QUIESCENT_RATE_HZ = 0.5
QUIESCENT_SILENT_FRACTION = 0.9
REGULAR_CV = 0.5
SYNC_CORR = 0.01
SYNC_POPRATE_CV = 1.0
SYNC_CHI = 0.3
CHI_MIN_NEURONS = 200
LABEL_NAMES = {
    "Q": "quiescent",
    "SR": "synchronous regular",
    "SI": "synchronous irregular",
    "AI": "asynchronous irregular",
    "AR": "asynchronous regular",
    "failed": "failed",
}


def population_rate_cv(time_ms: np.ndarray, t_start: float, t_stop: float, bin_ms: float = 1.0) -> float:
    """SD / mean of the all-neuron spike count in ``bin_ms`` bins (ms) over [t_start, t_stop) (ms);
    NaN when there is no spike in the window."""
    n = int(round((t_stop - t_start) / bin_ms))
    if n < 1:
        return float("nan")
    t = np.asarray(time_ms)
    t = t[(t >= t_start) & (t < t_stop)]
    counts = np.bincount(np.minimum(((t - t_start) / bin_ms).astype(np.int64), n - 1), minlength=n)
    mean = counts.mean()
    return float(counts.std() / mean) if mean > 0 else float("nan")


def classify(
    rate_mean: float, silent_fraction: float, cv: float, corr: float, pop_rate_cv: float, chi: float, n_chi: int
) -> str:
    """The label of a run: 'Q', 'SR', 'SI', 'AI' or 'AR' (module docstring).

    ``rate_mean`` in Hz; ``silent_fraction`` of all neurons; ``cv`` the mean ISI CV; ``corr``
    the mean pairwise count correlation; ``pop_rate_cv`` from :func:`population_rate_cv`
    (1 ms bins); ``chi`` Golomb's chi computed from ``n_chi`` neurons.
    """
    if not (rate_mean >= QUIESCENT_RATE_HZ) or silent_fraction > QUIESCENT_SILENT_FRACTION:
        return "Q"
    sync = (corr > SYNC_CORR) or (pop_rate_cv > SYNC_POPRATE_CV) or (n_chi >= CHI_MIN_NEURONS and chi > SYNC_CHI)
    regular = cv < REGULAR_CV
    if sync:
        return "SR" if regular else "SI"
    return "AR" if regular else "AI"
