"""SLURM tier: the package under a real single-node SLURM (``tests/slurm_cluster.py`` starts
it for the session). The MPI cases use the MPI-enabled environment (``.venv-mpi``, see
``tests/test_mpi.py``); they are never skipped."""

import json
import os
import sys
from pathlib import Path

import numpy as np
import procs
import pytest
from test_mpi import MPI_ENV, mpi_python, mpirun

from balanced import rundir

pytestmark = pytest.mark.slurm

ROOT = Path(__file__).resolve().parents[1]
SMALL = ("N_E=400", "N_I=100", "T=300", "record_n=0", "neuron_model=iaf_psc_exp")


def _run_args(out, *sets, threads=1):
    args = ["-m", "balanced", "run", "--out", str(out), "--no-analysis", "--threads", str(threads)]
    for s in sets:
        args += ["--set", s]
    return args


def _env(cluster):
    return {**cluster.env, "PYNEST_QUIET": "1", "PYTHONPATH": str(ROOT)}


def test_cluster_runs_steps_and_batch_jobs(slurm_cluster, tmp_path):
    """The private cluster runs a 2-task step and a batch job, and gives each task its rank."""
    step = slurm_cluster.run("srun", "-n", "2", "--label", "sh", "-c", "echo $SLURM_NTASKS/$SLURM_PROCID")
    assert step.returncode == 0, step.stderr + slurm_cluster.logs()
    assert sorted(step.stdout.splitlines()) == ["0: 2/0", "1: 2/1"]
    out = tmp_path / "job.out"
    job = slurm_cluster.sbatch(f"--output={out}", "--wrap", "echo job=$SLURM_JOB_ID")
    assert out.read_text().strip() == f"job={job}"


def test_srun_two_tasks_with_the_wheel_nest_is_refused(slurm_cluster, tmp_path):
    """Two tasks and a NEST without MPI would be two copies of one network: refused once,
    non-zero, no output folder."""
    out = tmp_path / "copies"
    proc = slurm_cluster.run(
        "srun", "-n", "2", sys.executable, *_run_args(out, *SMALL), env=_env(slurm_cluster), cwd=tmp_path
    )
    assert proc.returncode != 0
    assert proc.stderr.count("balanced: error:") == 1, proc.stderr
    assert "2 tasks by srun" in proc.stderr and "built without MPI" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_srun_without_mpi_plugin_is_refused(slurm_cluster, tmp_path):
    """An MPI NEST under srun without --mpi: each task would be a world of its own."""
    out = tmp_path / "singletons"
    proc = slurm_cluster.run(
        "srun", "--mpi=none", "-n", "2", mpi_python(), *_run_args(out, *SMALL), env=_env(slurm_cluster), cwd=tmp_path
    )
    assert proc.returncode != 0
    assert proc.stderr.count("balanced: error:") == 1, proc.stderr
    assert "--mpi=pmix" in proc.stderr
    assert not out.exists()


