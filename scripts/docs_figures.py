"""Keep every figure in README.md and docs/*.md traceable to a results file under docs/results/.

A figure is quoted through an inline marker that names its source:

    <!-- fig docs/results/NAME.json key.path FORMAT -->TEXT<!-- /fig -->

``key.path`` walks the JSON (dict keys, and integer indices into lists); FORMAT is a Python format spec
(``.2f``, ``+.2f``, ``d``, ``s``). ``--check`` fails when TEXT differs from the formatted value, when the file or
key is missing, and when a measured-looking figure stands outside any marker or generated block: a decimal
followed by dB, a speed ratio with a decimal (x1.52, 1.5x, ×1.5) or a duration in ms. Generated blocks are
``<!-- name ... -->`` ... ``<!-- /name -->`` (the stability and realistic studies write theirs); fenced code and
HTML comments are not read. Integer thresholds ("15 dB") are definitions and pass. ``--write`` puts the
formatted values into the markers' TEXT.

    python scripts/docs_figures.py --check
    python scripts/docs_figures.py --write
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dcls.utils.image_io import atomic_write_bytes

ROOT = Path(__file__).resolve().parents[1]
DOC_PATTERNS = ("README.md", "docs/*.md")

MARKER = re.compile(r"<!--\s*fig\s+(?P<file>\S+)\s+(?P<key>\S+)\s+(?P<spec>\S+)\s*-->(?P<text>.*?)<!--\s*/fig\s*-->")
OPENING = re.compile(r"<!--\s*(?P<name>[A-Za-z][\w-]*)\b.*?-->", re.S)
COMMENT = re.compile(r"<!--.*?-->", re.S)
FENCE = re.compile(r"^[ \t]*(?P<fence>```+|~~~+)[^\n]*\n.*?^[ \t]*(?P=fence)[ \t]*$", re.S | re.M)
UNTRACED = (
    ("decimal dB figure", re.compile(r"[-+]?\d+\.\d+\s?dB\b")),
    ("speed ratio", re.compile(r"(?<![\w.])x\d+\.\d+\b|\b\d+\.\d+x\b|\d+\.\d+\s?×|×\s?\d+\.\d+")),
    ("duration in ms", re.compile(r"\b\d+(?:\.\d+)?\s?ms\b")),
)


@dataclass(frozen=True)
class Problem:
    """One finding: where it is, what it is, and whether it fails the check."""

    path: str
    line: int
    message: str
    fatal: bool = True

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {'' if self.fatal else 'warning: '}{self.message}"


class FigureError(Exception):
    """A marker's results file or key cannot be read."""


def documents(root: Path) -> list[Path]:
    """README.md and docs/*.md under ``root``, the pages whose figures must be traceable."""
    found: list[Path] = []
    for pattern in DOC_PATTERNS:
        found.extend(sorted(p for p in root.glob(pattern) if p.is_file()))
    return found


def lookup(data: Any, key_path: str) -> Any:
    """The value at ``key_path`` (dot-separated dict keys and list indices) in parsed JSON; FigureError if absent."""
    value = data
    for part in key_path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and re.fullmatch(r"-?\d+", part) and -len(value) <= int(part) < len(value):
            value = value[int(part)]
        else:
            raise FigureError(f"no key {part!r} (of {key_path!r})")
    return value


def formatted(root: Path, file: str, key_path: str, spec: str, cache: dict[str, Any]) -> str:
    """The marker's value as its FORMAT writes it; FigureError for a missing file, key or an unusable spec."""
    if file not in cache:
        path = root / file
        if not path.is_file():
            raise FigureError(f"results file {file} does not exist")
        try:
            cache[file] = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise FigureError(f"results file {file} is not valid JSON: {e}") from e
    value = lookup(cache[file], key_path)
    try:
        return format(value, spec)
    except (TypeError, ValueError) as e:
        raise FigureError(f"{file} {key_path} = {value!r} cannot be formatted as {spec!r}: {e}") from e


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def hidden_spans(text: str) -> list[tuple[int, int]]:
    """Character spans the lint skips: named blocks (``<!-- name -->`` to ``<!-- /name -->``, fig markers
    included), every HTML comment and every fenced code block."""
    spans = [m.span() for m in FENCE.finditer(text)]
    spans += [m.span() for m in COMMENT.finditer(text)]
    for opening in OPENING.finditer(text):
        name = opening.group("name")
        closing = re.compile(r"<!--\s*/" + re.escape(name) + r"\s*-->").search(text, opening.end())
        if closing:
            spans.append((opening.start(), closing.end()))
    return spans


