"""Which points a local sweep runs side by side: only as many as fit together in the memory
the sweep may use.

Each point checks its own estimate against the memory free when it starts
(:func:`balanced.choices.check_memory`), but points started together all see the same free
memory before any of them has allocated it: two that fit alone could together outgrow the
machine (or the job's allocation) and be killed mid-run. So the local executor starts a
point only while the estimated peaks of the points running, with its own, fit in what was
free when the sweep began; a point that does not fit even alone is started by itself and
refused by its own check with the usual message. Imports no NEST.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..choices import estimated_memory_bytes, synapse_model
from ..derived import derive
from ..memory import MemoryBudget
from ..params import Params

GIB = 2.0**30


def point_memory_bytes(params: Params, budget: MemoryBudget) -> float:
    """Estimated peak (bytes) of one point run alone with ``budget`` (one rank, the synapse
    model its ``synapse_model`` setting gives there)."""
    d = derive(params)
    model = synapse_model(params.synapse_model, d.n_synapses_expected, d.N, budget).value
    return estimated_memory_bytes(d.n_synapses_expected, d.N, model, 1)


@dataclass
class MemoryGate:
    """The points running and their estimated peaks (bytes), against ``budget.available``."""

    budget: MemoryBudget
    running: dict[str, float] = field(default_factory=dict)
    told: set[str] = field(default_factory=set)

    def in_use(self) -> float:
        return sum(self.running.values())

    def admits(self, name: str, need: float) -> bool:
        """Whether a point needing ``need`` bytes may start now: alone always, beside others
        while all fit."""
        return not self.running or self.in_use() + need <= self.budget.available

    def take(self, name: str, need: float) -> None:
        self.running[name] = need

    def release(self, name: str) -> None:
        self.running.pop(name, None)

    def waiting_line(self, name: str, need: float) -> str | None:
        """The log line for a point held back, once per point (None after the first)."""
        if name in self.told:
            return None
        self.told.add(name)
        return (
            f"{name}: waits for memory: about {need / GIB:.3g} GiB, with the "
            f"{self.in_use() / GIB:.3g} GiB of the points running, would exceed the "
            f"{self.budget.available / GIB:.3g} GiB free ({self.budget.source})"
        )
