"""Column names a CSV's header holds more than once.

pandas renames the later ones (`x`, `x.1`, `x.2`) without a word, so a target or an id named twice would be read
from whichever column came first, and the features would hold names the file does not. `new` and a generated
competition's load (pipeline.tabular.load_tables, load_test_table) say so, naming the file and the names: a target,
the id or train's time column (TIME) among them is refused (which column is meant cannot be told), other columns are
kept under pandas' names with a warning (a Kaggle download is not the user's to edit, and both columns may hold
something a model can use).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import pandas as pd

from pipeline.contract import ContractError

RENAMED = re.compile(r"(.+)\.\d+")  # how pandas names the second and later columns of one name: x.1, x.2


def raw_header(source: Path | str | IO[bytes], compression: str | None = "infer") -> list[str]:
    """The header row's cells as the file writes them: read by pandas as the tables are (a byte order mark, quoted
    names, .gz and .zip alike), but as a row of values, so no name is renamed."""
    row = pd.read_csv(source, header=None, nrows=1, dtype=str, keep_default_na=False, compression=compression)
    return [str(v) for v in row.iloc[0]] if len(row) else []


def named_twice(columns: Sequence[Any], read_header: Callable[[], list[str]]) -> dict[str, list[str]]:
    """Each name the header holds more than once -> the names pandas gave those columns, in the file's order (x,
    x.1); {} when there is none. The header is read again (read_header) only when pandas' names hint at one: a
    column x.N beside a column x. An empty name (a comma ending each line) is no name."""
    names = [str(c) for c in columns]
    present = set(names)
    if not any((m := RENAMED.fullmatch(c)) and m.group(1) in present for c in names):
        return {}
    header = read_header()
    counts = Counter(h for h in header if h.strip())
    return {
        name: [names[i] for i, h in enumerate(header) if h == name and i < len(names)]
        for name, k in counts.items()
        if k > 1
    }


# what becomes of the other columns named twice: the warning's end (an original's are read otherwise: original.py)
KEPT = (
    "each column is kept under the name pandas gives it (check that they hold what you expect; --set drop=NAME leaves "
    "one out)"
)


def checked(found: dict[str, list[str]], where: Path | str, keys: Sequence[tuple[str, str]], kept: str = KEPT) -> str:
    """Refuse when a key column ((role, column): the target, the id) is one of the columns named twice (`found`,
    named_twice), naming the file, the name and how to fix it; else the warning on the others ("" when none), which
    ends saying what becomes of them (`kept`)."""
    for role, column in keys:
        for name, read_as in found.items():
            if column in read_as:
                raise ContractError(
                    f"{where}: its header names {name!r} {_times(len(read_as))} (pandas would read the columns as "
                    f"{', '.join(read_as)}), and {column!r} is the {role}: which of them is meant cannot be told. "
                    f"Rename them in {Path(str(where)).name} so that each name is unique (e.g. {name}_2 for the "
                    "second), then run again."
                )
    if not found:
        return ""
    shown = "; ".join(
        f"{name} {_times(len(read_as))} (read as {', '.join(read_as)})" for name, read_as in found.items()
    )
    return f"{where}: its header names {shown}; {kept}"


def _times(k: int) -> str:
    """How often a name is in the header, in words."""
    return "twice" if k == 2 else f"{k} times"
