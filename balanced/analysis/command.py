"""The work of ``balanced analyze``: statistics and figures of a run directory, the printed
table, and the exit status. The command line and the analysis worker both call
:func:`analyze_command`, so the verb behaves the same wherever it runs. Imports no NEST.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

EXIT_FAILED = 1
EXIT_USAGE = 2


def analyze_command(
    run_dir: str | os.PathLike,
    t_start: float | None = None,
    t_stop: float | None = None,
    figures: tuple[str, ...] = (),
    render=None,
) -> int:
    """Analyse ``run_dir``, print the table and where the files are; return the exit status.

    A run directory that cannot be used (:class:`balanced.rundir.RunDirError`) gives one
    line and exit 1; an analysis window outside the run gives one line and exit 2.
    """
    from balanced.rundir import RunDirError

    from .report import analyze_run, format_table

    try:
        stats = analyze_run(run_dir, t_start=t_start, t_stop=t_stop, figures=figures, render=render)
    except RunDirError as exc:
        print(f"balanced: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except ValueError as exc:  # a window outside the run: the user's input
        print(f"balanced: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(format_table(stats))
    print(f"\nstatistics: {Path(run_dir) / 'analysis' / 'stats.json'}")
    if stats.get("figures"):
        print(f"figures:    {Path(run_dir) / 'analysis'}/ ({', '.join(stats['figures'])})")
    return 0
