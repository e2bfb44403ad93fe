"""Make a DIV2KRK-style benchmark (setting 2, KernelGAN's protocol; see dcls/data/div2krk.py):
``python scripts/generate_div2krk.py --input HR_DIR --output OUT_DIR --seed 0 [--lmdb]``
(installed: ``dcls-div2krk``)."""

import sys

from dcls.data.cli import div2krk_main as main

if __name__ == "__main__":
    sys.exit(main())
