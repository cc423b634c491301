"""Launch detection, thread choice, progress lines and provenance: pure functions (no NEST),
plus one real run whose job-log progress is read back."""

import json
import logging
import subprocess
import sys

import pytest

from balanced import kernel, progress, provenance
from balanced.launch import Launch, LaunchError, check_nest_launch, child_env, detect_launch
from balanced.params import ParamError

SRUN_2 = {
    "SLURM_JOB_ID": "7",
    "SLURM_STEP_ID": "0",
    "SLURM_STEP_NUM_TASKS": "2",
    "SLURM_NTASKS": "2",
    "SLURM_PROCID": "1",
    "SLURM_LOCALID": "1",
    "SLURM_NODEID": "0",
    "SLURM_STEP_TASKS_PER_NODE": "2",
}


@pytest.mark.parametrize(
    "env, expected",
    [
        ({}, Launch()),
        (
            {
                "OMPI_COMM_WORLD_SIZE": "4",
                "OMPI_COMM_WORLD_RANK": "3",
                "OMPI_COMM_WORLD_LOCAL_SIZE": "2",
                "OMPI_COMM_WORLD_LOCAL_RANK": "1",
                "PMIX_RANK": "3",
            },
            Launch(4, 3, 2, 1, "mpirun", "OMPI_COMM_WORLD_SIZE", "pmix"),
        ),
        (
            {"PMI_SIZE": "3", "PMI_RANK": "2", "MPI_LOCALNRANKS": "3", "MPI_LOCALRANKID": "2"},  # MPICH Hydra
            Launch(3, 2, 3, 2, "mpirun", "PMI_SIZE", "pmi"),
        ),
        (SRUN_2, Launch(2, 1, 2, 1, "srun", "SLURM_STEP_NUM_TASKS", None)),
        ({**SRUN_2, "PMIX_RANK": "1"}, Launch(2, 1, 2, 1, "srun", "SLURM_STEP_NUM_TASKS", "pmix")),
        ({**SRUN_2, "PMI_RANK": "1", "PMI_SIZE": "2"}, Launch(2, 1, 2, 1, "srun", "SLURM_STEP_NUM_TASKS", "pmi")),
        # 5 tasks over 2 nodes, 3 on node 0 and 2 on node 1; this task is on node 1
        (
            {
                "SLURM_STEP_ID": "0",
                "SLURM_STEP_NUM_TASKS": "5",
                "SLURM_PROCID": "4",
                "SLURM_LOCALID": "1",
                "SLURM_NODEID": "1",
                "SLURM_STEP_TASKS_PER_NODE": "3,2",
            },
            Launch(5, 4, 2, 1, "srun", "SLURM_STEP_NUM_TASKS"),
        ),
        (
            {
                "SLURM_STEP_ID": "0",
                "SLURM_STEP_NUM_TASKS": "4",
                "SLURM_NODEID": "1",
                "SLURM_STEP_TASKS_PER_NODE": "2(x2)",
            },
            Launch(4, 0, 2, 0, "srun", "SLURM_STEP_NUM_TASKS"),
        ),
        # a batch script outside srun: one task whatever --ntasks says
        ({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "8", "SLURM_PROCID": "0"}, Launch()),
        # mpirun inside an allocation: its daemons' step variables do not count
        (
            {**SRUN_2, "OMPI_COMM_WORLD_SIZE": "6", "OMPI_COMM_WORLD_RANK": "0"},
            Launch(6, 0, 6, 0, "mpirun", "OMPI_COMM_WORLD_SIZE"),
        ),
        ({"PMIX_SIZE": "2", "PMIX_RANK": "1"}, Launch(2, 1, 2, 1, "mpirun", "PMIX_SIZE", "pmix")),
        ({"OMPI_COMM_WORLD_SIZE": "junk"}, Launch()),
    ],
)
def test_detect_launch(env, expected):
    assert detect_launch(env) == expected


