"""A fresh interpreter importing what a sweep worker imports, one step at a time, for
``benchmarks/sweep_throughput.py --phases``: prints one JSON line, the CPU s of the
interpreter's start and of each step."""

import json
import resource


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


steps = {"interpreter": round(cpu(), 3)}


def step(name: str, t0: float) -> None:
    steps[name] = round(cpu() - t0, 3)


t0 = cpu()
import balanced.sweep.worker  # noqa: E402, F401

step("worker module", t0)
from balanced.kernel import import_nest  # noqa: E402

t0 = cpu()
import_nest(nest_extras=False)
step("NEST", t0)
t0 = cpu()
from balanced.analysis.report import preload_statistics  # noqa: E402

preload_statistics()
step("statistics (SciPy)", t0)
t0 = cpu()
import balanced.theory  # noqa: E402, F401

step("theory", t0)
print(json.dumps(steps))
