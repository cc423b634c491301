"""Install a built module into a running NEST kernel, refusing one built for another NEST."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .base import BuildError, BuildResult
from .cache import read_stamp


def _node_models(nest) -> tuple:
    try:
        return tuple(nest.node_models)
    except Exception:  # a NEST without the attribute, or a kernel in a bad state
        return ()


def load_module(nest, result: BuildResult) -> None:
    """Install the compiled module into the (freshly reset) NEST kernel.

    Call after every ``nest.ResetKernel()`` (a reset unloads modules) and before
    creating nodes. Idempotent while the model is already known to the kernel.
    """
    so = Path(result.module + ".so")
    if not so.is_file():
        raise BuildError(f"The module file {so} does not exist (cache cleared?). Run `balanced build`.")
    if result.model in _node_models(nest):
        return
    running = str(getattr(nest, "__version__", "") or "")
    if running and result.nest_version and running != result.nest_version:
        raise BuildError(
            f"The module {so} was built for NEST {result.nest_version}, but this process runs NEST "
            f"{running}. Run `balanced build` with this environment's Python to build it for this NEST."
        )
    stamp = read_stamp(Path(result.directory)) or {}
    nest_file = getattr(nest, "__file__", None)
    if stamp.get("nest_dir") and nest_file:
        here = os.path.realpath(os.path.dirname(nest_file))
        if here != stamp["nest_dir"]:
            raise BuildError(
                f"The module {so} was built for the NEST at {stamp['nest_dir']}, but this process "
                f"imported NEST from {here}. Run `balanced build` with this environment's Python "
                f"(`{sys.executable} -m balanced.cli build`)."
            )
    try:
        nest.Install(result.module)
    except Exception as e:  # NEST raises its own kernel exception types
        msg = str(e)
        if "undefined symbol" in msg or "cxx11" in msg or "cannot open" in msg.lower():
            raise BuildError(
                f"NEST could not load {so}: it was built for another NEST (C++ ABI or version "
                f"mismatch).\nNEST said: {msg.strip()[:800]}\nRebuild it for this NEST: `balanced build --force`."
            ) from e
        raise BuildError(f"nest.Install({result.module!r}) failed: {msg.strip()[:800]}") from e
    if result.model not in _node_models(nest):
        raise BuildError(f"{so} was installed but NEST knows no model {result.model!r}.")
