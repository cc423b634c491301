"""Compile the NESTML neuron into a NEST extension module, once, and cache it.

The compiled module is a build artefact keyed by a hash of everything that makes it
valid: the model source, the NEST it is built for (version, C++ string ABI, MPI,
threads, location), the NESTML version, the compiler flags and this file's build
format. It lives in ``$BALANCED_CACHE/<key>/`` (default
``~/.cache/balanced/modules/<key>/``) next to a small JSON stamp that is written only
after a successful build.

This module never imports ``nest`` or ``pynestml`` in the calling process: importing
NEST initialises its kernel (and MPI, for an MPI-enabled NEST), and NESTML keeps global
state and may call ``sys.exit``. Facts about NEST come from a short Python subprocess
run with the interpreter whose NEST the module is for; generation and compilation run
in another subprocess. A cache hit reads the stamp and a cached copy of those facts
(validated against the size and modification time of NEST's ``nestkernel_api``
library) and takes a few milliseconds.

Public API: :class:`BuildResult`, :class:`BuildError`, :func:`build_model`,
:func:`load_module`, :func:`module_status`, :func:`default_model_file`.

Why the wheel needs help: the ``nest-config``
of a NEST wheel reports the wheel build machine's prefix, compiler and libraries. We
write a corrected ``bin/nest-config`` into the build directory (real include directory,
``-D_GLIBCXX_USE_CXX11_ABI`` matched to the loaded NEST, ``-fopenmp``, g++) and point
NESTML at it with ``codegen_opts["nest_path"]``. Linking needs no NEST library: the
kernel symbols resolve from the already loaded ``nestkernel_api`` module.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import importlib.resources
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .launch import child_env, mpi_world_size_from_env

__all__ = [
    "BuildError",
    "BuildResult",
    "build_model",
    "default_cache_dir",
    "default_model_file",
    "load_module",
    "module_status",
]

#: Name of the NEST extension module (``nest.Install`` name); must not clash with a
#: module NEST ships.
MODULE_NAME = "balancedmodule"
#: Suffix NESTML appends to every generated model name (``lif_psc_exp_nestml``).
MODEL_SUFFIX = "_nestml"
#: Bump when the way modules are built changes: it is part of the cache key.
BUILD_FORMAT = 1
#: Environment variable naming the module cache directory (holds ``<key>/`` folders).
CACHE_ENV = "BALANCED_CACHE"
#: Environment variable overriding the C++ compiler (default ``g++``); tests use it.
CXX_ENV = "BALANCED_CXX"
#: Environment variable overriding cmake (default ``cmake``).
CMAKE_ENV = "BALANCED_CMAKE"

DEBIAN_PACKAGES = ("build-essential", "cmake", "libboost-dev", "libltdl-dev", "libgsl-dev")
APT_LINE = "sudo apt-get install " + " ".join(DEBIAN_PACKAGES)
NEST_INSTALL_HINT = (
    "Install NEST into that environment: `pip install nest-simulator==3.10.0` (PyPI wheel, "
    "no MPI), or build the MPI-enabled one from the sdist (see README, 'Installation')."
)
NESTML_INSTALL_HINT = "Install NESTML into that environment: `pip install nestml==9.0.0`."

# Header files whose absence we report, with the Debian package that provides them.
_HEADERS = {
    "boost": ("boost/version.hpp", "libboost-dev"),
    "ltdl": ("ltdl.h", "libltdl-dev"),
    "gsl": ("gsl/gsl_version.h", "libgsl-dev"),
}


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


# --------------------------------------------------------------------------- helpers


def _logger(log) -> Callable[[str], None]:
    if log is None:
        import logging

        return logging.getLogger("balanced.build").info
    if hasattr(log, "info"):
        return log.info
    return log


def default_model_file() -> Path:
    """The packaged ``lif_psc_exp.nestml`` (found in an installed wheel too)."""
    try:
        res = importlib.resources.files("balanced.models").joinpath("lif_psc_exp.nestml")
        with importlib.resources.as_file(res) as path:
            if Path(path).is_file():
                return Path(path)
    except ModuleNotFoundError:  # a source checkout on sys.path without installation
        pass
    path = Path(__file__).resolve().parent.parent / "models" / "lif_psc_exp.nestml"
    if path.is_file():
        return path
    raise BuildError("The packaged model lif_psc_exp.nestml was not found: reinstall balanced.")


def default_cache_dir() -> Path:
    """``$BALANCED_CACHE`` or ``~/.cache/balanced/modules``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "balanced" / "modules"


def _model_name_from_source(source: str, path: Path) -> str:
    m = re.search(r"^\s*model\s+([A-Za-z_][A-Za-z0-9_]*)\s*:", source, re.MULTILINE)
    if not m:
        raise BuildError(f"{path}: no `model <name>:` line found; is this a NESTML 9 model file?")
    return m.group(1)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


@contextlib.contextmanager
def _locked(lock_path: Path, say):
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"waiting for another build holding {lock_path} ...")
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# ------------------------------------------------------------- facts about NEST

