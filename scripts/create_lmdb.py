"""Pack a folder (or glob) of images into an LMDB the datasets read: ``python scripts/create_lmdb.py --input
DIR_OR_GLOB --output X.lmdb``. Keys are the images' base names; metadata goes to ``X.lmdb/meta_info.json``."""

from __future__ import annotations

import argparse
import sys

from dcls.data.cli import run_tool
from dcls.data.lmdb_io import create_lmdb
from dcls.utils.image_io import list_images


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", "-input", "-input_dir", required=True, help="image folder (recursive) or glob")
    parser.add_argument("--output", "-output", required=True, help="the LMDB to create (a path ending in .lmdb)")
    parser.add_argument(
        "--compress-level",
        type=int,
        default=0,
        choices=range(10),
        metavar="{0..9}",
        help="0: raw pixels (fastest to read, default); 1-9: PNG with that zlib level (smaller, slower to read)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing LMDB at --output")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    def run() -> str:
        paths = list_images(args.input)
        records = create_lmdb(
            paths, args.output, compress_level=args.compress_level, overwrite=args.overwrite, progress=not args.quiet
        )
        return f"wrote {len(records)} images to {args.output}"

    return run_tool("create_lmdb", run)


if __name__ == "__main__":
    sys.exit(main())
