"""Build the demo data set offline from photographs bundled with scikit-image (no download):
``python scripts/prepare_demo_data.py [--output demo_data] [--scales 4]``. A complete earlier build is reused."""

from __future__ import annotations

import argparse
import sys

from dcls.data.cli import run_tool
from dcls.data.demo_data import prepare_demo_data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", "-output", default="demo_data", help="folder to build (default: demo_data)")
    parser.add_argument("--scales", type=int, nargs="+", default=[4], choices=(2, 3, 4), help="Gaussian8 scales")
    parser.add_argument("--force", action="store_true", help="replace even a folder that is no demo build")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)

    def run() -> str:
        built = prepare_demo_data(args.output, tuple(args.scales), force=args.force, progress=not args.quiet)
        return f"{'built' if built else 'reusing'} demo data in {args.output}"

    return run_tool("prepare_demo_data", run)


if __name__ == "__main__":
    sys.exit(main())
