"""Report of a run: ``RUN_DIR/analysis/stats.json``, figures (PNG and PDF), a printed table.

``analyze_run`` validates everything first (a run that is not complete, or a missing or
corrupted spike file, raises :class:`balanced.rundir.RunDirError` before anything is
created), computes the statistics and renders the figures in memory, and only then
creates the output folder and writes each file atomically (temporary file + rename),
stats.json last. The keys of stats.json, with units and definitions, are listed in
``docs/analysis.md`` (generated from :data:`balanced.analysis.stats.STATS_KEYS`).
"""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path
from typing import Any

from balanced.rundir import json_ready, load_run
from balanced.transaction import replace_folder

from . import FIGURE_STEMS
from . import stats as _stats

STATS_FILE = "stats.json"
ANALYSIS_DIR = "analysis"
FIGURE_FORMATS = ("png", "pdf")
POPULATION_KEYS = ("rate_mean_hz", "rate_sd_hz", "cv_isi_mean", "lv_mean", "fano_mean", "corr_mean", "corr_sd")
NETWORK_KEYS = ("chi", "pop_rate_mean_hz", "pop_rate_sd_hz", "peak_freq_hz")
BALANCE_KEYS = ("mean_exc_input", "mean_inh_input", "mean_net_input", "v_mean", "v_sd")


def compute_report(
    run_dir: str | os.PathLike,
    t_start: float | None = None,
    t_stop: float | None = None,
    params: _stats.AnalysisParams | None = None,
) -> tuple[_stats.RunStatistics, dict[str, Any]]:
    """Open the run and compute its statistics; returns (RunStatistics, stats.json dict).

    Writes nothing. The notebook and the CLI can use this to get the data behind the figures.
    """
    run = load_run(run_dir)
    result = _stats.compute_statistics(run, t_start, t_stop, params)
    summary = result.summary()
    diagnosis = run.manifest.get("diagnosis")
    if diagnosis is None:
        diagnosis = diagnosis_of(run.manifest["params"])
    if diagnosis is not None:
        summary["diagnosis"] = [str(x) for x in diagnosis]
        summary["meta"].pop("diagnosis", None)
    return result, json_ready(summary)


def diagnosis_of(params: dict[str, Any]) -> list[str] | None:
    """The regime diagnosis of a run's parameters (balanced.theory), None when they are not
    a complete parameter set. The theory remembers it per parameter set
    (:func:`balanced.theory.diagnose_params`): the analysis worker computes it while the run
    simulates, and the report then finds it ready."""
    from balanced.params import ParamError, validate
    from balanced.theory import diagnosis_lines

    try:
        return diagnosis_lines(validate(params))
    except ParamError:
        return None


def preload_statistics() -> None:
    """Import what computing the statistics needs: SciPy's sparse matrices, for the
    correlations (the statistics reproduce Elephant's definitions without importing
    Elephant, :mod:`.stats`; the rate's spectrum is NumPy's, :mod:`.poprate`)."""
    import scipy.sparse  # noqa: F401


def preload_figures() -> None:
    """Import what drawing the figures needs: matplotlib with pyplot, its PDF backend (with
    fontTools, for the embedded font subset) and the default font. Nothing is drawn: a
    warm-up figure made the first real figure no faster (docs/performance.md)."""
    import matplotlib.backends.backend_pdf  # noqa: F401
    import matplotlib.pyplot  # noqa: F401
    from matplotlib import font_manager

    from . import plots

    with plots.style():
        font_manager.get_font(font_manager.findfont(font_manager.FontProperties()))


