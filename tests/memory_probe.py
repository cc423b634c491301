"""``python tests/memory_probe.py RUN_ARGS...``: ``balanced run RUN_ARGS`` in this process,
then one JSON line: its exit code, the resident memory with NEST loaded before the run
(``base``) and the process's peak (``peak``), in bytes (``/proc/self/status``)."""

import json
import sys

from balanced.cli import main
from balanced.kernel import import_nest


def status_bytes(key: str, pid: int | str = "self") -> int:
    """A ``/proc/PID/status`` memory field (``VmRSS``, ``VmHWM``) in bytes."""
    with open(f"/proc/{pid}/status") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith(key + ":"))


if __name__ == "__main__":
    import_nest(nest_extras=False)
    base = status_bytes("VmRSS")
    sys.argv = ["balanced", "-q", "run", *sys.argv[1:]]
    code = main()
    print(json.dumps({"code": code, "base": base, "peak": status_bytes("VmHWM")}))
