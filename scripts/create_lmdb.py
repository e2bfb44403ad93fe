"""Pack a folder (or glob) of images into an LMDB the datasets read: ``python scripts/create_lmdb.py --input
DIR_OR_GLOB --output X.lmdb`` (installed: ``dcls-create-lmdb``)."""

import sys

from dcls.data.cli import create_lmdb_main as main

if __name__ == "__main__":
    sys.exit(main())
