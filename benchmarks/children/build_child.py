"""One phase of ``benchmarks/bench_build.py`` in a fresh interpreter; prints one JSON line.

``python benchmarks/children/build_child.py build CACHE PYTHON FORCE``: ``build_model``
into the cache folder CACHE (for the NEST of interpreter PYTHON, empty: this one; FORCE
``1``: rebuild), with its wall time (s) and what it returns.
``python benchmarks/children/build_child.py load BUILD_JSON REPEATS``: installs the built
module into NEST after ``ResetKernel`` REPEATS times and prints each load time (s).
"""

import json
import sys
import time

T0 = time.perf_counter()


def build(cache: str, python: str, force: str) -> dict:
    from balanced.build import build_model

    r = build_model(cache_dir=cache, python=python or None, force=force == "1")
    return {
        "wall": time.perf_counter() - T0,
        "cached": r.cached,
        "seconds": r.seconds,
        "module": r.module,
        "model": r.model,
        "nest": r.nest_version,
        "directory": r.directory,
        "key": r.key,
    }


def load(build_json: str, repeats: str) -> dict:
    import nest

    from balanced.build import BuildResult, load_module

    r = BuildResult(**json.loads(build_json))
    nest.verbosity = nest.VerbosityLevel.WARNING
    times = []
    for _ in range(int(repeats)):
        nest.ResetKernel()
        t0 = time.perf_counter()
        load_module(nest, r)
        times.append(time.perf_counter() - t0)
    nest.Create(r.model)
    return {"load": times}


if __name__ == "__main__":
    phase, *rest = sys.argv[1:]
    print(json.dumps(build(*rest) if phase == "build" else load(*rest)))