# Runs in the target interpreter WITHOUT importing nest: where it is, fingerprints.
_LOCATE_SCRIPT = r"""
import glob, json, os, sys, importlib.util, importlib.metadata
out = {"python": sys.executable, "nest_dir": None, "kernel_so": None, "nestml_version": None}
try:
    spec = importlib.util.find_spec("nest")
except Exception as e:
    spec = None
if spec is not None and spec.submodule_search_locations:
    d = os.path.realpath(list(spec.submodule_search_locations)[0])
    out["nest_dir"] = d
    so = sorted(glob.glob(os.path.join(d, "nestkernel_api*.so")))
    if so:
        st = os.stat(so[0])
        out["kernel_so"] = [so[0], st.st_size, st.st_mtime_ns]
try:
    out["nestml_version"] = importlib.metadata.version("nestml")
except Exception:
    pass
print(json.dumps(out))
"""

# Runs in the target interpreter and imports nest (in that subprocess only).
_PROBE_SCRIPT = r"""
import glob, json, os, sys
result = {"ok": False}
try:
    import nest
except BaseException as e:
    result["error"] = "%s: %s" % (type(e).__name__, e)
    print("BALANCED_PROBE " + json.dumps(result)); sys.stdout.flush(); os._exit(0)
bi = dict(nest.build_info)
d = os.path.realpath(os.path.dirname(nest.__file__))
so = sorted(glob.glob(os.path.join(d, "nestkernel_api*.so")))
abi = None
if so:
    with open(so[0], "rb") as fh:
        abi = b"B5cxx11" in fh.read()
inc = None
cands = [os.path.join(d, "include", "nest")]
if bi.get("prefix"):
    cands.append(os.path.join(bi["prefix"], "include", "nest"))
for c in cands:
    if os.path.isfile(os.path.join(c, "nest_types.h")) or os.path.isfile(os.path.join(c, "config.h")):
        inc = c
        break
result.update(
    ok=True,
    version=str(getattr(nest, "__version__", None) or bi.get("version")),
    have_mpi=bool(bi.get("have_mpi")),
    have_threads=bool(bi.get("have_threads")),
    have_gsl=bool(bi.get("have_gsl")),
    ndebug=bool(bi.get("ndebug", True)),
    threads_model=str(bi.get("threads_model", "")),
    prefix=str(bi.get("prefix")),
    nest_dir=d,
    kernel_so=so[0] if so else None,
    cxx11_abi=abi,
    include_dir=inc,
)
print("BALANCED_PROBE " + json.dumps(result)); sys.stdout.flush()
os._exit(0)
"""


def _resolve_python(python: str | None) -> str:
    if python is None:
        return sys.executable
    found = shutil.which(python) if os.sep not in python else python
    if not found or not os.path.exists(found):
        raise BuildError(f"Python interpreter {python!r} not found.")
    return os.path.abspath(found)


def _locate(python: str) -> dict:
    """Where the interpreter's nest lives, without importing it (a few ms)."""
    if os.path.realpath(python) == os.path.realpath(sys.executable) and python == sys.executable:
        ns: dict[str, Any] = {}
        import io

        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            exec(compile(_LOCATE_SCRIPT, "<locate>", "exec"), ns)  # noqa: S102 - our own code
        return json.loads(buf.getvalue())
    try:
        proc = subprocess.run(
            [python, "-c", _LOCATE_SCRIPT], capture_output=True, text=True, timeout=60, env=child_env()
        )
    except OSError as e:
        raise BuildError(f"Cannot run Python interpreter {python}: {e}") from e
    if proc.returncode != 0:
        raise BuildError(f"Cannot run Python interpreter {python}:\n{proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _probe(python: str) -> dict:
    """Import nest in a subprocess and report its build facts."""
    try:
        proc = subprocess.run(
            [python, "-c", _PROBE_SCRIPT], capture_output=True, text=True, timeout=300, env=child_env()
        )
    except OSError as e:
        raise BuildError(f"Cannot run Python interpreter {python}: {e}") from e
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("BALANCED_PROBE ")), None)
    if line is None:
        tail = (proc.stdout + proc.stderr).strip()[-2000:]
        raise BuildError(
            f"Importing nest with {python} failed (exit code {proc.returncode}):\n{tail}\n{NEST_INSTALL_HINT}"
        )
    facts = json.loads(line[len("BALANCED_PROBE "):])
    if not facts.get("ok"):
        raise BuildError(
            f"NEST is not importable with {python}: {facts.get('error')}.\n{NEST_INSTALL_HINT}"
        )
    return facts


def _facts_path(cache_root: Path, loc: dict) -> Path:
    ident = _sha(json.dumps([os.path.realpath(loc["python"]), loc["nest_dir"]]).encode())[:16]
    return cache_root / "facts" / f"{ident}.json"


def _nest_facts(python: str, cache_root: Path, *, allow_probe: bool = True) -> dict:
    """NEST facts for ``python``: from the facts cache when NEST is unchanged, else probed."""
    loc = _locate(python)
    if not loc.get("nest_dir"):
        raise BuildError(f"NEST is not importable with {python}: no module named 'nest'.\n{NEST_INSTALL_HINT}")
    fpath = _facts_path(cache_root, loc)
    try:
        cached = json.loads(fpath.read_text())
        if cached.get("fingerprint") == loc["kernel_so"] and cached.get("nestml_version") == loc["nestml_version"]:
            return cached
    except (OSError, ValueError):
        pass
    if not allow_probe:
        raise BuildError(
            f"The NEST of {python} has not been inspected yet (no facts in {fpath.parent}) and this is "
            f"an MPI run with {mpi_world_size_from_env()} ranks, which never builds or probes.\n"
            "Run `balanced build` first, in a single process."
        )
    facts = _probe(python)
    facts["fingerprint"] = loc["kernel_so"]
    facts["nestml_version"] = loc["nestml_version"]
    facts["python"] = python
    fpath.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(fpath, json.dumps(facts, indent=1, sort_keys=True))
    return facts


