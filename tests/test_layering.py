"""The layers import downwards only: the analysis layer never reaches the command line,
and importing the package (or its NEST-free modules) loads neither NEST, NESTML nor mpi4py."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import balanced
import balanced.analysis

HEAVY = ("nest", "pynestml", "mpi4py")


def imported_after(code: str) -> set[str]:
    """The top-level module names a fresh interpreter has imported after running ``code``."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    return set(json.loads(proc.stdout.strip().splitlines()[-1]))


def submodules(package) -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(package.__path__, package.__name__ + "."))


def test_importing_balanced_loads_no_simulator():
    assert not imported_after("import balanced") & set(HEAVY)


def test_analysis_modules_do_not_import_the_command_line():
    modules = [m for m in submodules(balanced.analysis) if not m.endswith(".__main__")]
    assert "balanced.analysis.stats" in modules and "balanced.analysis.worker" in modules
    code = "\n".join(f"import {m}" for m in modules)
    probe = code + "\nimport sys\nassert 'balanced.cli' not in sys.modules, 'balanced.cli imported'"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert not imported_after(code) & set(HEAVY)


def test_nest_free_stages_load_no_simulator():
    stages = [
        "balanced.params",
        "balanced.derived",
        "balanced.theory",
        "balanced.rundir",
        "balanced.transaction",
        "balanced.launch",
        "balanced.memory",
        "balanced.choices",
        "balanced.interrupt",
        "balanced.cli",
    ]
    assert not imported_after("\n".join(f"import {m}" for m in stages)) & set(HEAVY)


def test_every_subpackage_is_in_the_wheel():
    import tomllib
    from pathlib import Path

    root = Path(balanced.__file__).parent
    listed = set(tomllib.loads((root.parent / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        "balanced." + ".".join(p.parent.relative_to(root).parts) if p.parent != root else "balanced"
        for p in root.rglob("__init__.py")
        if "nestml-templates" not in p.parts
    }
    assert found - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
