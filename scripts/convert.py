"""Convert a Hugging Face checkpoint to jaxnlp's format (same as `jaxnlp convert`).

    python scripts/convert.py SRC DST [--task TASK] [--param-dtype bfloat16]
"""

import sys

from jaxnlp.cli import main

if __name__ == "__main__":
    sys.exit(main(["convert", *sys.argv[1:]]))
