"""The results table of a sweep: one row per run from its analysis files and the theory,
seed replicates folded into one row per grid point (mean and spread), and the files
``results.csv`` / ``results.json``. The fits are :mod:`balanced.sweep.fits`.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from .. import rundir
from ..analysis.regimes import LABEL_NAMES, classify
from ..params import Params
from .spec import Point, SweepSpec, groups

POINT_FILE = "sweep_point.json"
RESULTS_CSV = "results.csv"
RUNS_CSV = "results_runs.csv"
RESULTS_JSON = "results.json"

COLUMNS = [
    "point",
    "status",
    "label",
    "label_name",
    # (swept keys are inserted here)
    "N_E",
    "N_I",
    "K",
    "T",
    "seed",
    "rate_E",
    "rate_I",
    "rate_mean",
    "silent_fraction",
    "cv_E",
    "cv_I",
    "cv_mean",
    "fano_E",
    "fano_I",
    "corr_E",
    "corr_I",
    "corr_mean",
    "chi",
    "n_chi_neurons",
    "pop_rate_cv_1ms",
    "drive_E",
    "exc_input_E",
    "inh_input_E",
    "net_input_E",
    "drive_I",
    "exc_input_I",
    "inh_input_I",
    "net_input_I",
    "v_mean_E",
    "v_mean_I",
    "v_sd_E",
    "balance_rate_E",
    "balance_rate_I",
    "balance_exists",
    "mf_rate_E",
    "mf_rate_I",
    "mf_converged",
    "theory_regime",
]
# measured per run, so averaged over seeds with a spread (``COL_sd``) in the per-point table
MEASURED = [
    "rate_E",
    "rate_I",
    "rate_mean",
    "silent_fraction",
    "cv_E",
    "cv_I",
    "cv_mean",
    "fano_E",
    "fano_I",
    "corr_E",
    "corr_I",
    "corr_mean",
    "chi",
    "pop_rate_cv_1ms",
    "exc_input_E",
    "inh_input_E",
    "net_input_E",
    "exc_input_I",
    "inh_input_I",
    "net_input_I",
    "v_mean_E",
    "v_mean_I",
    "v_sd_E",
]
COLUMN_DOC = {
    "label": "Q / SR / SI / AI / AR (balanced.analysis.regimes.classify); 'failed' when the point has no results",
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
    "*_sd": "with seed replicates: sample standard deviation over the seeds (the column itself is their mean)",
    "n_seeds, seeds": "with seed replicates: how many runs entered the mean, and the seeds of the grid point",
}


def _num(x: Any) -> float:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else float("nan")


def theory_columns(params: Params) -> dict[str, Any]:
    """Drive, balance and finite-K mean-field rates (Hz) and the regime diagnosis of ``params``."""
    from ..theory import diagnose_params

    dg = diagnose_params(params)
    bal = dg.balance
    mf = dg.mean_field
    drive = dg.form.I_drive
    return {
        "drive_E": float(drive[0]),
        "drive_I": float(drive[1]),
        "balance_rate_E": float(bal.rates_hz[0]) if bal is not None and bal.rates_hz is not None else float("nan"),
        "balance_rate_I": float(bal.rates_hz[1]) if bal is not None and bal.rates_hz is not None else float("nan"),
        "balance_exists": bool(bal is not None and bal.exists),
        "mf_rate_E": float(mf.rates_hz[0]) if mf is not None else float("nan"),
        "mf_rate_I": float(mf.rates_hz[1]) if mf is not None else float("nan"),
        "mf_converged": bool(mf is not None and mf.converged),
        "theory_regime": dg.regime,
    }


def _label(row: dict[str, Any]) -> str:
    fin = lambda k: row[k] if np.isfinite(row[k]) else 0.0  # noqa: E731
    return classify(
        row["rate_mean"],
        row["silent_fraction"],
        fin("cv_mean"),
        fin("corr_mean"),
        fin("pop_rate_cv_1ms"),
        fin("chi"),
        row["n_chi_neurons"],
    )


def point_row(
    point: Point, run_dir: Path, swept: tuple[str, ...], theory: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One table row of a run from its stats.json, sweep_point.json and the theory."""
    p = point.params
    row: dict[str, Any] = {"point": point.name, "status": "missing", "label": "failed", "label_name": "failed"}
    row.update({k: point.assignment[k] for k in swept})
    row.update(
        {
            "N_E": p.N_E,
            "N_I": p.N_I,
            "K": p.K if p.coupling == "scaled" else round((p.p or 0.0) * p.N_E),  # tutorial form: p is set
            "T": p.T,
            "seed": p.seed,
        }
    )
    row.update(theory if theory is not None else theory_columns(p))
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
    row.update(
        {
            "rate_E": rE,
            "rate_I": rI,
            "rate_mean": (rE * nE + rI * nI) / (nE + nI),
            "silent_fraction": silent,
            "cv_E": cE,
            "cv_I": cI,
            "cv_mean": cv_mean,
            "fano_E": _num(E.get("fano_mean")),
            "fano_I": _num(I.get("fano_mean")),
            "corr_E": corrE,
            "corr_I": corrI,
            "corr_mean": corr_mean,
            "chi": _num(net.get("chi")),
            "n_chi_neurons": int(net.get("n_chi_neurons") or 0),
            "pop_rate_cv_1ms": _num(extra.get("pop_rate_cv_1ms")),
        }
    )
    bal = (stats.get("balance") or {}).get("per_population", {})
    for pop in ("E", "I"):
        b = bal.get(pop, {})
        ex, inh = _num(b.get("mean_exc_input")), _num(b.get("mean_inh_input"))
        row[f"exc_input_{pop}"] = row[f"drive_{pop}"] + ex
        row[f"inh_input_{pop}"] = inh
        row[f"net_input_{pop}"] = row[f"drive_{pop}"] + ex + inh
        row[f"v_mean_{pop}"] = _num(b.get("v_mean"))
    row["v_sd_E"] = _num(bal.get("E", {}).get("v_sd"))
    label = _label(row)
    row["label"], row["label_name"] = label, LABEL_NAMES[label]
    return row


