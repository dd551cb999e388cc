"""Train the paper's A2I model (AMT, + LMX-to-image at 40k, + audio-to-image at 70k).

    python scripts/train_a2i.py --data BAKED_DIR --out runs/a2i [--max-steps N]

Multi-GPU: ``accelerate launch scripts/train_a2i.py ...`` (DDP; the paper used 2 x H100).
"""

import sys

from umust_hf.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", "--recipe", "a2i", *sys.argv[1:]]))
