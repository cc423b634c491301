"""Parameter sweeps: a grid of runs, one run directory per point, resumable, analysed, tabulated.

A sweep is specified in a TOML file (``sweeps/*.toml`` in the repository)::

    name = "k_sweep"                       # optional, defaults to the file name
    description = "rate vs K"              # optional
    preset = "balanced"                    # base preset (default: tutorial)

    [fixed]                                # parameter overrides applied to every point
    T = 2000.0
    record_n = 20

    [sweep]                                # swept keys, in order; the grid is their product
    K = [100, 200, 400, 800]

    [options]
    scale_N_with_K = true                  # K also scales N_E, N_I (K/N fixed; default true)
    seeds = 1                              # (reserved: one seed per point, the base seed)

    [analysis]
    t_start = 200.0                        # analysis window, ms (default 50, T - 50)
    t_stop = 1950.0

The swept keys may be any parameter key of :mod:`balanced.params` or one of three
derived factors, applied to the base parameters (preset + ``[fixed]``):

``g``  scales both inhibitory couplings: ``j_EI -> g j_EI``, ``j_II -> g j_II`` (scaled
       form) or ``J_I -> g J_I`` (tutorial form). Sweeping ``g`` together with
       ``j_EI``/``j_II``/``J_I`` is refused.
``d``  scales both drives: ``i_E -> d i_E``, ``i_I -> d i_I`` (scaled form) or
       ``Ib -> d Ib`` (tutorial form). Not together with ``i_E``/``i_I``/``Ib``.
``K``  (scaled form only) sets the in-degree and, with ``scale_N_with_K`` (default), the
       population sizes ``N_a = round(K * N_a_base / K_base)`` so that the connection
       probability K/N stays that of the base (``balanced``: K/N = 400/4000, so
       K = 100 -> N_E = N_I = 1000). With ``scale_N_with_K = false`` only K changes.
       Not together with swept ``N_E``/``N_I`` when scaling.

Layout of a sweep directory::

    SWEEP_DIR/
      sweep.json          the specification as read, and the base parameters
      points/NAME/        one run directory per point (see docs/design.md), NAME = "K=100"
                          or "g=0.5__d=1" (swept keys in spec order, values with %g)
      points/NAME/analysis/stats.json, sweep_point.json   per-point statistics
      logs/NAME.log       the output of the point's worker process
      jobs/NAME.json      what the worker was given (parameters, run directory, window)
      results.csv         one row per point (see :data:`COLUMNS`), written atomically
      results.json        {"spec", "rows", "fits"} (fits: exponent of the K sweep, slope of
                          the drive sweep), written atomically
      figures/*.png|pdf   figures chosen by the swept keys (see balanced.sweep_plots)

Resuming: a point whose manifest is ``complete``, whose parameters equal the point's
parameters and whose analysis is present is skipped (log line ``skip``); one complete
but not analysed is only analysed; anything else (no directory, ``running`` after a
kill, ``failed``, different parameters) is rerun with overwrite.

Each point runs in a fresh process (``python -m balanced.sweep --worker JOB``; NEST's
kernel is per process) with one thread; ``jobs`` processes run at once.

Labels (:func:`classify`): quiescent if the mean rate is below 0.5 Hz or more than 90 %
of the neurons are silent; otherwise regular if the ISI CV < 0.5, synchronous if the mean
pairwise count correlation (10 ms bins) > 0.01, or the SD/mean of the population rate in
1 ms bins > 1, or Golomb's chi > 0.3 (chi from >= 200 neurons). SR = synchronous and
regular, SI = synchronous and irregular, AI = asynchronous irregular, AR = asynchronous
regular.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import rundir
from .params import KNOWN_KEYS, ParamError, Params, read_toml, replace, resolve, validate

DERIVED_KEYS = ("g", "d", "K")
SPEC_TOP_KEYS = ("name", "description", "preset", "fixed", "sweep", "options", "analysis")
OPTION_KEYS = ("scale_N_with_K",)
ANALYSIS_KEYS = ("t_start", "t_stop")
POINT_FILE = "sweep_point.json"
RESULTS_CSV = "results.csv"
RESULTS_JSON = "results.json"

# label thresholds (see the module docstring and docs/balanced-state.md)
QUIESCENT_RATE_HZ = 0.5
QUIESCENT_SILENT_FRACTION = 0.9
REGULAR_CV = 0.5
SYNC_CORR = 0.01
SYNC_POPRATE_CV = 1.0
SYNC_CHI = 0.3
CHI_MIN_NEURONS = 200
LABEL_NAMES = {"Q": "quiescent", "SR": "synchronous regular", "SI": "synchronous irregular",
               "AI": "asynchronous irregular", "AR": "asynchronous regular", "failed": "failed"}


class SweepError(RuntimeError):
    """A sweep that could not finish (a point failed); the message names the points and logs."""


# =========================================================================== specification
@dataclass(frozen=True)
class SweepSpec:
    name: str
    preset: str
    fixed: dict[str, Any]
    axes: tuple[tuple[str, tuple[Any, ...]], ...]
    description: str = ""
    scale_N_with_K: bool = True
    t_start: float | None = None
    t_stop: float | None = None
    source: str = "<dict>"

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(k for k, _ in self.axes)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "preset": self.preset,
                "fixed": dict(self.fixed), "sweep": {k: list(v) for k, v in self.axes},
                "options": {"scale_N_with_K": self.scale_N_with_K},
                "analysis": {"t_start": self.t_start, "t_stop": self.t_stop}, "source": self.source}


def load_spec(path: str | os.PathLike) -> SweepSpec:
    """Read and check a sweep file; :class:`ParamError` with the file name on any problem."""
    path = Path(path)
    return parse_spec(read_toml(path, "sweep file"), source=str(path), default_name=path.stem)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def parse_spec(doc: dict[str, Any], source: str = "<dict>", default_name: str = "sweep") -> SweepSpec:
    where = f"sweep file {source!r}"
    unknown = [k for k in doc if k not in SPEC_TOP_KEYS]
    if unknown:
        raise ParamError(f"{where}: unknown top-level key{'s' if len(unknown) > 1 else ''} "
                         f"{', '.join(map(repr, unknown))}; allowed: {', '.join(SPEC_TOP_KEYS)}")
    for table in ("fixed", "sweep", "options", "analysis"):
        if table in doc and not isinstance(doc[table], dict):
            raise ParamError(f"{where}: '{table}' must be a table ([{table}])")
    name = doc.get("name", default_name)
    if not isinstance(name, str) or not name:
        raise ParamError(f"{where}: 'name' must be a non-empty string")
    preset = doc.get("preset", "tutorial")
    if not isinstance(preset, str):
        raise ParamError(f"{where}: 'preset' must be a preset name (string)")
    fixed = dict(doc.get("fixed", {}))
    bad = [k for k in fixed if k not in KNOWN_KEYS]
    if bad:
        raise ParamError(f"{where}: unknown parameter{'s' if len(bad) > 1 else ''} {', '.join(map(repr, bad))} "
                         f"in [fixed]; known parameters: {', '.join(KNOWN_KEYS)} (g, d, K factors only in [sweep])")
    sweep = doc.get("sweep")
    if not sweep:
        raise ParamError(f"{where}: no [sweep] table (or it is empty); give at least one key with a list of values, "
                         "e.g. [sweep] K = [100, 200]")
    axes = []
    for key, values in sweep.items():
        if key not in KNOWN_KEYS and key not in DERIVED_KEYS:
            raise ParamError(f"{where}: unknown swept key {key!r}; use a parameter key ({', '.join(KNOWN_KEYS)}) "
                             f"or a sweep factor ({', '.join(DERIVED_KEYS)})")
        if not isinstance(values, list) or not values:
            raise ParamError(f"{where}: [sweep] {key} must be a non-empty list of values, got {values!r}")
        if key in fixed:
            raise ParamError(f"{where}: {key!r} is both fixed and swept")
        if key in ("g", "d") and not all(_is_number(v) and v >= 0 for v in values):
            raise ParamError(f"{where}: [sweep] {key} factors must be numbers >= 0, got {values!r}")
        if key == "K" and not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values):
            raise ParamError(f"{where}: [sweep] K values must be integers >= 1, got {values!r}")
        if len({_fmt_value(v) for v in values}) != len(values):
            raise ParamError(f"{where}: [sweep] {key} has repeated values {values!r}")
        axes.append((key, tuple(values)))
    options = doc.get("options", {})
    bad = [k for k in options if k not in OPTION_KEYS]
    if bad:
        raise ParamError(f"{where}: unknown option{'s' if len(bad) > 1 else ''} {', '.join(map(repr, bad))}; "
                         f"allowed: {', '.join(OPTION_KEYS)}")
    scale = options.get("scale_N_with_K", True)
    if not isinstance(scale, bool):
        raise ParamError(f"{where}: options.scale_N_with_K must be true or false")
    analysis = doc.get("analysis", {})
    bad = [k for k in analysis if k not in ANALYSIS_KEYS]
    if bad:
        raise ParamError(f"{where}: unknown analysis key{'s' if len(bad) > 1 else ''} {', '.join(map(repr, bad))}; "
                         f"allowed: {', '.join(ANALYSIS_KEYS)}")
    for k in ANALYSIS_KEYS:
        if k in analysis and not _is_number(analysis[k]):
            raise ParamError(f"{where}: analysis.{k} must be a number (ms)")
    keys = [k for k, _ in axes]
    conflicts = {"g": ("j_EI", "j_II", "J_I"), "d": ("i_E", "i_I", "Ib")}
    if "K" in keys and scale:
        conflicts["K"] = ("N_E", "N_I")
    for factor, clash in conflicts.items():
        both = [c for c in clash if factor in keys and c in keys]
        if both:
            raise ParamError(f"{where}: swept factor {factor!r} sets {', '.join(clash)}; do not sweep "
                             f"{', '.join(map(repr, both))} with it")
    spec = SweepSpec(name=name, preset=preset, fixed=fixed, axes=tuple(axes),
                     description=str(doc.get("description", "")), scale_N_with_K=scale,
                     t_start=analysis.get("t_start"), t_stop=analysis.get("t_stop"), source=source)
    points(spec)  # every point must validate now, before anything runs
    return spec


# =========================================================================== points
def _fmt_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    s = str(v)
    return "".join(c if c.isalnum() or c in "-.+" else "-" for c in s)


def point_name(assignment: dict[str, Any]) -> str:
    """Directory name of a point: ``key=value`` joined by ``__`` (spec order, %g numbers)."""
    return "__".join(f"{k}={_fmt_value(v)}" for k, v in assignment.items())


def base_params(spec: SweepSpec) -> Params:
    """The preset with the ``[fixed]`` overrides."""
    base = resolve(spec.preset)
    return replace(base, **spec.fixed) if spec.fixed else base


# the parameters each factor multiplies: (scaled coupling form, tutorial form)
FACTOR_KEYS = {"g": (("j_EI", "j_II"), ("J_I",)),   # inhibition
               "d": (("i_E", "i_I"), ("Ib",))}      # drive


def apply_point(base: Params, assignment: dict[str, Any], scale_N_with_K: bool = True) -> Params:
    """Parameters of one point: plain keys set, then the factors g, d and K applied to ``base``."""
    changes = {k: v for k, v in assignment.items() if k not in DERIVED_KEYS}
    scaled = base.coupling == "scaled" if "coupling" not in changes else changes["coupling"] == "scaled"
    ref = validate({**base.to_dict(), **changes}) if changes else base
    for factor, keys in FACTOR_KEYS.items():
        if factor in assignment:
            value = float(assignment[factor])
            changes.update({k: getattr(ref, k) * value for k in keys[0 if scaled else 1]})
    if "K" in assignment:
        if not scaled:
            raise ParamError("sweep factor 'K' needs coupling = \"scaled\" (the tutorial form sets K = p N; "
                             "sweep 'p' or 'N_E'/'N_I' there)")
        K = int(assignment["K"])
        changes["K"] = K
        if scale_N_with_K:
            changes["N_E"] = max(1, int(round(K * ref.N_E / ref.K)))
            changes["N_I"] = max(1, int(round(K * ref.N_I / ref.K)))
            if ref.record_n > min(changes["N_E"], changes["N_I"]):
                changes["record_n"] = min(changes["N_E"], changes["N_I"])
    return replace(base, **changes)


@dataclass(frozen=True)
class Point:
    index: int
    name: str
    assignment: dict[str, Any]
    params: Params


def points(spec: SweepSpec) -> list[Point]:
    """All grid points (product of the swept values, first key slowest), validated."""
    base = base_params(spec)
    out = []
    keys = spec.keys
    for n, combo in enumerate(itertools.product(*(v for _, v in spec.axes))):
        assignment = dict(zip(keys, combo))
        try:
            params = apply_point(base, assignment, spec.scale_N_with_K)
        except ParamError as exc:
            raise ParamError(f"sweep {spec.name!r}, point {point_name(assignment)}: {exc}") from None
        out.append(Point(n, point_name(assignment), assignment, params))
    return out


# =========================================================================== point state
def point_status(run_dir: Path, params: Params) -> tuple[str, str]:
    """('done' | 'analyze' | 'run', reason) for an existing or absent point directory."""
    if not (run_dir / rundir.MANIFEST).exists():
        return "run", "new"
    try:
        manifest = rundir.read_manifest(run_dir)
    except rundir.RunDirError as exc:
        return "run", f"unreadable manifest ({exc})"
    status = manifest.get("status")
    if status != "complete":
        return "run", f"status {status!r}"
    try:
        same = validate(manifest.get("params", {})) == params
    except (ParamError, TypeError):
        same = False
    if not same:
        return "run", "parameters differ from the sweep file"
    if not ((run_dir / "analysis" / "stats.json").is_file() and (run_dir / "analysis" / POINT_FILE).is_file()):
        return "analyze", "complete, not analysed"
    return "done", "complete, parameters match"


# =========================================================================== worker (own process)
def population_rate_cv(time_ms: np.ndarray, t_start: float, t_stop: float, bin_ms: float = 1.0) -> float:
    """SD / mean of the all-neuron spike count in ``bin_ms`` bins over [t_start, t_stop)."""
    n = int(round((t_stop - t_start) / bin_ms))
    t = time_ms[(time_ms >= t_start) & (time_ms < t_stop)]
    counts = np.bincount(np.minimum(((t - t_start) / bin_ms).astype(np.int64), n - 1), minlength=n)
    mean = counts.mean() if n else 0.0
    return float(counts.std() / mean) if mean > 0 else float("nan")


def analyze_point(run_dir: Path, t_start: float | None, t_stop: float | None) -> dict[str, Any]:
    """stats.json (no figures) and sweep_point.json (what the table needs beyond stats.json)."""
    from .analysis.report import analyze_run
    stats = analyze_run(run_dir, t_start=t_start, t_stop=t_stop, figures=False)
    w0, w1 = stats["window_ms"]
    with np.load(run_dir / rundir.SPIKES_FILE) as data:
        t = data["time"]
    extra = {"pop_rate_cv_1ms": population_rate_cv(t, w0, w1, 1.0), "window_ms": [w0, w1]}
    rundir.atomic_write_text(run_dir / "analysis" / POINT_FILE, json.dumps(rundir.json_ready(extra), indent=2) + "\n")
    return stats


def _worker(job_path: str) -> int:
    from .run import run_network
    job = json.loads(Path(job_path).read_text())
    params = validate(job["params"])
    out = Path(job["out"])
    if job["run"]:
        run_network(params, out, threads=1, overwrite=True, preset=job.get("preset"), progress=False)
    analyze_point(out, job.get("t_start"), job.get("t_stop"))
    print(f"point {out.name}: analysed", file=sys.stderr)
    return 0


# =========================================================================== table
COLUMNS = [
    "point", "status", "label", "label_name",
    # (swept keys are inserted here)
    "N_E", "N_I", "K", "T", "seed",
    "rate_E", "rate_I", "rate_mean", "silent_fraction",
    "cv_E", "cv_I", "cv_mean", "fano_E", "fano_I", "corr_E", "corr_I", "corr_mean",
    "chi", "n_chi_neurons", "pop_rate_cv_1ms",
    "drive_E", "exc_input_E", "inh_input_E", "net_input_E",
    "drive_I", "exc_input_I", "inh_input_I", "net_input_I",
    "v_mean_E", "v_mean_I", "v_sd_E",
    "balance_rate_E", "balance_rate_I", "balance_exists",
    "mf_rate_E", "mf_rate_I", "mf_converged", "theory_regime",
]
COLUMN_DOC = {
    "label": "Q / SR / SI / AI / AR (see classify); 'failed' when the point has no results",
    "rate_E/I/mean": "mean firing rate (Hz) over all neurons of E, I, the network",
    "cv_*": "mean ISI CV; cv_mean weighted by the neurons entering each population's mean",
    "corr_*": "mean pairwise count correlation, 10 ms bins, 200-neuron subsample",
    "chi": "Golomb's chi of the network subsample (n_chi_neurons)",
    "pop_rate_cv_1ms": "SD / mean of the all-neuron spike count in 1 ms bins",
    "drive_a": "constant drive sqrt(K) i_a (or Ib), mV",
    "exc_input_a": "drive_a + mean recurrent excitatory synaptic input of population a, mV (= pA)",
    "inh_input_a": "mean recurrent inhibitory synaptic input of population a, mV (negative)",
    "net_input_a": "exc_input_a + inh_input_a: mean free membrane potential minus V_rest, mV",
    "balance_rate_a": "balance-equation prediction (Hz); mf_rate_a: finite-K mean field (Hz)",
}


def _num(x: Any) -> float:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else float("nan")


def classify(rate_mean: float, silent_fraction: float, cv: float, corr: float, pop_rate_cv: float,
             chi: float, n_chi: int) -> str:
    """The label of a point (module docstring): 'Q', 'SR', 'SI', 'AI' or 'AR'."""
    if not (rate_mean >= QUIESCENT_RATE_HZ) or silent_fraction > QUIESCENT_SILENT_FRACTION:
        return "Q"
    sync = (corr > SYNC_CORR) or (pop_rate_cv > SYNC_POPRATE_CV) or (n_chi >= CHI_MIN_NEURONS and chi > SYNC_CHI)
    regular = cv < REGULAR_CV
    if sync:
        return "SR" if regular else "SI"
    return "AR" if regular else "AI"


def theory_columns(params: Params) -> dict[str, Any]:
    from .theory import diagnose_params
    dg = diagnose_params(params)
    bal = dg.balance
    mf = dg.mean_field
    drive = dg.form.I_drive
    return {
        "drive_E": float(drive[0]), "drive_I": float(drive[1]),
        "balance_rate_E": float(bal.rates_hz[0]) if bal is not None and bal.rates_hz is not None else float("nan"),
        "balance_rate_I": float(bal.rates_hz[1]) if bal is not None and bal.rates_hz is not None else float("nan"),
        "balance_exists": bool(bal is not None and bal.exists),
        "mf_rate_E": float(mf.rates_hz[0]) if mf is not None else float("nan"),
        "mf_rate_I": float(mf.rates_hz[1]) if mf is not None else float("nan"),
        "mf_converged": bool(mf is not None and mf.converged),
        "theory_regime": dg.regime,
    }


def point_row(point: Point, run_dir: Path, swept: tuple[str, ...]) -> dict[str, Any]:
    """One table row from the point's stats.json, sweep_point.json and the theory."""
    p = point.params
    row: dict[str, Any] = {"point": point.name, "status": "missing", "label": "failed", "label_name": "failed"}
    row.update({k: point.assignment[k] for k in swept})
    row.update({"N_E": p.N_E, "N_I": p.N_I, "K": p.K if p.coupling == "scaled" else round(p.p * p.N_E),
                "T": p.T, "seed": p.seed})
    row.update(theory_columns(p))
    try:
        row["status"] = rundir.read_manifest(run_dir).get("status", "missing")
        stats = json.loads((run_dir / "analysis" / "stats.json").read_text())
        extra = json.loads((run_dir / "analysis" / POINT_FILE).read_text())
    except (OSError, json.JSONDecodeError, rundir.RunDirError):
        return row
    E, I = stats.get("E", {}), stats.get("I", {})
    nE, nI = E.get("n_neurons", p.N_E), I.get("n_neurons", p.N_I)
    rE, rI = _num(E.get("rate_mean_hz")), _num(I.get("rate_mean_hz"))
    cE, cI = _num(E.get("cv_isi_mean")), _num(I.get("cv_isi_mean"))
    wE, wI = E.get("n_cv_neurons", 0) or 0, I.get("n_cv_neurons", 0) or 0
    cv_mean = ((cE * wE if wE else 0.0) + (cI * wI if wI else 0.0)) / (wE + wI) if (wE + wI) else float("nan")
    corrE, corrI = _num(E.get("corr_mean")), _num(I.get("corr_mean"))
    corr_mean = float(np.nanmean([corrE, corrI])) if np.isfinite([corrE, corrI]).any() else float("nan")
    net = stats.get("network", {})
    silent = (E.get("n_silent", 0) + I.get("n_silent", 0)) / (nE + nI)
    row.update({
        "rate_E": rE, "rate_I": rI, "rate_mean": (rE * nE + rI * nI) / (nE + nI), "silent_fraction": silent,
        "cv_E": cE, "cv_I": cI, "cv_mean": cv_mean, "fano_E": _num(E.get("fano_mean")),
        "fano_I": _num(I.get("fano_mean")), "corr_E": corrE, "corr_I": corrI, "corr_mean": corr_mean,
        "chi": _num(net.get("chi")), "n_chi_neurons": int(net.get("n_chi_neurons") or 0),
        "pop_rate_cv_1ms": _num(extra.get("pop_rate_cv_1ms")),
    })
    bal = (stats.get("balance") or {}).get("per_population", {})
    for pop in ("E", "I"):
        b = bal.get(pop, {})
        ex, inh = _num(b.get("mean_exc_input")), _num(b.get("mean_inh_input"))
        row[f"exc_input_{pop}"] = row[f"drive_{pop}"] + ex
        row[f"inh_input_{pop}"] = inh
        row[f"net_input_{pop}"] = row[f"drive_{pop}"] + ex + inh
        row[f"v_mean_{pop}"] = _num(b.get("v_mean"))
    row["v_sd_E"] = _num(bal.get("E", {}).get("v_sd"))
    label = classify(row["rate_mean"], silent, cv_mean if np.isfinite(cv_mean) else 0.0,
                     corr_mean if np.isfinite(corr_mean) else 0.0,
                     row["pop_rate_cv_1ms"] if np.isfinite(row["pop_rate_cv_1ms"]) else 0.0,
                     row["chi"] if np.isfinite(row["chi"]) else 0.0, row["n_chi_neurons"])
    row["label"], row["label_name"] = label, LABEL_NAMES[label]
    return row