def run_rows(
    spec: SweepSpec,
    pts: list[Point],
    sweep_dir: Path,
    theory: dict[str, dict[str, Any]] | None = None,
    known: dict[str, dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """One row per run, in grid order (the theory computed once per grid point, kept in
    ``theory``). ``known``: rows by point name, used instead of reading the point's files
    again, and filled with the rows read (the caller drops a point whose folder changed)."""
    theory = {} if theory is None else theory
    out = []
    for p in pts:
        if known is not None and p.name in known:
            out.append(dict(known[p.name]))
            continue
        if p.group not in theory:
            theory[p.group] = theory_columns(p.params)
        row = point_row(p, sweep_dir / "points" / p.name, spec.keys, theory[p.group])
        if known is not None:
            known[p.name] = dict(row)
        out.append(row)
    return out


def fold_seeds(spec: SweepSpec, pts: list[Point], runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per grid point: measured columns averaged over the complete runs of its seeds,
    ``COL_sd`` their sample SD (NaN with fewer than two), the label from the means.

    Without ``options.seeds`` the runs are the rows."""
    if spec.seeds is None:
        return runs
    by_name = {r["point"]: r for r in runs}
    rows = []
    for group, members in groups(pts).items():
        rs = [by_name[m.name] for m in members]
        good = [r for r in rs if r["status"] == "complete" and r["label"] != "failed"]
        row = {k: v for k, v in rs[0].items() if k not in MEASURED}
        row.update(point=group, seed=None, n_seeds=len(good), seeds=";".join(str(m.seed) for m in members))
        row["status"] = "complete" if len(good) == len(rs) else ("partial" if good else "missing")
        for col in MEASURED:
            vals = np.array([_num(r.get(col)) for r in good])
            vals = vals[np.isfinite(vals)]
            row[col] = float(vals.mean()) if len(vals) else float("nan")
            row[f"{col}_sd"] = float(vals.std(ddof=1)) if len(vals) >= 2 else float("nan")
        row["n_chi_neurons"] = min((r["n_chi_neurons"] for r in good), default=0)
        if good:
            label = _label(row)
            row["label"], row["label_name"] = label, LABEL_NAMES[label]
        else:
            row["label"] = row["label_name"] = "failed"
        rows.append(row)
    return rows


def table_columns(swept: tuple[str, ...], seeds: bool = False) -> list[str]:
    """Columns of results.csv: ``COLUMNS`` with the swept keys after the label (and, with seed
    replicates, ``n_seeds``, ``seeds`` and each measured column followed by its ``_sd``)."""
    cols = COLUMNS[:4] + list(swept) + [c for c in COLUMNS[4:] if c not in swept]
    if not seeds:
        return cols
    out = []
    for c in cols:
        if c == "seed":
            out += ["n_seeds", "seeds"]
            continue
        out.append(c)
        if c in MEASURED:
            out.append(f"{c}_sd")
    return out


def _csv(rows: list[dict[str, Any]], cols: list[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if isinstance(r.get(k), float) and not math.isfinite(r[k]) else r.get(k, "")) for k in cols})
    return buf.getvalue()


def write_results(
    sweep_dir: Path,
    spec: SweepSpec,
    rows: list[dict[str, Any]],
    fits: dict[str, Any],
    runs: list[dict[str, Any]] | None = None,
) -> None:
    """results.csv (one row per grid point), results.json (spec, rows, fits; with seed replicates
    also ``runs``) and, with seed replicates, results_runs.csv (one row per run); each atomic."""
    seeded = spec.seeds is not None
    cols = table_columns(spec.keys, seeded)
    rundir.atomic_write_text(sweep_dir / RESULTS_CSV, _csv(rows, cols))
    doc: dict[str, Any] = {
        "spec": spec.as_dict(),
        "columns": cols,
        "column_doc": COLUMN_DOC,
        "rows": rows,
        "fits": fits,
    }
    if seeded and runs is not None:
        doc["runs"] = runs
        rundir.atomic_write_text(sweep_dir / RUNS_CSV, _csv(runs, table_columns(spec.keys)))
    rundir.atomic_write_text(sweep_dir / RESULTS_JSON, json.dumps(rundir.json_ready(doc), indent=2) + "\n")
