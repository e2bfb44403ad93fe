"""``dcls.archs`` is the reference network: no speed tricks, every ``forward`` out of place."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ARCHS = Path(__file__).resolve().parents[1] / "codes" / "dcls" / "archs"
FORBIDDEN = ("_apply", "channels_last", "is_grad_enabled", "inference_mode", "addcmul", "no_grad")
IN_PLACE = re.compile(r"^[a-z][a-z0-9_]*[a-z0-9]_$")  # torch's in-place methods: mul_, add_, addcmul_, ...


def offences(source: str) -> list[str]:
    """Forbidden names anywhere, and in-place tensor methods called inside a ``forward``."""
    tree = ast.parse(source)
    found = [f"line {n.lineno}: {name}" for n in ast.walk(tree)
             for name in [getattr(n, "attr", None) or getattr(n, "id", None) or getattr(n, "name", None)]
             if name in FORBIDDEN]
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef) and fn.name == "forward":
            found += [f"line {c.lineno}: in-place {c.func.attr} in forward" for c in ast.walk(fn)
                      if isinstance(c, ast.Call) and isinstance(c.func, ast.Attribute) and IN_PLACE.match(c.func.attr)]
    return found


def test_the_scan_catches_what_it_forbids() -> None:
    bad = "class A:\n    def _apply(self, fn):\n        pass\n    def forward(self, x):\n        return x.mul_(2)\n"
    assert len(offences(bad)) == 2
    assert offences("def forward(x):\n    return x * 2\n") == []


def test_archs_hold_no_speed_tricks() -> None:
    files = sorted(ARCHS.glob("*.py"))
    assert files
    problems = [f"{f.name} {o}" for f in files for o in offences(f.read_text())]
    assert not problems, "\n".join(problems)
