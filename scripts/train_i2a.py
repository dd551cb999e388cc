"""Train the paper's I2A model (OMR, + MIDI-to-audio at 15k, + image-to-audio at 50k).

    python scripts/train_i2a.py --data BAKED_DIR --out runs/i2a [--max-steps N]

Multi-GPU: ``accelerate launch scripts/train_i2a.py ...`` (DDP; the paper used 2 x H100).
"""

import sys

from umust_hf.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", "--recipe", "i2a", *sys.argv[1:]]))
