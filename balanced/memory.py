"""How much memory a run may use: the machine's, its control group's limit and its SLURM
allocation, whichever is smallest, and what of it is free now.

A batch system limits a job's memory below the machine's: SLURM with cgroups enforces
``--mem`` through the job's control group (the kernel kills the job when it is exceeded),
and without them it records the request in ``SLURM_MEM_PER_NODE`` or
``SLURM_MEM_PER_CPU``. A check against the machine's memory alone lets such a job start a
network that is then killed mid-run, with no line saying why. Imports no NEST.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
MIB = 2**20
#: a cgroup v1 limit at or above this is "no limit" (the kernel's default, a page-rounded 2**63)
CGROUP_V1_UNLIMITED = 2**62


@dataclass(frozen=True)
class MemoryBudget:
    """Bytes a node's runs may use in all (``limit``) and may still allocate now
    (``available``), and the limit that binds (``source``: "the machine", "the control
    group /slurm/uid_0/job_7", "SLURM_MEM_PER_NODE=4000")."""

    limit: float
    available: float
    source: str

    def as_dict(self) -> dict:
        """For the manifest: bytes (None where unknown) and the binding limit."""

        def finite(x: float) -> int | None:
            return int(x) if x != float("inf") else None

        return {"limit_bytes": finite(self.limit), "available_bytes": finite(self.available), "source": self.source}


def physical_memory_bytes() -> float:
    """This machine's physical memory (bytes), inf where the OS does not say."""
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return float("inf")


def available_memory_bytes() -> float:
    """Memory available to new allocations on this machine (MemAvailable), inf if unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024.0
    except OSError:
        pass
    return float("inf")


def _read_number(path: Path) -> float | None:
    """A cgroup file's number; inf for "max" (v2's "no limit"), None if absent or unreadable."""
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if text == "max":
        return float("inf")
    try:
        value = float(int(text))
    except ValueError:
        return None
    return float("inf") if value >= CGROUP_V1_UNLIMITED else value


def _inactive_file_bytes(stat_file: Path, key: str) -> float:
    """Page cache the kernel reclaims before it kills (``key`` of ``memory.stat``), 0 if absent."""
    try:
        for line in stat_file.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return float(value)
    except (OSError, ValueError):
        pass
    return 0.0


def cgroup_memory(proc_self_cgroup: str, root: Path = CGROUP_ROOT) -> tuple[float, float, str] | None:
    """(limit, headroom, cgroup) of the tightest memory limit over this process's control
    group and its ancestors, from the text of ``/proc/self/cgroup``; None where no limit
    is set or none can be read. Headroom: the limit less that group's current usage, of
    which the inactive page cache does not count (the kernel reclaims it first).

    cgroup v2 (line ``0::/path``): ``memory.max`` and ``memory.current`` under ``root``;
    v1 (a line ``N:...memory...:/path``): ``memory.limit_in_bytes`` and
    ``memory.usage_in_bytes`` under ``root/memory``."""
    v1_path = v2_path = None
    for line in proc_self_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[0] == "0" and parts[1] == "":
            v2_path = parts[2]
        elif "memory" in parts[1].split(","):
            v1_path = parts[2]
    if v1_path is not None and (root / "memory").is_dir():
        base, path = root / "memory", v1_path
        files = ("memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file")
    elif v2_path is not None:
        base, path, files = root, v2_path, ("memory.max", "memory.current", "inactive_file")
    else:
        return None
    best = None
    group = Path(path)
    for level in (group, *group.parents):  # a parent's limit binds its children too
        directory = base / str(level).lstrip("/")
        limit = _read_number(directory / files[0])
        if limit is None or limit == float("inf"):
            continue
        usage = (_read_number(directory / files[1]) or 0.0) - _inactive_file_bytes(directory / "memory.stat", files[2])
        headroom = max(0.0, limit - usage)
        if best is None or headroom < best[1]:
            best = (limit, headroom, str(level))
    return best


def slurm_memory(environ) -> tuple[float, str] | None:
    """(bytes, variable) of the job's memory on this node as SLURM allocated it:
    ``SLURM_MEM_PER_NODE`` (``--mem``, MiB), or ``SLURM_MEM_PER_CPU`` (``--mem-per-cpu``)
    times ``SLURM_CPUS_ON_NODE``; None outside a job or where ``--mem=0`` (all of the node)."""

    def number(name: str) -> int | None:
        try:
            return int(environ.get(name, "").split("(")[0].split(",")[0])
        except ValueError:
            return None

    per_node = number("SLURM_MEM_PER_NODE")
    if per_node:
        return per_node * float(MIB), f"SLURM_MEM_PER_NODE={per_node}"
    per_cpu, cpus = number("SLURM_MEM_PER_CPU"), number("SLURM_CPUS_ON_NODE")
    if per_cpu and cpus:
        return per_cpu * cpus * float(MIB), f"SLURM_MEM_PER_CPU={per_cpu} x SLURM_CPUS_ON_NODE={cpus}"
    return None


def memory_budget(environ=None, proc_self_cgroup: str | None = None, root: Path = CGROUP_ROOT) -> MemoryBudget:
    """This node's :class:`MemoryBudget`: the smallest of the machine's memory, the control
    group's limit and the SLURM allocation; available: the machine's MemAvailable, the
    control group's headroom or the SLURM allocation, whichever is smallest."""
    env = os.environ if environ is None else environ
    if proc_self_cgroup is None:
        try:
            proc_self_cgroup = Path("/proc/self/cgroup").read_text()
        except OSError:
            proc_self_cgroup = ""
    limit, available, source = physical_memory_bytes(), available_memory_bytes(), "the machine"
    group = cgroup_memory(proc_self_cgroup, root)
    if group is not None and group[0] < limit:
        limit, source = group[0], f"the control group {group[2]}"
    if group is not None:
        available = min(available, group[1])
    slurm = slurm_memory(env)
    if slurm is not None and slurm[0] < limit:
        limit, source = slurm[0], slurm[1]
    if slurm is not None:
        available = min(available, slurm[0])
    return MemoryBudget(limit, min(available, limit), source)