def test_refusals_name_the_launch_and_the_fix():
    check_nest_launch(Launch(), have_mpi=False, nest_processes=1)  # one task: always fine
    srun = detect_launch(SRUN_2)
    with pytest.raises(LaunchError, match=r"2 tasks by srun .*built without MPI.*srun --mpi=pmix -n 2"):
        check_nest_launch(srun, have_mpi=False, nest_processes=None)
    with pytest.raises(LaunchError, match=r"without an MPI plugin.*--mpi=pmix"):
        check_nest_launch(srun, have_mpi=True, nest_processes=None)
    pmix = detect_launch({**SRUN_2, "PMIX_RANK": "1"})
    check_nest_launch(pmix, have_mpi=True, nest_processes=2)
    with pytest.raises(LaunchError, match=r"MPI world has 1 process:"):
        check_nest_launch(pmix, have_mpi=True, nest_processes=1)
    mpirun = detect_launch({"OMPI_COMM_WORLD_SIZE": "2"})
    with pytest.raises(LaunchError, match=r"mpirun -np 2 \.venv-mpi"):
        check_nest_launch(mpirun, have_mpi=False, nest_processes=None)


def test_child_env_is_no_task(monkeypatch):
    for k, v in {**SRUN_2, "OMPI_COMM_WORLD_SIZE": "2", "PMIX_RANK": "1"}.items():
        monkeypatch.setenv(k, v)
    env = child_env()
    assert detect_launch(env) == Launch()
    assert env["SLURM_JOB_ID"] == "7"  # the job itself stays known


@pytest.mark.parametrize(
    "args, expected",
    [
        ((8, None, 1), (8, "CPU affinity")),
        ((64, 16, 1), (16, "SLURM_CPUS_PER_TASK")),  # SLURM without task binding: the mask is the node
        ((4, 16, 1), (4, "SLURM_CPUS_PER_TASK")),  # never more than the mask
        ((64, None, 4), (16, "CPU affinity shared by 4 tasks on this node")),
        ((1, None, 2), (1, "CPU affinity shared by 2 tasks on this node")),  # bound to one core each
        ((64, None, 2, 8), (4, "SLURM_CPUS_ON_NODE shared by 2 tasks on this node")),
        ((0, None, 1), (1, "CPU affinity")),
    ],
)
def test_task_cpus(args, expected):
    assert kernel.task_cpus(*args) == expected


def test_default_threads_has_no_fixed_cap():
    assert kernel.default_threads(1000, 64) == (1, "auto: 1 below 5000 neurons")
    assert kernel.default_threads(kernel.AUTO_THREADS_MIN_NEURONS, 64) == (64, "auto: one per usable CPU")
    assert kernel.default_threads(100_000, 1)[0] == 1


def test_check_threads():
    kernel.check_threads(1, 1)
    kernel.check_threads(kernel.MAX_THREADS_PER_CPU * 2, 2)
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ParamError, match=r"--threads .*: must be an integer >= 1"):
            kernel.check_threads(bad, 2)
    with pytest.raises(ParamError, match=r"--threads 9: at most 4 per usable CPU \(8 here: 2 CPUs this task may use\)"):
        kernel.check_threads(9, 2)


def test_resolve_threads_reads_the_allocation():
    from balanced.params import resolve

    big = resolve("balanced", None, ["N_E=8000", "N_I=2000"])
    env = {**SRUN_2, "PMIX_RANK": "1", "SLURM_CPUS_PER_TASK": "1"}
    choice = kernel.resolve_threads(big, None, environ=env)
    assert (choice.threads, choice.cpus_from) == (1, "SLURM_CPUS_PER_TASK")
    assert kernel.resolve_threads(big, 3, environ={"SLURM_CPUS_PER_TASK": "1"}).as_dict() == {
        "threads_per_rank": 3,
        "source": "user",
        "usable_cpus": 1,
        "cpus_from": "SLURM_CPUS_PER_TASK",
    }


def _progress_messages(total_ms, times, clock_values):
    clock = iter(clock_values)
    bar = progress.Progress(total_ms, mode="lines", clock=lambda: next(clock))
    seen = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())
    progress.logger().addHandler(handler)
    progress.logger().setLevel(logging.INFO)
    try:
        for t in times:
            bar.update(float(t))
    finally:
        progress.logger().removeHandler(handler)
    return seen


