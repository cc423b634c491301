"""Termination signals as exceptions, so that a run ends cleanly when SLURM, ``timeout`` or a
person stops it.

SIGTERM (and SIGHUP) raise :class:`Interrupted` in the main thread, as SIGINT raises
KeyboardInterrupt; the run loop then records "interrupted" with the signal's name,
removes its staging folder and the command exits with 128 + the signal number. Python
runs the handler between NEST calls, so the run loop keeps each ``Simulate`` call short
(:mod:`balanced.run`).
"""

from __future__ import annotations

import signal


class Interrupted(BaseException):
    """The process received a termination signal (a BaseException, like KeyboardInterrupt,
    so that ``except Exception`` clauses do not swallow it)."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(f"interrupted by {signal.Signals(signum).name}")


def _raise_interrupted(signum, frame) -> None:
    raise Interrupted(signum)


def install_handlers() -> None:
    """Make SIGTERM and SIGHUP raise :class:`Interrupted` (call from the main thread)."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise_interrupted)


def signal_of(exc: BaseException) -> int | None:
    """The signal number behind ``exc`` (SIGINT for KeyboardInterrupt), or None."""
    if isinstance(exc, Interrupted):
        return exc.signum
    if isinstance(exc, KeyboardInterrupt):
        return int(signal.SIGINT)
    return None


def describe(exc: BaseException) -> str:
    """'interrupted by SIGTERM' and the like, for messages and the manifest."""
    signum = signal_of(exc)
    return f"interrupted by {signal.Signals(signum).name}" if signum is not None else str(exc)
