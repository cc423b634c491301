"""Analyse a run in child processes that import the analysis stack while the parent simulates.

Importing Elephant (which imports SciPy's stats) takes about 2 s on a 2-core VM, and
matplotlib with its first PNG and PDF about 1-1.3 s: together longer than importing NEST
and simulating the tutorial network. ``balanced run`` therefore starts this worker before
it imports NEST. The worker starts its own figure process (:class:`FigureProcess`), then
imports Elephant (:func:`balanced.analysis.report.preload_statistics`) on the other core
and waits. The figure process imports matplotlib at low priority (``nice`` 10): it takes
only the CPU that the simulation and the statistics leave, so it does not slow them, and
gets a core as soon as either is waiting. When the run is complete the parent sends the
worker the arguments of ``balanced analyze`` and waits for its exit status; the worker
runs that verb (same table, same files, same error messages and exit codes) and has the
figures drawn in the figure process (drawn here instead if that process is gone).

Protocol: one JSON line on the worker's stdin, a list of arguments for ``balanced analyze``.
End of input without a line (the run failed or was interrupted) makes the worker exit 0
without doing anything. The worker shares the parent's stdout and stderr. Between the
worker and its figure process: one pickled ``(statistics, stems)`` in, one pickled
``("ok", {file name: bytes})`` or ``("error", message)`` out.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys

FIGURE_NICE = 10  # the figure process's priority: below the simulation and the statistics


def worker_fits(threads: int, cores: int, mpi_ranks: int) -> bool:
    """Whether a worker may run next to a simulation with ``threads`` threads per rank.

    No under MPI (no child processes next to MPI ranks), and not when the threads take
    every core: NEST's threads meet at a barrier every step, and a busy neighbour on one of
    their cores made the tutorial's 2-thread simulation 10x slower on 2 cores.
    """
    return mpi_ranks <= 1 and threads < cores


class AnalysisWorker:
    """A started worker process; use as a context manager so that it never outlives the run.

    >>> with AnalysisWorker() as worker:      # imports start now, in the child
    ...     simulate()                         # the parent's work
    ...     code = worker.analyze([run_dir])   # exit status of `balanced analyze run_dir`
    """

    def __init__(self, figures: bool = True, params=None) -> None:
        """``figures``: whether the analysis will draw any (else no figure process).
        ``params``: the run's :class:`balanced.params.Params`, whose regime diagnosis the
        worker computes first (:meth:`diagnosis`)."""
        argv = [sys.executable, "-m", "balanced.analysis.worker", *(() if figures else ("--no-figures",))]
        self._params = params
        self._diagnosis: list[str] | None = None
        self._diagnosis_pipe = None
        fds: tuple[int, ...] = ()
        if params is not None:
            read_end, write_end = os.pipe()
            argv += ["--diagnose", json.dumps(params.to_dict()), "--diagnosis-fd", str(write_end)]
            fds = (write_end,)
        try:
            self._proc = subprocess.Popen(argv, stdin=subprocess.PIPE, text=True, env=_child_env(), pass_fds=fds)
        finally:
            if fds:
                os.close(write_end)
                self._diagnosis_pipe = os.fdopen(read_end, "r")
        self._sent = False

    def diagnosis(self) -> list[str]:
        """The regime diagnosis of the ``params`` given (lines of
        :func:`balanced.theory.format_diagnosis`), as the worker computed it; computed
        here if the worker could not."""
        if self._diagnosis is None:
            line = ""
            if self._diagnosis_pipe is not None:
                line = self._diagnosis_pipe.readline()
                self._diagnosis_pipe.close()
                self._diagnosis_pipe = None
            if line.strip():
                self._diagnosis = json.loads(line)
            else:
                from balanced.theory import diagnosis_lines
                self._diagnosis = diagnosis_lines(self._params)
        return self._diagnosis

    def analyze(self, argv: list[str]) -> int:
        """Run ``balanced analyze *argv`` in the worker; return its exit status."""
        sys.stdout.flush()  # the worker prints after everything the parent printed
        sys.stderr.flush()
        self._sent = True
        try:
            self._proc.stdin.write(json.dumps([str(a) for a in argv]) + "\n")
            self._proc.stdin.close()
        except BrokenPipeError:  # the worker died while importing; its error is on stderr
            pass
        return self._proc.wait()

    def cancel(self) -> None:
        """End the worker without analysing (idempotent)."""
        if self._diagnosis_pipe is not None:  # the run ended before it asked
            self._diagnosis_pipe.close()
            self._diagnosis_pipe = None
        if self._proc.poll() is not None:
            return
        try:
            if not self._sent:
                self._proc.stdin.close()
            self._proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self._proc.kill()
            self._proc.wait()

    def __enter__(self) -> "AnalysisWorker":
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is not None and self._proc.poll() is None:
            self._proc.kill()  # interrupted or failed: do not wait for imports to finish
            self._proc.wait()
        self.cancel()


def _send_diagnosis(values_json: str, fd: int) -> None:
    """Compute the diagnosis for the parent and write it to ``fd`` as one JSON line; on
    any error write nothing (the parent computes it and meets the error itself)."""
    with os.fdopen(fd, "w") as pipe:
        try:
            from balanced.params import validate
            from balanced.theory import diagnosis_lines  # SciPy: 0.7 s, which Elephant needs next anyway

            pipe.write(json.dumps(diagnosis_lines(validate(json.loads(values_json)))) + "\n")
        except Exception:  # noqa: BLE001 - see above
            pass


def _child_env() -> dict[str, str]:
    env = dict(os.environ)  # same interpreter, environment and working directory: same package
    # one thread is enough for the report, and it leaves the cores to the simulation
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")
    return env


class FigureProcess:
    """The worker's figure process: imports matplotlib at low priority from the start, then
    draws the figures of one analysis (:meth:`render`, the ``render`` argument of
    :func:`balanced.analysis.report.analyze_run`)."""

    def __init__(self) -> None:
        self._proc = subprocess.Popen([sys.executable, "-m", "balanced.analysis.worker", "--figure-process"],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=_child_env())

    def render(self, result, stems) -> dict[str, bytes]:
        """{file name: bytes} of the figures ``stems`` of ``result``, drawn in the figure
        process; drawn here if that process is gone or failed (a real error in drawing is
        then raised here, with its own message)."""
        try:
            pickle.dump((result, tuple(stems)), self._proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self._proc.stdin.close()
            status, payload = pickle.load(self._proc.stdout)
        except (OSError, EOFError, pickle.PickleError):
            status, payload = "error", "the figure process ended"
        if status == "ok":
            return payload
        from balanced.analysis.report import render_figures
        return render_figures(result, stems)

    def close(self) -> None:
        """Stop the figure process (it may still be importing)."""
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()


def serve_figures() -> int:
    """The figure process: import matplotlib, draw one request, answer, exit."""
    if hasattr(os, "nice"):
        os.nice(FIGURE_NICE)
    # the reply goes to the real stdout; anything printed meanwhile (a library's warning)
    # goes to stderr instead of into the pickle stream
    reply_to = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    from balanced.analysis import report

    try:
        report.preload_figures()
    except Exception:  # noqa: BLE001 - fails again when drawing, and the worker draws instead
        pass
    try:
        result, stems = pickle.load(sys.stdin.buffer)
    except EOFError:  # no figures wanted after all (the run failed, or the analysis did)
        return 0
    try:
        reply = ("ok", report.render_figures(result, stems))
    except Exception as exc:  # noqa: BLE001 - the worker draws again and reports it
        reply = ("error", f"{type(exc).__name__}: {exc}")
    with reply_to:
        pickle.dump(reply, reply_to, protocol=pickle.HIGHEST_PROTOCOL)
    return 0


def main(argv: list[str]) -> int:
    if "--figure-process" in argv:
        return serve_figures()
    figures = None if "--no-figures" in argv else FigureProcess()
    try:
        if "--diagnose" in argv:  # first: the parent needs it when its run ends
            _send_diagnosis(argv[argv.index("--diagnose") + 1], int(argv[argv.index("--diagnosis-fd") + 1]))
        from balanced.analysis import report

        try:
            report.preload_statistics()
        except Exception:  # noqa: BLE001 - whatever failed here fails again below, in
            pass           # `balanced analyze`, with the command line's own message
        line = sys.stdin.readline()
        if not line.strip():
            return 0
        from balanced import cli

        args = cli.make_parser().parse_args(["analyze", *json.loads(line)])
        args.render = figures.render if figures else None
        return cli.dispatch(args)
    finally:
        if figures:
            figures.close()


if __name__ == "__main__":
    try:
        code = main(sys.argv[1:])
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group; the parent reports it
        code = 130
    # Everything the worker writes is closed by now (files atomically, output flushed here);
    # skip the interpreter's teardown of SciPy and matplotlib, 0.6 s on a 2-core VM.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
