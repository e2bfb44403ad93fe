"""The demo summary: test.py results next to bicubic upsampling (``python scripts/demo_summary.py -h``)."""

import sys

from dcls.reports.demo_summary import main

if __name__ == "__main__":
    sys.exit(main())
