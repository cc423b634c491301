"""Analyse a run in child processes that import the analysis stack while the parent simulates.

Importing SciPy and matplotlib takes longer than importing NEST
and simulating the tutorial network (docs/performance.md), so ``balanced run`` starts
this worker before it imports NEST. The worker imports NumPy and forks its own figure process
(:class:`FigureProcess`; a new interpreter where fork is not used), then imports
SciPy (:func:`balanced.analysis.report.preload_statistics`) on the other core and
waits. It only ever reads the run directory the parent names, once that run is complete. The
figure process imports matplotlib at low priority (``nice`` 10): it takes only the CPU
that the simulation and the statistics leave, so it does not slow them, and gets a core
as soon as either is waiting. Where NEST's threads take every core, the parent stops the
worker's process group (the worker and its figure process) while they connect and
simulate (:meth:`AnalysisWorker.paused`), so the imports run only beside the parent's
single-threaded parts. When the run is complete the parent sends the worker the
run directory and the figures to draw, and waits for its exit status; the worker does what
``balanced analyze`` does (:func:`balanced.analysis.command.analyze_command`: same table,
files, messages and exit codes) and has the figures drawn in the figure process (drawn
here instead if that process is gone).

Protocol: one JSON line on the worker's stdin, ``{"run_dir": ..., "figures": [stems]}``.
End of input without a line (the run failed or was interrupted) makes the worker exit 0
without doing anything. The worker shares the parent's stdout and stderr. Between the
worker and its figure process: one pickled ``(statistics, stems)`` in, one pickled
``("ok", {file name: bytes})`` or ``("error", message)`` out.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from ..blas import one_thread_env

FIGURE_NICE = 10  # the figure process's priority: below the simulation and the statistics


def worker_fits(cores: int, mpi_ranks: int) -> bool:
    """Whether a worker may run next to a simulation (stopped while it needs every core,
    :func:`worker_pauses`).

    No under MPI (no child processes next to MPI ranks), nor on one core (nothing to
    overlap).
    """
    return mpi_ranks <= 1 and cores > 1


def worker_pauses(threads: int, cores: int) -> bool:
    """Whether the worker must stop while NEST's threads run (connect and simulate): when
    they take every core. NEST's threads meet at a barrier every step, and a busy
    neighbour on one of their cores slows them all (docs/performance.md, "Threads"); the
    worker then imports only while the run is on one core (start, writing the spikes)."""
    return threads >= cores


class AnalysisWorker:
    """A started worker process; use as a context manager so that it never outlives the run.

    >>> with AnalysisWorker() as worker:      # imports start now, in the child
    ...     simulate()                         # the parent's work
    ...     code = worker.analyze([run_dir])   # exit status of `balanced analyze run_dir`
    """

    def __init__(self, figures: bool = True, params: dict | None = None) -> None:
        """``figures``: whether the analysis will draw any (else no figure process).
        ``params``: the run's parameters (``Params.to_dict()``), whose regime diagnosis the
        worker computes for its report while the run simulates. Raises OSError if the
        process cannot be started."""
        argv = [sys.executable, "-m", "balanced.analysis.worker", *(() if figures else ("--no-figures",))]
        if params is not None:
            argv += ["--params", json.dumps(params)]
        # its own process group (with its figure process), stopped and ended as one
        self._proc = subprocess.Popen(argv, stdin=subprocess.PIPE, text=True, env=_child_env(), process_group=0)
        assert self._proc.stdin is not None  # stdin=PIPE
        self._stdin = self._proc.stdin
        self._sent = False

    def analyze(self, run_dir, figures: tuple[str, ...]) -> int:
        """Analyse ``run_dir`` in the worker (as ``balanced analyze`` does, with the
        default window); return its exit status."""
        sys.stdout.flush()  # the worker prints after everything the parent printed
        sys.stderr.flush()
        self._sent = True
        try:
            self._stdin.write(json.dumps({"run_dir": str(run_dir), "figures": list(figures)}) + "\n")
            self._stdin.close()
        except BrokenPipeError:  # the worker died while importing; its error is on stderr
            pass
        return self._proc.wait()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Stop the worker and its figure process for the duration (SIGSTOP), then let them
        go on (SIGCONT). Should this process be killed meanwhile, the stopped group is
        orphaned and the kernel ends it (SIGHUP, then SIGCONT)."""
        self._signal(signal.SIGSTOP)
        try:
            yield
        finally:
            self._signal(signal.SIGCONT)

    def cancel(self) -> None:
        """End the worker without analysing (idempotent)."""
        if self._proc.poll() is not None:
            return
        self._signal(signal.SIGCONT)
        try:
            if not self._sent:
                self._stdin.close()
            self._proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self._kill()

    def _signal(self, signum: int) -> None:
        try:
            os.killpg(self._proc.pid, signum)
        except (ProcessLookupError, PermissionError):  # the group has ended
            pass

    def _kill(self) -> None:
        self._signal(signal.SIGKILL)  # the figure process too
        self._proc.wait()

    def __enter__(self) -> AnalysisWorker:
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is not None and self._proc.poll() is None:
            self._kill()  # interrupted or failed: do not wait for imports to finish
        self.cancel()


