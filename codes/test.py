"""Evaluate DCLS: ``python codes/test.py -opt options/setting1/test/test_setting1_x4.yml [--ensemble]``."""

import sys

from dcls.engine.cli import test_main
from dcls.utils.allocator import keep_freed_memory

if __name__ == "__main__":
    keep_freed_memory()
    sys.exit(test_main())
