"""A real single-node SLURM cluster for the test session (pytest plugin).

The session fixture ``slurm_cluster`` writes a private slurm.conf into a temporary folder,
creates a private munge key, starts ``munged``, ``slurmctld`` and ``slurmd`` in the
foreground (so their process ids are known), waits until the node is idle, and stops all
three at the end of the session, also when a test fails or the session is interrupted.

Everything is private to the session: its own munge socket (``AuthInfo=socket=...``), its
own free TCP ports, spool and state folders, so that several test sessions on one machine
do not meet. Clients (``srun``, ``sbatch``, ``squeue``, ...) reach this cluster through
``SLURM_CONF`` in :attr:`SlurmCluster.env`; pass that environment to every subprocess.

Needs root (SLURM runs jobs as the submitting user with ``SlurmUser=root``) and the Debian
packages ``slurm-wlm`` and ``munge`` (``scripts/setup.sh`` installs them). Without them the
fixture fails with that instruction; it never skips.
"""

from __future__ import annotations

import atexit
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

START_TIMEOUT_S = 60.0
JOB_TIMEOUT_S = 300.0
# Variables by which a launcher announces a job step: a test process started inside a SLURM
# job (CI on a cluster) must not hand them to the private cluster's clients.
_LAUNCH_PREFIXES = ("SLURM_", "SRUN_", "SBATCH_", "SALLOC_", "PMI_", "PMIX_", "OMPI_")


@dataclass
class SlurmCluster:
    """A running private SLURM cluster: one node (this host), one partition ``debug``."""

    root: Path  # the session's folder: slurm.conf, logs, spool, state
    conf: Path  # slurm.conf
    env: dict  # os.environ with SLURM_CONF set (and no launcher variables)
    node: str  # node name (this host's short name)
    cpus: int  # CPUs the node offers
    memory_mb: int  # RealMemory of the node
    _procs: dict = field(default_factory=dict, repr=False)

    def run(self, *cmd: str, timeout: float = JOB_TIMEOUT_S, **kw) -> subprocess.CompletedProcess:
        """Run a client command (``srun``, ``sbatch``, ``squeue``...) against this cluster."""
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        return subprocess.run(list(cmd), env=kw.pop("env", self.env), timeout=timeout, **kw)

    def sbatch(self, *args: str, wait: bool = True, timeout: float = JOB_TIMEOUT_S, **kw) -> str:
        """Submit with ``sbatch --parsable`` (``--wait`` unless ``wait=False``); the job id."""
        cmd = ["sbatch", "--parsable", *(["--wait"] if wait else []), *args]
        proc = self.run(*cmd, timeout=timeout, **kw)
        if proc.returncode != 0 and not (wait and proc.stdout.strip()):
            raise RuntimeError(f"sbatch failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc.stdout.strip().split(";")[0].splitlines()[-1]

    def queue(self) -> list[str]:
        """Job ids (``%i``: array tasks as JOB_TASK) still pending or running."""
        proc = self.run("squeue", "--noheader", "--format=%i")
        return proc.stdout.split()

    def wait_idle(self, timeout: float = JOB_TIMEOUT_S) -> None:
        """Wait until no job is queued or running."""
        deadline = time.monotonic() + timeout
        while self.queue():
            if time.monotonic() > deadline:
                raise TimeoutError(f"jobs still queued after {timeout:.0f} s: {self.queue()}")
            time.sleep(0.5)

    def logs(self) -> str:
        """The daemons' log files, for assertion messages."""
        parts = []
        for name in ("munged.log", "slurmctld.log", "slurmd.log"):
            path = self.root / "log" / name
            if path.exists():
                parts.append(f"--- {name}\n{path.read_text(errors='replace')[-4000:]}")
        return "\n".join(parts)

    def stop(self) -> None:
        """Cancel every job, then stop slurmd, slurmctld and munged (by their process ids)."""
        if not self._procs:
            return
        if "slurmctld" in self._procs and self._procs["slurmctld"].poll() is None:
            try:
                self.run("scancel", "--full", "--user", pwd.getpwuid(os.getuid()).pw_name, timeout=30)
                self.wait_idle(timeout=30)
            except (subprocess.SubprocessError, TimeoutError, OSError):
                pass  # the daemons are stopped below in any case
        for name in ("slurmd", "slurmctld", "munged"):
            proc = self._procs.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)


