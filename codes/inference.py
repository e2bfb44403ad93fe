"""Super-resolve your own images with a trained DCLS model: ``python codes/inference.py -h``."""

import sys

from dcls.inference.cli import main
from dcls.utils.allocator import keep_freed_memory

if __name__ == "__main__":
    keep_freed_memory()
    sys.exit(main())
