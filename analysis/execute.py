"""Execute analysis notebooks in place, so that they are stored with their outputs.

    python analysis/execute.py analysis/balanced_state.ipynb

Runs each notebook from this folder against its default run directory (``runs/tutorial``
at the repository root; ``BALANCED_RUN_DIR`` is ignored, so that the stored outputs are
always the tutorial's), without cell timings, and writes it back only if every cell ran.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent


def execute_in_place(path: Path, timeout: int = 600) -> None:
    nb = nbformat.read(path, as_version=4)
    os.environ.pop("BALANCED_RUN_DIR", None)
    NotebookClient(
        nb, timeout=timeout, kernel_name="python3", record_timing=False, resources={"metadata": {"path": str(HERE)}}
    ).execute()
    nbformat.validate(nb)
    nbformat.write(nb, path)


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or sorted(HERE.glob("*.ipynb"))
    for path in paths:
        execute_in_place(path)
        print(f"executed: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
