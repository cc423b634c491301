"""The C++ toolchain: compiler, cmake, headers, flags, and the ``nest-config`` shim.

Why the shim: the ``nest-config`` of a NEST wheel reports the wheel build machine's
prefix, compiler and libraries. The build writes a corrected ``bin/nest-config`` (real
include directory, ``-D_GLIBCXX_USE_CXX11_ABI`` matched to the loaded NEST, ``-fopenmp``,
g++) into its work folder and points NESTML at it with ``codegen_opts["nest_path"]``.
Linking needs no NEST library: the kernel symbols resolve from the already loaded
``nestkernel_api`` module.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from .base import CMAKE_ENV, CXX_ENV, BuildError

DEBIAN_PACKAGES = ("build-essential", "cmake", "libboost-dev", "libltdl-dev", "libgsl-dev")
APT_LINE = "sudo apt-get install " + " ".join(DEBIAN_PACKAGES)

#: Header files whose absence is reported, with the Debian package that provides them.
HEADERS = {
    "boost": ("boost/version.hpp", "libboost-dev"),
    "ltdl": ("ltdl.h", "libltdl-dev"),
    "gsl": ("gsl/gsl_version.h", "libgsl-dev"),
}


def compiler() -> str:
    return os.environ.get(CXX_ENV, "g++")


def cmake() -> str:
    return os.environ.get(CMAKE_ENV, "cmake")


def toolchain_problems() -> list[str]:
    """One phrase per missing tool (compiler, cmake, make)."""
    problems = []
    cxx, cm = compiler(), cmake()
    if not shutil.which(cxx):
        problems.append(f"C++ compiler `{cxx}` not found (package build-essential)")
    if not shutil.which(cm):
        problems.append(f"`{cm}` not found (package cmake)")
    if not shutil.which("make"):
        problems.append("`make` not found (package build-essential)")
    return problems


def _header_dirs() -> list[str]:
    dirs = []
    for var in ("CPATH", "CPLUS_INCLUDE_PATH", "C_INCLUDE_PATH"):
        dirs += [d for d in os.environ.get(var, "").split(os.pathsep) if d]
    return dirs + ["/usr/local/include", "/usr/include"]


def missing_headers() -> dict[str, str]:
    """{library: debian package} for headers not found in the usual include dirs."""
    missing = {}
    for lib, (header, pkg) in HEADERS.items():
        if not any(os.path.isfile(os.path.join(d, header)) for d in _header_dirs()):
            missing[lib] = pkg
    return missing


def check(facts: dict, python: str) -> None:
    """Raise :class:`BuildError` naming what is missing to compile a module for ``facts``."""
    problems = toolchain_problems()
    if problems:
        raise BuildError(
            "Cannot compile the NESTML model: " + "; ".join(problems) + ".\n"
            f"Install the Debian packages {', '.join(DEBIAN_PACKAGES)}:\n  {APT_LINE}"
        )
    missing = missing_headers()
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


def compile_failure_hint() -> str:
    """What to install when the C++ build of generated code failed."""
    missing = missing_headers()
    pk = ", ".join(sorted(set(missing.values()))) if missing else None
    return (
        "\nThe C++ build of the generated code failed. Compiling needs the Debian packages "
        f"{', '.join(DEBIAN_PACKAGES)} (`{APT_LINE}`)" + (f"; missing headers from: {pk}" if pk else "") + "."
    )


def _mpi_compile_flags() -> list[str]:
    """Include flags for mpi.h (needed when NEST's headers include it)."""
    for cmd in (["mpicxx", "--showme:compile"], ["mpicxx", "-compile_info"]):
        if shutil.which(cmd[0]):
            try:
                out = subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout
            except (OSError, subprocess.TimeoutExpired):
                continue
            flags = [f for f in out.split() if f.startswith(("-I", "-D", "-pthread"))]
            if flags:
                return flags
    return []


def cflags(facts: dict) -> list[str]:
    """Compiler flags for a module for the NEST of ``facts`` (part of the cache key)."""
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


def nest_config_text(facts: dict, python: str) -> str:
    """A ``nest-config`` shell script answering NESTML's questions with real values."""
    flags = cflags(facts)
    if facts.get("have_mpi"):
        flags += [f for f in _mpi_compile_flags() if not f.startswith("-I")]
    answers = {
        "--prefix": facts["nest_dir"],
        "--exec-prefix": facts["nest_dir"],
        "--libs": "-fopenmp" if facts.get("have_threads") else "",
        "--cflags": " ".join(flags),
        "--includes": " ".join(_include_flags(facts)),
        "--compiler": shutil.which(compiler()) or compiler(),
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
