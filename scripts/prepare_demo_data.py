"""Build the demo data set offline from photographs bundled with scikit-image (no download):
``python scripts/prepare_demo_data.py [--output demo_data] [--scales 4]`` (installed: ``dcls-demo-data``)."""

import sys

from dcls.data.cli import demo_data_main as main

if __name__ == "__main__":
    sys.exit(main())
