"""The documentation against the code: what README.md and docs/*.md name must exist.

Checked without running anything heavy (no NEST): every option of a `balanced VERB ...`
or `python -m balanced.MODULE ...` command in a code block or inline code exists in the
real parser, every `--set KEY=...` key is a parameter, every `benchmarks/*.py --option`
appears in that script's source, every repository path and link names a file that exists,
every `make TARGET` is a Makefile target, and every dotted `balanced.x.y` name resolves.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import io
import re
import shlex
from pathlib import Path

import pytest

from balanced import params
from balanced.cli import EXPERIMENTS, make_parser

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TOP = {p.name for p in ROOT.iterdir() if not p.name.startswith(".")} - {"runs"}
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
INLINE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
LINK = re.compile(r"\]\(([^)\s]+)\)")
STOPS = {"|", "||", "&&", ";", ">", ">>", "2>&1", "&"}
PLACEHOLDERS = {"k", "key", "KEY"}  # `--set key=value` in prose


def _pages() -> list[tuple[str, str]]:
    return [(p.relative_to(ROOT).as_posix(), p.read_text()) for p in PAGES]


def _commands(text: str) -> list[str]:
    """Shell command lines: code-block lines (continuations joined) and inline code spans."""
    lines = []
    for block in FENCE.findall(text):
        lines += block.replace("\\\n", " ").splitlines()
    prose = FENCE.sub("", text)
    verbs = _verbs()
    for span in INLINE.findall(prose):
        words = span.split()
        # `run --quiet` in prose: a verb and its option without the program's name
        lines.append(f"balanced {span}" if len(words) > 1 and words[0] in verbs and words[1][:2] == "--" else span)
    return [re.sub(r"(^|\s)#.*", "", line).strip() for line in lines]


def _tokens(line: str) -> list[str]:
    try:
        tokens = shlex.split(line)
    except ValueError:
        tokens = line.split()
    for i, tok in enumerate(tokens):
        if tok in STOPS:
            return tokens[:i]
    return tokens


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {s for a in parser._actions for s in a.option_strings}


@functools.cache
def _verbs() -> frozenset[str]:
    return frozenset(_subparsers(make_parser()))


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            return dict(a.choices)
    return {}


def _module_options(module: str) -> set[str]:
    """Options in the usage and help of `python -m balanced.MODULE --help` (run in-process)."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf), contextlib.suppress(SystemExit):
        importlib.import_module(f"balanced.{module}").main(["--help"])
    return set(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", buf.getvalue()))


def _flags(tokens: list[str]) -> list[str]:
    """The options among `tokens`, also inside a usage line's brackets: `[--out DIR]`."""
    tokens = [t.strip("[](),") for t in tokens]
    return [t.split("=", 1)[0] for t in tokens if re.match(r"--?[A-Za-z]", t)]


def _set_keys(tokens: list[str]) -> list[str]:
    keys = []
    for i, tok in enumerate(tokens):
        if tok == "--set" and i + 1 < len(tokens):
            keys.append(tokens[i + 1].split("=", 1)[0])
        elif tok.startswith("--set="):
            keys.append(tok[len("--set=") :].split("=", 1)[0])
    return keys


def _balanced_commands():
    """(page, command, options it uses, options that exist, --set keys) of every mention."""
    top = make_parser()
    verbs = _subparsers(top)
    module_cache: dict[str, set[str]] = {}
    found = []
    for page, text in _pages():
        for line in _commands(text):
            tokens = _tokens(line)
            for i, tok in enumerate(tokens):
                rest = tokens[i + 1 :]
                python_import = i > 0 and tokens[i - 1].strip("\"'") in ("from", "import")
                if (tok == "balanced" and not python_import) or tok.endswith("/balanced"):
                    # global options, then the verb
                    j = 0
                    while j < len(rest) and rest[j].startswith("-"):
                        j += 2 if rest[j] == "--log-file" else 1
                    if j >= len(rest) or not re.fullmatch(r"[a-z][a-z-]*", rest[j]):
                        if j:  # `balanced -v ...`: the global options alone
                            found.append((page, line, _flags(rest[:j]), _options(top), []))
                        break
                    verb, args = rest[j], rest[j + 1 :]
                    if verb not in verbs:
                        found.append((page, line, [verb], set(verbs), []))
                        continue
                    parser = verbs[verb]
                    allowed = _options(top) | _options(parser)
                    subs = _subparsers(parser)
                    if verb == "experiment" and args and args[0] in EXPERIMENTS:
                        module = EXPERIMENTS[args[0]][0]
                        allowed |= module_cache.setdefault(module, _module_options(module))
                        args = args[1:]
                    elif subs and args and args[0] in subs:
                        allowed |= _options(subs[args[0]])
                        args = args[1:]
                    found.append((page, line, _flags(rest[:j]) + _flags(args), allowed, _set_keys(args)))
                    break
                if tok == "-m" and rest and rest[0].startswith("balanced."):
                    module = rest[0][len("balanced.") :]
                    allowed = module_cache.setdefault(module, _module_options(module))
                    found.append((page, line, _flags(rest[1:]), allowed, _set_keys(rest[1:])))
                    break
    return found


def test_every_balanced_command_in_the_docs_uses_real_options():
    commands = _balanced_commands()
    assert len(commands) > 50  # the scan still finds the docs' commands
    keys = {k for k, *_ in params.describe()}
    wrong = []
    for page, line, used, allowed, set_keys in commands:
        wrong += [f"{page}: `{line}`: {opt} (allowed: {sorted(allowed)})" for opt in used if opt not in allowed]
        wrong += [f"{page}: `{line}`: --set {k}: not a parameter" for k in set_keys if k not in keys | PLACEHOLDERS]
    assert not wrong, "\n".join(wrong)


def test_every_benchmark_option_in_the_docs_is_in_its_script():
    mentions = 0
    wrong = []
    for page, text in _pages():
        for line in _commands(text):
            tokens = _tokens(line)
            for i, tok in enumerate(tokens):
                if re.fullmatch(r"benchmarks/[\w/]+\.py", tok):
                    script = ROOT / tok
                    if not script.is_file():
                        wrong.append(f"{page}: `{line}`: {tok} does not exist")
                        break
                    source = script.read_text() + (ROOT / "benchmarks" / "_common.py").read_text()
                    for opt in _flags(tokens[i + 1 :]):
                        mentions += 1
                        if f'"{opt}"' not in source and f"'{opt}'" not in source:
                            wrong.append(f"{page}: `{line}`: {opt} is not an option of {tok}")
                    break
    assert mentions > 10
    assert not wrong, "\n".join(wrong)


def _makefile_targets() -> set[str]:
    return set(re.findall(r"^([A-Za-z][\w-]*):", (ROOT / "Makefile").read_text(), flags=re.M))


def test_every_make_target_in_the_docs_exists():
    targets = _makefile_targets()
    wrong, mentions = [], 0
    for page, text in _pages():
        for line in _commands(text):
            tokens = _tokens(line)
            if len(tokens) >= 2 and tokens[0] == "make":
                mentions += 1
                if tokens[1] not in targets:
                    wrong.append(f"{page}: `{line}`: no target {tokens[1]!r} (Makefile: {sorted(targets)})")
    assert mentions >= 5
    assert not wrong, "\n".join(wrong)


def _repo_path(span: str) -> str | None:
    """`span` as a repository path to check, or None (not a path, or a placeholder)."""
    span = span.split("::", 1)[0].rstrip("/")
    if not re.fullmatch(r"[\w.*/+-]+", span) or span.split("/", 1)[0] not in TOP:
        return None
    if "/" not in span and "." not in span and span not in {"Makefile", "LICENSE"}:
        return None  # a bare word such as `balanced` or `models`
    return span


def test_every_repository_path_and_link_in_the_docs_exists():
    wrong, checked = [], 0
    for page, text in _pages():
        here = (ROOT / page).parent
        for target in LINK.findall(text):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            checked += 1
            if not (here / target.split("#", 1)[0]).exists():
                wrong.append(f"{page}: link ({target}) does not exist")
        for span in INLINE.findall(FENCE.sub("", text)):
            for word in span.split():
                path = _repo_path(word.strip(",;()"))
                if path is None:
                    continue
                checked += 1
                if not (list(ROOT.glob(path)) if "*" in path else (ROOT / path).exists()):
                    wrong.append(f"{page}: `{span}`: {path} does not exist")
                elif "::" in word:
                    test = word.split("::", 1)[1].strip(",;()")
                    if not re.search(rf"^def {re.escape(test)}\(", (ROOT / path).read_text(), flags=re.M):
                        wrong.append(f"{page}: `{span}`: no test {test} in {path}")
    assert checked > 50
    assert not wrong, "\n".join(wrong)


def _resolves(name: str) -> bool:
    parts = name.split(".")
    for n in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:n]))
        except ImportError:
            continue
        for attr in parts[n:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


@pytest.mark.parametrize("page", [p.relative_to(ROOT).as_posix() for p in PAGES])
def test_every_dotted_balanced_name_in_the_docs_resolves(page):
    text = (ROOT / page).read_text()
    names = sorted({m for m in re.findall(r"`(balanced(?:\.[A-Za-z_]\w*)+)", text)})
    wrong = [name for name in names if not _resolves(name)]
    assert not wrong, f"{page}: these names do not exist: {wrong}"