# ------------------------------------------------------------ toolchain, flags


def cached_nest_facts(python: str | None = None, cache_dir: str | None = None) -> dict | None:
    """What is known about the NEST of ``python`` (``have_mpi``, version, ...) without importing
    it and without a probe; None when it has not been inspected yet (``balanced build`` does)."""
    try:
        root = Path(cache_dir) if cache_dir else default_cache_dir()
        return _nest_facts(_resolve_python(python), root, allow_probe=False)
    except BuildError:
        return None


def _compiler() -> str:
    return os.environ.get(CXX_ENV, "g++")


def _cmake() -> str:
    return os.environ.get(CMAKE_ENV, "cmake")


def _toolchain_problems() -> list[str]:
    problems = []
    cxx, cmake = _compiler(), _cmake()
    if not shutil.which(cxx):
        problems.append(f"C++ compiler `{cxx}` not found (package build-essential)")
    if not shutil.which(cmake):
        problems.append(f"`{cmake}` not found (package cmake)")
    if not shutil.which("make"):
        problems.append("`make` not found (package build-essential)")
    return problems


def _header_dirs() -> list[str]:
    dirs = []
    for var in ("CPATH", "CPLUS_INCLUDE_PATH", "C_INCLUDE_PATH"):
        dirs += [d for d in os.environ.get(var, "").split(os.pathsep) if d]
    return dirs + ["/usr/local/include", "/usr/include"]


def _missing_headers() -> dict[str, str]:
    """{library: debian package} for headers not found in the usual include dirs."""
    missing = {}
    for lib, (header, pkg) in _HEADERS.items():
        if not any(os.path.isfile(os.path.join(d, header)) for d in _header_dirs()):
            missing[lib] = pkg
    return missing


def _mpi_compile_flags() -> list[str]:
    """Include flags for mpi.h (needed when NEST's headers include it)."""
    for cmd in (["mpicxx", "--showme:compile"], ["mpicxx", "-compile_info"]):
        if shutil.which(cmd[0]):
            try:
                out = subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout
            except OSError:
                continue
            flags = [f for f in out.split() if f.startswith(("-I", "-D", "-pthread"))]
            if flags:
                return flags
    return []


def _cflags(facts: dict) -> list[str]:
    flags = ["-O2", "-std=c++20", f"-D_GLIBCXX_USE_CXX11_ABI={1 if facts.get('cxx11_abi') else 0}"]
    if facts.get("ndebug", True):
        flags.append("-DNDEBUG")
    if facts.get("have_threads"):
        flags.append("-fopenmp")
    return flags


def _include_flags(facts: dict) -> list[str]:
    inc = [f"-I{facts['include_dir']}"]
    if facts.get("have_mpi"):
        inc += [f for f in _mpi_compile_flags() if f.startswith("-I")]
    return inc


def _nest_config_text(facts: dict, python: str) -> str:
    flags = _cflags(facts)
    if facts.get("have_mpi"):
        flags += [f for f in _mpi_compile_flags() if not f.startswith("-I")]
    cflags = " ".join(flags)
    includes = " ".join(_include_flags(facts))
    libs = "-fopenmp" if facts.get("have_threads") else ""
    cxx = shutil.which(_compiler()) or _compiler()
    answers = {
        "--prefix": facts["nest_dir"],
        "--exec-prefix": facts["nest_dir"],
        "--libs": libs,
        "--cflags": cflags,
        "--includes": includes,
        "--compiler": cxx,
        "--compiler-name": "GNU",
        "--compiler-version": "",
        "--python-executable": python,
        "--python-version": "",
        "--static-libraries": "OFF",
        "--docdir": "share/doc/nest",
        "--datadir": "share/nest",
        "--libdir": "lib",
        "--version": facts["version"],
    }
    cases = "\n".join(f'    {opt}) echo "{val}" ;;' for opt, val in answers.items())
    return (
        "#!/bin/sh\n"
        "# Written by balanced.build: the NEST wheel's own nest-config reports the wheel\n"
        "# build machine's paths and compiler. These are the real values for this NEST.\n"
        'for arg in "$@"; do\n'
        '  case "$arg" in\n'
        f"{cases}\n"
        '    *) echo "nest-config (balanced): unknown option $arg" >&2; exit 1 ;;\n'
        "  esac\n"
        "done\n"
    )


def _cache_key(source: bytes, facts: dict, python: str) -> dict:
    """Everything the module depends on; its hash names the cache folder."""
    return {
        "build_format": BUILD_FORMAT,
        "model_sha256": _sha(source),
        "nest_version": facts["version"],
        "cxx11_abi": bool(facts.get("cxx11_abi")),
        "have_mpi": bool(facts.get("have_mpi")),
        "have_threads": bool(facts.get("have_threads")),
        "nest_dir": facts["nest_dir"],
        "nestml_version": facts.get("nestml_version"),
        "cflags": _cflags(facts),
        "compiler": _compiler(),
        "module_name": MODULE_NAME,
        "suffix": MODEL_SUFFIX,
        "optimise_spike_input": list(OPTIMISE_SPIKE_INPUT),
        "generator_sha256": _sha(_GENERATE_SCRIPT.encode()),  # the rewrites are code too
    }


