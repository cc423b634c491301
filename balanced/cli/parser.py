"""The argument parser of the ``balanced`` command (help texts included)."""

from __future__ import annotations

import argparse

from .. import __version__
from ..hugepages import HUGE_PAGE_SETTINGS
from .verbs import (
    _FIGURE_NAMES,
    EXPERIMENTS,
    cmd_analyze,
    cmd_build,
    cmd_config_presets,
    cmd_config_show,
    cmd_doctor,
    cmd_experiment,
    cmd_export,
    cmd_perturb,
    cmd_run,
    cmd_sweep,
)

DESCRIPTION = "The ``balanced`` command line: one verb per pipeline stage."


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


def _logging_args(p: argparse.ArgumentParser, with_defaults: bool) -> None:
    """-v, -q, --log-file: before the verb (``with_defaults``) or after it (no defaults, so
    that the options given before the verb stay when not repeated)."""
    zero = 0 if with_defaults else argparse.SUPPRESS
    none = None if with_defaults else argparse.SUPPRESS
    p.add_argument("-v", "--verbose", action="count", default=zero, help="more messages (debug level)")
    p.add_argument("-q", "--quiet-log", dest="quiet_log", action="count", default=zero, help="warnings and errors only")
    p.add_argument(
        "--log-file", default=none, metavar="FILE", help="also append time-stamped messages to FILE (first MPI rank)"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse a command line; -v, -q and --log-file given after ``experiment NAME`` apply to
    the command, as after any other verb, and the experiment gets the rest."""
    args = make_parser().parse_args(argv)
    if args.verb == "experiment":
        after_name = argparse.ArgumentParser(
            prog=f"balanced experiment {args.name}", add_help=False, allow_abbrev=False
        )
        _logging_args(after_name, with_defaults=False)
        logging_options, args.args = after_name.parse_known_args(args.args)
        for name, value in vars(logging_options).items():
            setattr(args, name, value)
    return args


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="balanced", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"balanced {__version__}")
    _logging_args(parser, with_defaults=True)
    after_verb = argparse.ArgumentParser(add_help=False)  # the same options, accepted after a verb too
    _logging_args(after_verb, with_defaults=False)
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    config = verbs.add_parser("config", parents=[after_verb], help="show resolved parameters and presets")
    config_verbs = config.add_subparsers(dest="config_verb", required=True, metavar="ACTION")
    show = config_verbs.add_parser("show", parents=[after_verb], help="print the fully resolved parameters as TOML")
    _param_args(show)
    show.set_defaults(func=cmd_config_show)
    config_verbs.add_parser("presets", parents=[after_verb], help="list the presets").set_defaults(
        func=cmd_config_presets
    )

    build = verbs.add_parser(
        "build", parents=[after_verb], help="compile the NESTML neuron into a NEST module (cached)"
    )
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

    run = verbs.add_parser(
        "run", parents=[after_verb], help="simulate a network and write a run directory (then analyse it)"
    )
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

    analyze = verbs.add_parser("analyze", parents=[after_verb], help="statistics and figures of a run directory")
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

    sweep = verbs.add_parser(
        "sweep", parents=[after_verb], help="run a parameter grid (resumable), tabulate and plot it"
    )
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

    perturb = verbs.add_parser(
        "perturb", parents=[after_verb], help="chaos: the same run twice, the second with one extra spike"
    )
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

    export = verbs.add_parser(
        "export", parents=[after_verb], help="write a run as NWB or NIX (needs the extra balanced[export])"
    )
    export.add_argument("run_dir")
    export.add_argument("--format", required=True, choices=("nwb", "nix"), help="nwb (pynwb) or nix (neo's NixIO)")
    export.add_argument(
        "--out", default=None, metavar="FILE", help="output file (default RUN_DIR/export/RUN_ID.nwb|.nix)"
    )
    export.add_argument("--overwrite", action="store_true", help="replace an existing --out FILE")
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

    doctor = verbs.add_parser("doctor", parents=[after_verb], help="what a user needs to know before a run")
    doctor.add_argument("--json", action="store_true")
    doctor.set_defaults(func=cmd_doctor)
    return parser
