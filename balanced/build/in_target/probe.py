"""Import NEST (in this process only) and print its build facts.

Prints one line ``BALANCED_PROBE {json}``: ``ok`` and, when NEST imported, its
``version``, ``have_mpi``, ``have_threads``, ``have_gsl``, ``ndebug``, ``threads_model``,
``prefix``, ``nest_dir``, ``kernel_so``, ``cxx11_abi`` (whether the kernel library uses
the C++11 string ABI) and ``include_dir`` (NEST's C++ headers, or None).
"""

from __future__ import annotations

import glob
import json
import os
import sys

MARKER = "BALANCED_PROBE "


def _finish(result: dict) -> None:
    print(MARKER + json.dumps(result))
    sys.stdout.flush()
    os._exit(0)  # skip NEST's (and MPI's) interpreter shutdown: nothing is left to do


def probe() -> None:
    try:
        import nest
    except BaseException as e:  # NEST may raise anything, or exit, at import
        _finish({"ok": False, "error": f"{type(e).__name__}: {e}"})
    bi = dict(nest.build_info)
    d = os.path.realpath(os.path.dirname(nest.__file__))
    so = sorted(glob.glob(os.path.join(d, "nestkernel_api*.so")))
    abi = None
    if so:
        with open(so[0], "rb") as fh:
            abi = b"B5cxx11" in fh.read()
    candidates = [os.path.join(d, "include", "nest")]  # the wheel's layout
    if bi.get("prefix"):
        candidates.append(os.path.join(bi["prefix"], "include", "nest"))
    inc = next(
        (
            c
            for c in candidates
            if os.path.isfile(os.path.join(c, "nest_types.h")) or os.path.isfile(os.path.join(c, "config.h"))
        ),
        None,
    )
    _finish(
        {
            "ok": True,
            "version": str(getattr(nest, "__version__", None) or bi.get("version")),
            "have_mpi": bool(bi.get("have_mpi")),
            "have_threads": bool(bi.get("have_threads")),
            "have_gsl": bool(bi.get("have_gsl")),
            "ndebug": bool(bi.get("ndebug", True)),
            "threads_model": str(bi.get("threads_model", "")),
            "prefix": str(bi.get("prefix")),
            "nest_dir": d,
            "kernel_so": so[0] if so else None,
            "cxx11_abi": abi,
            "include_dir": inc,
        }
    )


if __name__ == "__main__":
    probe()
