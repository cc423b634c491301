"""Names every part of the build shares: the error and result types, how the module and
its model are named, the packaged model source, and the hints shown with errors."""

from __future__ import annotations

import importlib.resources
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

#: Name of the NEST extension module (``nest.Install`` name) built with the package's
#: templates; must not clash with a module NEST ships.
MODULE_NAME = "balancedmodule"
#: Suffix NESTML appends to every generated model name (``lif_psc_exp_nestml``).
MODEL_SUFFIX = "_nestml"
#: Bump when the way modules are built changes: it is part of the cache key.
BUILD_FORMAT = 2
#: Environment variable naming the module cache directory (holds ``<key>/`` folders).
CACHE_ENV = "BALANCED_CACHE"
#: Environment variable overriding the C++ compiler (default ``g++``); tests use it.
CXX_ENV = "BALANCED_CXX"
#: Environment variable overriding cmake (default ``cmake``).
CMAKE_ENV = "BALANCED_CMAKE"

NEST_INSTALL_HINT = (
    "Install NEST into that environment: `pip install nest-simulator==3.10.0` (PyPI wheel, "
    "no MPI), or build the MPI-enabled one from the sdist (see README, 'Installation')."
)
NESTML_INSTALL_HINT = "Install NESTML into that environment: `pip install nestml==9.0.0`."


class BuildError(Exception):
    """A model build or load failed; the message says why and what to do."""


@dataclass(frozen=True)
class BuildResult:
    """A compiled NEST module holding the model.

    module: absolute path of the module file without ``.so`` (for ``nest.Install``);
    model: NEST model name; cached: whether it came from the cache; key: cache key;
    seconds: time this call took; nest_version: the NEST it was built for;
    directory: the cache folder holding the module, its stamp and build log.
    """

    module: str
    model: str
    cached: bool
    key: str
    seconds: float
    nest_version: str
    directory: str


def logger(log) -> Callable[[str], None]:
    """A function taking one message: ``log.info`` for a logger, ``log`` for a callable,
    the ``balanced.build`` logger for None."""
    if log is None:
        return logging.getLogger("balanced.build").info
    if hasattr(log, "info"):
        return log.info
    return log


def default_model_file() -> Path:
    """The packaged ``lif_psc_exp.nestml`` (package data of ``balanced.models``)."""
    res = importlib.resources.files("balanced.models").joinpath("lif_psc_exp.nestml")
    with importlib.resources.as_file(res) as path:
        if Path(path).is_file():
            return Path(path)
    raise BuildError("The packaged model lif_psc_exp.nestml was not found: reinstall balanced.")


def read_model(model_file) -> tuple[Path, bytes, str]:
    """``(absolute path, source bytes, model name)`` of a NESTML file (default: the packaged
    one); the name is the one in its ``model <name>:`` line, without NESTML's suffix."""
    path = Path(model_file) if model_file is not None else default_model_file()
    path = path.expanduser().resolve()
    try:
        source = path.read_bytes()
    except OSError as e:
        raise BuildError(f"Cannot read the model file {path}: {e.strerror}") from e
    text = source.decode("utf-8", "replace")
    m = re.search(r"^\s*model\s+([A-Za-z_][A-Za-z0-9_]*)\s*:", text, re.MULTILINE)
    if not m:
        raise BuildError(f"{path}: no `model <name>:` line found; is this a NESTML 9 model file?")
    return path, source, m.group(1)
