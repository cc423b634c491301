"""Messages and simulation progress for a person: Python ``logging`` and a progress display.

* The ``balanced`` logger carries every message (:func:`emit`, which
  :func:`balanced.kernel.say` calls). :func:`configure_logging` gives it a console handler
  on stderr (``-q`` warnings only, ``-v`` debug too) and, with ``--log-file``, a file with
  time stamps; a rank filter lets only the first rank of an MPI run speak, so a message is
  printed once, not once per rank.
* :class:`Progress` shows a simulation's progress: a tqdm bar with ETA and real-time factor
  in a terminal or a notebook; in a job log (stderr not a terminal) one line every 10 % of
  the run or every 30 s of wall time, whichever comes first, with model time, wall time,
  real-time factor and ETA.

The real-time factor is model time over wall time, as NEST reports it: 0.5 means one
second of model time took two seconds.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

LOGGER_NAME = "balanced"
LINE_EVERY_FRACTION = 0.1  # a progress line every 10 % of the run ...
LINE_EVERY_S = 30.0  # ... or every 30 s of wall time, whichever comes first

_FILE_FORMAT = "%(asctime)s %(hostname)s rank %(rank)s %(levelname)s %(message)s"


def logger() -> logging.Logger:
    return logging.getLogger(LOGGER_NAME)


class RankFilter(logging.Filter):
    """Pass records of the first rank only (``record.rank``, set by :func:`emit`, or the
    launch's rank), except those logged with ``extra={"any_rank": True}``. Adds ``rank`` and
    ``hostname`` to every record, for the log file's format."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "rank"):
            from .launch import detect_launch

            record.rank = detect_launch().rank
        if not hasattr(record, "hostname"):
            import socket

            record.hostname = socket.gethostname()
        return getattr(record, "rank", 0) == 0 or getattr(record, "any_rank", False)


def verbosity_level(verbose: int = 0, quiet: int = 0) -> int:
    """Console level for ``-v`` (debug) and ``-q`` (warnings only) counts."""
    return logging.DEBUG if verbose > quiet else logging.WARNING if quiet > verbose else logging.INFO


def configure_logging(level: int = logging.INFO, log_file: str | None = None) -> logging.Logger:
    """(Re)configure the ``balanced`` logger: stderr at ``level``, and ``log_file`` (every
    level down to INFO, time-stamped, appended) when given. Both behind :class:`RankFilter`."""
    log = logger()
    for handler in list(log.handlers):
        log.removeHandler(handler)
        handler.close()
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(level)
    console.setFormatter(logging.Formatter("%(message)s"))
    console.addFilter(RankFilter())
    log.addHandler(console)
    if log_file:
        file = logging.FileHandler(log_file, encoding="utf-8")
        file.setLevel(min(level, logging.INFO))
        file.setFormatter(logging.Formatter(_FILE_FORMAT))
        file.addFilter(RankFilter())
        log.addHandler(file)
    log.setLevel(min(level, logging.INFO))
    log.propagate = False
    return log


def _ensure_configured() -> logging.Logger:
    log = logger()
    if not log.handlers:
        configure_logging()
    return log


def emit(message: str, *, end: str = "\n", rank: int | None = None, level: int = logging.INFO) -> None:
    """Log ``message`` (one or more lines) for a person; ``rank`` is this process's MPI rank.

    A message not ending a line (``end`` other than a newline) is written to stderr as is
    (first rank only): a caller drawing its own line.
    """
    log = _ensure_configured()
    extra = {} if rank is None else {"rank": rank}
    if end != "\n":
        if (rank if rank is not None else 0) == 0 and log.isEnabledFor(level):
            sys.stderr.write(message + end)
            sys.stderr.flush()
        return
    log.log(level, message, extra=extra)


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    ip = getattr(shell, "get_ipython", lambda: None)() if shell else None
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


def _fmt_s(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def progress_line(done_ms: float, total_ms: float, wall_s: float) -> str:
    """One job-log line: model time, wall time, real-time factor and ETA (pure)."""
    frac = done_ms / total_ms if total_ms > 0 else 1.0
    rtf = (done_ms / 1000.0) / wall_s if wall_s > 0 else float("inf")
    eta = wall_s * (1 - frac) / frac if frac > 0 else float("inf")
    return (
        f"progress: {done_ms:.1f} / {total_ms:.1f} ms model time ({100 * frac:.0f} %), "
        f"wall {_fmt_s(wall_s)}, real-time factor {rtf:.3g}, ETA {_fmt_s(eta) if frac > 0 else '?'}"
    )


class Progress:
    """Progress of one simulation of ``total_ms`` model time; call :meth:`update` with the
    model time reached, :meth:`close` at the end (or use as a context manager).

    ``mode``: ``"bar"`` (tqdm: a terminal or a notebook), ``"lines"`` (a job log) or
    ``"off"``; ``None`` chooses from the stream. ``rank``: only rank 0 shows anything.
    """

    def __init__(
        self,
        total_ms: float,
        *,
        enabled: bool = True,
        rank: int = 0,
        mode: str | None = None,
        stream=None,
        clock=time.perf_counter,
        desc: str = "simulating",
    ):
        self.total_ms = float(total_ms)
        self.stream = stream or sys.stderr
        self.clock = clock
        self.started = clock()
        self._last_line_s = self.started
        self._next_fraction = LINE_EVERY_FRACTION
        self._bar: Any = None
        if not enabled or rank != 0 or logger().getEffectiveLevel() > logging.INFO and logger().handlers:
            mode = "off"
        elif mode is None:
            isatty = getattr(self.stream, "isatty", lambda: False)()
            mode = "bar" if isatty or _in_notebook() else "lines"
        self.mode = mode
        if mode == "bar":
            if _in_notebook():
                from tqdm.auto import tqdm
            else:
                from tqdm import tqdm
            import shutil

            # a terminal that reports no size gets 80 x 24: tqdm would draw nothing in 0 rows
            size = None if _in_notebook() else shutil.get_terminal_size()
            self._bar = tqdm(
                total=self.total_ms,
                desc=desc,
                unit="ms",
                file=self.stream,
                leave=True,
                ncols=size and size.columns,
                nrows=size and size.lines,
                bar_format="{desc} {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} ms [{elapsed}<{remaining}{postfix}]",
            )

    def update(self, done_ms: float) -> None:
        """The simulation has reached ``done_ms`` of model time."""
        now = self.clock()
        wall = now - self.started
        if self.mode == "bar" and self._bar is not None:
            self._bar.update(done_ms - self._bar.n)
            if wall > 0:
                self._bar.set_postfix_str(f"real-time factor {done_ms / 1000.0 / wall:.3g}", refresh=True)
        elif self.mode == "lines":
            frac = done_ms / self.total_ms if self.total_ms > 0 else 1.0
            due = frac + 1e-9 >= self._next_fraction or now - self._last_line_s >= LINE_EVERY_S
            if due and done_ms > 0:
                emit(progress_line(done_ms, self.total_ms, wall))
                self._last_line_s = now
                while self._next_fraction <= frac + 1e-9:
                    self._next_fraction += LINE_EVERY_FRACTION

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
