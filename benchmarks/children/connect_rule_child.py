"""One network built with one ``fixed_indegree`` builder, then prepared and simulated.

Run by ``benchmarks/connect_rule.py`` as ``python benchmarks/children/connect_rule_child.py
CFG`` in the measured checkout (CFG a JSON object: ``builder`` ``"module"`` or ``"nest"``,
``sets`` (``--set`` items of the tutorial preset), ``threads``, ``synapse_model``,
``huge_pages`` (collapse after Prepare)). Prints one JSON line: build, prepare (with the
collapse) and run seconds, and the spike count.
"""

import json
import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, os.getcwd())  # the measured checkout's package


def main() -> None:
    cfg = json.loads(sys.argv[1])
    from balanced import params as P
    from balanced.build import build_model
    from balanced.derived import derive
    from balanced.kernel import import_nest, setup_kernel
    from balanced.network import build_network

    nest = import_nest(nest_extras=False)
    p = P.resolve("tutorial", overrides=cfg["sets"])
    d = derive(p)
    module = build_model()
    setup_kernel(nest, dt=p.dt, seed=p.seed, threads=cfg["threads"], module=module)
    t0 = time.perf_counter()
    net = build_network(nest, p, d, module.model, cfg["synapse_model"], module_rule=cfg["builder"] == "module")
    t1 = time.perf_counter()
    nest.Prepare()
    if cfg.get("huge_pages"):
        from balanced import hugepages

        hugepages.collapse_anonymous_memory()
    t2 = time.perf_counter()
    nest.Run(p.T)
    t3 = time.perf_counter()
    nest.Cleanup()
    result = {"build_s": t1 - t0, "prepare_s": t2 - t1, "run_s": t3 - t2, "spikes": int(net.spike_recorder.n_events)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
