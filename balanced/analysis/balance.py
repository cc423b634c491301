"""Input balance of the recorded neurons: mean E, I and net synaptic input, V_m mean and SD."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from balanced.rundir import Population, State

from .synchrony import golomb_chi_signal


@dataclass
class BalanceStats:
    """Input balance from the recorded neurons, over the window (pA = mV; mV for V)."""

    n_neurons: int
    times_ms: np.ndarray
    exc_trace: np.ndarray  # mean over recorded neurons of I_syn_ex, per sample
    inh_trace: np.ndarray
    net_trace: np.ndarray
    mean_exc_input: float
    mean_inh_input: float
    mean_net_input: float
    v_mean: float
    v_sd: float
    chi_v: float
    per_population: dict[str, dict[str, float]] = field(default_factory=dict)


def _balance_numbers(ex: np.ndarray, inh: np.ndarray, v: np.ndarray) -> dict[str, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean_ex = float(np.nanmean(ex)) if ex.size else float("nan")
        mean_in = float(np.nanmean(inh)) if inh.size else float("nan")
        return {
            "n_neurons": int(v.shape[0]),
            "mean_exc_input": mean_ex,
            "mean_inh_input": mean_in,
            "mean_net_input": mean_ex + mean_in,
            "v_mean": float(np.nanmean(np.nanmean(v, axis=1))) if v.size else float("nan"),
            "v_sd": float(np.nanmean(np.nanstd(v, axis=1))) if v.size else float("nan"),
            "chi_v": golomb_chi_signal(v),
        }


def balance_statistics(state: State, populations: list[Population], t_start: float, t_stop: float) -> BalanceStats:
    """Mean E, I and net synaptic input, mean and SD of V_m (see the module docstring)."""
    cols = (state.time >= t_start) & (state.time < t_stop)
    ex, inh, v = state.I_syn_ex[:, cols], state.I_syn_in[:, cols], state.V_m[:, cols]
    whole = _balance_numbers(ex, inh, v)
    per_pop = {}
    for pop in populations:
        rows = (state.neuron >= pop.first) & (state.neuron < pop.stop)
        if np.any(rows):
            per_pop[pop.name] = _balance_numbers(ex[rows], inh[rows], v[rows])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        exc_trace = np.nanmean(ex, axis=0) if ex.shape[0] else np.empty(0)
        inh_trace = np.nanmean(inh, axis=0) if inh.shape[0] else np.empty(0)
    return BalanceStats(
        n_neurons=int(whole["n_neurons"]),
        times_ms=state.time[cols],
        exc_trace=exc_trace,
        inh_trace=inh_trace,
        net_trace=exc_trace + inh_trace,
        mean_exc_input=whole["mean_exc_input"],
        mean_inh_input=whole["mean_inh_input"],
        mean_net_input=whole["mean_net_input"],
        v_mean=whole["v_mean"],
        v_sd=whole["v_sd"],
        chi_v=whole["chi_v"],
        per_population=per_pop,
    )
