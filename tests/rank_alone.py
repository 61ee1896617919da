"""A torchrun worker for tests/test_distributed.py: `python -m pipeline ARGS...`, where rank 1 alone adds a setting
that does not exist, as a node whose copy of the command or the data differs would meet a refusal alone."""

from __future__ import annotations

import os
import sys

from pipeline.cli import main

if __name__ == "__main__":
    alone = ["--set", "no_such_setting=3"] if os.environ.get("RANK") == "1" else []
    sys.exit(main([*sys.argv[1:], *alone]))
