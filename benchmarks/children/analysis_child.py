"""One measurement of ``benchmarks/bench_analysis.py`` in a fresh interpreter.

``python benchmarks/children/analysis_child.py stats|figures RUN_DIR``: loads the run,
computes its statistics (``figures``: then renders every report figure to PNG and PDF)
and prints one JSON line of times (s), the spike count and the peak memory (MiB).
"""

import time

T0 = time.perf_counter()

import io  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402

from balanced.analysis import stats  # noqa: E402
from balanced.rundir import load_run  # noqa: E402

T_IMPORT = time.perf_counter() - T0  # the imports' time is part of what is measured


def main() -> None:
    what, run_dir = sys.argv[1], sys.argv[2]
    t1 = time.perf_counter()
    run = load_run(run_dir)
    t_load = time.perf_counter() - t1
    t2 = time.perf_counter()
    s = stats.compute_statistics(run)
    t_stats = time.perf_counter() - t2
    t_fig = 0.0
    if what == "figures":
        from balanced.analysis import plots

        t3 = time.perf_counter()
        for fig in plots.report_figures(s).values():
            fig.savefig(io.BytesIO(), format="png")
            fig.savefig(io.BytesIO(), format="pdf")
        t_fig = time.perf_counter() - t3
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(
        json.dumps(
            {
                "import_s": T_IMPORT,
                "load_s": t_load,
                "stats_s": t_stats,
                "figures_s": t_fig,
                "n_spikes": int(len(run.spikes)),
                "self_maxrss_mib": peak,
            }
        )
    )


if __name__ == "__main__":
    main()