def test_progress_lines_every_tenth_or_30_s():
    # 40 chunks, 1 s of wall time each
    lines = _progress_messages(1000.0, range(25, 1001, 25), [0.0] + [float(s) for s in range(1, 200)])
    assert len(lines) == 10
    assert lines[0] == ("progress: 100.0 / 1000.0 ms model time (10 %), wall 4.0 s, real-time factor 0.025, ETA 36.0 s")
    assert lines[-1].endswith("(100 %), wall 40.0 s, real-time factor 0.025, ETA 0.0 s")


def test_progress_line_every_30_s_when_slow():
    # 1 %, 2 %, 3 %: below 10 %, but 30 s apart
    seen = _progress_messages(1000.0, (10.0, 20.0, 30.0), [0.0, 31.0, 62.0, 64.0])
    assert len(seen) == 2 and "wall 31.0 s" in seen[0] and "wall 1:02, real-time factor 0.000323, ETA 50:38" in seen[1]


def test_provenance(monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "3")
    p = provenance.collect(argv=["balanced", "run"])
    assert p["argv"] == ["balanced", "run"]
    assert p["slurm"]["SLURM_JOB_ID"] == "42" and p["slurm"]["SLURM_ARRAY_TASK_ID"] == "3"
    assert p["hosts"]["host"] and p["launch"]["launcher"] == "local"
    git = p["package"]["git"]  # the tests run from a checkout
    assert len(git["commit"]) == 40 and isinstance(git["dirty"], bool)
    assert provenance.git_commit("/") is None
    json.dumps(p)


def test_kernel_timers_sum_over_chunks():
    class FakeNest:
        def __init__(self):
            self.status = {}

        def GetKernelStatus(self):  # noqa: N802 (NEST's name)
            return self.status

    nest, acc = FakeNest(), provenance.KernelTimers()
    for sim in (0.5, 0.25):
        nest.status = {
            "time_simulate": sim,
            "time_construction_connect": 2.0,
            "time_update": [0.1, 0.2],
            "time_communicate_prepare": [0.02],  # not restarted by Simulate: seen again, not added
            "resolution": 0.1,
        }
        acc.add(nest)
    assert acc.as_dict() == {
        "simulate": 0.75,
        "construction_connect": 2.0,
        "update": [0.2, 0.4],
        "communicate_prepare": 0.02,
    }


def test_job_log_gets_progress_lines(tmp_path):
    """A run of 5 s model time with stderr not a terminal: a line every 10 %, each with ETA."""
    log = tmp_path / "run.log"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "balanced",
            "--log-file",
            str(log),
            "run",
            "--out",
            str(tmp_path / "run"),
            "--no-analysis",
            "--set",
            "N_E=160",
            "--set",
            "N_I=40",
            "--set",
            "T=5000",
            "--set",
            "record_n=0",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=child_env(),
    )
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("progress:")]
    assert len(lines) >= 5 and all("ETA" in ln and "real-time factor" in ln for ln in lines)
    assert "(100 %)" in lines[-1]
    logged = log.read_text().splitlines()
    assert sum("rank 0 INFO progress:" in ln for ln in logged) == len(lines)
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["nest_timers_s"]["simulate"] > 0
    assert manifest["provenance"]["argv"][1:3] == ["--log-file", str(log)]
    quiet = subprocess.run(
        [
            sys.executable,
            "-m",
            "balanced",
            "-q",
            "run",
            "--out",
            str(tmp_path / "q"),
            "--no-analysis",
            "--set",
            "T=300",
            "--set",
            "N_E=80",
            "--set",
            "N_I=20",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=child_env(),
    )
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_terminal_gets_a_bar_with_eta_and_real_time_factor(tmp_path):
    """In a terminal (a pseudo-terminal from script(1), which reports no size): a tqdm bar."""
    code = (
        "from balanced.progress import Progress\nwith Progress(1000.0) as bar:\n"
        "    for t in range(100, 1001, 100): bar.update(float(t))\n"
    )
    (tmp_path / "bar.py").write_text(code)
    proc = subprocess.run(
        ["script", "-qec", f"{sys.executable} {tmp_path / 'bar.py'}", str(tmp_path / "tty.txt")],
        capture_output=True,
        text=True,
        timeout=60,
        env=child_env(),
    )
    assert proc.returncode == 0, proc.stderr
    drawn = (tmp_path / "tty.txt").read_text(errors="replace")
    assert "simulating 100%" in drawn and "1000/1000 ms" in drawn and "real-time factor" in drawn, drawn