def _free_ports(n: int) -> list[int]:
    """``n`` distinct TCP ports that are free now (bound once by the OS, then released)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _memory_mb() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024 // 2  # half: leave room for the rest
    return 1024


def _require_tools() -> None:
    missing = [
        t
        for t in ("munged", "slurmctld", "slurmd", "srun", "sbatch", "squeue", "scancel", "sinfo")
        if shutil.which(t) is None and not Path("/usr/sbin", t).exists()
    ]
    if missing:
        pytest.fail(
            f"SLURM tools missing ({', '.join(missing)}): run scripts/setup.sh "
            "(installs the Debian packages slurm-wlm and munge)"
        )
    if os.getuid() != 0:
        pytest.fail("the SLURM test cluster needs root (SlurmUser=root, a private munged)")


def _tool(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


def _write_conf(root: Path, node: str, cpus: int, memory_mb: int, munge_socket: Path) -> Path:
    ctld_port, slurmd_port = _free_ports(2)
    for sub in ("log", "state", "spool", "run"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    conf = root / "slurm.conf"
    conf.write_text(f"""\
ClusterName=balanced-test
SlurmctldHost={node}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={munge_socket}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=defer_batch=0
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
StateSaveLocation={root / "state"}
SlurmdSpoolDir={root / "spool"}
SlurmctldPidFile={root / "run" / "slurmctld.pid"}
SlurmdPidFile={root / "run" / "slurmd.pid"}
SlurmctldLogFile={root / "log" / "slurmctld.log"}
SlurmdLogFile={root / "log" / "slurmd.log"}
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=30
KillWait=5
NodeName={node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN
PartitionName=debug Nodes={node} Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
""")
    return conf


def _start_munged(root: Path, procs: dict) -> Path:
    """A private munged (own key, socket, log) running as user munge; its socket path."""
    munge = pwd.getpwnam("munge")
    mdir = root / "munge"
    mdir.mkdir()
    mdir.chmod(0o755)  # munged: clients need execute permission on the socket folder
    key = mdir / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    for path in (mdir, key):
        os.chown(path, munge.pw_uid, munge.pw_gid)
    sock = mdir / "munge.socket"
    log = root / "log" / "munged.log"
    log.touch()
    os.chown(log, munge.pw_uid, munge.pw_gid)
    procs["munged"] = subprocess.Popen(
        [
            _tool("munged"),
            "--foreground",
            f"--socket={sock}",
            f"--key-file={key}",
            f"--log-file={log}",
            f"--pid-file={mdir / 'munged.pid'}",
            f"--seed-file={mdir / 'munged.seed'}",
        ],
        user=munge.pw_uid,
        group=munge.pw_gid,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    _wait_for(lambda: sock.exists(), "munged's socket", procs, root)
    return sock


def _wait_for(ready, what: str, procs: dict, root: Path, timeout: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        dead = [n for n, p in procs.items() if p.poll() is not None]
        if dead or time.monotonic() > deadline:
            logs = SlurmCluster(root, root / "slurm.conf", {}, "", 0, 0).logs()
            why = f"{', '.join(dead)} exited" if dead else f"not ready after {timeout:.0f} s"
            raise RuntimeError(f"SLURM test cluster: waiting for {what}: {why}\n{logs}")
        time.sleep(0.2)


def start_cluster(root: Path, cpus: int | None = None) -> SlurmCluster:
    """Start munged, slurmctld and slurmd for a private cluster under ``root``; wait for idle."""
    _require_tools()
    node = socket.gethostname().split(".")[0]
    cpus = cpus or os.cpu_count() or 1
    memory_mb = _memory_mb()
    procs: dict = {}
    cluster = SlurmCluster(root, root / "slurm.conf", {}, node, cpus, memory_mb, procs)
    try:
        (root / "log").mkdir(parents=True, exist_ok=True)
        sock = _start_munged(root, procs)
        conf = _write_conf(root, node, cpus, memory_mb, sock)
        env = {k: v for k, v in os.environ.items() if not k.startswith(_LAUNCH_PREFIXES)}
        env["SLURM_CONF"] = str(conf)
        cluster.env = env
        daemon_env = {**env, "SLURM_CONF": str(conf)}
        procs["slurmctld"] = subprocess.Popen(
            [_tool("slurmctld"), "-D", "-i", "-f", str(conf)],
            env=daemon_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        procs["slurmd"] = subprocess.Popen(
            [_tool("slurmd"), "-D", "-f", str(conf), "-N", node],
            env=daemon_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        def idle() -> bool:
            out = subprocess.run(
                ["sinfo", "--noheader", "--format=%t", "--nodes", node],
                env=env,
                capture_output=True,
                text=True,
                timeout=30,
            )
            return out.returncode == 0 and out.stdout.strip() == "idle"

        _wait_for(idle, f"node {node} idle", procs, root)
    except BaseException:
        cluster.stop()
        raise
    return cluster


@pytest.fixture(scope="session")
def slurm_cluster():
    """A running private single-node SLURM cluster (see :class:`SlurmCluster`)."""
    root = Path(tempfile.mkdtemp(prefix="balanced-slurm-"))  # under /tmp: munged must reach it
    root.chmod(0o755)
    cluster = start_cluster(root)
    atexit.register(cluster.stop)  # should the session end without running finalizers
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
