"""SLURM tier: the package under a real single-node SLURM (see ``tests/slurm_cluster.py``)."""

import pytest

pytestmark = pytest.mark.slurm


def test_cluster_runs_steps_and_batch_jobs(slurm_cluster, tmp_path):
    """The private cluster runs a 2-task step and a batch job, and gives each task its rank."""
    step = slurm_cluster.run("srun", "-n", "2", "--label", "sh", "-c", "echo $SLURM_NTASKS/$SLURM_PROCID")
    assert step.returncode == 0, step.stderr + slurm_cluster.logs()
    assert sorted(step.stdout.splitlines()) == ["0: 2/0", "1: 2/1"]
    out = tmp_path / "job.out"
    job = slurm_cluster.sbatch(f"--output={out}", "--wrap", "echo job=$SLURM_JOB_ID")
    assert out.read_text().strip() == f"job={job}"
