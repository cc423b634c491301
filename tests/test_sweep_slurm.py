"""Sweeps as SLURM job arrays on the session's private single-node SLURM
(``tests/slurm_cluster.py``): a 6-point sweep with 2 seeds gives the table of the local
executor; cancelled mid-way with ``scancel`` and submitted again, only the missing runs
are submitted and the table is again the same.

Tiny networks (N_E = N_I = 150, K = 30, 200 ms): the 12 runs take about a second each
after NEST's import.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from balanced.sweep import load_spec, points, run_sweep

pytestmark = pytest.mark.slurm

SPEC = """
name = "slurm_tiny"
preset = "balanced"
[fixed]
N_E = 150
N_I = 150
K = 30
T = 200.0
record_n = 5
[sweep]
d = [0.6, 0.8, 1.0, 1.2, 1.4, 1.6]
[options]
seeds = 2
[analysis]
t_start = 50.0
"""


def sweep_cmd(spec: Path, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "balanced",
        "sweep",
        str(spec),
        "--out",
        str(out),
        "--no-figures",
        "--executor",
        "slurm",
        *extra,
    ]


@pytest.fixture(scope="module")
def local_table(tmp_path_factory, built_model) -> tuple[Path, str]:
    """The spec and the results.csv of ``--executor local`` (2 workers)."""
    root = tmp_path_factory.mktemp("sweep-local")
    spec = root / "slurm_tiny.toml"
    spec.write_text(SPEC)
    run_sweep(load_spec(spec), root / "local", jobs=2, log=lambda s: None, figures=False)
    return spec, (root / "local" / "results.csv").read_text()


def test_slurm_sweep_equals_the_local_table(slurm_cluster, local_table, tmp_path):
    spec, local = local_table
    out = tmp_path / "sw"
    proc = slurm_cluster.run(*sweep_cmd(spec, out, "--points-per-task", "3"))
    assert proc.returncode == 0, proc.stderr + slurm_cluster.logs()
    assert "12 points in 4 array tasks" in proc.stderr, proc.stderr
    assert (out / "results.csv").read_text() == local
    doc = json.loads((out / "results.json").read_text())
    assert len(doc["rows"]) == 6 and len(doc["runs"]) == 12
    for row in doc["rows"]:
        assert row["status"] == "complete" and row["n_seeds"] == 2, row
        assert row["rate_E_sd"] > 0 and row["cv_mean_sd"] >= 0  # two seeds: two different networks
        runs = [r for r in doc["runs"] if r["point"].startswith(row["point"] + "__seed=")]
        assert row["rate_E"] == pytest.approx(sum(r["rate_E"] for r in runs) / 2)
    job = json.loads((out / "slurm" / "job.json").read_text())["job_id"]
    assert sorted(p.name for p in (out / "logs").glob(f"slurm-{job}_*.out")) == [
        f"slurm-{job}_{i}.out" for i in range(4)
    ]


def test_cancelled_sweep_resubmits_only_the_missing_runs(slurm_cluster, local_table, tmp_path):
    spec, local = local_table
    out = tmp_path / "sw"
    names = [p.name for p in points(load_spec(spec))]
    driver = subprocess.Popen(
        sweep_cmd(spec, out), env=slurm_cluster.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 240
    try:
        while not list((out / "points").glob("*/analysis/sweep_point.json")):
            assert driver.poll() is None, driver.communicate()
            assert time.monotonic() < deadline, "no run complete within 240 s"
            time.sleep(0.2)
        job = json.loads((out / "slurm" / "job.json").read_text())["job_id"]
        cancel = slurm_cluster.run("scancel", job)
        assert cancel.returncode == 0, cancel.stderr
        _, err = driver.communicate(timeout=120)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    assert driver.returncode == 1, err
    assert "rerun the same command" in err and "Traceback" not in err, err
    done = {n for n in names if (out / "points" / n / "analysis" / "sweep_point.json").exists()}
    assert done and len(done) < len(names), done
    mtimes = {n: (out / "points" / n / "manifest.json").stat().st_mtime_ns for n in done}

    proc = slurm_cluster.run(*sweep_cmd(spec, out))
    assert proc.returncode == 0, proc.stderr + slurm_cluster.logs()
    missing = [n for n in names if n not in done]
    tasks = json.loads((out / "slurm" / "tasks.json").read_text())["tasks"]
    assert [Path(j).stem for t in tasks for j in t] == missing
    assert f"{len(missing)} points in {len(missing)} array tasks" in proc.stderr
    for n in done:
        assert f"{n}: skip (complete, parameters match)" in proc.stderr
        assert (out / "points" / n / "manifest.json").stat().st_mtime_ns == mtimes[n], n
    assert (out / "results.csv").read_text() == local


def test_sbatch_refusal_is_one_line(slurm_cluster, local_table, tmp_path):
    spec, _ = local_table
    proc = slurm_cluster.run(*sweep_cmd(spec, tmp_path / "sw", "--partition", "nosuchpartition"))
    last = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert last.startswith("balanced: error: sbatch refused the sweep's job array") and "partition" in last, last
    assert not (tmp_path / "sw" / "slurm" / "job.json").exists()
