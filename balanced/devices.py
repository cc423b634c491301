"""The user's own NEST devices on the network, without changing NEST's delays by accident.

NEST's ``max_delay`` (the longest delay of any connection) sets the length of every
neuron's input ring, ``min_delay + max_delay`` steps. The network's delay is one step, so
a device connected with NEST's default delay of 1 ms would grow every ring from 2 to 11
slots and halve the speed (docs/performance.md). :func:`connect_device` connects with
the network's delay unless told otherwise and refuses a delay that would change NEST's
min or max delay; :func:`check_delays` refuses to go on when something else (a direct
``nest.Connect``) has changed them.
"""

from __future__ import annotations

from typing import Any

# NEST recording devices that connect from the device to the neurons (they sample state)
SAMPLERS = ("multimeter", "voltmeter")


class DelayError(RuntimeError):
    """A connection that would change, or has changed, NEST's min or max delay."""


def kernel_delays(nest) -> tuple[float, float]:
    """NEST's (min_delay, max_delay) now, in ms."""
    lo, hi = nest.GetKernelStatus(["min_delay", "max_delay"])
    return float(lo), float(hi)


def connect_device(
    nest,
    device,
    targets,
    conn_spec: str | dict,
    syn_spec: dict | None,
    network_delay: float,
    allow_delay_change: bool,
) -> dict[str, Any]:
    """Connect ``device`` to ``targets`` (a NodeCollection of the network's neurons).

    Stimulators and samplers (multimeter, voltmeter) connect device -> neurons, other
    recorders (spike_recorder, ...) neurons -> device. ``syn_spec`` gets
    ``network_delay`` (ms) unless it names a delay. Raises :class:`DelayError` for a
    delay outside NEST's current [min_delay, max_delay] unless ``allow_delay_change``.
    Returns what was done, for the manifest.
    """
    spec = dict(syn_spec or {})
    spec.setdefault("delay", network_delay)
    model = str(device[0].get("model"))
    element = str(nest.GetDefaults(model, "element_type"))
    sends = element == "stimulator" or model in SAMPLERS
    lo, hi = kernel_delays(nest)
    delay = float(spec["delay"])
    if not allow_delay_change and not (lo - 1e-9 <= delay <= hi + 1e-9):
        allowed = f"{lo:g} ms" if lo == hi else f"{lo:g} ms to {hi:g} ms"
        raise DelayError(
            f"add_device({model}): delay = {delay:g} ms would change NEST's delays (now min {lo:g}, "
            f"max {hi:g} ms): every neuron's input ring has min + max delay steps, so this slows the "
            f"network; allowed: {allowed}, or pass allow_delay_change=True"
        )
    if sends:
        nest.Connect(device, targets, conn_spec, spec)
    else:
        nest.Connect(targets, device, conn_spec, spec)
    return {
        "model": model,
        "direction": "device -> neurons" if sends else "neurons -> device",
        "delay_ms": delay,
    }


def check_delays(nest, expected: tuple[float, float]) -> None:
    """:class:`DelayError` when NEST's delays are no longer ``expected`` (min, max in ms)."""
    now = kernel_delays(nest)
    if now != expected:
        raise DelayError(
            f"NEST's delays changed from min {expected[0]:g} / max {expected[1]:g} ms to "
            f"min {now[0]:g} / max {now[1]:g} ms (a connection made outside add_device?): every neuron's "
            "input ring grows with them; connect devices with add_device(), or pass "
            "allow_delay_change=True to it"
        )
