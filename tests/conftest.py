"""Shared fixtures.

Model build fixtures (session scope, so each cold build happens at most once per run):
- ``built_model``: the packaged model built into the default cache
  (``$BALANCED_CACHE`` or ``~/.cache/balanced/modules``); a cache hit after the first run.
- ``built_model_stock``: the same from NESTML's own templates (model
  ``lif_psc_exp_nestml_stock``), for the A/B equivalence tests.
- ``build_cache``: a fresh per-session cache directory; ``cold_build``: the packaged
  model built cold into it (for the build/cache tests).
"""

from __future__ import annotations

import pytest

from balanced.build import BuildResult, build_model


@pytest.fixture(scope="session")
def built_model() -> BuildResult:
    """The packaged NESTML model compiled for this environment's NEST (default cache)."""
    return build_model()


@pytest.fixture(scope="session")
def built_model_stock() -> BuildResult:
    """The packaged NESTML model generated from NESTML's own templates (default cache)."""
    return build_model(templates="stock")


@pytest.fixture(scope="session")
def build_cache(tmp_path_factory) -> str:
    """A module cache directory that starts empty, shared by this test session."""
    return str(tmp_path_factory.mktemp("module-cache"))


@pytest.fixture(scope="session")
def cold_build(build_cache) -> BuildResult:
    """A cold build of the packaged model into ``build_cache``."""
    return build_model(cache_dir=build_cache)


pytest_plugins = ["slurm_cluster"]  # the session's private SLURM (tests/slurm_cluster.py)


# ----------------------------------------------------------------------------- test tiers
# Each test module's tier, given as a marker: `pytest -m "pure or analysis"` (make test-fast)
# runs in seconds without NEST; `make test` runs every tier. A module not listed here is
# a NEST module. Markers set on a test itself (mpi, slurm, slow) are kept as well.
TIERS = {
    "test_params.py": "pure",
    "test_theory.py": "pure",
    "test_layering.py": "pure",
    "test_hugepages.py": "pure",
    "test_choices.py": "pure",
    "test_docs.py": "pure",
    "test_benchmarks.py": "nest",
    "test_analysis.py": "analysis",
    "test_notebook.py": "analysis",
    "test_build.py": "nestml",
    "test_model.py": "nestml",
    "test_mpi.py": "mpi",
    "test_slurm.py": "slurm",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        tier = TIERS.get(item.path.name, "nest")
        item.add_marker(getattr(pytest.mark, tier))
