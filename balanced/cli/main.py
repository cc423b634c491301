"""The entry point: parse, run the verb, turn every error into one line and an exit status."""

from __future__ import annotations

import errno
import os
import sys

from .. import __version__
from ..blas import single_thread_blas
from .parser import parse_args
from .verbs import EXIT_FAILED, EXIT_USAGE


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from ..progress import configure_logging, verbosity_level

    try:
        configure_logging(verbosity_level(args.verbose, args.quiet_log), args.log_file)
    except OSError as exc:
        print(f"balanced: error: --log-file {args.log_file}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    return dispatch(args)


def console_main() -> None:
    """The ``balanced`` command (and ``python -m balanced``): :func:`main`, then exit.

    SIGTERM and SIGHUP end a command as Ctrl-C does (:mod:`balanced.interrupt`). A closed
    stdout (``balanced config show | head``) ends it quietly with 141, as SIGPIPE would.
    After a run in a process without MPI, everything is on disk and flushed, so the process
    ends at once instead of tearing down NEST's network and the interpreter (0.3 s after
    the tutorial network, seconds after a large one). With MPI the normal exit stays: NEST
    finalises MPI there.
    """
    from ..interrupt import install_handlers

    single_thread_blas()
    install_handlers()
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        code = _stdout_closed()
    end_process(code)


def _stdout_closed() -> int:
    """stdout's reader went away: drop what is still buffered and exit as SIGPIPE would."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 128 + 13


def end_process(code: int) -> None:
    """Exit with ``code``; at once (``os._exit``) where NEST without MPI was imported."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        code = _stdout_closed()
    sys.stderr.flush()
    nest = sys.modules.get("nest")
    if nest is not None and not nest.build_info.get("have_mpi", True):
        os._exit(code)
    sys.exit(code)


def dispatch(args) -> int:
    """Run a parsed command; every error becomes one line on stderr and an exit status.

    2: the user's input (parameters, usage, an unusable ``--out``); 1: a run, build or
    analysis that failed; 128 + N: ended by signal N. An unexpected internal error prints
    one line naming the file where the full report was written.
    """
    from ..interrupt import Interrupted, describe, signal_of

    try:
        return args.func(args)
    except (KeyboardInterrupt, Interrupted) as exc:
        from ..launch import detect_launch

        if detect_launch().rank == 0:  # every rank of a launch gets the signal: said once
            print(f"balanced: {describe(exc)}", file=sys.stderr)
        return 128 + int(signal_of(exc) or 2)
    except BrokenPipeError:
        raise
    except Exception as exc:
        import contextlib
        import io

        from ..launch import LaunchError, report_error
        from ..params import ParamError

        text = io.StringIO()
        with contextlib.redirect_stderr(text):
            code = _report_error(exc)
        # under MPI: printed once (by the first rank where every rank has the error), or by
        # the failing rank, which then ends the others (they would wait for it forever)
        report_error(text.getvalue().rstrip("\n"), code, everywhere=isinstance(exc, (ParamError, LaunchError)))
        return code


#: errno values of a process, pipe or allocation the system refused (fork, pipe, mmap)
_RESOURCE_ERRNOS = frozenset({errno.EAGAIN, errno.ENOMEM, errno.EMFILE, errno.ENFILE})


def _report_error(exc: Exception) -> int:
    # imported here, not before the command: `run` starts its analysis worker before
    # anything imports NumPy (balanced.rundir and balanced.run do)
    from ..build import BuildError
    from ..kernel import NestUnavailable
    from ..params import ParamError
    from ..run import RunError
    from ..rundir import RunDirError
    from ..sweep import SweepError
    from ..transaction import OutputError

    if isinstance(exc, (ParamError, OutputError)):
        print(f"balanced: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from ..launch import LaunchError

    if isinstance(exc, (BuildError, RunDirError, RunError, NestUnavailable, SweepError, LaunchError)):
        print(f"balanced: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if isinstance(exc, OSError) and exc.filename:
        print(f"balanced: error: {exc.filename}: {exc.strerror or type(exc).__name__}", file=sys.stderr)
        return EXIT_FAILED
    if isinstance(exc, OSError) and exc.errno in _RESOURCE_ERRNOS:  # the machine's limits, not a bug
        print(
            f"balanced: error: no system resources left: {exc.strerror or exc} "
            "(a limit on processes, memory or open files; `ulimit -a` shows them)",
            file=sys.stderr,
        )
        return EXIT_FAILED
    report = _write_crash_report(exc)
    where = f"; full report in {report}" if report else ""
    print(f"balanced: internal error: {type(exc).__name__}: {exc}{where} (please report it)", file=sys.stderr)
    return EXIT_FAILED


def _write_crash_report(exc: Exception) -> str | None:
    """Write the traceback of an unexpected error to a file; return its path (None if impossible)."""
    import tempfile
    import traceback

    text = f"balanced {__version__}, Python {sys.version.split()[0]}\ncommand: {' '.join(sys.argv)}\n\n" + "".join(
        traceback.format_exception(exc)
    )
    try:
        fd, path = tempfile.mkstemp(prefix="balanced-error-", suffix=".txt")
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        return path
    except OSError:
        return None
