"""The processes of this machine as ``/proc`` shows them (Linux): what the fault, MPI and
SLURM tests look for among the processes that a command started."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class Process:
    """One process, as it was when :func:`processes` read it."""

    pid: int
    ppid: int
    state: str  # the letter of /proc/PID/stat: R running, S sleeping, T stopped, Z zombie, ...

    def cmdline(self) -> str:
        """Its command line, arguments separated by NUL ("" once it has ended)."""
        try:
            return (PROC / str(self.pid) / "cmdline").read_text()
        except OSError:
            return ""

    def environ(self) -> dict[str, str]:
        """Its environment as it started ({} once it has ended)."""
        try:
            text = (PROC / str(self.pid) / "environ").read_text()
        except OSError:
            return {}
        return dict(item.split("=", 1) for item in text.split("\0") if "=" in item)


def processes() -> list[Process]:
    """Every process now, skipping any that ends while being read."""
    found = []
    for stat in PROC.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after the command's name, which may hold spaces
        except (OSError, IndexError):
            continue
        found.append(Process(int(stat.parent.name), int(fields[1]), fields[0]))
    return found


def descendants(pid: int) -> list[int]:
    """The pids of the children of ``pid``, theirs, and so on."""
    table = processes()
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        children = [p.pid for p in table if p.ppid == parent]
        found += children
        todo += children
    return found


def state_of(pid: int) -> str | None:
    """The state letter of ``pid``, None if there is no such process."""
    return next((p.state for p in processes() if p.pid == pid), None)


def alive(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie."""
    return state_of(pid) not in (None, "Z")
