"""The benchmark network in a child process, built with the package's own steps.

Shared by the child programs of ``benchmarks/interleaved.py`` and
``benchmarks/profile_parity.py``. A config (JSON, from the parent) names the ``--set``
items of the tutorial preset (``sets``), the threads, and for the NESTML neuron the model
file of the measured checkout (``model_file``: ``balanced.models`` would resolve to the
installed package's) and its template variant (``templates``, optional); ``module_rule``
(optional) overrides the connection builder that ``balanced run`` would choose.
"""

import os
import sys
import time


def use_checkout() -> None:
    """Import ``balanced`` from the working folder (the measured checkout), as ``python -c`` does."""
    sys.path.insert(0, os.getcwd())


def build_module(cfg: dict):
    """The NESTML module of ``cfg`` (built or taken from the cache)."""
    from balanced.build import build_model

    build = {"templates": cfg["templates"]} if cfg.get("templates") else {}
    return build_model(model_file=cfg["model_file"], **build)


def build(cfg: dict):
    """``(nest, params, network, build_s)``: the kernel set up and the network connected
    (``build_s``: the synapse choice and ``build_network``, seconds)."""
    from balanced import params as P
    from balanced.choices import connection_builder, synapse_model
    from balanced.derived import derive
    from balanced.kernel import import_nest, setup_kernel
    from balanced.memory import memory_budget
    from balanced.network import build_network

    p = P.resolve("tutorial", overrides=cfg["sets"])
    d = derive(p)
    nest = import_nest()
    # the module for the NESTML neuron, or for its connection rule alone (as `balanced run`
    # loads it for a built-in neuron) unless the variant asks for NEST's rule
    module = build_module(cfg) if p.neuron_model == "nestml" or cfg.get("module_rule") is not False else None
    setup_kernel(nest, dt=p.dt, seed=p.seed, threads=cfg["threads"], module=module)
    t0 = time.perf_counter()
    synapse = synapse_model(p.synapse_model, d.n_synapses_expected, d.N, memory_budget()).value
    module_rule = cfg.get("module_rule", connection_builder(d.n_synapses_expected).value == "module")
    model = module.model if module and p.neuron_model == "nestml" else p.neuron_model
    net = build_network(nest, p, d, model, synapse, module_rule)
    return nest, p, net, time.perf_counter() - t0