def render_figures(result: _stats.RunStatistics, stems=FIGURE_STEMS, fork_formats: bool = False) -> dict[str, bytes]:
    """Render report figures (default all) to bytes in memory: {file name: content}.

    ``fork_formats``: save the formats after the first (the PDF) in a forked child while
    this process saves the first, on two cores at once. Only for a process without threads
    (the analysis worker's figure process, :mod:`.worker`); should the fork or the child
    fail, those formats are saved here.
    """
    import matplotlib.pyplot as plt

    from . import plots

    figures = plots.report_figures(result, stems)
    try:
        first, rest = FIGURE_FORMATS[:1], FIGURE_FORMATS[1:]
        child = _save_in_child(figures, rest) if fork_formats and rest and hasattr(os, "fork") else None
        if child is not None:
            try:
                files = _save(figures, first)
            finally:  # waited for even if saving here fails
                theirs = _collect_child(*child)
            files.update(theirs or _save(figures, rest))
        else:
            files = _save(figures, FIGURE_FORMATS)
    finally:
        for fig in figures.values():
            plt.close(fig)
    return {name: files[name] for name in (f"{stem}.{fmt}" for stem in figures for fmt in FIGURE_FORMATS)}


def _save(figures: dict, formats) -> dict[str, bytes]:
    """{file name: bytes} of ``figures`` ({stem: Figure}) saved in ``formats``."""
    from . import plots

    files: dict[str, bytes] = {}
    for stem, fig in figures.items():
        for fmt in formats:
            buf = io.BytesIO()
            with plots.style():  # savefig reads its dpi and the PDF font type from the rc parameters
                # fixed margins already fit ("tight" would draw twice)
                fig.savefig(buf, format=fmt, **plots.SAVE_OPTIONS.get(fmt, {}))
            files[f"{stem}.{fmt}"] = buf.getvalue()
    return files


def _save_in_child(figures: dict, formats) -> tuple[int, int] | None:
    """Fork a child that saves ``figures`` in ``formats`` and sends the pickled files back;
    returns (its pid, the pipe's read end) for :func:`_collect_child`, None if no child
    could be started (no pipe or process left)."""
    import pickle

    try:
        read_fd, write_fd = os.pipe()
    except OSError:
        return None
    try:
        pid = os.fork()
    except OSError:
        os.close(read_fd)
        os.close(write_fd)
        return None
    if pid == 0:  # the child: save, send, and end without the parent's clean-up
        status = 1
        try:
            os.close(read_fd)
            with os.fdopen(write_fd, "wb") as pipe:
                pickle.dump(_save(figures, formats), pipe, protocol=pickle.HIGHEST_PROTOCOL)
            status = 0
        finally:
            os._exit(status)
    os.close(write_fd)
    return pid, read_fd


def _collect_child(pid: int, read_fd: int) -> dict[str, bytes] | None:
    """The files the child of :func:`_save_in_child` sent, None if it failed."""
    import pickle

    try:
        with os.fdopen(read_fd, "rb") as pipe:
            files = pickle.load(pipe)
    except (OSError, EOFError, pickle.UnpicklingError):
        files = None
    _, status = os.waitpid(pid, 0)
    return files if os.waitstatus_to_exitcode(status) == 0 else None


def analyze_run(
    run_dir: str | os.PathLike,
    t_start: float | None = None,
    t_stop: float | None = None,
    out_dir: str | os.PathLike | None = None,
    figures: bool | tuple[str, ...] = True,
    params: _stats.AnalysisParams | None = None,
    render=None,
) -> dict[str, Any]:
    """Analyse a complete run directory; write ``stats.json`` and figures; return the stats dict.

    ``out_dir`` defaults to ``RUN_DIR/analysis``. Window in ms, default (50, T - 50).
    ``figures``: True (all), False (none) or the stems to draw (see :func:`parse_figures`).
    ``render``: what turns (statistics, stems) into {file name: bytes}; default
    :func:`render_figures` here (the analysis worker passes one that draws in its figure
    process, :class:`balanced.analysis.worker.FigureProcess`).
    Raises :class:`RunDirError` (incomplete or corrupted run) or ValueError (bad window)
    before anything is written.
    """
    run_dir = Path(run_dir)
    result, summary = compute_report(run_dir, t_start, t_stop, params)
    stems = FIGURE_STEMS if figures is True else tuple(figures or ())
    rendered = (render or render_figures)(result, stems) if stems else {}
    summary["figures"] = sorted(rendered)
    text = json.dumps(summary, indent=2, allow_nan=False) + "\n"
    out = Path(out_dir) if out_dir is not None else run_dir / ANALYSIS_DIR

    def write(folder: Path) -> None:
        for name, data in rendered.items():
            (folder / name).write_bytes(data)
        if not stems:  # no figures asked for: the earlier ones stay (any asked for replace them all)
            for name in (f"{stem}.{fmt}" for stem in FIGURE_STEMS for fmt in FIGURE_FORMATS):
                if (out / name).is_file():
                    shutil.copy2(out / name, folder / name)
        (folder / STATS_FILE).write_text(text)

    replace_folder(out, write)  # readers see the old analysis or the new one, never a mix
    return summary


