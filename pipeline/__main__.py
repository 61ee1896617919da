import sys

from pipeline.cli import main, reader_gone

try:
    status = main()
    sys.stdout.flush()  # what is still buffered, while a closed pipe can be told from a bug
except BrokenPipeError:
    status = reader_gone()
raise SystemExit(status)