def _child_env() -> dict[str, str]:
    # same interpreter, environment and working directory: same package; one thread is
    # enough for the report, and it leaves the cores to the simulation
    return dict(one_thread_env(also=("OMP_NUM_THREADS",)))


class FigureProcess:
    """The worker's figure process: imports matplotlib at low priority from the start, then
    draws the figures of one analysis (:meth:`render`, the ``render`` argument of
    :func:`balanced.analysis.report.analyze_run`).

    ``fork=True`` starts it as a fork of this process, which then needs only matplotlib:
    the worker forks it after importing NumPy and the report module, which a new
    interpreter would import again. Only for a process without threads that has not
    imported NEST (the worker); the default starts a new interpreter. Raises OSError
    (nothing left open) if no process can be started.
    """

    def __init__(self, fork: bool = False) -> None:
        self._proc: subprocess.Popen | None = None
        self._pid: int | None = None
        self._requests: IO[bytes]
        self._replies: IO[bytes]
        if not fork:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "balanced.analysis.worker", "--figure-process"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=_child_env(),
            )
            assert self._proc.stdin is not None and self._proc.stdout is not None  # PIPE
            self._requests, self._replies = self._proc.stdin, self._proc.stdout
            return
        request_r, request_w = os.pipe()
        reply_r, reply_w = os.pipe()
        sys.stdout.flush()  # or the child would write what is buffered here a second time
        sys.stderr.flush()
        try:
            pid = os.fork()
        except OSError:
            for fd in (request_r, request_w, reply_r, reply_w):
                os.close(fd)
            raise
        if pid == 0:
            code = 1
            try:
                # what a new interpreter would have: fds 0-2 (Python's streams on 1 and 2;
                # a caller's may be elsewhere, e.g. pytest's capture) and its two pipes.
                _close_fds_except((request_r, reply_w))
                sys.stdout, sys.stderr = open(1, "w", closefd=False), open(2, "w", closefd=False)
                code = serve_figures(os.fdopen(request_r, "rb"), os.fdopen(reply_w, "wb"))
            except Exception:  # noqa: BLE001 - reported as a new interpreter would; the worker draws instead
                import traceback

                traceback.print_exc()
            finally:
                try:
                    sys.stderr.flush()
                finally:
                    os._exit(code)
        os.close(request_r)
        os.close(reply_w)
        self._pid = pid
        self._requests, self._replies = os.fdopen(request_w, "wb"), os.fdopen(reply_r, "rb")

    def render(self, result, stems) -> dict[str, bytes]:
        """{file name: bytes} of the figures ``stems`` of ``result``, drawn in the figure
        process; drawn here if that process is gone or failed (a real error in drawing is
        then raised here, with its own message)."""
        try:
            pickle.dump((result, tuple(stems)), self._requests, protocol=pickle.HIGHEST_PROTOCOL)
            self._requests.close()
            status, payload = pickle.load(self._replies)
        except (OSError, EOFError, ValueError, pickle.PickleError):
            status, payload = "error", "the figure process ended"
        if status == "ok":
            return payload
        from balanced.analysis.report import render_figures

        return render_figures(result, stems)

    def wait(self, timeout: float) -> int:
        """The figure process's exit status, once it has ended (at most ``timeout`` s)."""
        if self._proc is not None:
            return self._proc.wait(timeout=timeout)
        assert self._pid is not None, "the figure process was already waited for"
        deadline = time.monotonic() + timeout
        while True:
            pid, status = os.waitpid(self._pid, os.WNOHANG)
            if pid:
                self._pid = None
                return os.waitstatus_to_exitcode(status)
            if time.monotonic() > deadline:
                raise subprocess.TimeoutExpired("figure process", timeout)
            time.sleep(0.01)

    def close(self) -> None:
        """Stop the figure process (it may still be importing)."""
        for stream in (self._requests, self._replies):
            try:
                stream.close()
            except OSError:
                pass
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
        elif self._pid is not None:
            if os.waitpid(self._pid, os.WNOHANG)[0] == 0:
                os.kill(self._pid, signal.SIGKILL)
                os.waitpid(self._pid, 0)
            self._pid = None


