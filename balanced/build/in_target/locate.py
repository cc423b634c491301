"""Where this interpreter's NEST and NESTML are, without importing either (a few ms).

Prints one JSON object: ``python``, ``nest_dir``, ``kernel_so`` (``[path, size, mtime_ns]``
of NEST's ``nestkernel_api`` library, the fingerprint of that NEST), ``nestml_version``
and ``nestml_dir`` (the ``pynestml`` package folder).
"""

from __future__ import annotations

import glob
import importlib.metadata
import importlib.util
import json
import os
import sys


def package_dir(name: str) -> str | None:
    """The folder of the top-level package ``name`` on this ``sys.path``, not imported."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return os.path.realpath(list(spec.submodule_search_locations)[0])


def locate() -> dict:
    out: dict = {
        "python": sys.executable,
        "nest_dir": package_dir("nest"),
        "kernel_so": None,
        "nestml_version": None,
        "nestml_dir": package_dir("pynestml"),
    }
    if out["nest_dir"]:
        so = sorted(glob.glob(os.path.join(out["nest_dir"], "nestkernel_api*.so")))
        if so:
            st = os.stat(so[0])
            out["kernel_so"] = [so[0], st.st_size, st.st_mtime_ns]
    try:
        out["nestml_version"] = importlib.metadata.version("nestml")
    except importlib.metadata.PackageNotFoundError:
        pass
    return out


if __name__ == "__main__":
    print(json.dumps(locate()))
