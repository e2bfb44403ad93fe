"""The shared ending of the data-preparation scripts: a summary line, or a one-line error and exit status 1."""

from __future__ import annotations

import sys
from typing import Callable

from ..utils.image_io import ImageReadError

USER_ERRORS = (ImageReadError, FileExistsError, FileNotFoundError, KeyError, ValueError, RuntimeError)


def run_tool(prog: str, action: Callable[[], str]) -> int:
    """Run ``action`` and print the summary it returns (exit 0); bad input or data: ``prog: error: ...`` (1)."""
    try:
        summary = action()
    except USER_ERRORS as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    print(summary)
    return 0
