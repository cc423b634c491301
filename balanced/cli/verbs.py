"""The verbs of the command line: each ``cmd_*`` takes the parsed arguments, calls the
stage it names and returns an exit status; errors propagate to :func:`balanced.cli.main.dispatch`."""

from __future__ import annotations

import json
from pathlib import Path

from .. import __version__

EXIT_FAILED = 1
EXIT_USAGE = 2


def _resolve(args):
    from ..params import resolve

    return resolve(args.preset, args.config, args.overrides)


def _preset_name(args) -> str:
    from ..params import DEFAULT_PRESET

    return args.preset or DEFAULT_PRESET


# ----------------------------------------------------------------------------- verbs
def cmd_config_show(args) -> int:
    from ..params import to_toml
    from ..theory import diagnosis_lines

    params = _resolve(args)
    layers = [f"preset: {_preset_name(args)}"]  # in the order they apply, each over the one before
    if getattr(args, "config", None):
        layers.append(f"config: {Path(args.config).name}")
    if getattr(args, "overrides", None):
        layers.append(f"{len(args.overrides)} --set")
    header = f"balanced {__version__}: resolved parameters ({', then '.join(layers)})"
    print(to_toml(params, header=header), end="")
    print("\n# ---- regime diagnosis (not parameters)")
    print("\n".join(f"# {line}" for line in diagnosis_lines(params)))
    return 0


def cmd_config_presets(args) -> int:
    from ..params import preset_names

    print("\n".join(preset_names()))
    return 0


def cmd_build(args) -> int:
    from ..build import build_model

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
    from ..kernel import check_threads, choose_threads, usable_cores
    from ..launch import mpi_world_size_from_env

    params = _resolve(args)
    out = Path(args.out) if args.out else Path("runs") / _preset_name(args)
    cores = usable_cores()
    if args.threads is not None:
        check_threads(args.threads, cores)  # before anything starts
    if args.no_analysis:
        _simulate(args, params, out)
        return 0
    from ..analysis.worker import AnalysisWorker, worker_fits, worker_pauses

    figures = _figures(args.figures)
    threads = args.threads if args.threads is not None else choose_threads(params)
    worker = None
    if worker_fits(cores, mpi_world_size_from_env()):
        try:  # the worker imports the statistics and matplotlib while the network is built and simulated
            worker = AnalysisWorker(figures=bool(figures), params=params.to_dict())
        except OSError:  # no process left for it (a user's process limit): analyse here
            pass
    if worker is None:
        manifest = _simulate(args, params, out)  # then analyse here (rank 0 under MPI)
        return _analyze(out, None, None, figures=figures) if manifest.get("status") == "complete" else 0
    with worker:
        pause = worker.paused() if worker_pauses(threads, cores) else None
        manifest = _simulate(args, params, out, while_threads_run=pause)
        if manifest.get("status") != "complete":
            return 0
        return worker.analyze(out, figures)


def _simulate(args, params, out: Path, while_threads_run=None) -> dict:
    from ..api import run_network
    from ..kernel import import_nest

    import_nest(nest_extras=False)  # run_network's own import finds it; figures are drawn elsewhere
    return run_network(
        params,
        out,
        threads=args.threads,
        overwrite=args.overwrite,
        preset=_preset_name(args),
        progress=not args.quiet,
        huge_pages=args.huge_pages,
        while_threads_run=while_threads_run,
    )


# help text only: the parser does not import balanced.analysis (it imports NumPy)
_FIGURE_NAMES = "raster_rate, distributions, spectrum, balance"


def _figures(text: str | None) -> tuple[str, ...]:
    """--figures LIST -> figure stems; None (run's default) is the tutorial's figure."""
    from ..analysis import RUN_FIGURES, parse_figures
    from ..params import ParamError

    if text is None:
        return RUN_FIGURES
    try:
        return parse_figures(text)
    except ValueError as exc:
        raise ParamError(str(exc)) from exc


def _analyze(run_dir, t_start, t_stop, figures: tuple[str, ...]) -> int:
    from ..analysis.command import analyze_command

    return analyze_command(run_dir, t_start, t_stop, figures=figures)


def cmd_analyze(args) -> int:
    return _analyze(
        args.run_dir, args.t_start, args.t_stop, figures=_figures("none" if args.no_figures else args.figures)
    )


def cmd_export(args) -> int:
    from ..analysis.export import ExportUnavailable, export_run
    from ..params import ParamError

    try:
        path = export_run(args.run_dir, args.format, args.out, overwrite=args.overwrite)
    except ExportUnavailable as exc:
        raise ParamError(str(exc)) from exc
    print(f"{args.format}: {path}")
    return 0


def cmd_doctor(args) -> int:
    from .. import hugepages
    from ..build import module_status
    from ..memory import memory_budget

    status = module_status()
    status["huge_pages"] = hugepages.support()
    budget = memory_budget()
    status["memory"] = budget.as_dict()
    if args.json:
        print(json.dumps(status, indent=2, default=str))
        return 0
    yes = lambda flag: "yes" if flag else "no"  # noqa: E731
    problems = []
    if status.get("cache_error"):
        problems.append(status["cache_error"])
    elif not status.get("nest_importable"):
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
    print(f"  memory    {budget.limit / 2**30:.3g} GiB ({budget.source}), {budget.available / 2**30:.3g} GiB free")
    hp = status["huge_pages"]
    print(
        f"  huge pages  transparent: {hp['thp'] or 'not available'}, kernel {hp['kernel'] or '-'}: "
        f"{'runs can collapse their memory (--huge-pages)' if hp['collapse'] else 'runs use 4 KiB pages'}"
    )
    print("ready to run" if not problems else "problems:\n" + "\n".join(f"  - {p}" for p in problems))
    return 0 if not problems else EXIT_FAILED


def cmd_sweep(args) -> int:
    from ..sweep import SlurmOptions, format_results, load_spec, run_sweep

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
    from ..kernel import check_threads, usable_cores
    from ..perturb import format_divergence, run_perturbation

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
