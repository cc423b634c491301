"""One model of ``benchmarks/profile_parity.py``, run under callgrind.

``python benchmarks/children/parity_child.py CFG`` (CFG: JSON, see ``network.py``, plus
``warmup_ms`` and ``T``), run in the measured checkout: builds the network, prepares it,
runs ``warmup_ms`` then ``T`` ms (callgrind counts only inside NEST's run loop) and prints
the spike count. ``--build-only``: build the NESTML module and stop (outside valgrind).
"""

import json
import sys

import network


def main() -> None:
    cfg = json.loads(sys.argv[-1])
    network.use_checkout()
    if "--build-only" in sys.argv[1:-1]:
        network.build_module(cfg)
        return
    nest, _, net, _ = network.build(cfg)
    nest.Prepare()  # sorting connections and allocating buffers: outside the counted part
    nest.Run(cfg["warmup_ms"])  # the network leaves its initial state
    nest.Run(cfg["T"])
    nest.Cleanup()
    print(json.dumps({"spikes": int(net.spike_recorder.n_events)}), flush=True)


if __name__ == "__main__":
    main()
