"""Generate C++ for a NESTML model and compile it into a NEST module (NESTML's own build).

Usage: ``python generate.py ARGS.json``. ARGS.json holds ``input_path``, ``target_path``,
``install_path``, ``module_name``, ``suffix``, ``codegen_opts`` (passed to NESTML as
given, ``templates`` included) and ``result_file``. NESTML's and the compiler's output
goes to stdout/stderr; the result file gets one JSON object: ``flag`` (NESTML's error
flag), ``errors`` (NESTML's messages of level ERROR, each with ``file``, ``line``,
``col`` and ``message``), ``exception`` and ``traceback`` (anything raised).

NESTML keeps global state and may call ``sys.exit``: this runs in its own process.
"""

from __future__ import annotations

import json
import sys
import traceback


def _errors() -> list[dict]:
    from pynestml.utils.logger import Logger, LoggingLevel

    found = []
    for _artifact, _node, _level, _code, pos, message in Logger.get_messages(level=LoggingLevel.ERROR):
        line = col = None
        if pos is not None:
            try:
                line, col = pos.get_start_line(), pos.get_start_column()
            except AttributeError:
                pass
        found.append({"file": _artifact, "line": line, "col": col, "message": str(message)})
    return found


def generate(args: dict) -> dict:
    result: dict = {"errors": [], "exception": None, "traceback": None, "flag": None}
    try:
        from pynestml.frontend.pynestml_frontend import generate_target

        try:
            result["flag"] = bool(
                generate_target(
                    input_path=args["input_path"],
                    target_platform="NEST",
                    target_path=args["target_path"],
                    install_path=args["install_path"],
                    logging_level="WARNING",
                    module_name=args["module_name"],
                    suffix=args["suffix"],
                    codegen_opts=args["codegen_opts"],
                )
            )
        finally:
            result["errors"] = _errors()
    except BaseException as e:  # NESTML may raise anything, or call sys.exit
        result["exception"] = f"{type(e).__name__}: {e}"
        result["traceback"] = traceback.format_exc()
    return result


if __name__ == "__main__":
    with open(sys.argv[1]) as fh:
        arguments = json.load(fh)
    outcome = generate(arguments)
    with open(arguments["result_file"], "w") as fh:
        json.dump(outcome, fh)