def _read_stamp(directory: Path) -> dict | None:
    try:
        return json.loads((directory / "stamp.json").read_text())
    except (OSError, ValueError):
        return None


def _valid_stamp(directory: Path, key: str, inputs: dict) -> dict | None:
    """The stamp if it belongs to ``key``, was made from ``inputs`` and its .so exists."""
    stamp = _read_stamp(directory)
    if not stamp or stamp.get("key") != key or stamp.get("inputs") != inputs:
        return None
    if not (directory / f"{MODULE_NAME}.so").is_file():
        return None
    return stamp


def _result(directory: Path, stamp: dict, cached: bool, t0: float) -> BuildResult:
    return BuildResult(
        module=str(directory / MODULE_NAME),
        model=stamp["model"],
        cached=cached,
        key=stamp["key"],
        seconds=time.perf_counter() - t0,
        nest_version=stamp["inputs"]["nest_version"],
        directory=str(directory),
    )


# ------------------------------------------------------------------ generation

# Rewrite NESTML's generated spike input for speed (the two rewrites are described in
# _GENERATE_SCRIPT); part of the cache key, so changing them rebuilds the module.
OPTIMISE_SPIKE_INPUT = ("no-received-flag", "input-slots")

_GENERATE_SCRIPT = r"""
import glob, json, os, re, sys, traceback
args = json.loads(sys.argv[1])
result = {"errors": [], "exception": None, "flag": None, "optimised": []}

# Two rewrites of NESTML 9's generated spike input, each applied only when every piece of
# it matches the generated code exactly (else that rewrite is skipped and the code is
# built as generated). Spike delivery is memory-bound: what counts is how many cache
# lines a delivered spike touches. tests/test_model.py and tests/test_network.py check
# the result against iaf_psc_exp (V_m to 1e-9 mV, identical spike trains).
#
# "no-received-flag": handle(SpikeEvent) writes a second ring buffer per spike, a
# "received" flag gating the onReceive blocks. For a model whose onReceive blocks only
# add the port's summed weight (ours), "received" is the same as "summed weight != 0" (a
# step whose weights sum to zero adds nothing either way), so the flag is dropped.
#
# "input-slots": NESTML keeps one heap-allocated nest::RingBuffer per input port inside a
# std::vector, so a spike costs two dependent loads before the write (the vector's
# RingBuffer, then its data). All ports (spike and continuous) move into one ring of
# per-step slots, std::vector<std::array<double, ports>>, indexed like RingBuffer
# (EventDeliveryManager::get_modulo): one load to the slot, and one cache line per step
# for all ports, as iaf_psc_exp's MultiChannelInputBuffer. The rings stay on the heap: all
# nodes' rings are allocated one after the other when NEST prepares, so with a one-step
# delay (2 slots) they form a compact block that stays in cache; keeping them inside the
# nodes instead made the simulation 1.28x (1e4) and 1.32x (2e4) slower (docs/performance.md).
class Mismatch(Exception):
    pass

def once(text, old, new, what):
    if text.count(old) != 1:
        raise Mismatch(what)
    return text.replace(old, new)

RECEIVED_WRITE = (
    "  B_.spike_input_received_[ nestml_buffer_idx - MIN_SPIKE_RECEPTOR ].add_value(\n"
    "    e.get_rel_delivery_steps( nest::kernel().simulation_manager.get_slice_origin() ),\n"
    "    1. );\n")
RECEIVED_READ = "      get_spike_input_received_grid_sum_()[i] = get_spike_input_received_()[i].get_value(lag);\n"
RECEIVED_TEST = re.compile(r"if \(B_\.spike_input_received_grid_sum_\[(\w+) - MIN_SPIKE_RECEPTOR\]\)")

def no_received_flag(cpp, h):
    cpp = once(cpp, RECEIVED_WRITE, "", "received write")
    cpp = once(cpp, RECEIVED_READ, "", "received read")
    if not RECEIVED_TEST.search(cpp):
        raise Mismatch("received test")
    cpp = RECEIVED_TEST.sub(r"if (B_.spike_inputs_grid_sum_[\1 - MIN_SPIKE_RECEPTOR] != 0.)", cpp)
    if "spike_input_received_grid_sum_[" in cpp or "get_spike_input_received_()[" in cpp:
        raise Mismatch("another use of the received flag")
    return cpp, h

SLOT = "nest::kernel().event_delivery_manager.get_modulo"
def input_slots(cpp, h):
    h = once(h, "#include <cmath>\n", "#include <array>\n#include <cmath>\n", "header includes")
    h = once(h, "    std::vector< nest::RingBuffer > spike_inputs_;\n",
        "    std::vector< nest::RingBuffer > spike_inputs_;\n"
        "    /** balanced: per-step slots holding every input port (spike ports, then continuous) */\n"
        "    std::vector< std::array< double, NUM_SPIKE_RECEPTORS + NUM_CONTINUOUS_INPUT_PORTS > > input_slots_;\n"
        "    /** balanced: this step's sums per port, inside the node (NESTML's are heap vectors) */\n"
        "    std::array< double, NUM_SPIKE_RECEPTORS > spike_sums_{};\n"
        "    std::array< double, NUM_CONTINUOUS_INPUT_PORTS > continuous_sums_{};\n",
        "Buffers_ members")
    cpp = once(cpp,
        "  B_.spike_inputs_[ nestml_buffer_idx - MIN_SPIKE_RECEPTOR ].add_value(\n"
        "    e.get_rel_delivery_steps( nest::kernel().simulation_manager.get_slice_origin() ),\n"
        "    weight * e.get_multiplicity() );\n",
        "  B_.input_slots_[ " + SLOT + "(\n"
        "    e.get_rel_delivery_steps( nest::kernel().simulation_manager.get_slice_origin() ) ) ]\n"
        "    [ nestml_buffer_idx - MIN_SPIKE_RECEPTOR ] += weight * e.get_multiplicity();\n",
        "spike handler")
    cpp = once(cpp,
        "  B_.continuous_inputs_[e.get_rport()].add_value(\n"
        "               e.get_rel_delivery_steps( nest::kernel().simulation_manager.get_slice_origin()),\n"
        "               weight * current );\n",
        "  B_.input_slots_[ " + SLOT + "(\n"
        "    e.get_rel_delivery_steps( nest::kernel().simulation_manager.get_slice_origin() ) ) ]\n"
        "    [ NUM_SPIKE_RECEPTORS + e.get_rport() ] += weight * current;\n",
        "current handler")
    cpp = once(cpp,
        "    for (long i = 0; i < NUM_SPIKE_RECEPTORS; ++i)\n"
        "    {\n"
        "      get_spike_inputs_grid_sum_()[i] = get_spike_inputs_()[i].get_value(lag);\n"
        "    }\n",
        "    auto& input_slot = B_.input_slots_[ " + SLOT + "( lag ) ];\n"
        "    for (long i = 0; i < NUM_SPIKE_RECEPTORS; ++i)\n"
        "    {\n"
        "      B_.spike_inputs_grid_sum_[i] = input_slot[i];\n"
        "      input_slot[i] = 0.;\n"
        "    }\n",
        "spike read")
    cpp = once(cpp,
        "    for (long i = 0; i < NUM_CONTINUOUS_INPUT_PORTS; ++i)\n"
        "    {\n"
        "      get_continuous_inputs_grid_sum_()[i] = get_continuous_inputs_()[i].get_value(lag);\n"
        "    }\n",
        "    for (long i = 0; i < NUM_CONTINUOUS_INPUT_PORTS; ++i)\n"
        "    {\n"
        "      B_.continuous_inputs_grid_sum_[i] = input_slot[NUM_SPIKE_RECEPTORS + i];\n"
        "      input_slot[NUM_SPIKE_RECEPTORS + i] = 0.;\n"
        "    }\n",
        "current read")
    cpp = once(cpp, "  get_spike_inputs_().clear();\n",
        "  get_spike_inputs_().clear();\n  B_.input_slots_.clear();\n"
        "  B_.spike_sums_.fill( 0. );\n  B_.continuous_sums_.fill( 0. );\n", "init_buffers_")
    cpp = once(cpp, "  B_.continuous_inputs_grid_sum_.resize(NUM_CONTINUOUS_INPUT_PORTS);\n",
        "  B_.continuous_inputs_grid_sum_.resize(NUM_CONTINUOUS_INPUT_PORTS);\n"
        "  {\n"
        "    // as nest::RingBuffer: one slot per step of min_delay + max_delay, kept while the size holds\n"
        "    const size_t n_slots = nest::kernel().connection_manager.get_min_delay()\n"
        "      + nest::kernel().connection_manager.get_max_delay();\n"
        "    if ( B_.input_slots_.size() != n_slots )\n"
        "    {\n"
        "      B_.input_slots_.assign( n_slots, {} );\n"
        "    }\n"
        "  }\n",
        "pre_run_hook")
    cpp = cpp.replace("B_.spike_inputs_grid_sum_[", "B_.spike_sums_[")
    cpp = cpp.replace("B_.continuous_inputs_grid_sum_[", "B_.continuous_sums_[")
    code = re.sub(r"//[^\n]*", "", cpp)  # NESTML leaves commented-out uses behind
    if re.search(r"(spike|continuous)_inputs?_(received_)?(grid_sum_)?(\(\))?\[", code):
        raise Mismatch("another use of NESTML's per-port buffers")
    # NESTML's per-port vectors are now unused: leave them empty, so that a node's heap holds
    # its slots and not a dozen small unused allocations between them
    for size in ("NUM_SPIKE_RECEPTORS", "NUM_CONTINUOUS_INPUT_PORTS"):
        for kind in ("nest::RingBuffer", "double"):
            old = "std::vector< %s >( %s )" % (kind, size)
            if cpp.count(old) < 2:
                raise Mismatch("constructor of " + old)
            cpp = cpp.replace(old, "std::vector< %s >()" % kind)
    for member, size in (("spike_inputs_", "NUM_SPIKE_RECEPTORS"), ("spike_inputs_grid_sum_", "NUM_SPIKE_RECEPTORS"),
                         ("spike_input_received_", "NUM_SPIKE_RECEPTORS"),
                         ("spike_input_received_grid_sum_", "NUM_SPIKE_RECEPTORS"),
                         ("continuous_inputs_", "NUM_CONTINUOUS_INPUT_PORTS"),
                         ("continuous_inputs_grid_sum_", "NUM_CONTINUOUS_INPUT_PORTS")):
        cpp = once(cpp, "  B_.%s.resize(%s);\n" % (member, size), "", "pre_run_hook resize of " + member)
    return cpp, h

REWRITES = (("no-received-flag", no_received_flag), ("input-slots", input_slots))

def optimise_spike_input(target):
    done = []
    for cpp_path in glob.glob(os.path.join(target, "*.cpp")):
        h_path = cpp_path[:-4] + ".h"
        if not os.path.isfile(h_path):
            continue
        cpp, h = open(cpp_path).read(), open(h_path).read()
        if "::handle(nest::SpikeEvent &e)" not in cpp:
            continue
        for name, rewrite in REWRITES:
            try:
                cpp, h = rewrite(cpp, h)
                done.append(name)
            except Mismatch as e:
                result.setdefault("skipped", []).append("%s (%s)" % (name, e))
        open(cpp_path, "w").write(cpp)
        open(h_path, "w").write(h)
    return done

try:
    from pynestml.frontend.pynestml_frontend import generate_target
    from pynestml.utils.logger import Logger, LoggingLevel
    if args.get("optimise_spike_input"):
        from pynestml.codegeneration import nest_builder
        _build = nest_builder.NESTBuilder.build
        def _optimised_build(self, *a, **k):
            result["optimised"] = optimise_spike_input(args["target_path"])
            return _build(self, *a, **k)
        nest_builder.NESTBuilder.build = _optimised_build
    try:
        result["flag"] = bool(generate_target(
            input_path=args["input_path"], target_platform="NEST", target_path=args["target_path"],
            install_path=args["install_path"], logging_level="WARNING", module_name=args["module_name"],
            suffix=args["suffix"], codegen_opts=args["codegen_opts"]))
    finally:
        for entry in Logger.get_messages(level=LoggingLevel.ERROR):
            artifact, node, level, code, pos, message = entry
            line = col = None
            if pos is not None:
                try:
                    line, col = pos.get_start_line(), pos.get_start_column()
                except Exception:
                    pass
            result["errors"].append({"file": artifact, "line": line, "col": col, "message": str(message)})
except BaseException as e:
    result["exception"] = "%s: %s" % (type(e).__name__, e)
    result["traceback"] = traceback.format_exc()
with open(args["result_file"], "w") as fh:
    json.dump(result, fh)
"""


