"""The analysis notebook runs to the end against a run directory (no NEST imported)."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from synthetic_runs import poisson_run

NOTEBOOK = Path(__file__).resolve().parents[1] / "analysis" / "balanced_state.ipynb"


def execute_notebook(run_dir: str | os.PathLike, timeout: int = 600) -> nbformat.NotebookNode:
    """Execute the notebook with ``BALANCED_RUN_DIR=run_dir``; returns the executed copy.

    A last cell is appended that reports whether NEST got imported. Any cell error raises
    ``nbclient.exceptions.CellExecutionError``.
    """
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nb = copy.deepcopy(nb)
    nb.cells.append(nbformat.v4.new_code_cell(
        'import sys\nprint("NEST imported:", any(m == "nest" or m.startswith("nest.") for m in sys.modules))\n'
        'print("NOTEBOOK DONE")'))
    old = os.environ.get("BALANCED_RUN_DIR")
    os.environ["BALANCED_RUN_DIR"] = str(Path(run_dir).resolve())
    try:
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(NOTEBOOK.parent)}})
        client.execute()
    finally:
        if old is None:
            os.environ.pop("BALANCED_RUN_DIR", None)
        else:
            os.environ["BALANCED_RUN_DIR"] = old
    return nb


def _text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


def check_executed(nb: nbformat.NotebookNode) -> None:
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), "not every cell ran"
    for c in code:
        assert not [o for o in c.outputs if o.output_type == "error"], c.source
    last = _text(code[-1])
    assert "NOTEBOOK DONE" in last and "NEST imported: False" in last, last
    images = sum(1 for c in code for o in c.outputs if "image/png" in o.get("data", {}))
    assert images >= 5, f"expected the raster, distributions, Fano, spectrum and balance figures, got {images}"


def test_notebook_is_committed_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
            assert "import nest" not in cell.source and "from nest" not in cell.source


def test_notebook_runs_on_a_run_directory(tmp_path):
    run_dir = poisson_run(tmp_path / "run", n_e=200, n_i=50, t_stop_ms=1000.0,
                          diagnosis=["synthetic Poisson spikes"])
    nb = execute_notebook(run_dir)
    check_executed(nb)
    table = "".join(_text(c) for c in nb.cells if c.cell_type == "code")
    assert "synthetic Poisson spikes" in table and "ISI CV mean" in table