def test_srun_pmix_equals_mpirun_and_threads(slurm_cluster, tmp_path):
    """srun --mpi=pmix -n 2, mpirun -np 2 and 1 rank x 2 threads: the same 2 virtual
    processes, the same seed, identical spikes."""
    python = mpi_python()
    proc = slurm_cluster.run(
        "srun",
        "--mpi=pmix",
        "--kill-on-bad-exit=1",
        "-n",
        "2",
        python,
        *_run_args(tmp_path / "srun", *SMALL),
        env=_env(slurm_cluster),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr + slurm_cluster.logs()
    srun = rundir.load_run(tmp_path / "srun")
    via_mpirun = mpirun(2, python, *_run_args(tmp_path / "mpirun", *SMALL)[2:])
    assert via_mpirun.returncode == 0, via_mpirun.stderr
    import subprocess

    threads = subprocess.run(
        [python, *_run_args(tmp_path / "threads", *SMALL, threads=2)],
        env=MPI_ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert threads.returncode == 0, threads.stderr
    others = [rundir.load_run(tmp_path / name) for name in ("mpirun", "threads")]
    assert srun.manifest["provenance"]["launch"]["launcher"] == "srun"
    assert srun.manifest["provenance"]["launch"]["pmi"] == "pmix"
    assert srun.manifest["layout"] == {"mpi_ranks": 2, "threads_per_rank": 1, "virtual_processes": 2}
    assert len(srun.spikes) > 1000
    for other in others:
        assert np.array_equal(srun.spikes.neuron, other.spikes.neuron)
        assert np.array_equal(srun.spikes.time, other.spikes.time)


def test_sbatch_run_records_its_job(slurm_cluster, tmp_path):
    """A run in a batch script: the manifest names the job, the host, the command line and the
    launcher; threads come from the allocation (-c 1); the job log has progress lines."""
    out, log = tmp_path / "run", tmp_path / "job.log"
    script = tmp_path / "job.sh"
    script.write_text(
        f"#!/bin/sh\nexec {sys.executable} {' '.join(_run_args(out, *SMALL).__iter__())} --set T=1000\n".replace(
            " --threads 1", ""
        )
    )
    job = slurm_cluster.sbatch(
        "-c", "1", f"--output={log}", f"--chdir={tmp_path}", str(script), env=_env(slurm_cluster)
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete", log.read_text()
    prov = manifest["provenance"]
    assert prov["slurm"]["SLURM_JOB_ID"] == job
    assert prov["slurm"]["SLURM_CPUS_PER_TASK"] == "1"
    assert prov["hosts"]["host"] == os.uname().nodename and prov["hosts"]["nodes"] == slurm_cluster.node
    assert prov["launch"]["launcher"] == "local"  # a batch script outside srun is one task
    assert prov["argv"][-2:] == ["--set", "T=1000"]
    assert manifest["threads"] == {
        "threads_per_rank": 1,
        "source": "auto: 1 below 5000 neurons",
        "usable_cpus": 1,
        "cpus_from": "SLURM_CPUS_PER_TASK",
    }
    lines = [ln for ln in log.read_text().splitlines() if ln.startswith("progress:")]
    assert len(lines) >= 5 and "ETA" in lines[-1]


def test_sbatch_mem_is_the_run_memory(slurm_cluster, tmp_path):
    """``sbatch --mem`` is the job's memory: a network estimated above it is refused before
    NEST allocates (one line naming SLURM_MEM_PER_NODE, no output folder), and a run that
    fits records the allocation as its memory limit."""
    big, small, log = tmp_path / "big", tmp_path / "small", tmp_path / "job.log"
    too_big = ("N_E=40000", "N_I=10000", "T=10", "record_n=0", "neuron_model=iaf_psc_exp")
    script = tmp_path / "job.sh"
    script.write_text(
        f"#!/bin/sh\n{sys.executable} {' '.join(_run_args(big, *too_big))}; echo big=$?\n"
        f"exec {sys.executable} {' '.join(_run_args(small, *SMALL))}\n"
    )
    slurm_cluster.sbatch(
        "-c", "1", "--mem=400", f"--output={log}", f"--chdir={tmp_path}", str(script), env=_env(slurm_cluster)
    )
    text = log.read_text()
    assert "big=2" in text and text.count("balanced: error:") == 1 and "Traceback" not in text, text
    assert "are available (SLURM_MEM_PER_NODE=400)" in text, text
    assert not big.exists()
    manifest = json.loads((small / "manifest.json").read_text())
    assert manifest["status"] == "complete", text
    assert manifest["memory"]["limit_bytes"] == 400 * 2**20
    assert manifest["memory"]["source"] == "SLURM_MEM_PER_NODE=400"
    assert "SLURM_MEM_PER_NODE=400" in manifest["choices"]["synapse_model"]["reason"]


def test_scaling_benchmark_runs_under_srun(slurm_cluster, tmp_path):
    """benchmarks/scaling.py inside an allocation starts its ranks with srun --mpi=pmix and
    finds identical spikes across the splits of each VP count."""
    log = tmp_path / "scaling.log"
    cmd = (
        f"{mpi_python()} {ROOT / 'benchmarks' / 'scaling.py'} --sizes 1e3 --max-vps 2 --weak-n-per-vp 0 "
        f"--T 50 --budget-s 200 --out {tmp_path / 'results'}"
    )
    slurm_cluster.sbatch(
        "-n", "2", f"--output={log}", f"--chdir={tmp_path}", "--wrap", cmd, env=_env(slurm_cluster), timeout=400
    )
    text = log.read_text()
    assert "ranks via: " in text and "/srun" in text.split("ranks via: ")[1].split()[0], text
    assert "VP  2 = 2 x 1" in text and "identical True" in text, text
    assert "Spikes identical across splits at every VP count: yes" in text, text


def test_srun_task_that_dies_ends_the_step(slurm_cluster, tmp_path):
    """SIGKILL of task 1 mid-simulation under srun --kill-on-bad-exit=1 (docs/hpc.md): the
    step ends within 30 s, and the target folder is never written."""
    import signal
    import subprocess
    import time

    from balanced.transaction import staging_path

    out = tmp_path / "killed"
    cmd = [
        "srun",
        "--mpi=pmix",
        "--kill-on-bad-exit=1",
        "-n",
        "2",
        mpi_python(),
        *_run_args(out, "N_E=400", "N_I=100", "T=600000", "record_n=0"),
    ]
    proc = subprocess.Popen(
        cmd, env=_env(slurm_cluster), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while not (staging_path(out) / rundir.RANK_SPIKE_DIR).exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        victim = None
        for task in (p for p in procs.processes() if str(out) in p.cmdline()):
            env = task.environ()
            if env.get("SLURM_PROCID") == "1" and env.get("SLURM_STEP_ID") == "0":
                victim = task.pid
        assert victim, "task 1 not found"
        os.kill(victim, signal.SIGKILL)
        killed = time.monotonic()
        proc.communicate(timeout=30)
        assert proc.returncode != 0 and time.monotonic() - killed < 30
        assert not out.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
