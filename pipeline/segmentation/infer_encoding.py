"""Which encoding a download's run-length masks are written in (rle.ENCODINGS), for `python -m pipeline new`: up to
SAMPLES of the training CSV's non-empty cells read both ways, inside an image of the download's usual size.

Absolute runs must increase without overlapping and start at 1 or later; relative ones are offsets from the run
before, which a mask of several runs in one image makes small: read as absolute, its runs go backwards; and absolute
starts, added up as relative offsets, soon run past the image's last pixel. A cell that only one encoding reads
within the image is evidence for it, and the encoding with more such cells is taken (the other's are refused by line
when the CSV is read: damaged cells, or a CSV that mixes the two). As many of each, none included (every mask one run,
which both read, one pixel apart), is refused, naming the flag that says which.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from pipeline.contract import ContractError
from pipeline.segmentation.rle import ENCODINGS, RleError, is_empty, runs

SAMPLES = 2000  # non-empty cells read both ways, spread over the CSV
FLAG = "--rle"  # new's flag that names the encoding


@dataclass(frozen=True)
class EncodingEvidence:
    """The encoding taken, how many of the cells read only one encoding reads (by encoding), how many were read, and
    whether the flag gave it."""

    encoding: str
    only: dict[str, int]
    cells: int
    given: bool = False

    def note(self) -> str:
        """A line for `new`: the encoding and the evidence behind it."""
        counts = ", ".join(f"{n} only as {e}" for e, n in self.only.items())
        why = f"{FLAG} {self.encoding}" if self.given else f"of {self.cells} cells read both ways, {counts}"
        words = "1-based starts" if self.encoding == "absolute" else "each start the gap after the run before"
        return f"run-length encoding: {self.encoding} ({words}), {why}"


def readable(cell: str, size: int) -> dict[str, bool]:
    """Whether each encoding reads the cell as runs inside an image of `size` pixels."""
    out = {}
    for encoding in ENCODINGS:
        try:
            runs(cell, size, encoding)
            out[encoding] = True
        except RleError:
            out[encoding] = False
    return out


def decide_encoding(cells: pd.Series, size: int, where: str, column: str, given: str | None) -> EncodingEvidence:
    """The encoding of a CSV's column of run-length cells (`where`, `column`; an image of `size` pixels), told as
    the module docstring says, or `given` (new's flag) where the user named it."""
    filled = [(i + 2, str(c)) for i, c in enumerate(cells) if not is_empty(c)]
    step = max(1, len(filled) // SAMPLES)
    first: dict[str, int] = {}
    only = dict.fromkeys(ENCODINGS, 0)
    for line, cell in filled[::step][:SAMPLES]:
        ok = readable(cell, size)
        if sum(ok.values()) == 1:
            encoding = next(e for e, yes in ok.items() if yes)
            only[encoding] += 1
            first.setdefault(encoding, line)
    read = len(filled[::step][:SAMPLES])
    if given is not None:
        return EncodingEvidence(given, only, read, given=True)
    counts = sorted(only.values())
    if counts[-1] == counts[0]:
        shown = "; ".join(f"{n} only as {e} (the first on line {first[e]})" for e, n in only.items() if n)
        raise ContractError(
            f"{where}, column {column}: cannot tell whether its runs' starts are absolute (1-based) or relative (the "
            f"gap after the run before): of {read} cells inside a {size}-pixel image, "
            f"{shown or 'each reads both ways'}; name it with " + " or ".join(f"{FLAG} {e}" for e in ENCODINGS) + "."
        )
    return EncodingEvidence(max(only, key=lambda e: only[e]), only, read)
