import sys
import time

import pipeline

pipeline.PROCESS_STARTED = time.monotonic()

from pipeline.cli import main, reader_gone  # noqa: E402 (after the clock --time-limit counts from)

try:
    status = main()
    sys.stdout.flush()  # what is still buffered, while a closed pipe can be told from a bug
except BrokenPipeError:
    status = reader_gone()
raise SystemExit(status)