def table_columns(swept: tuple[str, ...]) -> list[str]:
    cols = COLUMNS[:4] + list(swept) + [c for c in COLUMNS[4:] if c not in swept]
    return cols


def _loglog_fit(x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    if ok.sum() < 2:
        return {"exponent": None, "prefactor": None, "n_points": int(ok.sum())}
    b, a = np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)
    return {"exponent": float(b), "prefactor": float(math.exp(a)), "n_points": int(ok.sum())}


def sweep_fits(rows: list[dict[str, Any]], swept: tuple[str, ...]) -> dict[str, Any]:
    """Fits that the swept keys call for (computed here, drawn by sweep_plots).

    * K swept (alone): relative deviation |rate - balance| / balance of E and I, and of both
      together (|nu - nu_bal| / |nu_bal| over the (E, I) vector), fitted as ``dev = c K^b`` (log-log least squares);
      the same against the finite-K mean field; log-log exponents of the excitatory and
      inhibitory input of E against K (balance theory: 1/2) and of |net input|.
    * d swept (alone): straight line rate = a + b d through the non-quiescent points, per
      population, and the balance prediction's slope (balance rates are linear in d
      through the origin: slope = nu_bal(d) / d).
    """
    fits: dict[str, Any] = {}
    good = [r for r in rows if r.get("label") not in ("failed", "Q")]
    col = lambda rs, k: np.array([_num(r.get(k)) for r in rs])  # noqa: E731
    if swept == ("K",) and len(good) >= 2:
        K = col(good, "K")
        f: dict[str, Any] = {}
        for pop in ("E", "I"):
            rate, bal, mf = col(good, f"rate_{pop}"), col(good, f"balance_rate_{pop}"), col(good, f"mf_rate_{pop}")
            f[f"deviation_{pop}"] = (np.abs(rate - bal) / bal).tolist()
            f[f"fit_balance_{pop}"] = _loglog_fit(K, np.abs(rate - bal) / bal)
            f[f"deviation_mf_{pop}"] = (np.abs(rate - mf) / mf).tolist()
            f[f"fit_mf_{pop}"] = _loglog_fit(K, np.abs(rate - mf) / mf)
        # both populations together: |nu - nu_theory| / |nu_theory| (Euclidean norms over E, I)
        for name, pre in (("balance", "balance_rate"), ("mf", "mf_rate")):
            num = np.hypot(col(good, "rate_E") - col(good, f"{pre}_E"), col(good, "rate_I") - col(good, f"{pre}_I"))
            dev = num / np.hypot(col(good, f"{pre}_E"), col(good, f"{pre}_I"))
            f["deviation_total" if name == "balance" else "deviation_mf_total"] = dev.tolist()
            f[f"fit_{name}_total"] = _loglog_fit(K, dev)
        f["K"] = K.tolist()
        f["fit_exc_input_E"] = _loglog_fit(K, col(good, "exc_input_E"))
        f["fit_inh_input_E"] = _loglog_fit(K, -col(good, "inh_input_E"))
        f["fit_abs_net_input_E"] = _loglog_fit(K, np.abs(col(good, "net_input_E")))
        fits["K"] = f
    if swept == ("d",) and len(good) >= 2:
        d = col(good, "d")
        f = {"d": d.tolist()}
        for pop in ("E", "I"):
            rate, bal = col(good, f"rate_{pop}"), col(good, f"balance_rate_{pop}")
            slope, icpt = np.polyfit(d, rate, 1)
            theory = float(np.nanmean(bal / d))
            f[f"slope_{pop}"] = float(slope)
            f[f"intercept_{pop}"] = float(icpt)
            f[f"theory_slope_{pop}"] = theory
            f[f"slope_ratio_{pop}"] = float(slope / theory) if theory else None
            f[f"r_{pop}"] = float(np.corrcoef(d, rate)[0, 1]) if len(d) > 2 else None
        fits["d"] = f
    return fits


