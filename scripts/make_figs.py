"""Regenerate the README's pictures in figs/ from a trained model: ``python scripts/make_figs.py -h``."""

import sys

from dcls.reports.figures import main

if __name__ == "__main__":
    sys.exit(main())
