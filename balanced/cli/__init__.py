"""The ``balanced`` command line: one verb per pipeline stage.

    balanced config show [--preset P] [--config FILE] [--set k=v ...]
    balanced build [--force] [--templates balanced|stock] [--json]
    balanced run [--preset P] [--config FILE] [--set k=v ...] [--threads N] [--out DIR] [--overwrite] [--no-analysis] [--figures LIST] [--huge-pages auto|on|off]
    balanced analyze RUN_DIR [--t-start MS] [--t-stop MS] [--figures LIST | --no-figures]
    balanced sweep SWEEP.toml [--out DIR] [--jobs N] [--no-figures] [--executor local|slurm] [--plan] ...
    balanced perturb [--preset P] [--config FILE] [--set k=v ...] [--neuron I] [--time MS] [--out DIR]
    balanced export RUN_DIR --format nwb|nix [--out FILE]
    balanced experiment NAME [OPTIONS]
    balanced doctor

Modules: :mod:`.verbs` (one function per verb), :mod:`.parser` (the argument parser),
:mod:`.main` (the entry point, error messages and exit codes).

Every failure a user can cause ends with a one-paragraph message on stderr and exit code
2 (bad input) or 1 (a run or build that failed), never a traceback. NEST is imported only
by the verbs that simulate.
"""

from __future__ import annotations

from ..blas import single_thread_blas
from .main import console_main, dispatch, end_process, main
from .parser import make_parser
from .verbs import EXIT_FAILED, EXIT_USAGE, EXPERIMENTS

__all__ = [
    "EXIT_FAILED",
    "EXIT_USAGE",
    "EXPERIMENTS",
    "console_main",
    "dispatch",
    "end_process",
    "main",
    "make_parser",
    "single_thread_blas",
]
