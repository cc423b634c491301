"""Analyse a run in a child process that imports the analysis stack while the parent simulates.

Importing Elephant (which imports SciPy's stats) and matplotlib takes about 3 s on a 2-core
VM: longer than importing NEST and simulating the tutorial network together. ``balanced run``
therefore starts this worker before it imports NEST; the worker imports the stack on the
other core (:func:`balanced.analysis.report.preload`) and waits. When the run is complete
the parent sends it the arguments of ``balanced analyze`` and waits for its exit status; the
worker runs that verb (same table, same files, same error messages and exit codes).

Protocol: one JSON line on the worker's stdin, a list of arguments for ``balanced analyze``.
End of input without a line (the run failed or was interrupted) makes the worker exit 0
without doing anything. The worker shares the parent's stdout and stderr.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys


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

    def __init__(self) -> None:
        env = dict(os.environ)  # same interpreter, environment and working directory: same package
        # one thread is enough for the report, and it leaves the cores to the simulation
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env.setdefault(var, "1")
        self._proc = subprocess.Popen([sys.executable, "-m", "balanced.analysis.worker"],
                                      stdin=subprocess.PIPE, text=True, env=env)
        self._sent = False

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


def main() -> int:
    from balanced.analysis import report

    try:
        report.preload()
    except Exception:  # noqa: BLE001 - whatever failed here fails again below, in
        pass           # `balanced analyze`, with the command line's own message
    line = sys.stdin.readline()
    if not line.strip():
        return 0
    from balanced import cli

    return cli.main(["analyze", *json.loads(line)])


if __name__ == "__main__":
    try:
        code = main()
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group; the parent reports it
        code = 130
    # Everything the worker writes is closed by now (files atomically, output flushed here);
    # skip the interpreter's teardown of SciPy and matplotlib, 0.6 s on a 2-core VM.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