# --------------------------------------------------------------------------- terminal table
def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


_ROW_LABELS = {
    "n_neurons": "neurons",
    "n_spikes": "spikes in window",
    "rate_mean_hz": "rate mean (Hz)",
    "rate_sd_hz": "rate SD (Hz)",
    "n_silent": "silent neurons",
    "cv_isi_mean": "ISI CV mean",
    "lv_mean": "LV mean",
    "cv2_mean": "CV2 mean",
    "n_cv_neurons": "neurons with >= 3 spikes",
    "fano_mean": "Fano factor mean",
    "corr_mean": "correlation mean",
    "corr_sd": "correlation SD",
    "n_corr_pairs": "correlation pairs",
    "chi": "synchrony chi",
    "pop_rate_mean_hz": "pop. rate mean (Hz)",
    "pop_rate_sd_hz": "pop. rate SD (Hz)",
}


def format_table(stats: dict[str, Any]) -> str:
    """A readable table of a stats.json dict (as :func:`analyze_run` returns it)."""
    pops = [k for k in ("E", "I") if k in stats] + [
        k for k in stats if isinstance(stats.get(k), dict) and "rate_mean_hz" in stats[k] and k not in ("E", "I")
    ]
    lines = []
    w = stats.get("window_ms")
    meta = stats.get("meta", {})
    head = f"run {meta.get('run_id', '?')}"
    if meta.get("preset"):
        head += f" (preset {meta['preset']}, seed {meta.get('seed')})"
    if w:
        head += f", window {w[0]:g}-{w[1]:g} ms"
    lines.append(head)
    label_w = max(len(v) for v in _ROW_LABELS.values()) + 2
    lines.append(f"{'':<{label_w}}" + "".join(f"{p:>12}" for p in pops))
    for key, label in _ROW_LABELS.items():
        if any(key in stats[p] for p in pops):
            lines.append(f"{label:<{label_w}}" + "".join(f"{_fmt(stats[p].get(key)):>12}" for p in pops))
    net = stats.get("network", {})
    if net:
        lines.append(
            "network: "
            + ", ".join(
                f"{lab} {_fmt(net.get(k))}"
                for k, lab in (
                    ("chi", "chi"),
                    ("pop_rate_mean_hz", "rate mean (Hz)"),
                    ("pop_rate_sd_hz", "rate SD (Hz)"),
                    ("peak_freq_hz", "peak frequency (Hz)"),
                )
            )
        )
    bal = stats.get("balance")
    if bal:
        lines.append(
            "balance ({} recorded neurons): E input {} pA, I input {} pA, net {} pA; V mean {} mV, V SD {} mV".format(
                bal.get("n_neurons"),
                _fmt(bal.get("mean_exc_input")),
                _fmt(bal.get("mean_inh_input")),
                _fmt(bal.get("mean_net_input")),
                _fmt(bal.get("v_mean")),
                _fmt(bal.get("v_sd")),
            )
        )
    if stats.get("diagnosis"):
        lines.append("diagnosis:")
        lines.extend(f"  - {d}" for d in stats["diagnosis"])
    return "\n".join(lines)
