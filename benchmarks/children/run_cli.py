"""One measured ``balanced run``: what the ``balanced`` command runs, with memory probes.

Run by ``benchmarks/_common.run_child`` as ``python benchmarks/children/run_cli.py CFG``
(CFG a JSON object: out, result, threads, sets, and optionally no_analysis, huge_pages),
in the folder whose ``balanced`` package is measured. Writes its measurements as JSON to
``CFG["result"]`` (what they are: ``benchmarks/_common.py``).

The probes wrap ``balanced.network``'s two build steps and ``balanced.api.run_network``
when ``balanced run`` itself imports them: importing them here first (NumPy and all) would
delay the start of its analysis worker and inflate the end-to-end time.
"""

import contextlib
import importlib.abc
import importlib.util
import io
import json
import os
import sys
import time

T_START = time.perf_counter()
probe: dict = {}


def status_kb(key: str) -> int:
    """A ``/proc/self/status`` field in kB (``VmRSS``, ``VmHWM``), 0 if absent."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def patch_network(module) -> None:
    """Resident memory before and after the network (create_populations, connect_network)."""
    create, connect = module.create_populations, module.connect_network

    def create_probed(*args, **kwargs):
        probe.setdefault("rss_before_network_kb", status_kb("VmRSS"))
        return create(*args, **kwargs)

    def connect_probed(*args, **kwargs):
        net = connect(*args, **kwargs)
        probe["rss_after_network_kb"] = status_kb("VmRSS")
        return net

    module.create_populations, module.connect_network = create_probed, connect_probed


def patch_api(module) -> None:
    """The time before the run, its length, and memory once it has simulated."""
    run_network = module.run_network

    def run_probed(*args, **kwargs):
        t0 = time.perf_counter()
        probe["t_before_run_s"] = t0 - T_START
        try:
            return run_network(*args, **kwargs)
        finally:
            probe["run_network_s"] = time.perf_counter() - t0
            probe["peak_after_sim_kb"] = status_kb("VmHWM")
            probe["rss_after_sim_kb"] = status_kb("VmRSS")

    module.run_network = run_probed


class ProbeFinder(importlib.abc.MetaPathFinder):
    """Imports the patched modules as usual, then applies their patch."""

    patches = {"balanced.network": patch_network, "balanced.api": patch_api}

    def find_spec(self, name, path, target=None):
        if name not in self.patches:
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        loader, patch = spec.loader, self.patches[name]

        class PatchingLoader(importlib.abc.Loader):
            def create_module(self, spec):
                return loader.create_module(spec)

            def exec_module(self, module):
                loader.exec_module(module)
                patch(module)

        spec.loader = PatchingLoader()
        return spec


def nest_results() -> dict:
    """NEST's kernel timers and threads, if this process imported NEST."""
    nest = sys.modules.get("nest")
    if nest is None:
        return {}
    ks = nest.GetKernelStatus()

    def number(v):
        try:
            return float(v)
        except TypeError:
            return [float(x) for x in v]

    return {
        "nest_timers": {k: number(ks[k]) for k in sorted(ks) if k.startswith("time_")},
        "nest_threads": ks.get("local_num_threads"),
    }


def main() -> None:
    cfg = json.loads(sys.argv[1])
    sys.path.insert(0, os.getcwd())  # the measured checkout's package, as ``python -c`` imports it
    sys.meta_path.insert(0, ProbeFinder())
    from balanced import cli

    cli.single_thread_blas()  # as the `balanced` command does
    argv = ["run", "--out", cfg["out"], "--overwrite", "--quiet", "--threads", str(cfg["threads"])]
    for s in cfg["sets"]:
        argv += ["--set", s]
    if cfg.get("no_analysis"):
        argv.append("--no-analysis")
    if cfg.get("huge_pages"):
        argv += ["--huge-pages", cfg["huge_pages"]]
    t_main = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        rc = cli.main(argv)
    t_end = time.perf_counter()
    nest = sys.modules.get("nest")
    if nest is not None and nest.Rank() != 0:
        sys.exit(0)  # under mpirun: the first rank reports for all
    result = {
        "rc": rc,
        "probe": probe,
        "main_s": t_end - t_main,
        "startup_s": t_main - T_START,
        "analysis_s": (t_end - t_main) - probe.get("run_network_s", 0.0),
        **nest_results(),
    }
    result["peak_kb"] = status_kb("VmHWM")
    result["omp"] = {k: os.environ.get(k) for k in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    with open(cfg["result"], "w") as fh:
        json.dump(result, fh)
    cli.end_process(0)  # as the `balanced` command ends: without tearing down NEST's network


if __name__ == "__main__":
    main()
