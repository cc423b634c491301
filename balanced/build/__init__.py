"""Compile the NESTML neuron into a NEST extension module, once, and cache it.

The compiled module is a build artefact keyed by a hash of everything that makes it
valid: the model source, the NEST it is built for (version, C++ string ABI, MPI,
threads, location), the NESTML version, the template variant and the hash of its
templates, the generator script, the compiler and its flags. It lives in
``$BALANCED_CACHE/<key>/`` (default ``~/.cache/balanced/modules/<key>/``) next to a small
JSON stamp that is written only after a successful build.

Nothing here imports ``nest`` or ``pynestml`` in the calling process: importing NEST
initialises its kernel (and MPI, for an MPI-enabled NEST), and NESTML keeps global state
and may call ``sys.exit``. The scripts in :mod:`balanced.build.in_target` run with the
interpreter whose NEST the module is for: one locates NEST and NESTML without importing
them, one probes NEST's build facts, one generates and compiles. A cache hit reads the
stamp and a cached copy of those facts and takes a few milliseconds.

NESTML generates the C++ from the package's copy of its ``point_neuron`` templates,
changed for a faster spike input (:mod:`balanced.build.variants`); ``templates="stock"``
builds from NESTML's own templates for comparison.

One concern per module: :mod:`.base` (errors, result, names), :mod:`.facts` (NEST
facts), :mod:`.toolchain` (compiler, flags, the ``nest-config`` shim), :mod:`.cache`
(key, stamp, lock), :mod:`.variants` (templates and their upstream check),
:mod:`.generation` (running the generator), :mod:`.builder` (``build_model``, ``cached_model``),
:mod:`.loading` (``load_module``), :mod:`.status` (``module_status`` for ``doctor``).
"""

from .base import BuildError, BuildResult, default_model_file
from .builder import build_model, cached_model
from .cache import default_cache_dir
from .facts import cached_nest_facts
from .loading import load_module
from .status import module_status
from .variants import VARIANTS

__all__ = [
    "VARIANTS",
    "BuildError",
    "BuildResult",
    "build_model",
    "cached_model",
    "cached_nest_facts",
    "default_cache_dir",
    "default_model_file",
    "load_module",
    "module_status",
]
