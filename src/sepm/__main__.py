"""``python -m sepm``: the CLI (also what torchrun's ``-m sepm`` and the pipeline's srun launch run)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
