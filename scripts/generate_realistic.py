"""Make a benchmark of realistic degradations (random blur, downsampler, noise and JPEG per image; see
dcls/data/realistic.py): ``python scripts/generate_realistic.py --input HR_DIR --output OUT_DIR [--scale 4]
[--seed 0] [--options FILE] [--lmdb]`` (installed: ``dcls-realistic``)."""

import sys

from dcls.data.cli import realistic_main as main

if __name__ == "__main__":
    sys.exit(main())