def _syntax_errors_from_log(text: str, model_path: str) -> list[str]:
    """ANTLR/NESTML messages with positions found in the generator's output."""
    found = []
    for ln in text.splitlines():
        if "ERROR" in ln or "Error" in ln or "error" in ln:
            m = re.search(r"\[(\d+):(\d+)", ln)
            if m:
                found.append(f"{model_path}:{m.group(1)}:{m.group(2)}: {ln.strip()}")
    return found


def _format_errors(errors: list[dict], model_path: str) -> list[str]:
    out = []
    for e in errors:
        where = model_path
        if e.get("line") is not None:
            where += f":{e['line']}"
            if e.get("col") is not None:
                where += f":{e['col']}"
        out.append(f"{where}: {e['message']}")
    return out


def _compile(model_path: Path, source: bytes, facts: dict, python: str, workdir: Path, log_file: Path, say) -> dict:
    """Generate and compile into ``workdir``; leaves ``workdir/<MODULE_NAME>.so``.

    The generator's and compiler's output goes to ``log_file`` (kept on failure).
    """
    nest_home = workdir / "nest"
    (nest_home / "bin").mkdir(parents=True)
    cfg = nest_home / "bin" / "nest-config"
    cfg.write_text(_nest_config_text(facts, python))
    cfg.chmod(0o755)
    src_copy = workdir / "model" / model_path.name
    src_copy.parent.mkdir()
    src_copy.write_bytes(source)
    args = {
        "input_path": str(src_copy),
        "target_path": str(workdir / "target"),
        "install_path": str(workdir / "install"),
        "module_name": MODULE_NAME,
        "suffix": MODEL_SUFFIX,
        "codegen_opts": {"nest_version": "v" + facts["version"], "nest_path": str(nest_home)},
        "result_file": str(workdir / "generate-result.json"),
        "optimise_spike_input": list(OPTIMISE_SPIKE_INPUT),
    }
    env = child_env({"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")})
    say(f"generating and compiling {model_path.name} for NEST {facts['version']} (20-60 s) ...")
    with open(log_file, "w") as log_fh:
        try:
            proc = subprocess.run(
                [python, "-c", _GENERATE_SCRIPT, json.dumps(args)],
                stdout=log_fh, stderr=subprocess.STDOUT, cwd=workdir, env=env, timeout=1800,
            )
        except subprocess.TimeoutExpired as e:
            raise BuildError(f"NESTML build timed out after {e.timeout} s; log: {log_file}") from e
    log_text = log_file.read_text(errors="replace")
    try:
        res = json.loads(Path(args["result_file"]).read_text())
    except (OSError, ValueError):
        res = {"errors": [], "exception": f"generator exited with code {proc.returncode}", "flag": None}
    shown = str(model_path)
    errors = _format_errors(res.get("errors", []), shown)
    if not errors and (res.get("flag") or res.get("exception")):
        errors = _syntax_errors_from_log(log_text, shown)
    exc = res.get("exception") or ""
    if "ModuleNotFoundError" in exc and "pynestml" in exc:
        raise BuildError(f"NESTML is not installed for {python}. {NESTML_INSTALL_HINT}")
    if errors:
        raise BuildError(
            f"NESTML rejected the model {shown}:\n  " + "\n  ".join(errors[:20]) + f"\n(full log: {log_file})"
        )
    if exc:
        tail = "\n".join(log_text.strip().splitlines()[-40:])
        hint = ""
        if "cmake" in exc.lower() or "make" in exc.lower():
            missing = _missing_headers()
            pk = ", ".join(sorted(set(missing.values()))) if missing else None
            hint = (
                "\nThe C++ build of the generated code failed. Compiling needs the Debian packages "
                f"{', '.join(DEBIAN_PACKAGES)} (`{APT_LINE}`)"
                + (f"; missing headers from: {pk}" if pk else "")
                + "."
            )
        raise BuildError(f"NESTML build failed: {exc}{hint}\nLast lines of {log_file}:\n{tail}")
    if res.get("flag"):
        tail = "\n".join(log_text.strip().splitlines()[-40:])
        raise BuildError(f"NESTML reported errors building {shown}; last lines of {log_file}:\n{tail}")
    skipped = res.get("skipped") or []
    if OPTIMISE_SPIKE_INPUT and skipped:
        say("note: the generated spike input did not have the expected form for " + "; ".join(skipped)
            + "; built that part as generated (correct, but slower than iaf_psc_exp)")
    so = workdir / "install" / f"{MODULE_NAME}.so"
    if not so.is_file():
        tail = "\n".join(log_text.strip().splitlines()[-40:])
        raise BuildError(f"NESTML finished but produced no {so.name}; last lines of {log_file}:\n{tail}")
    shutil.copy2(so, workdir / f"{MODULE_NAME}.so")
    # keep the generated sources for inspection, drop the cmake build tree
    gen = workdir / "generated"
    gen.mkdir()
    for f in (workdir / "target").glob("*"):
        if f.is_file() and (f.suffix in (".cpp", ".h") or f.name == "CMakeLists.txt"):
            shutil.copy2(f, gen / f.name)
    for junk in ("target", "install", "report"):
        shutil.rmtree(workdir / junk, ignore_errors=True)
    Path(args["result_file"]).unlink(missing_ok=True)
    return {"applied": res.get("optimised") or [], "skipped": skipped}