def _close_fds_except(keep) -> None:
    """Close every file descriptor above stderr but ``keep`` (what a new process would not
    have inherited)."""
    low = 3
    for fd in sorted(fd for fd in keep if fd >= low):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, os.sysconf("SC_OPEN_MAX"))


def serve_figures(requests=None, replies=None) -> int:
    """The figure process: import matplotlib, draw one request (its PDFs saved meanwhile
    by a forked child, ``fork_formats`` of :func:`balanced.analysis.report.render_figures`),
    answer, exit.

    ``requests``/``replies``: binary streams (default: stdin, and stdout as it was).
    Anything printed meanwhile (a library's warning) goes to stderr, not into the replies.
    """
    if hasattr(os, "nice"):
        os.nice(FIGURE_NICE)
    if replies is None:
        replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    requests = requests if requests is not None else sys.stdin.buffer
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    from balanced.analysis import report

    try:
        report.preload_figures()
    except Exception:  # noqa: BLE001 - fails again when drawing, and the worker draws instead
        pass
    try:
        result, stems = pickle.load(requests)
    except EOFError:  # no figures wanted after all (the run failed, or the analysis did)
        return 0
    reply: tuple[str, object]
    try:
        reply = ("ok", report.render_figures(result, stems, fork_formats=True))
    except Exception as exc:  # noqa: BLE001 - the worker draws again and reports it
        reply = ("error", f"{type(exc).__name__}: {exc}")
    with replies:
        pickle.dump(reply, replies, protocol=pickle.HIGHEST_PROTOCOL)
    return 0


def _start_figure_process() -> FigureProcess | None:
    """The figure process, None if none can be started (no process or pipe left: this
    process then draws the figures itself)."""
    try:
        return FigureProcess(fork=sys.platform.startswith("linux"))
    except OSError:
        return None


def main(argv: list[str]) -> int:
    if "--figure-process" in argv:
        return serve_figures()
    from balanced.analysis import report  # NumPy: before forking, so the figure process has it too

    # Forked where fork is safe for what the figure process uses (on macOS, not after NumPy's
    # Accelerate); this process has no threads (one BLAS thread, see _child_env).
    figures = None if "--no-figures" in argv else _start_figure_process()
    try:
        try:
            report.preload_statistics()
            if "--params" in argv:  # for the report: the diagnosis needs SciPy, as Elephant does
                report.diagnosis_of(json.loads(argv[argv.index("--params") + 1]))
        except Exception:  # noqa: BLE001 - whatever failed here fails again below, in
            pass  # the analysis, with its own message
        line = sys.stdin.readline()
        if not line.strip():
            return 0
        from balanced.analysis.command import analyze_command

        request = json.loads(line)
        return analyze_command(
            request["run_dir"], figures=tuple(request["figures"]), render=figures.render if figures else None
        )
    finally:
        if figures:
            figures.close()


if __name__ == "__main__":
    try:
        code = main(sys.argv[1:])
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group; the parent reports it
        code = 130
    # Everything the worker writes is closed by now (files atomically, output flushed here);
    # skip the interpreter's teardown of SciPy and matplotlib (docs/performance.md).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
