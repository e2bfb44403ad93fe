"""Super-resolve your own images with a trained DCLS model: ``python codes/inference.py -h``."""

import sys

from dcls.inference.cli import main

if __name__ == "__main__":
    sys.exit(main())
