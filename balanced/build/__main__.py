"""``python -m balanced.build [--force] [--templates stock]``: build for this interpreter."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys

from . import VARIANTS, BuildError, build_model


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    ap = argparse.ArgumentParser(prog="python -m balanced.build", description="Build the NESTML model's NEST module.")
    ap.add_argument("--force", action="store_true", help="rebuild even if the cache is current")
    ap.add_argument("--templates", choices=list(VARIANTS), default="balanced", help="template variant")
    ap.add_argument("--model-file", help="a NESTML file (default: the packaged model)")
    ap.add_argument("--cache-dir", help="module cache folder (default: $BALANCED_CACHE or ~/.cache/balanced/modules)")
    ap.add_argument("--python", help="the interpreter whose NEST the module is for (default: this one)")
    ns = ap.parse_args(argv)
    try:
        r = build_model(
            force=ns.force, model_file=ns.model_file, cache_dir=ns.cache_dir, python=ns.python, templates=ns.templates
        )
    except BuildError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(json.dumps(dataclasses.asdict(r), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
