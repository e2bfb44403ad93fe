"""Estimated vs ground-truth kernels of a benchmark as a PNG sheet: ``python scripts/plot_kernels.py -h``."""

import sys

from dcls.reports.kernel_report import main

if __name__ == "__main__":
    sys.exit(main())