def untraced(text: str) -> list[tuple[int, str, str]]:
    """(line, kind, figure) of every measured-looking figure outside blocks, comments and code."""
    visible = list(text)
    for start, end in hidden_spans(text):
        visible[start:end] = [c if c == "\n" else " " for c in text[start:end]]
    shown = "".join(visible)
    found = []
    for kind, pattern in UNTRACED:
        found += [(_line(shown, m.start()), kind, m.group(0)) for m in pattern.finditer(shown)]
    return sorted(found)


def check_document(root: Path, path: Path, cache: dict[str, Any]) -> list[Problem]:
    """The problems of one page: markers that disagree with their results file, and untraced figures."""
    text = path.read_text(encoding="utf-8")
    rel = path.relative_to(root).as_posix()
    problems = []
    for m in MARKER.finditer(text):
        where = f"fig {m['file']} {m['key']}"
        try:
            want = formatted(root, m["file"], m["key"], m["spec"], cache)
        except FigureError as e:
            problems.append(Problem(rel, _line(text, m.start()), f"{where}: {e}"))
            continue
        if m["text"] != want:
            message = f"{where}: says {m['text']!r}, the file gives {want!r}"
            problems.append(Problem(rel, _line(text, m.start()), message))
    first: dict[str, int] = {}
    for m in MARKER.finditer(text):
        first.setdefault(m["file"], _line(text, m.start()))
    for file, line in sorted(first.items()):
        if isinstance(cache.get(file), dict) and cache[file].get("placeholder"):
            problems.append(Problem(rel, line, f"{file} holds placeholder values: regenerate it with the script that "
                                    f"measures it ({cache[file].get('generated_by', 'see the file')})", fatal=False))
    for line, kind, figure in untraced(text):
        problems.append(Problem(rel, line, f"untraced {kind} {figure!r}: quote it with a fig marker"))
    return problems


def check(root: Path = ROOT) -> list[Problem]:
    """Every problem in README.md and docs/*.md under ``root``."""
    cache: dict[str, Any] = {}
    problems: list[Problem] = []
    for path in documents(root):
        problems += check_document(root, path, cache)
    return problems


def write(root: Path = ROOT) -> list[Path]:
    """Put each marker's formatted value into its TEXT (markers that cannot be resolved stay as they are);
    returns the pages that changed."""
    cache: dict[str, Any] = {}
    changed = []
    for path in documents(root):
        text = path.read_text(encoding="utf-8")

        def fill(m: re.Match[str]) -> str:
            try:
                value = formatted(root, m["file"], m["key"], m["spec"], cache)
            except FigureError:
                return m.group(0)
            return m.group(0)[: m.start("text") - m.start()] + value + m.group(0)[m.end("text") - m.start():]

        new = MARKER.sub(fill, text)
        if new != text:
            atomic_write_bytes(path, new.encode("utf-8"))
            changed.append(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    """Command line: ``--check`` (exit 1 on any failing problem) or ``--write``."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="report disagreeing markers and untraced figures")
    mode.add_argument("--write", action="store_true", help="rewrite the markers' TEXT from the results files")
    parser.add_argument("--root", type=Path, default=ROOT, help="repository root (default: this script's)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    if args.write:
        for path in write(root):
            print(f"updated {path.relative_to(root).as_posix()}")
    problems = check(root)
    for problem in problems:
        print(problem, file=sys.stderr)
    failing = [p for p in problems if p.fatal]
    if failing:
        print(f"{len(failing)} figure problem(s) in README.md and docs/*.md", file=sys.stderr)
        return 1
    if args.check:
        print(f"figures traceable in {len(documents(root))} page(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