# --------------------------------------------------------------------- public


def build_model(
    force: bool = False,
    model_file: str | os.PathLike | None = None,
    cache_dir: str | None = None,
    python: str | None = None,
    log=None,
) -> BuildResult:
    """Build (or fetch from the cache) the NEST module holding the NESTML neuron.

    ``python`` is the interpreter whose NEST the module is for (default: this one).
    ``force`` rebuilds even when the cache is current. Under MPI with more than one rank
    nothing is ever built: the cached module is returned, or :class:`BuildError` raised.
    """
    t0 = time.perf_counter()
    say = _logger(log)
    model_path = Path(model_file) if model_file is not None else default_model_file()
    model_path = model_path.expanduser().resolve()
    try:
        source = model_path.read_bytes()
    except OSError as e:
        raise BuildError(f"Cannot read the model file {model_path}: {e.strerror}") from e
    model = _model_name_from_source(source.decode("utf-8", "replace"), model_path) + MODEL_SUFFIX
    cache_root = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    cache_root = cache_root.resolve()
    python = _resolve_python(python)
    ranks = mpi_world_size_from_env()

    facts = _nest_facts(python, cache_root, allow_probe=ranks <= 1)
    inputs = _cache_key(source, facts, python)
    key = f"{model}-{_sha(json.dumps(inputs, sort_keys=True).encode())[:16]}"
    directory = cache_root / key

    if not force:
        stamp = _valid_stamp(directory, key, inputs)
        if stamp:
            return _result(directory, stamp, True, t0)
    if ranks > 1:
        stale = " (the cached one is incomplete or stale)" if directory.exists() else ""
        raise BuildError(
            f"The module for {model} is not built for this NEST{stale}, and this process is one of "
            f"{ranks} MPI ranks: building under MPI would make every rank compile into the same folder.\n"
            f"Run `balanced build` first, in a single process (same environment, cache {cache_root})."
        )

    problems = _toolchain_problems()
    if problems:
        raise BuildError(
            "Cannot compile the NESTML model: " + "; ".join(problems) + ".\n"
            f"Install the Debian packages {', '.join(DEBIAN_PACKAGES)}:\n  {APT_LINE}"
        )
    missing = _missing_headers()
    if missing:
        raise BuildError(
            "Cannot compile the NESTML model: missing headers for "
            + ", ".join(f"{lib} ({pkg})" for lib, pkg in missing.items())
            + f".\nInstall the Debian packages {', '.join(DEBIAN_PACKAGES)}:\n  {APT_LINE}"
        )
    if not facts.get("include_dir"):
        raise BuildError(
            f"NEST {facts['version']} at {facts['nest_dir']} ships no C++ headers (include/nest); "
            "a NEST install with headers is needed to compile extension modules."
        )
    if not facts.get("nestml_version"):
        raise BuildError(f"NESTML is not installed for {python}. {NESTML_INSTALL_HINT}")

    with _locked(cache_root / ".locks" / f"{key}.lock", say):
        if not force:
            stamp = _valid_stamp(directory, key, inputs)
            if stamp:  # another process built it while we waited
                return _result(directory, stamp, True, t0)
        workdir = Path(tempfile.mkdtemp(prefix=f".{key}.tmp-", dir=cache_root))
        log_file = cache_root / f"{key}.build.log"
        try:
            tb = time.perf_counter()
            rewrites = _compile(model_path, source, facts, python, workdir, log_file, say)
            os.replace(log_file, workdir / "build.log")
            stamp = {
                "key": key,
                "model": model,
                "module_name": MODULE_NAME,
                "model_file": str(model_path),
                "inputs": inputs,
                "nest_dir": facts["nest_dir"],
                "python": python,
                "build_seconds": round(time.perf_counter() - tb, 3),
                "rewrites": rewrites,
                "built": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
            _write_atomic(workdir / "stamp.json", json.dumps(stamp, indent=1, sort_keys=True))
            if directory.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{key}.old-", dir=cache_root))
                os.replace(directory, old / "x")
                shutil.rmtree(old, ignore_errors=True)
            os.replace(workdir, directory)
        except BaseException:
            shutil.rmtree(workdir, ignore_errors=True)
            raise
    say(f"built {model} into {directory} in {stamp['build_seconds']:.1f} s")
    return _result(directory, stamp, False, t0)


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
    stamp = _read_stamp(Path(result.directory)) or {}
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


def _node_models(nest) -> tuple:
    try:
        return tuple(nest.node_models)
    except Exception:
        return ()


def module_status(model_file=None, cache_dir=None, python: str | None = None) -> dict:
    """A report for ``balanced doctor``: NEST, NESTML, toolchain and the cached module."""
    python = _resolve_python(python)
    cache_root = (Path(cache_dir).expanduser() if cache_dir else default_cache_dir()).resolve()
    status: dict[str, Any] = {
        "python": python,
        "cache_dir": str(cache_root),
        "nest_importable": False,
        "nest_version": None,
        "nest_dir": None,
        "have_mpi": None,
        "have_threads": None,
        "cxx11_abi": None,
        "nest_headers": None,
        "nest_error": None,
        "nestml_version": None,
        "model": None,
        "model_file": None,
        "module_built": False,
        "module_current": False,
        "module_key": None,
        "module_path": None,
        "compiler": shutil.which(_compiler()),
        "cmake": shutil.which(_cmake()),
        "make": shutil.which("make"),
        "headers": {},
        "missing_debian_packages": [],
        "mpi_world_size": mpi_world_size_from_env(),
    }
    missing_pkgs = set()
    if not status["compiler"] or not status["make"]:
        missing_pkgs.add("build-essential")
    if not status["cmake"]:
        missing_pkgs.add("cmake")
    missing_h = _missing_headers()
    status["headers"] = {lib: lib not in missing_h for lib in _HEADERS}
    missing_pkgs |= set(missing_h.values())
    status["missing_debian_packages"] = sorted(missing_pkgs)
    status["apt_get"] = f"sudo apt-get install {' '.join(sorted(missing_pkgs))}" if missing_pkgs else None
    try:
        loc = _locate(python)
        status["nestml_version"] = loc.get("nestml_version")
        facts = _nest_facts(python, cache_root, allow_probe=status["mpi_world_size"] <= 1)
    except BuildError as e:
        status["nest_error"] = str(e)
        return status
    status.update(
        nest_importable=True,
        nest_version=facts["version"],
        nest_dir=facts["nest_dir"],
        have_mpi=facts.get("have_mpi"),
        have_threads=facts.get("have_threads"),
        cxx11_abi=facts.get("cxx11_abi"),
        nest_headers=facts.get("include_dir"),
    )
    try:
        model_path = Path(model_file) if model_file is not None else default_model_file()
        model_path = model_path.expanduser().resolve()
        source = model_path.read_bytes()
        model = _model_name_from_source(source.decode("utf-8", "replace"), model_path) + MODEL_SUFFIX
    except (OSError, BuildError) as e:
        status["nest_error"] = f"model file: {e}"
        return status
    inputs = _cache_key(source, facts, python)
    key = f"{model}-{_sha(json.dumps(inputs, sort_keys=True).encode())[:16]}"
    status.update(model=model, model_file=str(model_path), module_key=key)
    directory = cache_root / key
    if _valid_stamp(directory, key, inputs):
        status.update(module_built=True, module_current=True, module_path=str(directory / MODULE_NAME))
    else:
        # any other build of the same model in the cache is out of date
        others = [d for d in cache_root.glob(f"{model}-*") if d.is_dir() and _read_stamp(d)]
        status["module_built"] = bool(others)
    return status


if __name__ == "__main__":  # `python -m balanced.build [--force]`: build for this interpreter
    import argparse
    import logging

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--force", action="store_true")
    ap.add_argument("--model-file")
    ap.add_argument("--cache-dir")
    ap.add_argument("--python")
    ns = ap.parse_args()
    try:
        r = build_model(force=ns.force, model_file=ns.model_file, cache_dir=ns.cache_dir, python=ns.python)
    except BuildError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
    print(json.dumps(dataclasses.asdict(r), indent=1))
