"""MPI tier: the same network split over ranks and threads gives the same spikes.

These tests drive ``mpirun`` from this process, which never imports an MPI-enabled NEST
(a process that has initialised MPI cannot launch mpirun). They need the MPI environment
made by ``make mpi-env`` (``.venv-mpi``, or ``BALANCED_MPI_PYTHON``); without it they
fail with that instruction: they are never skipped.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from balanced import rundir

pytestmark = pytest.mark.mpi

ROOT = Path(__file__).resolve().parents[1]
MPI_ENV = {**os.environ, "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
           "OMPI_MCA_rmaps_base_oversubscribe": "1"}


def mpi_python() -> str:
    python = os.environ.get("BALANCED_MPI_PYTHON") or str(ROOT / ".venv-mpi" / "bin" / "python")
    if not Path(python).is_file():
        pytest.fail(f"no MPI-enabled environment at {python}: run `make mpi-env` (README, MPI)")
    return python


def mpirun(n: int, python: str, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    cmd = [shutil.which("mpirun") or "mpirun", "-np", str(n), "--oversubscribe", "--bind-to", "none",
           python, "-m", "balanced", *args]
    return subprocess.run(cmd, env=MPI_ENV, capture_output=True, text=True, timeout=timeout)


def balanced_run(python, out, *sets, ranks=1, threads=1, extra=()):
    args = ["run", "--out", str(out), "--no-analysis", "--quiet", "--threads", str(threads), *extra]
    for s in sets:
        args += ["--set", s]
    if ranks == 1:
        proc = subprocess.run([python, "-m", "balanced", *args], env=MPI_ENV, capture_output=True, text=True,
                              timeout=300)
    else:
        proc = mpirun(ranks, python, *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return rundir.load_run(out)


def test_mpi_env_has_mpi():
    out = subprocess.run([mpi_python(), "-c", "import nest; print(nest.build_info['have_mpi'])"],
                         env={**MPI_ENV, "PYNEST_QUIET": "1"}, capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("True")


@pytest.mark.parametrize("model", ["nestml", "iaf_psc_exp"])
def test_ranks_vs_threads_identical_spikes(tmp_path, model):
    """1 rank x 2 threads and 2 ranks x 1 thread: 2 virtual processes either way. The ranks
    also move their memory into huge pages (every rank prepares, so no rank waits alone),
    which must not change the spikes either."""
    python = mpi_python()
    sets = ("T=400", f"neuron_model={model}", "record_n=5")
    threads = balanced_run(python, tmp_path / "threads", *sets, ranks=1, threads=2)
    ranks = balanced_run(python, tmp_path / "ranks", *sets, ranks=2, threads=1, extra=("--huge-pages", "on"))
    assert ranks.manifest["huge_pages"]["setting"] == "on"
    assert len(threads.spikes) > 5000
    assert np.array_equal(threads.spikes.neuron, ranks.spikes.neuron)
    assert np.array_equal(threads.spikes.time, ranks.spikes.time)
    np.testing.assert_array_equal(threads.state.V_m, ranks.state.V_m)
    assert ranks.manifest["layout"] == {"mpi_ranks": 2, "threads_per_rank": 1, "virtual_processes": 2}
    assert threads.manifest["layout"] == {"mpi_ranks": 1, "threads_per_rank": 2, "virtual_processes": 2}


def test_mpi_nest_matches_wheel_nest(tmp_path):
    """The sdist MPI build and the PyPI wheel are the same NEST: same spikes in one process."""
    mpi = balanced_run(mpi_python(), tmp_path / "mpi", "T=300", "record_n=0")
    wheel = balanced_run(sys.executable, tmp_path / "wheel", "T=300", "record_n=0")
    assert np.array_equal(mpi.spikes.time, wheel.spikes.time)
    assert np.array_equal(mpi.spikes.neuron, wheel.spikes.neuron)


def test_wheel_nest_under_mpirun_stops_with_a_clear_message(tmp_path):
    proc = mpirun(2, sys.executable, "run", "--out", str(tmp_path / "x"), "--set", "T=100", "--quiet")
    assert proc.returncode != 0
    assert "was built without MPI" in proc.stderr and "make mpi-env" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "x" / "spikes.npz").exists()
