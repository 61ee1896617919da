"""`python -m pipeline COMMAND ...`: each command is a module in pipeline/commands with add_parser() and main()."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
import time
import traceback

from pipeline import distributed
from pipeline.atomic import write_json
from pipeline.contract import ContractError

# Explicit list, in the order --help shows them. Each module defines HELP, add_arguments(parser) and main(args).
COMMANDS = (
    "new",
    "run",
    "list",
    "runs",
    "ensemble",
    "download",
    "validate",
    "submit",
    "submissions",
    "tune",
    "drift",
    "weights",
    "predict",
    "package",
    "push",
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every available command."""
    parser = argparse.ArgumentParser(
        prog="python -m pipeline",
        description="From a raw Kaggle competition download to a validated, ensembled submission.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f"pipeline.commands.{name}")
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_main=module.main)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run a command; contract errors print a message and exit 2."""
    args = build_parser().parse_args(argv)
    try:
        return int(args._main(args) or 0)
    except BrokenPipeError:
        return reader_gone()
    except ContractError as e:
        return refuse(str(e), consequence=isinstance(e, distributed.PeerStopped))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        message = bad_input_message(e)
        if message is None:
            torchrun_error(f"{type(e).__name__}: {e}", traceback.format_exc())
            raise  # a real bug: keep its traceback
        return refuse(message)
    except KeyboardInterrupt as e:
        run_dir = getattr(e, "run_dir", None)  # the run folder `run` had made (pipeline/runner.py)
        then = f"resume with --resume {run_dir}" if run_dir else "no run folder to resume; run the command again"
        print(f"interrupted: {then}", file=sys.stderr)
        return 130
    except Exception as e:
        torchrun_error(f"{type(e).__name__}: {e}", traceback.format_exc())
        raise


def reader_gone() -> int:
    """The reader of stdout closed it (`python -m pipeline list | head -1`): no traceback; stdout pointed at devnull so
    the interpreter's last flush does not fail again; 141, the status a shell gives a command SIGPIPE ended."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 141


def refuse(message: str, consequence: bool = False) -> int:
    """Print a refusal of the settings or data and return the exit status 2.

    Under torchrun every rank usually meets the same refusal, so only rank 0 prints it; every rank also leaves it in
    the error file torchrun reads, so a refusal one rank met alone (a node without the data, a missing GPU) is named
    in torchrun's failure summary instead of an exit code. `consequence`: this rank stopped because another did."""
    if not _other_rank():
        print(f"error: {message}", file=sys.stderr)
    torchrun_error(f"ContractError: {message}", f"error: {message}", consequence)
    return 2


def torchrun_error(message: str, details: str, consequence: bool = False) -> None:
    """Write this process's error where torchrun's failure summary reads it (TORCHELASTIC_ERROR_FILE, set by torchrun
    for each worker; the format of torch.distributed.elastic's @record): the summary then shows `details` rather than
    "To enable traceback see ...". Its "Root Cause" is the failure of the earliest timestamp (whole seconds, ties to
    rank 0), so a `consequence` of another rank's failure is dated a second later and never named as its cause.
    Nothing outside torchrun."""
    path = os.environ.get("TORCHELASTIC_ERROR_FILE")
    if not path:
        return
    extra = {"py_callstack": details, "timestamp": str(int(time.time()) + int(consequence))}
    with contextlib.suppress(OSError):  # the summary falls back to the exit code; the error itself is what matters
        write_json(path, {"message": {"message": message, "extraInfo": extra}})


def _other_rank() -> bool:
    """A torchrun process other than rank 0 (RANK is set before the process group exists, and refusals come first)."""
    return os.environ.get("RANK", "0") not in ("", "0")


def bad_input_message(e: BaseException) -> str | None:
    """One line for errors that come from the user's files rather than from a bug (None: not one of those).

    A file that cannot be opened (OSError naming it), text that is not UTF-8, and pandas' CSV parse errors.
    """
    if isinstance(e, OSError) and e.filename is not None:
        return f"{e.filename}: {e.strerror or e}"
    if isinstance(e, UnicodeDecodeError):
        return f"a file is not UTF-8 text ({e}); save it as UTF-8."
    if type(e).__module__.startswith("pandas") and type(e).__name__ in ("ParserError", "EmptyDataError"):
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        return f"a CSV file cannot be parsed ({type(e).__name__}: {first})."
    return None
