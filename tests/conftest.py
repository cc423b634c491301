"""Shared fixtures.

Model build fixtures (session scope, so each cold build happens at most once per run):
- ``built_model``: the packaged model built into the default cache
  (``$BALANCED_CACHE`` or ``~/.cache/balanced/modules``); a cache hit after the first run.
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
def build_cache(tmp_path_factory) -> str:
    """A module cache directory that starts empty, shared by this test session."""
    return str(tmp_path_factory.mktemp("module-cache"))


@pytest.fixture(scope="session")
def cold_build(build_cache) -> BuildResult:
    """A cold build of the packaged model into ``build_cache``."""
    return build_model(cache_dir=build_cache)
