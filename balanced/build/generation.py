"""Generate and compile the module in a work folder: NESTML's generator and the C++ build
run as :mod:`balanced.build.in_target.generate` with the target interpreter, its output
in a log file, its result read back and turned into a :class:`BuildError` that names the
model file's line for NESTML's errors and the Debian packages for a failed compile."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from ..launch import child_env
from .base import NESTML_INSTALL_HINT, BuildError
from .in_target import generate as _generate_script
from .toolchain import compile_failure_hint, nest_config_text
from .variants import Variant, codegen_templates

#: The generator script, run by file path (see :mod:`balanced.build.in_target`).
GENERATE_SCRIPT = Path(_generate_script.__file__)


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


def _tail(log_text: str) -> str:
    return "\n".join(log_text.strip().splitlines()[-40:])


def compile_module(
    model_path: Path, source: bytes, facts: dict, python: str, workdir: Path, log_file: Path, say, v: Variant
) -> None:
    """Generate and compile ``source`` into ``workdir``, leaving ``workdir/<module>.so``
    and the generated sources in ``workdir/generated/``.

    The generator's and compiler's output goes to ``log_file`` (kept on failure).
    """
    nest_home = workdir / "nest"
    (nest_home / "bin").mkdir(parents=True)
    cfg = nest_home / "bin" / "nest-config"
    cfg.write_text(nest_config_text(facts, python))
    cfg.chmod(0o755)
    src_copy = workdir / "model" / model_path.name
    src_copy.parent.mkdir()
    src_copy.write_bytes(source)
    codegen_opts: dict = {"nest_version": "v" + facts["version"], "nest_path": str(nest_home)}
    templates = codegen_templates(v)
    if templates is not None:
        codegen_opts["templates"] = templates
    result_file = workdir / "generate-result.json"
    args = {
        "input_path": str(src_copy),
        "target_path": str(workdir / "target"),
        "install_path": str(workdir / "install"),
        "module_name": v.module_name,
        "suffix": v.suffix,
        "codegen_opts": codegen_opts,
        "result_file": str(result_file),
    }
    args_file = workdir / "generate-args.json"
    args_file.write_text(json.dumps(args, indent=1))
    env = child_env({"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")})
    say(f"generating ({v.name} templates) and compiling {model_path.name} for NEST {facts['version']} (20-60 s) ...")
    with open(log_file, "w") as log_fh:
        try:
            proc = subprocess.run(
                [python, str(GENERATE_SCRIPT), str(args_file)],
                stdout=log_fh,
                stderr=subprocess.STDOUT,
                cwd=workdir,
                env=env,
                timeout=1800,
            )
        except subprocess.TimeoutExpired as e:
            raise BuildError(f"NESTML build timed out after {e.timeout} s; log: {log_file}") from e
    log_text = log_file.read_text(errors="replace")
    try:
        res = json.loads(result_file.read_text())
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
        hint = compile_failure_hint() if ("cmake" in exc.lower() or "make" in exc.lower()) else ""
        raise BuildError(f"NESTML build failed: {exc}{hint}\nLast lines of {log_file}:\n{_tail(log_text)}")
    if res.get("flag"):
        raise BuildError(f"NESTML reported errors building {shown}; last lines of {log_file}:\n{_tail(log_text)}")
    so = workdir / "install" / f"{v.module_name}.so"
    if not so.is_file():
        raise BuildError(f"NESTML finished but produced no {so.name}; last lines of {log_file}:\n{_tail(log_text)}")
    shutil.copy2(so, workdir / so.name)
    # keep the generated sources for inspection, drop the cmake build tree
    gen = workdir / "generated"
    gen.mkdir()
    for f in (workdir / "target").glob("*"):
        if f.is_file() and (f.suffix in (".cpp", ".h") or f.name == "CMakeLists.txt"):
            shutil.copy2(f, gen / f.name)
    for junk in ("target", "install", "report"):
        shutil.rmtree(workdir / junk, ignore_errors=True)
    for f in (args_file, result_file):
        f.unlink(missing_ok=True)