def write_results(sweep_dir: Path, spec: SweepSpec, rows: list[dict[str, Any]], fits: dict[str, Any]) -> None:
    cols = table_columns(spec.keys)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if isinstance(r.get(k), float) and not math.isfinite(r[k]) else r.get(k, ""))
                    for k in cols})
    rundir.atomic_write_text(sweep_dir / RESULTS_CSV, buf.getvalue())
    doc = {"spec": spec.as_dict(), "columns": cols, "column_doc": COLUMN_DOC, "rows": rows, "fits": fits}
    rundir.atomic_write_text(sweep_dir / RESULTS_JSON, json.dumps(rundir.json_ready(doc), indent=2) + "\n")


def write_figures(sweep_dir: Path, spec: SweepSpec, rows: list[dict[str, Any]], fits: dict[str, Any],
                  formats: tuple[str, ...] = ("png", "pdf")) -> list[str]:
    import matplotlib.pyplot as plt

    from . import sweep_plots
    out = sweep_dir / "figures"
    out.mkdir(exist_ok=True)
    written = []
    for stem, fig in sweep_plots.sweep_figures(rows, fits, spec.keys, title=spec.name).items():
        try:
            for fmt in formats:
                b = io.BytesIO()
                fig.savefig(b, format=fmt, bbox_inches="tight", dpi=100)
                rundir.atomic_write_bytes(out / f"{stem}.{fmt}", b.getvalue())
                written.append(f"{stem}.{fmt}")
        finally:
            plt.close(fig)
    return written


