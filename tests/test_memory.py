"""The memory a run may use (:mod:`balanced.memory`) and the choices and refusals made from
it: from the files a control group shows, from SLURM's variables, and for real, with
``balanced run`` in a control group whose memory is limited."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from balanced.memory import MIB, cgroup_memory, memory_budget, slurm_memory

ROOT = Path(__file__).resolve().parents[1]
LIMIT_MIB = 400
# N = 5e4: its neurons alone (13 KiB each) need more than LIMIT_MIB
TOO_BIG = ("N_E=40000", "N_I=10000", "T=10", "record_n=0", "neuron_model=iaf_psc_exp")
SMALL = ("N_E=400", "N_I=100", "T=50", "record_n=0", "neuron_model=iaf_psc_exp")


def _group(root: Path, path: str, limit: str, usage: str, v1: bool = True) -> None:
    base = root / "memory" if v1 else root
    d = base / path.lstrip("/")
    d.mkdir(parents=True, exist_ok=True)
    names = ("memory.limit_in_bytes", "memory.usage_in_bytes") if v1 else ("memory.max", "memory.current")
    (d / names[0]).write_text(limit + "\n")
    (d / names[1]).write_text(usage + "\n")


def test_cgroup_v1_tightest_level_binds(tmp_path):
    unlimited = str(2**63 - 4096)
    _group(tmp_path, "/", unlimited, "5000000000")
    _group(tmp_path, "/slurm", str(8 * 2**30), str(6 * 2**30))  # 2 GiB of headroom
    _group(tmp_path, "/slurm/job_7", str(4 * 2**30), str(1 * 2**30))  # 3 GiB
    _group(tmp_path, "/slurm/job_7/step_0", unlimited, "0")
    text = "12:pids:/slurm/job_7/step_0\n4:memory:/slurm/job_7/step_0\n0::/\n"
    limit, headroom, group = cgroup_memory(text, tmp_path)
    assert (limit, headroom, group) == (8 * 2**30, 2 * 2**30, "/slurm")


def test_cgroup_v2_and_no_limit(tmp_path):
    _group(tmp_path, "/user.slice/job", "1073741824", "73741824", v1=False)
    (tmp_path / "user.slice" / "job" / "memory.stat").write_text("anon 50000000\ninactive_file 3741824\n")
    assert cgroup_memory("0::/user.slice/job\n", tmp_path) == (2**30, 2**30 - 70000000, "/user.slice/job")
    (tmp_path / "user.slice" / "job" / "memory.max").write_text("max\n")
    assert cgroup_memory("0::/user.slice/job\n", tmp_path) is None
    assert cgroup_memory("", tmp_path) is None
    assert cgroup_memory("0::/not/there\n", tmp_path) is None


def test_slurm_allocation_variables():
    assert slurm_memory({"SLURM_MEM_PER_NODE": "4000"}) == (4000 * MIB, "SLURM_MEM_PER_NODE=4000")
    per_cpu = slurm_memory({"SLURM_MEM_PER_CPU": "1000", "SLURM_CPUS_ON_NODE": "4"})
    assert per_cpu == (4000 * MIB, "SLURM_MEM_PER_CPU=1000 x SLURM_CPUS_ON_NODE=4")
    assert slurm_memory({"SLURM_MEM_PER_NODE": "0"}) is None  # --mem=0: the whole node
    assert slurm_memory({}) is None


def test_budget_is_the_smallest_limit(tmp_path):
    _group(tmp_path, "/job", str(2 * 2**30), str(2**29))
    cgroup = "4:memory:/job\n"
    machine = memory_budget({}, "", tmp_path)
    assert machine.source == "the machine" and machine.available <= machine.limit
    in_group = memory_budget({}, cgroup, tmp_path)
    assert (in_group.limit, in_group.source) == (2 * 2**30, "the control group /job")
    assert in_group.available == min(machine.available, 1.5 * 2**30)
    both = memory_budget({"SLURM_MEM_PER_NODE": "1024"}, cgroup, tmp_path)
    assert (both.limit, both.available, both.source) == (2**30, 2**30, "SLURM_MEM_PER_NODE=1024")
    assert both.as_dict() == {"limit_bytes": 2**30, "available_bytes": 2**30, "source": "SLURM_MEM_PER_NODE=1024"}


def _memory_cgroup_of_this_process() -> Path:
    """The v1 memory control group of this process, under which a test may make children."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        number, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            group = Path("/sys/fs/cgroup/memory") / path.lstrip("/")
            if (group / "memory.limit_in_bytes").is_file() and os.access(group, os.W_OK):
                return group
    pytest.fail("this test needs root and the cgroup v1 memory controller (/sys/fs/cgroup/memory)")


@pytest.fixture
def limited_group(tmp_path):
    """A child memory control group limited to 400 MiB; removed after the test."""
    group = _memory_cgroup_of_this_process() / f"balanced-test-{os.getpid()}"
    group.mkdir()
    try:
        (group / "memory.limit_in_bytes").write_text(str(LIMIT_MIB * MIB))
        yield group
    finally:
        for _ in range(50):  # the group can be removed once its last process has ended
            try:
                group.rmdir()
                break
            except OSError:
                import time

                time.sleep(0.1)


def _run_in(group: Path, out: Path, *sets: str) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "balanced", "run", "--out", str(out), "--no-analysis", "--quiet", "--threads", "1"]
    for s in sets:
        args += ["--set", s]
    script = f'echo $$ > {group / "cgroup.procs"} && exec "$@"'
    env = {**os.environ, "PYNEST_QUIET": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run(["sh", "-c", script, "sh", *args], capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.nest
def test_run_in_a_limited_control_group(limited_group, tmp_path):
    """The kernel would kill a run that outgrows its control group mid-run, and the
    manifest would say 'running' for ever: it is refused before NEST allocates, in one line
    naming the group, and a run that fits records the group's limit."""
    big = tmp_path / "big"
    proc = _run_in(limited_group, big, *TOO_BIG)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("balanced: error:") == 1 and "Traceback" not in proc.stderr
    assert "are available (the control group " in proc.stderr and limited_group.name in proc.stderr, proc.stderr
    assert not big.exists()
    small = tmp_path / "small"
    proc = _run_in(limited_group, small, *SMALL)
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((small / "manifest.json").read_text())
    assert manifest["memory"]["limit_bytes"] == LIMIT_MIB * MIB
    assert manifest["memory"]["source"].endswith(limited_group.name)
    reason = manifest["choices"]["synapse_model"]["reason"]
    assert manifest["choices"]["synapse_model"]["value"] == "static_synapse" and limited_group.name in reason
