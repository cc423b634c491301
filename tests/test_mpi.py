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
import procs
import pytest

from balanced import rundir

pytestmark = pytest.mark.mpi

ROOT = Path(__file__).resolve().parents[1]
MPI_ENV = {
    **os.environ,
    "OMPI_ALLOW_RUN_AS_ROOT": "1",
    "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
    "OMPI_MCA_rmaps_base_oversubscribe": "1",
}


def mpi_python() -> str:
    python = os.environ.get("BALANCED_MPI_PYTHON") or str(ROOT / ".venv-mpi" / "bin" / "python")
    if not Path(python).is_file():
        pytest.fail(f"no MPI-enabled environment at {python}: run `make mpi-env` (README, MPI)")
    return python


def mpirun(n: int, python: str, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    cmd = [
        shutil.which("mpirun") or "mpirun",
        "-np",
        str(n),
        "--oversubscribe",
        "--bind-to",
        "none",
        python,
        "-m",
        "balanced",
        *args,
    ]
    return subprocess.run(cmd, env=MPI_ENV, capture_output=True, text=True, timeout=timeout)


def balanced_run(python, out, *sets, ranks=1, threads=1, extra=()):
    args = ["run", "--out", str(out), "--no-analysis", "--quiet", "--threads", str(threads), *extra]
    for s in sets:
        args += ["--set", s]
    if ranks == 1:
        proc = subprocess.run(
            [python, "-m", "balanced", *args], env=MPI_ENV, capture_output=True, text=True, timeout=300
        )
    else:
        proc = mpirun(ranks, python, *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return rundir.load_run(out)


def test_mpi_env_has_mpi():
    out = subprocess.run(
        [mpi_python(), "-c", "import nest; print(nest.build_info['have_mpi'])"],
        env={**MPI_ENV, "PYNEST_QUIET": "1"},
        capture_output=True,
        text=True,
        check=True,
    )
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
    assert proc.stderr.count("balanced: error:") == 1  # printed by the first rank only
    assert not (tmp_path / "x").exists()


SMALL = ("N_E=400", "N_I=100", "T=200", "record_n=0")


def _fault_case(tmp_path, case):
    if case == "existing_out":
        out = tmp_path / "done"
        balanced_run(mpi_python(), out, *SMALL)
        return str(out), SMALL, "already holds a run"
    if case == "bad_parameter":
        return str(tmp_path / "bad"), ("N_E=abc",), "parameter 'N_E'"
    return "/proc/x", SMALL, "/proc/x"


@pytest.mark.parametrize("case", ["existing_out", "bad_parameter", "proc_out"])
def test_a_fault_on_one_rank_ends_every_rank(tmp_path, case):
    """A refusal that only the first rank sees (the output folder) or that every rank sees (a
    bad parameter): both ranks end within 30 s, non-zero, with one message from the package."""
    out, sets, expected = _fault_case(tmp_path, case)
    before = sorted(p.name for p in Path(out).iterdir()) if case == "existing_out" else None
    args = ["run", "--out", out, "--no-analysis", "--threads", "1"]
    for s in sets:
        args += ["--set", s]
    try:
        proc = mpirun(2, mpi_python(), *args, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{case}: the ranks did not end within 30 s")
    assert proc.returncode != 0
    assert proc.stderr.count("balanced: error:") == 1, proc.stderr
    assert expected in proc.stderr
    if case == "existing_out":
        assert sorted(p.name for p in Path(out).iterdir()) == before
        assert rundir.read_manifest(out)["status"] == "complete"
    elif case == "bad_parameter":
        assert not Path(out).exists()


def test_four_virtual_processes_any_split(tmp_path):
    """4 virtual processes as 1 x 4, 2 x 2 and 4 x 1 (ranks x threads): identical spikes."""
    python = mpi_python()
    sets = ("N_E=800", "N_I=200", "T=200", "record_n=0", "neuron_model=iaf_psc_exp")
    runs = {
        (r, t): balanced_run(python, tmp_path / f"{r}x{t}", *sets, ranks=r, threads=t)
        for r, t in ((1, 4), (2, 2), (4, 1))
    }
    ref = runs[(1, 4)]
    assert len(ref.spikes) > 1000
    for (r, t), run in runs.items():
        assert run.manifest["layout"] == {"mpi_ranks": r, "threads_per_rank": t, "virtual_processes": 4}
        assert np.array_equal(run.spikes.neuron, ref.spikes.neuron)
        assert np.array_equal(run.spikes.time, ref.spikes.time)


def _rank_pids(parent: int) -> dict[int, int]:
    """MPI rank -> pid of the processes that ``mpirun`` (pid ``parent``) started on this node."""
    ranks = {}
    for child in (p for p in procs.processes() if p.ppid == parent):
        rank = child.environ().get("OMPI_COMM_WORLD_RANK")
        if rank is not None:
            ranks[int(rank)] = child.pid
    return ranks


def test_a_rank_that_dies_ends_every_rank(tmp_path):
    """SIGKILL of rank 1 in mid-simulation: rank 0 does not wait for it, mpirun ends within 30 s."""
    import signal
    import time

    from balanced.transaction import staging_path

    out = tmp_path / "killed"
    cmd = [
        shutil.which("mpirun") or "mpirun",
        "-np",
        "2",
        "--oversubscribe",
        "--bind-to",
        "none",
        mpi_python(),
        "-m",
        "balanced",
        "run",
        "--out",
        str(out),
        "--no-analysis",
        "--threads",
        "1",
        "--set",
        "N_E=400",
        "--set",
        "N_I=100",
        "--set",
        "T=600000",
        "--set",
        "record_n=0",
    ]
    proc = subprocess.Popen(cmd, env=MPI_ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        stage = staging_path(out)
        while not (stage / rundir.RANK_SPIKE_DIR).exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        ranks = _rank_pids(proc.pid)
        assert set(ranks) == {0, 1}, f"ranks not found: {ranks}"
        os.kill(ranks[1], signal.SIGKILL)
        killed = time.monotonic()
        proc.communicate(timeout=30)
        assert proc.returncode != 0
        assert time.monotonic() - killed < 30
        assert not any(pid for pid in _rank_pids(proc.pid).values())
        assert not out.exists()  # the target is written only by a complete run
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
