"""One network built with one ``fixed_indegree`` builder, then prepared and simulated.

Run by ``benchmarks/connect_rule.py`` as ``python benchmarks/children/connect_rule_child.py
CFG`` in the measured checkout: CFG is ``network.py``'s config (``sets``, ``threads``,
``model_file``, ``module_rule``: the module's rule or NEST's) plus ``huge_pages`` (collapse
after Prepare). Prints one JSON line: build, prepare (with the collapse) and run seconds,
and the spike count.
"""

import json
import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import network  # noqa: E402


def main() -> None:
    cfg = json.loads(sys.argv[1])
    network.use_checkout()
    nest, p, net, build_s = network.build(cfg)
    t0 = time.perf_counter()
    nest.Prepare()
    if cfg.get("huge_pages"):
        from balanced import hugepages

        hugepages.collapse_anonymous_memory()
    t1 = time.perf_counter()
    nest.Run(p.T)
    t2 = time.perf_counter()
    nest.Cleanup()
    print(
        json.dumps(
            {"build_s": build_s, "prepare_s": t1 - t0, "run_s": t2 - t1, "spikes": int(net.spike_recorder.n_events)}
        )
    )


if __name__ == "__main__":
    main()
