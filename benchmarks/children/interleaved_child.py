"""One variant of ``benchmarks/interleaved.py``: builds its network, then simulates chunks on request.

``python benchmarks/children/interleaved_child.py CFG`` (CFG: JSON, see ``network.py``,
plus ``huge_pages``: on, off or malloc), run in the measured checkout. Prints one JSON line
when the network is built and prepared, then reads chunk lengths (ms) from stdin, one per
line, simulates each and prints its wall and CPU time and spike count; ``quit`` or the end
of input ends it with the total spikes and the peak memory.
"""

import json
import resource
import sys
import time

import network


def prepare(nest, huge_pages: str) -> dict:
    """NEST's preparation (sorting connections) outside the measured chunks, with the huge-page variant."""
    if huge_pages == "on":
        from balanced.run import prepare_in_huge_pages

        return prepare_in_huge_pages(nest)
    nest.Prepare()
    nest.Cleanup()
    if huge_pages == "malloc":  # started with MALLOC_TUNABLES: malloc asked for huge pages from the start
        from balanced.hugepages import anon_huge_mib

        return {"applied": True, "huge_mib": anon_huge_mib()}
    return {"applied": False}


def main() -> None:
    cfg = json.loads(sys.argv[1])
    network.use_checkout()
    nest, _, net, build_s = network.build(cfg)
    t0 = time.perf_counter()
    report = prepare(nest, cfg["huge_pages"])
    prepare_s = time.perf_counter() - t0
    print(json.dumps({"build_s": build_s, "prepare_s": prepare_s, "huge_pages": report}), flush=True)
    spikes = 0
    for line in sys.stdin:
        if line.strip() == "quit":
            break
        c0, w0 = time.process_time(), time.perf_counter()
        nest.Simulate(float(line))
        w1, c1 = time.perf_counter(), time.process_time()
        n = int(net.spike_recorder.n_events)
        spikes += n
        net.spike_recorder.n_events = 0
        print(json.dumps({"wall_s": w1 - w0, "cpu_s": c1 - c0, "spikes": n}), flush=True)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"spikes": spikes, "peak_rss_mb": peak_mb}), flush=True)


if __name__ == "__main__":
    main()
