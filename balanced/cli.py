"""The ``balanced`` command line: one verb per pipeline stage.

    balanced config show [--preset P] [--config FILE] [--set k=v ...]
    balanced build [--force] [--templates balanced|stock] [--json]
    balanced run [--preset P] [--config FILE] [--set k=v ...] [--threads N] [--out DIR] [--overwrite] [--no-analysis] [--figures LIST] [--huge-pages auto|on|off]
    balanced analyze RUN_DIR [--t-start MS] [--t-stop MS] [--figures LIST | --no-figures]
    balanced sweep SWEEP.toml [--out DIR] [--jobs N] [--no-figures] [--executor local|slurm] [--plan] ...
    balanced perturb [--preset P] [--config FILE] [--set k=v ...] [--neuron I] [--time MS] [--out DIR]
    balanced export RUN_DIR --format nwb|nix [--out FILE]
    balanced doctor

Every failure a user can cause ends with a one-paragraph message on stderr and exit code
2 (bad input) or 1 (a run or build that failed), never a traceback. NEST is imported only
by the verbs that simulate.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from . import __version__
from .hugepages import HUGE_PAGE_SETTINGS

EXIT_FAILED = 1
EXIT_USAGE = 2


def _param_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", default=None, help="parameter preset (default: tutorial); see `balanced config presets`")
    p.add_argument("--config", default=None, metavar="FILE", help="TOML parameter file applied on top of the preset")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one parameter (repeatable), e.g. --set N_E=1000 --set neuron_model=iaf_psc_exp",
    )


def _resolve(args):
    from .params import resolve

    return resolve(args.preset, args.config, args.overrides)


def _preset_name(args) -> str:
    from .params import DEFAULT_PRESET

    return args.preset or DEFAULT_PRESET


# ----------------------------------------------------------------------------- verbs
def cmd_config_show(args) -> int:
    from .params import to_toml
    from .theory import diagnosis_lines

    params = _resolve(args)
    header = f"balanced {__version__}: resolved parameters (preset: {_preset_name(args)})"
    print(to_toml(params, header=header), end="")
    print("\n# ---- regime diagnosis (not parameters)")
    print("\n".join(f"# {line}" for line in diagnosis_lines(params)))
    return 0


def cmd_config_presets(args) -> int:
    from .params import preset_names

    print("\n".join(preset_names()))
    return 0


def cmd_build(args) -> int:
    from .build import build_model

    result = build_model(force=args.force, templates=args.templates)
    if args.json:
        print(
            json.dumps(
                {
                    "module": result.module,
                    "model": result.model,
                    "cached": result.cached,
                    "key": result.key,
                    "seconds": round(result.seconds, 3),
                    "nest_version": result.nest_version,
                    "templates": args.templates,
                }
            )
        )
    else:
        state = "cached" if result.cached else f"built in {result.seconds:.1f} s"
        print(f"model {result.model}: {state}\n  module {result.module}")
    return 0


def cmd_run(args) -> int:
    from .kernel import choose_threads, usable_cores
    from .launch import mpi_world_size_from_env
    from .run import check_threads

    params = _resolve(args)
    out = Path(args.out) if args.out else Path("runs") / _preset_name(args)
    if args.threads is not None:
        check_threads(args.threads, usable_cores())  # before anything starts
    if args.no_analysis:
        _simulate(args, params, out)
        return 0
    from .analysis.worker import AnalysisWorker, worker_fits

    figures = _figures(args.figures)
    threads = args.threads if args.threads is not None else choose_threads(params)
    if not worker_fits(threads, usable_cores(), mpi_world_size_from_env()):
        manifest = _simulate(args, params, out)  # then analyse here (rank 0 under MPI)
        return _analyze(out, None, None, figures=figures) if manifest.get("status") == "complete" else 0
    # the worker imports Elephant and matplotlib while the network simulates
    with AnalysisWorker(figures=bool(figures)) as worker:
        manifest = _simulate(args, params, out)
        if manifest.get("status") != "complete":
            return 0
        return worker.analyze(out, figures)


def _simulate(args, params, out: Path) -> dict:
    from .kernel import import_nest
    from .run import run_network

    import_nest(nest_plotting=False)  # run_network's own import finds it; figures are drawn elsewhere
    return run_network(
        params,
        out,
        threads=args.threads,
        overwrite=args.overwrite,
        preset=_preset_name(args),
        progress=not args.quiet,
        huge_pages=args.huge_pages,
    )


# help text only: the parser does not import balanced.analysis (it imports NumPy)
_FIGURE_NAMES = "raster_rate, distributions, spectrum, balance"


def _figures(text: str | None) -> tuple[str, ...]:
    """--figures LIST -> figure stems; None (run's default) is the tutorial's figure."""
    from .analysis import RUN_FIGURES, parse_figures
    from .params import ParamError

    if text is None:
        return RUN_FIGURES
    try:
        return parse_figures(text)
    except ValueError as exc:
        raise ParamError(str(exc)) from exc


def _analyze(run_dir, t_start, t_stop, figures: tuple[str, ...]) -> int:
    from .analysis.command import analyze_command

    return analyze_command(run_dir, t_start, t_stop, figures=figures)


def cmd_analyze(args) -> int:
    return _analyze(
        args.run_dir, args.t_start, args.t_stop, figures=_figures("none" if args.no_figures else args.figures)
    )


def cmd_export(args) -> int:
    from .analysis.export import ExportUnavailable, export_run
    from .params import ParamError

    try:
        path = export_run(args.run_dir, args.format, args.out)
    except ExportUnavailable as exc:
        raise ParamError(str(exc)) from exc
    print(f"{args.format}: {path}")
    return 0


def cmd_doctor(args) -> int:
    from . import hugepages
    from .build import module_status

    status = module_status()
    status["huge_pages"] = hugepages.support()
    if args.json:
        print(json.dumps(status, indent=2, default=str))
        return 0
    yes = lambda flag: "yes" if flag else "no"  # noqa: E731
    problems = []
    if not status.get("nest_importable"):
        problems.append(f"NEST cannot be imported: {status.get('nest_error')} (run `make setup`)")
    if status.get("missing_debian_packages"):
        problems.append(f"missing Debian packages: {status['apt_get']}")
    if status.get("nest_importable") and not status.get("module_current"):
        problems.append("the model module is not built for this NEST: run `balanced build`")
    print(f"balanced {__version__} (Python: {status.get('python')})")
    print(
        f"  NEST      {status.get('nest_version')}  MPI: {yes(status.get('have_mpi'))}  "
        f"threads: {yes(status.get('have_threads'))}  C++11 ABI: {yes(status.get('cxx11_abi'))}"
    )
    print(f"            {status.get('nest_dir')}")
    print(f"  NESTML    {status.get('nestml_version')}")
    print(
        f"  model     {status.get('model')}: built {yes(status.get('module_built'))}, "
        f"current {yes(status.get('module_current'))}"
    )
    print(f"            {status.get('module_path')}")
    print(
        f"  compiler  {status.get('compiler')}  cmake: {status.get('cmake')}  headers: "
        + ", ".join(f"{k} {yes(v)}" for k, v in (status.get("headers") or {}).items())
    )
    print(f"  MPI ranks {status.get('mpi_world_size')} (this process)")
    hp = status["huge_pages"]
    print(
        f"  huge pages  transparent: {hp['thp'] or 'not available'}, kernel {hp['kernel'] or '-'}: "
        f"{'runs can collapse their memory (--huge-pages)' if hp['collapse'] else 'runs use 4 KiB pages'}"
    )
    print("ready to run" if not problems else "problems:\n" + "\n".join(f"  - {p}" for p in problems))
    return 0 if not problems else EXIT_FAILED


def cmd_sweep(args) -> int:
    from .sweep import SlurmOptions, format_results, load_spec, run_sweep

    spec = load_spec(args.spec)
    out = Path(args.out) if args.out else Path("runs") / "sweeps" / spec.name
    slurm = SlurmOptions(
        partition=args.partition,
        time=args.time,
        cpus_per_task=args.cpus_per_task,
        mem=args.mem,
        extra=tuple(args.sbatch_line),
        points_per_task=args.points_per_task,
    )
    result = run_sweep(
        spec,
        out,
        jobs=args.jobs,
        figures=not args.no_figures,
        executor=args.executor,
        fresh=args.fresh_processes,
        slurm=slurm,
        plan=args.plan,
    )
    if args.plan:
        return 0
    print(format_results(result.rows, result.fits, spec.keys))
    print(f"\n{len(result.ran)} points run, {len(result.skipped)} skipped, wall time {result.wall_s:.1f} s")
    print(f"results: {out / 'results.csv'} and {out / 'results.json'}")
    if result.figures:
        print(f"figures: {out / 'figures'}/ ({', '.join(result.figures)})")
    return 0


# The science experiments (docs/balanced-state.md): `balanced experiment NAME ARGS...`
# runs the module's own command line (`python -m balanced.NAME ARGS...`).
EXPERIMENTS = {
    "chaos-rate": ("chaos_rate", "divergence rate after one extra spike, against K"),
    "rate-distribution": ("rate_distribution", "rates across neurons against the quenched-disorder mean field"),
    "slow-inhibition": ("slow_inhibition", "the asynchronous state against slow inhibition (tau_s_I)"),
    "tracking": ("tracking", "population response time to a step of the input rate, against K"),
    "phase-diagram": ("phase_diagram", "regimes of a (j_EI, d) sweep with the balance theory drawn over them"),
}


def cmd_experiment(args) -> int:
    import importlib

    module = importlib.import_module(f"balanced.{EXPERIMENTS[args.name][0]}")
    return int(module.main(args.args) or 0)


def cmd_perturb(args) -> int:
    from .kernel import usable_cores
    from .perturb import format_divergence, run_perturbation
    from .run import check_threads

    params = _resolve(args)
    check_threads(args.threads, usable_cores())  # before anything is created
    out = Path(args.out) if args.out else Path("runs") / "perturb" / _preset_name(args)
    result = run_perturbation(
        params,
        out,
        neuron=args.neuron,
        time_ms=args.time,
        bin_ms=args.bin,
        overwrite=args.overwrite,
        preset=_preset_name(args),
        threads=args.threads,
        figures=not args.no_figures,
        perturb=not args.control,
        progress=not args.quiet,
    )
    print(format_divergence(result))
    print(
        f"\ndivergence: {out / 'divergence.json'}" + ("" if args.no_figures else f", figure {out / 'divergence.png'}")
    )
    return 0


# ----------------------------------------------------------------------------- parser
def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="balanced", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"balanced {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more messages (debug level)")
    parser.add_argument(
        "-q", "--quiet-log", dest="quiet_log", action="count", default=0, help="warnings and errors only"
    )
    parser.add_argument(
        "--log-file", default=None, metavar="FILE", help="also append time-stamped messages to FILE (first MPI rank)"
    )
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    config = verbs.add_parser("config", help="show resolved parameters and presets")
    config_verbs = config.add_subparsers(dest="config_verb", required=True, metavar="ACTION")
    show = config_verbs.add_parser("show", help="print the fully resolved parameters as TOML")
    _param_args(show)
    show.set_defaults(func=cmd_config_show)
    config_verbs.add_parser("presets", help="list the presets").set_defaults(func=cmd_config_presets)

    build = verbs.add_parser("build", help="compile the NESTML neuron into a NEST module (cached)")
    build.add_argument("--force", action="store_true", help="rebuild even if the cache is current")
    build.add_argument(
        "--templates",
        choices=("balanced", "stock"),
        default="balanced",
        help="generate from the package's NESTML templates (default, fast spike input) or "
        "NESTML's own (for A/B comparison; model lif_psc_exp_nestml_stock)",
    )
    build.add_argument("--json", action="store_true", help="print one JSON object (module, model, cached)")
    build.set_defaults(func=cmd_build)

    run = verbs.add_parser("run", help="simulate a network and write a run directory (then analyse it)")
    _param_args(run)
    run.add_argument(
        "--threads",
        type=int,
        default=None,
        help="OpenMP threads per MPI rank, 1 to 4 x the usable CPUs (default: 1 below 5000 neurons, "
        "else the CPUs this task may use; docs/hpc.md)",
    )
    run.add_argument("--out", default=None, metavar="DIR", help="run directory (default runs/PRESET)")
    run.add_argument("--overwrite", action="store_true", help="replace an existing run in DIR")
    run.add_argument("--no-analysis", action="store_true", help="stop after writing spikes and the manifest")
    run.add_argument(
        "--figures",
        default=None,
        metavar="LIST",
        help=f"figures to draw: all, none or a comma-separated list of {_FIGURE_NAMES} "
        "(default raster_rate, the tutorial's figure; `analyze` draws all)",
    )
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument(
        "--huge-pages",
        choices=HUGE_PAGE_SETTINGS,
        default="auto",
        help="move the network's memory into transparent huge pages before simulating: faster "
        "spike delivery, same spikes (default auto: from 3e7 synapses per rank, Linux)",
    )
    run.set_defaults(func=cmd_run)

    analyze = verbs.add_parser("analyze", help="statistics and figures of a run directory")
    analyze.add_argument("run_dir")
    analyze.add_argument("--t-start", type=float, default=None, help="analysis window start, ms (default 50)")
    analyze.add_argument("--t-stop", type=float, default=None, help="analysis window end, ms (default T - 50)")
    analyze.add_argument(
        "--figures",
        default="all",
        metavar="LIST",
        help=f"all (default), none or a comma-separated list of {_FIGURE_NAMES}",
    )
    analyze.add_argument("--no-figures", action="store_true", help="same as --figures none")
    analyze.set_defaults(func=cmd_analyze)

    sweep = verbs.add_parser("sweep", help="run a parameter grid (resumable), tabulate and plot it")
    sweep.add_argument("spec", metavar="SWEEP.toml", help="sweep file (see sweeps/*.toml)")
    sweep.add_argument("--out", default=None, metavar="DIR", help="sweep directory (default runs/sweeps/NAME)")
    sweep.add_argument(
        "--jobs", type=int, default=1, help="local: worker processes at once, one point each at a time (default 1)"
    )
    sweep.add_argument("--no-figures", action="store_true", help="write the table only")
    sweep.add_argument(
        "--executor",
        choices=("local", "slurm"),
        default="local",
        help="local: --jobs worker processes here (default); slurm: one sbatch job array",
    )
    sweep.add_argument(
        "--fresh-processes", action="store_true", help="local: a new process per point instead of long-lived workers"
    )
    sweep.add_argument("--plan", action="store_true", help="slurm: write the job files, print the sbatch command")
    sweep.add_argument("--partition", default=None, help="slurm: partition of the array tasks")
    sweep.add_argument("--time", default=None, help="slurm: time limit per array task (e.g. 30:00, 1-00:00:00)")
    sweep.add_argument("--cpus-per-task", type=int, default=1, help="slurm: CPUs per array task (default 1)")
    sweep.add_argument("--mem", default=None, help="slurm: memory per array task (e.g. 4G)")
    sweep.add_argument(
        "--points-per-task", type=int, default=1, help="slurm: points each array task runs in one process (default 1)"
    )
    sweep.add_argument(
        "--sbatch-line",
        action="append",
        default=[],
        metavar="OPTION",
        help="slurm: an extra #SBATCH option, written --sbatch-line=--account=NAME (repeatable)",
    )
    sweep.set_defaults(func=cmd_sweep)

    perturb = verbs.add_parser("perturb", help="chaos: the same run twice, the second with one extra spike")
    _param_args(perturb)
    perturb.add_argument(
        "--neuron", type=int, default=0, help="neuron that gets the extra spike (default 0, an E neuron)"
    )
    perturb.add_argument("--time", type=float, default=None, metavar="MS", help="time of the extra spike (default T/4)")
    perturb.add_argument("--bin", type=float, default=5.0, metavar="MS", help="divergence bin width (default 5 ms)")
    perturb.add_argument("--control", action="store_true", help="no extra spike: the two runs must be identical")
    perturb.add_argument("--threads", type=int, default=1, help="threads (default 1)")
    perturb.add_argument("--out", default=None, metavar="DIR", help="output folder (default runs/perturb/PRESET)")
    perturb.add_argument("--overwrite", action="store_true", help="replace an earlier experiment in DIR")
    perturb.add_argument("--no-figures", action="store_true")
    perturb.add_argument("--quiet", action="store_true", help="no progress bar")
    perturb.set_defaults(func=cmd_perturb)

    export = verbs.add_parser("export", help="write a run as NWB or NIX (needs the extra balanced[export])")
    export.add_argument("run_dir")
    export.add_argument("--format", required=True, choices=("nwb", "nix"), help="nwb (pynwb) or nix (neo's NixIO)")
    export.add_argument(
        "--out", default=None, metavar="FILE", help="output file (default RUN_DIR/export/RUN_ID.nwb|.nix)"
    )
    export.set_defaults(func=cmd_export)

    experiment = verbs.add_parser(
        "experiment",
        help="a science experiment of docs/balanced-state.md",
        description="\n".join(f"{name}: {what}" for name, (_, what) in EXPERIMENTS.items())
        + "\n\n`balanced experiment NAME --help` lists its options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    experiment.add_argument("name", choices=sorted(EXPERIMENTS))
    experiment.add_argument("args", nargs=argparse.REMAINDER, help="the experiment's options (--out DIR ...)")
    experiment.set_defaults(func=cmd_experiment)

    doctor = verbs.add_parser("doctor", help="what a user needs to know before a run")
    doctor.add_argument("--json", action="store_true")
    doctor.set_defaults(func=cmd_doctor)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    from .progress import configure_logging, verbosity_level

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
    from .interrupt import install_handlers

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


def single_thread_blas() -> None:
    """One BLAS thread in this process (``OPENBLAS_NUM_THREADS=1``) unless the user chose a
    count; call before NumPy is imported.

    The command does no linear algebra, but the OpenBLAS in NumPy's wheels starts a thread
    per core when NumPy is imported, and those threads spin (docs/performance.md): with
    MPI, one such team per rank.
    """
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


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
    from .interrupt import Interrupted, describe, signal_of

    try:
        return args.func(args)
    except (KeyboardInterrupt, Interrupted) as exc:
        from .launch import detect_launch

        if detect_launch().rank == 0:  # every rank of a launch gets the signal: said once
            print(f"balanced: {describe(exc)}", file=sys.stderr)
        return 128 + int(signal_of(exc) or 2)
    except BrokenPipeError:
        raise
    except Exception as exc:
        import contextlib
        import io

        from .launch import LaunchError, report_error
        from .params import ParamError

        text = io.StringIO()
        with contextlib.redirect_stderr(text):
            code = _report_error(exc)
        # under MPI: printed once (by the first rank where every rank has the error), or by
        # the failing rank, which then ends the others (they would wait for it forever)
        report_error(text.getvalue().rstrip("\n"), code, everywhere=isinstance(exc, (ParamError, LaunchError)))
        return code


def _report_error(exc: Exception) -> int:
    # imported here, not before the command: `run` starts its analysis worker before
    # anything imports NumPy (balanced.rundir and balanced.run do)
    from .build import BuildError
    from .kernel import NestUnavailable
    from .params import ParamError
    from .run import RunError
    from .rundir import RunDirError
    from .sweep import SweepError
    from .transaction import OutputError

    if isinstance(exc, (ParamError, OutputError)):
        print(f"balanced: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from .launch import LaunchError

    if isinstance(exc, (BuildError, RunDirError, RunError, NestUnavailable, SweepError, LaunchError)):
        print(f"balanced: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if isinstance(exc, OSError) and exc.filename:
        print(f"balanced: error: {exc.filename}: {exc.strerror or type(exc).__name__}", file=sys.stderr)
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


if __name__ == "__main__":
    console_main()
