"""Train DCLS: ``python codes/train.py -opt options/setting1/train/train_setting1_x4.yml``.

Distributed: ``torchrun --nproc_per_node=N codes/train.py -opt F --launcher pytorch``.
"""

import sys

from dcls.engine.cli import train_main

if __name__ == "__main__":
    sys.exit(train_main(process_ends=True))
