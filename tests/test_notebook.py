"""The analysis notebook runs to the end against a run directory (no NEST imported)."""

from __future__ import annotations

import copy
import os
import re
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
    nb.cells.append(
        nbformat.v4.new_code_cell(
            'import sys\nprint("NEST imported:", any(m == "nest" or m.startswith("nest.") for m in sys.modules))\n'
            'print("NOTEBOOK DONE")'
        )
    )
    old = os.environ.get("BALANCED_RUN_DIR")
    os.environ["BALANCED_RUN_DIR"] = str(Path(run_dir).resolve())
    try:
        client = NotebookClient(
            nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
        )
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


def test_notebook_is_stored_with_the_tutorial_outputs():
    """Stored executed (`make notebooks`) on the tutorial run; the text agrees with what it shows."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    assert NOTEBOOK.stat().st_size < 1_000_000
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), "not executed top to bottom"
    for cell in code:
        assert not [o for o in cell.outputs if o.output_type == "error"], cell.source
        assert "import nest" not in cell.source and "from nest" not in cell.source
    images = sum(1 for c in code for o in c.outputs if "image/png" in o.get("data", {}))
    assert images >= 5, images
    out = "".join(_text(c) for c in code)
    assert "run directory: ../runs/tutorial" in out and "preset 'tutorial'" in out
    assert not re.search(r"(^|[\s'\"(])/(work|tmp|root|home)\b", out), "a machine path in the stored outputs"
    # what the text says about the tutorial's population rate is what the stored run shows
    text = " ".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "weak oscillation" not in text
    assert "troughs of 10-30 Hz and peaks of 60-95 Hz" in text
    lo, hi = map(float, re.search(r"E population rate \(5 ms box\) over the window: (\d+) to (\d+) Hz", out).groups())
    assert 10 <= lo <= 30 and 60 <= hi <= 95, (lo, hi)
    cv = float(re.search(r"E: rate [\d.]+ \+- [\d.]+ Hz, CV ([\d.e-]+)", out).group(1))
    assert 0.005 < cv < 0.015 and "The tutorial network gives about 0.01;" in text


def test_notebook_runs_on_a_run_directory(tmp_path):
    run_dir = poisson_run(tmp_path / "run", n_e=200, n_i=50, t_stop_ms=1000.0, diagnosis=["synthetic Poisson spikes"])
    nb = execute_notebook(run_dir)
    check_executed(nb)
    table = "".join(_text(c) for c in nb.cells if c.cell_type == "code")
    assert "synthetic Poisson spikes" in table and "ISI CV mean" in table
