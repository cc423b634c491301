"""The response of a population rate to a step of its input, from spike counts: causal
bins after each step, normalised to the old and new steady rates, and the response times
used by :mod:`balanced.tracking` (a fitted delayed exponential's 63 % time, the first
crossing of 63 %, the settling time, the mean distance from the new rate and its integral).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import rundir

BIN_MS = 0.2  # two steps of 0.1 ms: resolves a sub-ms response
LEVEL = 1.0 - math.exp(-1.0)  # 63 %
AREA_MS = 15.0  # past the slowest (uncoupled) response
SETTLE_BIN_MS = 1.0  # coarser bins for the settling time: per-bin noise well under 1 - 0.63


def response(spikes: rundir.Spikes, n_e: int, n_i: int, switches: list[float], half: float) -> dict[str, np.ndarray]:
    """Summed counts per ``BIN_MS`` bin from -half to +half around the up and the down switches,
    per population: ``{"up_E": counts, ...}`` (bin k covers ``(edges[k], edges[k+1]]``)."""
    nb = int(round(half / BIN_MS))
    out: dict[str, np.ndarray] = {}
    steps = np.rint(spikes.time / 0.1).astype(np.int64)  # on the 0.1 ms grid (checked by the caller)
    for pop, sel in (("E", spikes.neuron < n_e), ("I", spikes.neuron >= n_e)):
        st = np.sort(steps[sel])
        for kind, ks in (("up", switches[0::2]), ("down", switches[1::2])):
            acc = np.zeros(2 * nb)
            for t in ks:
                if t - half < 0:
                    continue
                edges = np.rint((t + np.arange(-nb, nb + 1) * BIN_MS) / 0.1).astype(np.int64)
                c = np.searchsorted(st, edges, side="right")  # spikes at step <= edge
                acc += np.diff(c)
            out[f"{kind}_{pop}"] = acc
    return out


def normalised(counts: np.ndarray) -> np.ndarray:
    """``R`` after the switch (bins 0 .. nb-1) from summed counts over -half .. +half."""
    nb = len(counts) // 2
    third = max(1, nb // 3)
    before, after = counts[nb - third : nb].mean(), counts[-third:].mean()
    return (counts[nb:] - before) / (after - before) if after != before else np.full(nb, math.nan)


def fit_step(R: np.ndarray, span_ms: float = AREA_MS) -> dict[str, float]:
    """Least-squares fit of ``R = 1 - exp(-(t - d) / tau)`` for t > d (0 before) to the bins
    of the first ``span_ms`` (brute force over a grid: d in 0..5 ms by 0.05, tau from 0.05
    to 50 ms, 3 % apart). Returns ``delay_ms``, ``tau_ms``, ``t63_ms = d + tau`` and the
    RMS residual."""
    n = min(len(R), int(round(span_ms / BIN_MS)))
    tc = (np.arange(n) + 0.5) * BIN_MS
    y = np.asarray(R[:n], dtype=float)
    ok = np.isfinite(y)
    d = np.arange(0.0, 5.0 + 1e-9, 0.05)[:, None, None]
    tau = np.geomspace(0.05, 50.0, 235)[None, :, None]
    model = np.where(tc > d, 1.0 - np.exp(-np.clip(tc - d, 0, None) / tau), 0.0)
    err = np.sum((model[..., ok] - y[ok]) ** 2, axis=-1)
    i, k = np.unravel_index(int(np.argmin(err)), err.shape)
    return {
        "delay_ms": float(d[i, 0, 0]),
        "tau_ms": float(tau[0, k, 0]),
        "t63_ms": float(d[i, 0, 0] + tau[0, k, 0]),
        "rms": float(math.sqrt(err[i, k] / max(np.count_nonzero(ok), 1))),
    }


def response_time(R: np.ndarray) -> dict[str, Any]:
    """The fit's ``t63_ms`` (:func:`fit_step`), the first crossing of 0.63 by the binned curve
    (``t63_crossing_ms``, linear interpolation between bin centres; noisy), ``t_area_ms``,
    ``t_abs_ms`` (ms, the integral of ``|1 - R|`` over the first ``AREA_MS``: a delayed
    exponential's d + tau, and for a response that overshoots and rings the time it spends
    away from the new rate, both ways) and the largest value of R there (an overshoot)."""
    tc = (np.arange(len(R)) + 0.5) * BIN_MS
    over = np.flatnonzero(R >= LEVEL)
    cross = None
    if len(over):
        i = int(over[0])
        cross = float(tc[0]) if i == 0 else float(tc[i - 1] + (LEVEL - R[i - 1]) / (R[i] - R[i - 1]) * BIN_MS)
    n_area = min(len(R), int(round(AREA_MS / BIN_MS)))
    fit = fit_step(R)
    return {
        "t63_ms": fit["t63_ms"],
        "fit": fit,
        "t63_crossing_ms": cross,
        "settle_ms": settling_time(R),
        "tracking_error": tracking_error(R),
        "t_area_ms": float(np.sum(1.0 - R[:n_area]) * BIN_MS),
        "t_abs_ms": float(np.sum(np.abs(1.0 - R[:n_area])) * BIN_MS),
        "R_max": float(np.nanmax(R[:n_area])),
    }


def _coarse(R: np.ndarray) -> np.ndarray:
    m = int(round(SETTLE_BIN_MS / BIN_MS))
    n = min(len(R), int(round(AREA_MS / BIN_MS))) // m
    return np.asarray(R[: n * m], dtype=float).reshape(n, m).mean(axis=1)


def tracking_error(R: np.ndarray) -> float:
    """Mean ``|R - 1|`` over the ``SETTLE_BIN_MS`` bins from 1 ms to ``AREA_MS``: how far
    the rate stays from the new rate once the input has arrived (noise adds about 0.1-0.2)."""
    return float(np.mean(np.abs(_coarse(R)[1:] - 1.0)))


def settling_time(R: np.ndarray) -> float:
    """The end of the last ``SETTLE_BIN_MS`` bin (within ``AREA_MS``) where R is farther than
    1 - 0.63 from 1: after it the rate stays within 1/e of the new rate (an overshoot counts)."""
    coarse = _coarse(R)
    bad = np.flatnonzero(np.abs(coarse - 1.0) > 1.0 - LEVEL)
    return float((bad[-1] + 1) * SETTLE_BIN_MS) if len(bad) else 0.0
