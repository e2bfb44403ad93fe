"""Make the Gaussian8 benchmark (setting 1) from HR images, as the original DCLS script of the same name:
``python scripts/generate_mod_blur_LR_bic.py --input HR_DIR --output OUT_DIR --scale 4 [--lmdb]`` (installed:
``dcls-gaussian8``)."""

import sys

from dcls.data.cli import gaussian8_main as main

if __name__ == "__main__":
    sys.exit(main())