# =========================================================================== driver
def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass
class SweepResult:
    sweep_dir: Path
    rows: list[dict[str, Any]]
    fits: dict[str, Any]
    figures: list[str]
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    wall_s: float = 0.0


def run_sweep(spec: SweepSpec, sweep_dir: str | os.PathLike, jobs: int = 1, figures: bool = True,
              python: str | None = None, log=_say) -> SweepResult:
    """Run (or resume) every point of ``spec`` under ``sweep_dir``; write the table and figures.

    Raises :class:`SweepError` after writing the table if any point failed.
    """
    if jobs < 1:
        raise ParamError(f"--jobs {jobs}: must be >= 1")
    t0 = time.perf_counter()
    sweep_dir = Path(sweep_dir)
    pts = points(spec)
    for sub in ("points", "logs", "jobs"):
        (sweep_dir / sub).mkdir(parents=True, exist_ok=True)
    rundir.atomic_write_text(sweep_dir / "sweep.json", json.dumps(rundir.json_ready(
        {"spec": spec.as_dict(), "base_params": base_params(spec).to_dict(),
         "points": [{"name": p.name, **p.assignment} for p in pts]}), indent=2) + "\n")
    python = python or sys.executable
    result = SweepResult(sweep_dir, [], {}, [])
    queue: list[tuple[Point, bool]] = []
    for p in pts:
        state, reason = point_status(sweep_dir / "points" / p.name, p.params)
        tag = f"[{p.index + 1}/{len(pts)}] {p.name}"
        if state == "done":
            log(f"{tag}: skip ({reason})")
            result.skipped.append(p.name)
        else:
            log(f"{tag}: {'analyse' if state == 'analyze' else 'run'} ({reason})")
            queue.append((p, state == "run"))
    running: dict[str, tuple[subprocess.Popen, Point, float, Any]] = {}
    try:
        while queue or running:
            while queue and len(running) < jobs:
                p, do_run = queue.pop(0)
                job = {"params": p.params.to_dict(), "out": str(sweep_dir / "points" / p.name), "preset": spec.preset,
                       "run": do_run, "t_start": spec.t_start, "t_stop": spec.t_stop}
                job_path = sweep_dir / "jobs" / f"{p.name}.json"
                rundir.atomic_write_text(job_path, json.dumps(job, indent=2) + "\n")
                logf = open(sweep_dir / "logs" / f"{p.name}.log", "w")
                proc = subprocess.Popen([python, "-m", "balanced.sweep", "--worker", str(job_path)],
                                        stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
                running[p.name] = (proc, p, time.perf_counter(), logf)
            time.sleep(0.1)
            for name in list(running):
                proc, p, started, logf = running[name]
                if proc.poll() is None:
                    continue
                logf.close()
                del running[name]
                dt = time.perf_counter() - started
                if proc.returncode == 0:
                    result.ran.append(name)
                    log(f"[{p.index + 1}/{len(pts)}] {name}: done in {dt:.1f} s")
                else:
                    result.failed.append(name)
                    log(f"[{p.index + 1}/{len(pts)}] {name}: FAILED (exit {proc.returncode}) after {dt:.1f} s; "
                        f"see {sweep_dir / 'logs' / (name + '.log')}")
                _write_table(sweep_dir, spec, pts, result, figures=False)
    except BaseException:
        for proc, *_ in running.values():
            if proc.poll() is None:
                proc.terminate()
        for proc, *_ in running.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        raise
    _write_table(sweep_dir, spec, pts, result, figures=figures)
    result.wall_s = time.perf_counter() - t0
    if result.failed:
        raise SweepError(f"sweep {spec.name!r}: {len(result.failed)} of {len(pts)} points failed "
                         f"({', '.join(result.failed)}); logs in {sweep_dir / 'logs'}; rerun the same command "
                         "to retry them (completed points are skipped)")
    return result


def _write_table(sweep_dir: Path, spec: SweepSpec, pts: list[Point], result: SweepResult, figures: bool) -> None:
    rows = [point_row(p, sweep_dir / "points" / p.name, spec.keys) for p in pts]
    fits = sweep_fits(rows, spec.keys)
    write_results(sweep_dir, spec, rows, fits)
    result.rows, result.fits = rows, fits
    if figures:
        result.figures = write_figures(sweep_dir, spec, rows, fits)


# =========================================================================== printing
def format_results(rows: list[dict[str, Any]], fits: dict[str, Any], swept: tuple[str, ...]) -> str:
    cols = list(swept) + ["N_E", "rate_E", "rate_I", "balance_rate_E", "balance_rate_I", "mf_rate_E", "mf_rate_I",
                          "cv_mean", "fano_E", "corr_mean", "chi", "label"]
    cols = list(dict.fromkeys(cols))

    def f(v: Any) -> str:
        if isinstance(v, float):
            return "-" if not math.isfinite(v) else f"{v:.4g}"
        return str(v)
    table = [cols] + [[f(r.get(c, "")) for c in cols] for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(cols))]
    lines = ["  ".join(x.rjust(w) for x, w in zip(line, widths)) for line in table]
    if "K" in fits:
        k = fits["K"]
        for pop in ("E", "I"):
            e = k[f"fit_balance_{pop}"]["exponent"]
            m = k[f"fit_mf_{pop}"]["exponent"]
            lines.append(f"deviation from balance ({pop}) ~ K^{e:.3g}" if e is not None else f"deviation ({pop}): -")
            if m is not None:
                lines.append(f"deviation from mean field ({pop}) ~ K^{m:.3g}")
        for name in ("balance", "mf"):
            e = k[f"fit_{name}_total"]["exponent"]
            if e is not None:
                lines.append(f"deviation from {'mean field' if name == 'mf' else 'balance'} (E and I together) ~ K^{e:.3g}")
        ex = k["fit_exc_input_E"]["exponent"]
        if ex is not None:
            lines.append(f"E input of E ~ K^{ex:.3g}, I input ~ K^{k['fit_inh_input_E']['exponent']:.3g} (theory 0.5)")
    if "d" in fits:
        d = fits["d"]
        for pop in ("E", "I"):
            lines.append(f"rate_{pop} = {d[f'intercept_{pop}']:.3g} + {d[f'slope_{pop}']:.4g} d Hz "
                         f"(balance theory slope {d[f'theory_slope_{pop}']:.4g}, ratio {d[f'slope_ratio_{pop}']:.3f})")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        sys.exit(_worker(sys.argv[2]))
    print("usage: python -m balanced.sweep --worker JOB.json (internal; use `balanced sweep`)", file=sys.stderr)
    sys.exit(2)
