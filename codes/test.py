"""Evaluate DCLS: ``python codes/test.py -opt options/setting1/test/test_setting1_x4.yml [--ensemble]``."""

import sys

from dcls.engine.cli import test_main

if __name__ == "__main__":
    sys.exit(test_main())
