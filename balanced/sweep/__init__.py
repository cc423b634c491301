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
    seeds = 3                              # seed replicates: 3 seeds from the base seed on,
                                           # or a list, seeds = [1, 7, 42] (default: one run
                                           # per point with the base seed)

    [analysis]
    t_start = 200.0                        # analysis window, ms (default 50, T - 50)
    t_stop = 1950.0

``name`` becomes a folder name (the default ``--out`` is ``runs/sweeps/NAME``) and must be
one plain name: letters, digits, ``_ . + = -``, no ``/``, no ``..``; so must every point
name built from the swept values.

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
      sweep.json          the specification as read, the base parameters, the runs
      points/NAME/        one run directory per run (see docs/design.md), NAME = "K=100"
                          or "g=0.5__d=1" (swept keys in spec order, values with %g), with
                          seed replicates "K=100__seed=12345"
      points/NAME/analysis/stats.json, sweep_point.json   per-run statistics
      logs/NAME.log       the output of the run's worker
      jobs/NAME.json      what the worker is given (parameters, window; where it writes follows
                          from the file's own place: points/NAME, logs/NAME.log)
      slurm/              with --executor slurm: array.sh, tasks.json, job.json
      results.csv         one row per grid point (see balanced.sweep.table.COLUMNS); with
                          seed replicates the measured columns are means over the seeds,
                          each followed by COL_sd (their SD), and n_seeds, seeds
      results_runs.csv    with seed replicates: one row per run
      results.json        {"spec", "rows", "fits"[, "runs"]} (fits: exponent of the K sweep,
                          slope of the drive sweep); every results file written atomically
      figures/*.png|pdf   figures chosen by the swept keys (balanced.sweep.figures)

Resuming: a run whose manifest is ``complete``, whose parameters equal the run's
parameters and whose analysis is present is skipped (log line ``skip``); one complete
but not analysed is only analysed; anything else (no directory, ``running`` after a
kill, ``failed``, different parameters) is rerun with overwrite.

Executors: ``local`` runs ``jobs`` long-lived worker processes
(:mod:`balanced.sweep.worker`), each running point after point with one thread, the NEST
kernel reset in between (``fresh=True``: one new process per point), as many at once as
fit in memory (:mod:`~balanced.sweep.admission`); ``slurm`` submits the
points as a job array (:mod:`balanced.sweep.slurm`). Either way the same collect step
builds the table and the figures.

Modules: :mod:`~balanced.sweep.spec` (file, checks, points), :mod:`~balanced.sweep.worker`
(one point: run and analyse), :mod:`~balanced.sweep.runner` (what to do, local executor,
collect), :mod:`~balanced.sweep.admission` (points side by side in memory),
:mod:`~balanced.sweep.slurm`, :mod:`~balanced.sweep.table` (rows, seeds, files),
:mod:`~balanced.sweep.fits` (fits, text), :mod:`~balanced.sweep.figures`. Regime labels: :mod:`balanced.analysis.regimes`.
"""

from __future__ import annotations

from typing import Any

# Names re-exported lazily, so that ``balanced.sweep.worker`` or the command line's
# argument parser do not import NumPy and the table code before they need them.
_EXPORTS = {
    "SweepError": "errors",
    "SweepSpec": "spec",
    "Point": "spec",
    "load_spec": "spec",
    "parse_spec": "spec",
    "points": "spec",
    "point_name": "spec",
    "apply_point": "spec",
    "base_params": "spec",
    "is_safe_name": "spec",
    "point_status": "worker",
    "analyze_point": "worker",
    "SweepResult": "runner",
    "run_sweep": "runner",
    "SlurmOptions": "slurm",
    "format_results": "fits",
    "sweep_fits": "fits",
    "COLUMNS": "table",
    "classify": "..analysis.regimes",
    "population_rate_cv": "..analysis.regimes",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'balanced.sweep' has no attribute {name!r}")
    from importlib import import_module

    target = _EXPORTS[name]
    module = import_module(
        target[1:] if target.startswith("..") else f".{target}", "balanced" if target.startswith("..") else __name__
    )
    return getattr(module, name)
