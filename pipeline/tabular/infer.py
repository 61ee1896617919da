"""What `python -m pipeline new` infers from Kaggle's download: files, id, target, task, metric, submission format.

Every guess is printed with the flag that changes it; anything that cannot be inferred is refused naming the flag
that settles it (ContractError: the CLI prints `error: ...` and exits 2).

Several targets: a sample submission whose value columns are all columns of train (or `--target A,B`) asks for one
prediction per column: task "regression" when they hold numbers, "binary" (multi-label) when every one is 0/1 or
True/False, scored by a SEVERAL metric averaged over the columns. Multi-label submissions hold each target's
probability (roc_auc, log_loss) or its label (accuracy, f1: 1 where the probability is above 0.5); a sample holding
True/False asks for labels, so accuracy is then the default and a probability metric is refused.
"""

from __future__ import annotations

import contextlib
import keyword
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

import numpy as np
import pandas as pd

from features.columns import column_kind
from features.dates import date_format, parse_dates
from pipeline.contract import ContractError
from pipeline.grades import METRICS as GRADE_METRICS
from pipeline.tabular.data import (
    as_names,
    class_columns,
    class_names,
    id_is_feature,
    label_format_error,
    ranked_column,
    ranked_width,
)
from pipeline.tabular.groups import holds_groups, split_by_group, split_ids
from pipeline.tabular.headers import checked, named_twice, raw_header
from pipeline.tabular.metrics import METRICS, SEVERAL, TASKS, known, lookup, top_k
from pipeline.tabular.original import Original
from pipeline.tabular.recipe import TabularRecipe
from pipeline.tabular.values import (
    AS_WRITTEN,
    comma_separated,
    empty_columns,
    grouped_cells,
    grouped_numbers,
    holds_grouped,
    id_order,
    listed,
    numbers,
    read_grouped,
    row_number_columns,
    text_in_train,
    unreadable,
    with_words,
)

MAX_CLASS_LEVELS = 10  # integer targets with at most this many values are classes, above it values


@dataclass
class Spec:
    """Everything the generated competition file states."""

    name: str
    slug: str
    files: list[str]
    train: str
    test: str
    sample: str
    id_col: str
    targets: list[str]
    task: str
    metric: str
    submission: str
    classes: list[str] | None
    n_train: int
    n_test: int
    features: list[str]
    notes: list[str] = field(default_factory=list)
    folds: str = "kfold"  # FOLDS of the generated file: "stratified" for one classification target
    target_transform: str = ""  # Config.target_transform: "log1p" for rmsle, and for mae on a target >= 0
    objective: str = ""  # Config.objective: "l1" for mae
    id_groups: bool = False  # ID_GROUPS: the id reads as <group>_<member>, whose group size is a feature
    time: str | None = None  # TIME: the column ordering the rows for FOLDS = "time"
    original: Original | None = None  # ORIGINAL: the dataset the competition was generated from (new --original)
    n_original: int = 0  # the original's labelled rows, which join every fold's training rows (new --original)
    id_start: int | None = None  # ROW_ID_START: test.csv has no id column; its rows' ids count from this, in order

    @property
    def target(self) -> str | list[str]:
        """TARGET of the generated file: the column's name, or the list of them for several targets."""
        return self.targets[0] if len(self.targets) == 1 else self.targets

    @property
    def target_text(self) -> str:
        """The target column(s) in words: all of them, or the first and last of a long list."""
        text = ", ".join(self.targets)
        return text if len(text) <= 40 else f"{self.targets[0]} ... {self.targets[-1]}"


INNER = (".zip", ".7z")  # archives inside a download whose files `new` reads, as `run` extracts them


class Source:
    """The CSV files of a competition zip (streamed, nothing extracted) or folder, and the files of the zip and 7z
    archives at its top (train.csv.zip, train.csv.7z, as older competitions ship), named as `run` extracts them
    (pipeline.archives.extract_inner: next to the archive)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if path.is_file():
            if not zipfile.is_zipfile(path):
                raise ContractError(f"--data {path}: not a zip archive; give Kaggle's zip as downloaded or a folder.")
            with zipfile.ZipFile(path) as zf:
                self.names = sorted(n for n in zf.namelist() if not n.endswith("/") and not n.startswith("__MACOSX"))
        elif path.is_dir():
            self.names = sorted(
                str(p.relative_to(path).as_posix())
                for p in path.rglob("*")
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        else:
            raise ContractError(f"--data {path}: no such file or folder.")
        self.inner: dict[str, str] = {}  # a file inside a top-level archive of the download -> that archive
        for archive in [n for n in self.names if "/" not in n and n.lower().endswith(INNER)]:
            try:
                members = self._members(archive)
            except Exception:  # not an archive after all (zipfile and py7zr raise several types): left as a file
                continue
            self.inner |= {m: archive for m in members if m not in self.names and m not in self.inner}
        self.names = sorted({*self.names, *self.inner})

    def _members(self, archive: str) -> list[str]:
        """The files of a zip or 7z archive at the download's top (its directory only is read)."""
        with self._open(archive) as f:
            if archive.lower().endswith(".7z"):
                import py7zr

                with py7zr.SevenZipFile(f, mode="r") as z:
                    names = [i.filename for i in z.list() if not i.is_directory]
            else:
                with zipfile.ZipFile(f) as zf:
                    names = [n for n in zf.namelist() if not n.endswith("/")]
        return [n for n in names if not n.startswith("__MACOSX")]

    @property
    def archives(self) -> set[str]:
        """The zips whose files are listed instead of them (a read-only folder's extraction holds only their files)."""
        return set(self.inner.values())

    @contextlib.contextmanager
    def _open(self, name: str) -> Iterator[IO[bytes]]:
        """One file of the download, streamed (a zip, or a zip inside it, is read from where it lies, not copied into
        memory whole: listing an inner zip reads only its directory)."""
        with contextlib.ExitStack() as stack:
            if name in self.inner and self.inner[name].lower().endswith(".7z"):
                yield stack.enter_context(self._from_7z(self.inner[name], name))
            elif name in self.inner:
                archive = stack.enter_context(self._open(self.inner[name]))
                yield stack.enter_context(stack.enter_context(zipfile.ZipFile(archive)).open(name))
            elif self.path.is_file():
                yield stack.enter_context(stack.enter_context(zipfile.ZipFile(self.path)).open(name))
            else:
                yield stack.enter_context((self.path / name).open("rb"))

    @contextlib.contextmanager
    def _from_7z(self, archive: str, name: str) -> Iterator[IO[bytes]]:
        """One file of a 7z archive, extracted into a temporary folder (7z streams are solid: no member is read
        without decompressing what precedes it) and removed afterwards."""
        import py7zr

        from pipeline.archives import safe_member

        with tempfile.TemporaryDirectory(prefix="new-7z-") as tmp:
            target = safe_member(Path(tmp), name, Path(archive))
            with self._open(archive) as f, py7zr.SevenZipFile(f, mode="r") as z:
                z.extract(path=tmp, targets=[name])
            with target.open("rb") as out:
                yield out

    def read(self, name: str, text: Sequence[str] = ()) -> pd.DataFrame:
        """One CSV as a DataFrame (`text` columns as written), or an error naming it."""
        try:
            with self._open(name) as f:
                frame = pd.read_csv(f, dtype=dict.fromkeys(text, str) or None, compression=_compression(name))
        except Exception as e:
            raise ContractError(f"{self.path}: {name} {unreadable(e)}") from None
        return comma_separated(frame, f"{self.path}: {name}")

    def as_written(self, name: str, columns: list[str]) -> pd.DataFrame:
        """Columns of one CSV with every cell as written, only an empty one missing (values.with_words)."""
        with self._open(name) as f:
            return pd.read_csv(f, usecols=columns, compression=_compression(name), **AS_WRITTEN)

    def header(self, name: str) -> list[str]:
        """One CSV's header row as written, no name renamed (headers.raw_header)."""
        with self._open(name) as f:
            return raw_header(f, _compression(name))

    def copy(self, name: str, dest: Path) -> None:
        """One file of the download, byte for byte, to dest."""
        with self._open(name) as f, dest.open("wb") as out:
            shutil.copyfileobj(f, out)

    def csvs(self) -> list[str]:
        """The download's CSVs, compressed ones (train.csv.gz) included: pandas reads those as they are."""
        return [n for n in self.names if n.lower().endswith((".csv", *(f".csv{end}" for end in COMPRESSED)))]


# compressed CSVs a download may hold, by the end of their names, as pandas names the compression
COMPRESSED = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz"}


def _compression(name: str) -> str | None:
    """How a CSV of the download is compressed, from its name: Source reads streams, whose names pandas never sees."""
    return next((c for end, c in COMPRESSED.items() if name.lower().endswith(end)), None)


@dataclass
class Tables:
    """The three CSVs `new` reads: their names inside the download and their frames."""

    train: str
    test: str
    sample: str
    tr: pd.DataFrame
    te: pd.DataFrame
    sub: pd.DataFrame
    twice: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # per file: headers.named_twice


def _unclear(what: str, flag: str) -> ContractError:
    """A refusal that names the flag settling what could not be inferred."""
    return ContractError(f"{what} Name it with {flag}.")


def _parquet(source: Source) -> ContractError:
    """The refusal of a download whose tables are Parquet (train.parquet, as some recent competitions ship): pandas
    reads them only with pyarrow, which the project does not install; the message names them and says how to write
    each as the CSV `new` reads."""
    names = [n for n in source.names if n.lower().endswith(".parquet")]
    first = PurePosixPath(names[0])
    convert = f"pd.read_parquet('{first}').to_csv('{first.with_suffix('.csv')}', index=False)"
    where = "the extracted folder" if source.path.is_file() else "that folder"
    return ContractError(
        f"{source.path}: its tables are Parquet ({listed(names, 4)}); `new` and `run` read CSV files. Write each as "
        f'a CSV beside it in {where} (pip install pyarrow, then python -c "import pandas as pd; {convert}") and '
        "pass the folder."
    )


def _pick(source: Source, role: str, words: tuple[str, ...], given: str | None, flag: str) -> str:
    csvs = source.csvs()
    if given:
        if given not in source.names:
            raise ContractError(f"{flag} {given}: no such file in {source.path}; files: {', '.join(csvs)}.")
        if given.lower().endswith(".parquet"):
            raise _parquet(source)
        return given
    exact = [n for n in csvs if PurePosixPath(n).name.lower() == f"{words[0]}.csv"]
    if len(exact) == 1:
        return exact[0]
    found = [n for n in csvs if any(w in PurePosixPath(n).name.lower() for w in words)]
    if len(found) == 1:
        return found[0]
    parquet = [n for n in source.names if n.lower().endswith(".parquet") and words[0] in PurePosixPath(n).name.lower()]
    if not found and parquet:
        raise _parquet(source)
    what = "none" if not found else f"several ({', '.join(found)})"
    raise _unclear(
        f"{source.path}: cannot tell which CSV is the {role}: {what} among {', '.join(csvs) or 'no CSV files'}.",
        f"{flag} FILE",
    )


def _task(y: pd.Series, target: str, notes: list[str], sample: pd.DataFrame | None = None, numbers: bool = True) -> str:
    """The task from the target's values: classes (text, booleans, two values, or up to MAX_CLASS_LEVELS whole
    numbers, or whole numbers the sample's value columns name one by one, Class_1 .. Class_12), else regression.
    Up to MAX_CLASS_LEVELS whole numbers that the sample's one value column writes as decimals (0.0: Kaggle's sample
    holds a value of the submission's kind) are counts or amounts: a regression, unless the metric asks for classes
    (`numbers` False)."""
    value_cols = [] if sample is None else [str(c) for c in sample.columns[1:]]
    values = y.dropna()
    n = values.nunique()
    if n < 2:
        raise ContractError(f"target {target!r} has {n} distinct value(s): nothing to learn.")
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        task = "binary" if n == 2 else "multiclass"
    elif n == 2:
        task = "binary"
    elif (values % 1 == 0).all() and len(value_cols) == n and class_columns(value_cols, class_names(y)) is not None:
        notes.append(
            f"task: multiclass (the sample's columns {value_cols[0]} .. {value_cols[-1]} name the {n} values of "
            f"{target}); change with --task"
        )
        return "multiclass"
    elif (values % 1 == 0).all() and n <= MAX_CLASS_LEVELS and numbers and (written := _decimals(sample)):
        notes.append(
            f"task: regression ({n} integer values of {target}, but the sample writes {written}, a number, not a "
            "class); use --task multiclass to predict classes instead"
        )
        return "regression"
    elif (values % 1 == 0).all() and n <= MAX_CLASS_LEVELS:
        task = "multiclass"
        notes.append(
            f"task: multiclass ({n} integer values of {target}); use --task regression to predict numbers instead"
        )
        return task
    else:
        task = "regression"
    notes.append(f"task: {task} (from the values of {target}); change with --task")
    return task


def _decimals(sample: pd.DataFrame | None) -> str:
    """The first value of a sample's one value column when it is written as a decimal number (0.0, 2.5), else ""."""
    if sample is None or sample.shape[1] != 2 or not pd.api.types.is_float_dtype(sample.iloc[:, 1]):
        return ""
    values = sample.iloc[:, 1].dropna()
    return f"{float(values.iloc[0])!r}" if len(values) else ""


def _grades_task(y: pd.Series, target: str, notes: list[str]) -> str:
    """A QWK target: whole-number grades, fitted as a regression (the models learn their order) and cut into grades
    at points fitted out of fold; refused when the target holds anything else."""
    values = pd.to_numeric(y.dropna(), errors="coerce")
    odd = y.dropna()[values.isna().to_numpy() | (values % 1 != 0).to_numpy()]
    if len(odd):
        first = odd.iloc[0]
        shown = repr(first) if isinstance(first, str) else f"{float(first):g}"
        raise ContractError(
            f"--metric qwk scores whole-number grades, but {target} holds {shown}; use a label metric "
            "(--metric accuracy)."
        )
    notes.append(
        f"task: regression on the {values.nunique()} grades of {target} (qwk scores ordered grades: the models fit "
        "them as numbers, then the values are cut into grades at points fitted out of fold)"
    )
    return "regression"


def _default_metric(task: str, sample_values: pd.DataFrame, classes: list[str] | None) -> str:
    if task == "regression":
        return "rmse"
    if sample_values.shape[1] > 1:
        return "log_loss"
    col = sample_values.iloc[:, 0]
    if ranked_column(col, classes):
        return f"map@{ranked_width(col)}"
    if pd.api.types.is_float_dtype(col) and not (col.dropna() % 1 == 0).all():
        return "roc_auc" if task == "binary" else "log_loss"
    return "accuracy"


def _check_choices(name: str, metric: str | None, task: str | None) -> None:
    """The package name, --metric and --task, before any file is read."""
    if not name.isidentifier() or keyword.iskeyword(name) or name != name.lower():
        raise ContractError(f"competition name {name!r}: use a lower-case Python identifier, e.g. spaceship_titanic.")
    if metric is not None and not known(metric):
        raise ContractError(
            f"--metric {metric}: unknown; valid metrics: {', '.join(METRICS)}, or map@K for K classes a row."
        )
    if task is not None and task not in TASKS:
        raise ContractError(f"--task {task}: unknown; valid tasks: {', '.join(TASKS)}.")


def _read_tables(source: Source, train: str | None, test: str | None, sample: str | None) -> Tables:
    """The training table, the test table and the sample submission, picked by name unless given."""
    train_f = _pick(source, "training table", ("train",), train, "--train")
    test_f = _pick(source, "test table", ("test",), test, "--test")
    sample_f = _pick(source, "sample submission", ("sample_submission", "submission", "sample"), sample, "--sample")
    t = Tables(train_f, test_f, sample_f, source.read(train_f), source.read(test_f), source.read(sample_f))
    if as_text := text_in_train(t.tr, t.te):  # as pipeline.tabular.load_tables reads them
        t.te = source.read(test_f, text=as_text)
    if t.sub.shape[1] < 2:
        raise ContractError(f"{sample_f}: a sample submission needs an id column and at least one value column.")
    for name, frame in ((train_f, t.tr), (test_f, t.te), (sample_f, t.sub)):
        t.twice[name] = named_twice(frame.columns, lambda name=name: source.header(name))
    sample_cols = [str(c) for c in t.sub.columns]  # each the id or a value the submission writes under that name
    checked(t.twice[sample_f], sample_f, [("id", sample_cols[0]), *(("value column", c) for c in sample_cols[1:])])
    return t


def _named_twice(t: Tables, targets: list[str], id_col: str, notes: list[str]) -> None:
    """Columns train.csv or test.csv name more than once: refused when one is a target or the id, else a warning
    (headers.checked), as pipeline.tabular.load_tables does."""
    keys = [*(("target", c) for c in targets), ("id", id_col)]
    for name in (t.train, t.test):
        if warning := checked(t.twice.get(name, {}), name, keys):
            notes.append(f"warning: {warning}")


def _id_column(t: Tables, id_col: str | None, notes: list[str]) -> tuple[str, int | None]:
    """The id, and the number of test.csv's first row when the ids are its rows' numbers (Spec.id_start): --id, else
    the sample's first column as test.csv holds it (_sample_id). A column's values are unique and hold the sample's
    ids (_check_ids)."""
    first = str(t.sub.columns[0])
    if id_col is None or (id_col == first and id_col not in t.te):  # --id naming the sample's id: as if not given
        id_col, start = _sample_id(t, first, notes)
        if start is not None:
            return id_col, start
    elif id_col not in t.te:
        raise ContractError(f"--id {id_col}: not a column of {t.test}; columns: {listed(t.te.columns)}.")
    _check_ids(t, id_col, notes)
    return id_col, None


def _sample_id(t: Tables, first: str, notes: list[str]) -> tuple[str, int | None]:
    """The sample's first column as test.csv holds it: a column of that name, the one column of that name but for
    case (sample `id`, test `Id`), or none, when the sample's ids count test.csv's rows in order (Digit Recognizer's
    ImageId 1, 2, ...: test.csv holds pixels only, no column the sample's ids): then the first row's number. Refused
    otherwise."""
    if first in t.te:
        notes.append(f"id: {first} (the first column of {t.sample}, in {t.test}); change with --id COL")
        return first, None
    same = [c for c in t.te.columns if str(c).lower() == first.lower()]
    if len(same) == 1:
        notes.append(
            f"id: {same[0]} of {t.test} ({t.sample}'s first column {first}, but for case); the submission's header "
            f"writes {first}, as the sample does; change with --id COL"
        )
        return same[0], None
    unique = [c for c in t.te.columns if t.te[c].is_unique and t.te[c].notna().all()]
    holders = [c for c in unique if id_order(t.te[c], t.sub[first]) is not None]  # the ids under another name
    start, why = (None, "") if same or holders else _row_numbers(t, first)
    if start is None:
        if same:
            what = f"matches several columns of {t.test} but for case ({listed(same)})"
        elif holders:
            which = f"column {holders[0]} holds" if len(holders) == 1 else f"columns {listed(holders)} hold"
            what = f"is not a column of {t.test}, whose {which} its ids"
        else:
            hint = f" (test columns with unique values: {listed(unique)})" if unique else ""
            what = f"is not a column of {t.test}, and its ids are not the test rows' numbers in order ({why}){hint}"
        raise _unclear(f"{t.sample}: its first column {first!r} {what}, so the id is unclear.", "--id COL")
    notes.append(
        f"id: {t.test} has no {first} column, but the {first} of {t.sample}, {start} to {start + len(t.te) - 1}, "
        f"number its {len(t.te)} rows in order: each test row's id is its row number, counting from {start} "
        f"(ROW_ID_START = {start} in the generated file; --id COL reads the ids from a column of {t.test} instead)"
    )
    return first, start


def _row_numbers(t: Tables, first: str) -> tuple[int | None, str]:
    """(s, "") when the sample's ids are consecutive whole numbers s, s + 1, ..., one a test row, in order; else
    (None, why not)."""
    raw = t.sub[first]
    if len(raw) != len(t.te) or not len(raw):
        return None, f"it has {len(raw)} rows, {t.test} {len(t.te)}"
    ids = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    if not np.isfinite(ids[0]) or ids[0] % 1:
        return None, f"its first id {raw.iloc[0]} is no whole number"
    wrong = np.flatnonzero(ids != ids[0] + np.arange(len(ids)))  # a missing or non-number id is wrong too
    if not len(wrong):
        return int(ids[0]), ""
    k = int(wrong[0])
    return None, f"line {k + 2} holds {raw.iloc[k]} where {ids[0] + k:.0f} would follow {raw.iloc[k - 1]}"


def _check_ids(t: Tables, id_col: str, notes: list[str]) -> None:
    """An id column of test.csv: unique values, among them every id of the sample (once each, as written or as the
    same numbers)."""
    if t.te[id_col].duplicated().any():
        raise ContractError(f"{t.test}: id column {id_col!r} has duplicate values; name the real id with --id COL.")
    sample_ids = t.sub.iloc[:, 0].astype(str)
    if (twice := sample_ids.duplicated()).any():
        line = int(twice.to_numpy().argmax()) + 2
        raise ContractError(
            f"{t.sample}: id {sample_ids[twice].iloc[0]!r} appears twice (again on line {line}); a submission has one "
            "row per id: fix the sample submission."
        )
    test_ids = set(t.te[id_col].astype(str))
    absent = sample_ids[~sample_ids.isin(test_ids)]
    if len(absent) and id_order(t.te[id_col], sample_ids) is None:
        raise _unclear(
            f"{len(absent)} id(s) of {t.sample} are not in the column {id_col!r} of {t.test} (first: "
            f"{absent.iloc[0]!r}), so no prediction can be written for them; is {id_col} the id?",
            "--id COL",
        )
    if len(absent):
        notes.append(
            f"id: {t.test} and {t.sample} write the same ids differently (first {absent.iloc[0]!r} in the sample); "
            "the submission writes them as the sample does"
        )
    if len(test_ids) > len(set(sample_ids)):
        notes.append(
            f"submission: {len(test_ids) - len(set(sample_ids))} of the {len(t.te)} rows of {t.test} have an id "
            f"that {t.sample} lacks; they are not written"
        )


def _in_test(t: Tables, column: str) -> bool:
    """Whether the test table has the column with a value on some row (an empty one is a placeholder, as some
    downloads leave the target's column in test.csv)."""
    return column in t.te and bool(t.te[column].notna().any())


def _target_columns(t: Tables, target: str | None, id_col: str, notes: list[str]) -> list[str]:
    """The target(s): --target (comma-separated for several), else guessed from the sample and the tables."""
    targets = [c.strip() for c in target.split(",") if c.strip()] if target else _guess_targets(t, id_col, notes)
    for c in targets:
        if c not in t.tr:
            raise ContractError(f"--target {c}: not a column of {t.train}; columns: {listed(t.tr.columns)}.")
        if _in_test(t, c):
            raise ContractError(f"target {c!r} is also a column of {t.test}; is it really the target? Check --target.")
    value_cols = list(t.sub.columns[1:])
    if len(targets) > 1 and len(targets) != len(value_cols):
        raise ContractError(
            f"--target {','.join(targets)} names {len(targets)} targets but {t.sample} has {len(value_cols)} value "
            f"column(s) ({listed(value_cols)}); name one target per value column, in the sample's order."
        )
    if len(targets) > 1 and set(targets) != set(value_cols):
        pairs = ", ".join(f"{v} <- {c}" for v, c in zip(value_cols, targets, strict=True))
        notes.append(f"submission: {pairs} (the order of --target)")
    return targets


def _guess_targets(t: Tables, id_col: str, notes: list[str]) -> list[str]:
    value_cols = list(t.sub.columns[1:])
    in_train = [c for c in value_cols if c in t.tr and not _in_test(t, c)]
    only_train = [c for c in t.tr.columns if not _in_test(t, c) and c != id_col]
    if len(value_cols) == 1 and in_train:
        notes.append(f"target: {in_train[0]} (the value column of {t.sample}, in {t.train}); change with --target COL")
        return in_train
    if in_train:  # several value columns, some of them train's: one target per value column
        missing = [c for c in value_cols if c not in in_train]
        if missing:
            raise ContractError(
                f"{t.sample} asks for several targets ({listed(value_cols)}) but {t.train} has no target column "
                f"{listed(missing)} (a column of {t.train} that {t.test} lacks); name the columns of {t.train} to "
                f"predict, one per value column in the sample's order, with --target A,B."
            )
        notes.append(f"targets: {listed(in_train)} (the sample's value columns); change with --target A,B")
        return in_train
    if len(only_train) == 1:
        notes.append(f"target: {only_train[0]} (the only column of {t.train} not in {t.test}); change with --target")
        return only_train
    cands = f"; columns only in {t.train}: {listed(only_train)}" if only_train else ""
    raise _unclear(
        f"cannot tell the target: no column of {t.sample} ({listed(value_cols)}) is in {t.train}{cands}.",
        "--target COL",
    )


def _keep_words(source: Source, t: Tables, targets: list[str], notes: list[str]) -> None:
    """A text target's words that pandas reads as missing (None, NA ...) are its values, as
    pipeline.tabular.load_tables reads them (values.with_words): put back in train's frame, with a note."""
    t.tr, found = with_words(t.tr, targets, lambda cols: source.as_written(t.train, cols))
    for c, words in found.items():
        shown = ", ".join(f"{w!r} ({n} rows)" for w, n in words.items())
        notes.append(
            f"target: {shown} in {c} of {t.train} read as a value (a class), not as missing, as {c} holds text; "
            "only empty cells are unlabelled"
        )


def _note_unlabelled(t: Tables, targets: list[str], notes: list[str]) -> None:
    """Training rows without a target value are left out (pipeline.tabular.load_tables): say how many."""
    n = int(t.tr[targets].isna().any(axis=1).sum())
    if n:
        notes.append(
            f"unlabelled: {n} of the {len(t.tr)} rows of {t.train} have no {' or '.join(targets)}; they are left out "
            f"of training and CV"
        )


def _is_flag(y: pd.Series) -> bool:
    """True for a 0/1 or True/False column (both values present)."""
    values = y.dropna()
    if pd.api.types.is_bool_dtype(values):
        return values.nunique() == 2
    return pd.api.types.is_numeric_dtype(values) and set(values.unique()) == {0, 1}


def _several_task(t: Tables, targets: list[str], task: str | None, notes: list[str]) -> str:
    """Several targets: "binary" (multi-label) when every column is 0/1 or True/False, else "regression"."""
    text = [c for c in targets if not pd.api.types.is_numeric_dtype(t.tr[c]) and not _is_flag(t.tr[c])]
    if text:
        raise ContractError(
            f"target(s) {listed(text)} hold text; several targets must hold numbers or 0/1 flags. "
            f"Choose the targets with --target A,B."
        )
    flags = [c for c in targets if _is_flag(t.tr[c])]
    if task is None:
        if flags and len(flags) < len(targets):
            values = [c for c in targets if c not in flags]
            raise ContractError(
                f"targets mix binary ({listed(flags)}) and continuous ({listed(values)}) columns; predict all "
                f"as values with --task regression, or choose the targets with --target A,B."
            )
        task = "binary" if flags else "regression"
        kind = "multi-label: every target is 0/1 or True/False" if flags else f"{len(targets)} numeric targets"
        notes.append(f"task: {task} ({kind}); change with --task")
    elif task == "multiclass" or (task == "binary" and len(flags) < len(targets)):
        others = ", ".join(c for c in targets if c not in flags) or "none"
        raise ContractError(
            f"--task {task}: several targets are predicted as values (--task regression) or, when every one is "
            f"0/1, as probabilities or labels (--task binary); not 0/1: {others}."
        )
    return task


def _check_task(y: pd.Series, target: str, task: str) -> list[str] | None:
    """The class names (None for regression), checked against the task."""
    classes = class_names(y) if task != "regression" else None
    if task == "binary" and classes is not None and len(classes) != 2:
        raise ContractError(f"--task binary: {target} has {len(classes)} classes; use --task multiclass.")
    if task == "regression" and not pd.api.types.is_numeric_dtype(y):
        raise ContractError(f"--task regression: {target} holds text (e.g. {y.iloc[0]!r}), not numbers.")
    return classes


def _is_label_column(col: pd.Series) -> bool:
    """A sample column that can hold labels: True/False, or numbers that are all 0 or 1."""
    if pd.api.types.is_bool_dtype(col):
        return True
    return pd.api.types.is_numeric_dtype(col) and set(col.dropna().unique()) <= {0, 1}


def _several_default(t: Tables, task: str, flags: list[str], k: int, notes: list[str]) -> str:
    """rmse for values, roc_auc for probabilities, accuracy when the sample holds True/False (labels)."""
    if task == "binary" and flags:
        notes.append(
            f"metric: accuracy, the mean over the {k} target columns ({t.sample} holds True/False in "
            f"{listed(flags, 8)}: each target's label, 1 where its probability is above 0.5); change with --metric "
            f"NAME (f1 also writes labels)"
        )
        return "accuracy"
    metric = "rmse" if task == "regression" else "roc_auc"
    notes.append(
        f"metric: {metric}, the mean over the {k} target columns (default for several {task} targets); "
        f"change with --metric NAME"
    )
    return metric


def _named(metric: str, given: bool, task: str) -> str:
    """How a refusal names the metric: as the user gave it, or as the default it is (the user gave no --metric)."""
    return f"--metric {metric}" if given else f"{metric} (the default metric for {task} targets)"


def _check_several_sample(t: Tables, metric: str, task: str, flags: list[str], given: bool) -> None:
    """A True/False sample asks for labels; a label metric needs a sample of labels (True/False or 0/1)."""
    value_cols = list(t.sub.columns[1:])
    submission = lookup(metric).submission
    if flags and submission != "labels":
        flag = "--metric accuracy (or --metric f1)" if task == "binary" else "--task binary --metric accuracy (or f1)"
        raise ContractError(
            f"{_named(metric, given, task)} writes {submission}, but {t.sample} holds True/False in "
            f"{listed(flags, 8)}: it asks for each target's label. Use {flag}."
        )
    others = [c for c in value_cols if not _is_label_column(t.sub[c])]
    if submission == "labels" and others:
        values = t.sub[others[0]].dropna().tolist()
        held = repr(values[0]) if values else "no values"
        raise ContractError(
            f"--metric {metric} writes each target's label (0/1), but {t.sample} holds {held} in "
            f"{listed(others, 8)}, not labels: it asks for probabilities. Use --metric roc_auc or log_loss."
        )


def _several_metric(t: Tables, metric: str | None, task: str, k: int, notes: list[str]) -> tuple[str, str]:
    """Several targets: the metric (given, or rmse / roc_auc / accuracy for a True/False sample), scored as its
    mean over the k target columns, checked against what the sample holds."""
    flags = [c for c in t.sub.columns[1:] if pd.api.types.is_bool_dtype(t.sub[c])]
    given = metric is not None
    if metric is None:
        metric = _several_default(t, task, flags, k, notes)
    valid = [m for m in SEVERAL if task in METRICS[m].tasks]
    if metric not in valid:
        raise ContractError(f"--metric {metric} cannot score several {task} targets; use one of {', '.join(valid)}.")
    _check_several_sample(t, metric, task, flags, given)
    return metric, lookup(metric).submission


def _metric(
    t: Tables, metric: str | None, task: str, target: str, classes: list[str] | None, notes: list[str]
) -> tuple[str, str]:
    """The metric (given or the task's default) and the submission format it implies, checked against the sample."""
    value_cols = list(t.sub.columns[1:])
    given = metric is not None
    if metric is None:
        metric = _default_metric(task, t.sub[value_cols], classes)
        notes.append(f"metric: {metric} (default for {task} with this sample submission); change with --metric NAME")
    spec_metric = lookup(metric)
    if task not in spec_metric.tasks:
        raise ContractError(f"--metric {metric} is for {', '.join(spec_metric.tasks)}, not {task}.")
    submission = spec_metric.submission
    _check_ranked_sample(t, value_cols, classes, metric, given)
    if submission != "labels" and len(value_cols) == 1 and pd.api.types.is_bool_dtype(t.sub[value_cols[0]]):
        fix = "--metric accuracy (or f1, mcc)" if task != "regression" else "--task binary --metric accuracy"
        raise ContractError(
            f"{_named(metric, given, task)} writes {submission}, but {t.sample} holds True/False in {value_cols[0]}: "
            f"it asks for labels. Use {fix}."
        )
    single_labels = submission == "labels" and len(value_cols) == 1 and classes is not None
    if single_labels and (error := label_format_error(classes, t.sub[value_cols[0]], t.sample)):
        chance = task == "binary" and not pd.api.types.is_bool_dtype(t.sub[value_cols[0]])
        hint = f"If it asks for the probability of {target} = {classes[-1]}, use --metric roc_auc (or log_loss). "
        raise ContractError(f"{error}. {hint if chance else ''}Is {target} the target? Name it with --target COL.")
    if submission == "probabilities" and len(value_cols) > 1 and classes is not None:
        if len(value_cols) != len(classes):
            raise ContractError(
                f"{t.sample} has {len(value_cols)} value columns but {target} has {len(classes)} classes."
            )
        _note_class_columns(t, value_cols, classes, notes)
    elif task == "binary" and submission == "probabilities" and classes is not None:
        notes.append(
            f"submission: {value_cols[0]} gets the probability of {target} = {classes[-1]} (the second of "
            f"{listed(classes, 8)} in sorted order)"
        )
    elif task == "multiclass" and submission == "probabilities":
        raise ContractError(
            f"--metric {metric} needs one probability column per class, but {t.sample} has one value column; "
            f"use a label metric (--metric accuracy)."
        )
    elif len(value_cols) > 1:
        raise ContractError(f"{t.sample} has several value columns ({listed(value_cols)}): use --metric log_loss.")
    return metric, submission


def _check_ranked_sample(t: Tables, value_cols: list[str], classes: list[str] | None, metric: str, given: bool) -> None:
    """A sample naming several classes a row asks for the K likeliest (map@K, K as many as its rows name), and
    map@K for such a sample."""
    is_ranked = len(value_cols) == 1 and ranked_column(t.sub[value_cols[0]], classes)
    width = ranked_width(t.sub[value_cols[0]]) if is_ranked else None
    k = top_k(metric)
    if is_ranked and k is None:
        example = t.sub[value_cols[0]].dropna().iloc[0]
        raise ContractError(
            f"{t.sample} names several classes a row in {value_cols[0]} ({example!r}): it asks for the likeliest "
            f"classes, space-separated, but {_named(metric, given, 'multiclass')} writes one label. Use --metric "
            f"map@{width}."
        )
    if k is not None and not is_ranked:
        raise ContractError(
            f"--metric {metric} writes the {k} likeliest classes a row, space-separated, but {t.sample} holds one "
            f"value a row in {listed(value_cols)}; use --metric accuracy."
        )
    if is_ranked and k != width:
        raise ContractError(
            f"--metric {metric} writes {k} classes a row, but {t.sample} names {width} a row in {value_cols[0]}; "
            f"use --metric map@{width}."
        )


def _note_class_columns(t: Tables, value_cols: list[str], classes: list[str], notes: list[str]) -> None:
    """Which class's probability each column of the sample gets, when its names are not the class names."""
    cols = class_columns(value_cols, classes)
    if cols is None:
        notes.append(
            f"submission: the columns of {t.sample} ({listed(value_cols, 8)}) do not name the classes; they get the "
            f"classes in sorted order ({listed(classes, 8)}): check that this is the sample's order"
        )
    elif [classes[i] for i in cols] != value_cols:
        pairs = [f"{c} <- {classes[i]}" for c, i in zip(value_cols, cols, strict=True)]
        notes.append(f"submission: {listed(pairs, 8)} (the class each column of {t.sample} is named after)")


def _features(t: Tables, id_col: str, targets: list[str], notes: list[str]) -> list[str]:
    """The columns of both tables other than the id (unless it holds dates) and the targets; train-only ones are
    noted as ignored."""
    keep_id = id_col in t.tr and id_col in t.te and id_is_feature(t.te[id_col])
    if keep_id:
        notes.append(
            f"feature: the id {id_col} holds dates or times, so it is also a feature; run --set drop={id_col} "
            f"leaves it out"
        )
    shared = [c for c in t.tr.columns if c in t.te.columns and (c != id_col or keep_id) and c not in targets]
    empty = set(empty_columns(t.te))
    numbered = set(row_number_columns(t.tr)) | set(row_number_columns(t.te))
    features = [c for c in shared if c not in empty and c not in numbered]
    extra = [c for c in t.tr.columns if c not in t.te.columns and c != id_col and c not in targets]
    if extra:
        notes.append(f"ignored: {listed(extra)} (in {t.train} only: not available for the test rows)")
    if blank := [c for c in shared if c in empty]:
        notes.append(f"ignored: {listed(blank)} (empty on every row of {t.test}: no value to predict from)")
    if rows := [c for c in shared if c in numbered and c not in empty]:
        notes.append(
            f"ignored: {listed(rows)} (each row number 0, 1, 2, ... once: the index a table was saved with, an "
            "order of the rows, no feature)"
        )
    if unread := _unread_numbers(t, features):
        notes.append(unread)
    if grouped := grouped_numbers(t.tr, t.te, features):
        values = pd.concat([t.tr[grouped[0]], t.te[grouped[0]]]).dropna().astype(str)
        first = values[values.str.contains(",", regex=False)].iloc[0]
        notes.append(
            f"numbers: {listed(grouped, 8)} written with thousands separators (such as {first!r}) are read as numbers"
        )
    if not features:
        raise ContractError(f"{t.train} and {t.test} share no feature column.")
    return features


def _unread_numbers(t: Tables, features: list[str]) -> str:
    """A note on test values that are no number in a column train holds numbers in (a `?` for missing): they are
    read as missing. Empty when there are none."""
    found = []
    for c in features:
        if pd.api.types.is_numeric_dtype(t.tr[c]) and not pd.api.types.is_numeric_dtype(t.te[c]):
            values = t.te[c].dropna()
            bad = values[pd.to_numeric(values, errors="coerce").isna()]
            if len(bad):
                found.append(f"{c} ({len(bad)}, such as {bad.iloc[0]!r})")
    if not found:
        return ""
    return f"missing: {t.test} has values that are no number in number columns, read as missing: {', '.join(found)}"


def _later_test(t: Tables, features: list[str], notes: list[str]) -> str | None:
    """The date column every test row follows every training row in, with a note: Kaggle split by time, so folds
    drawn at random validate on the past and the future alike, and their CV can flatter the model. None if none."""
    for c in features:
        if column_kind(t.tr[c]) != "date":
            continue
        fmt = date_format(pd.concat([t.tr[c], t.te[c]], ignore_index=True))  # one format for both tables
        train, test = parse_dates(t.tr[c], fmt).dropna(), parse_dates(t.te[c], fmt).dropna()
        # the boundary day may hold rows of both (a split inside the last day): still a later test
        if len(train) and len(test) and train.max() <= test.min() and test.max() > train.max():
            notes.append(
                f"time: every test row's {c} ({test.min():%Y-%m-%d} to {test.max():%Y-%m-%d}) follows every training "
                f"row's (to {train.max():%Y-%m-%d}): the test is later in time; "
                "`drift` measures how far the test rows differ"
            )
            return c
    return None


def _time_column(t: Tables, time: str | None, later: str | None, notes: list[str]) -> str | None:
    """TIME: --time's column (checked: in train, a date or number on every row), else the date column every test row
    follows; None with --time none, or when the test is not later.

    Forward folds are the default for a test set later in time because random ones can be fooled badly there and
    forward ones only a little: on generated sales whose level drifts, random folds' CV claimed 0.056 RMSLE for
    submissions that scored 0.179 on the later days, forward folds' 0.207 for 0.178 (their refit, 8 seeds); on House
    Prices split by sale date (no such drift) forward folds' CV was 0.023 pessimistic and their refit's submission
    as good as random folds' (benchmarks/tabular_time.py)."""
    from pipeline.tabular.data import times_of

    if time is not None and time.lower() == "none":
        if later:
            notes.append("folds: drawn at random (--time none), although the test is later in time")
        return None
    column = time or later
    if column is None:
        return None
    if column not in t.tr:
        raise ContractError(f"--time {column}: no such column in {t.train}; columns: {listed(t.tr.columns)}.")
    times_of(t.tr, column, Path(t.train))
    notes.append(
        f"folds: forward in time by {column}: each fold validates a later period with models fitted on the earlier "
        "periods only (the first period is never validated); each model is then refitted on every training row for "
        "the submission (Config.refit)" + ("; --time none draws them at random" if time is None else "")
    )
    return column


def _id_groups(t: Tables, id_col: str, features: list[str], notes: list[str]) -> bool:
    """Whether the id names groups (Spaceship Titanic's 0013_02): then their size and the member's number are
    features (pipeline/tabular/groups.py)."""
    if id_col in features or id_col not in t.tr or id_col not in t.te or not holds_groups(t.tr[id_col], t.te[id_col]):
        return False
    parts = split_ids(pd.concat([t.tr[id_col], t.te[id_col]], ignore_index=True))
    sizes = parts["group"].value_counts()
    notes.append(
        f"feature: the id {id_col} reads as <group>_<member> ({len(sizes)} groups of 1 to {sizes.max()} rows): "
        f"{id_col}_group_size and {id_col}_member are features; ID_GROUPS = False leaves them out"
    )
    return True


def _fold_kind(
    t: Tables, targets: list[str], task: str, metric: str, notes: list[str], id_col: str, id_groups: bool
) -> str:
    """Stratified folds for one classification target or QWK's grades, unless a class has fewer rows than the
    default folds; groups
    kept whole in their fold when the id names groups and no group has rows in both train and test."""
    grouped = id_groups and split_by_group(t.tr[id_col], t.te[id_col])
    if grouped:
        notes.append(
            f"folds: no group of {id_col} has rows in both {t.train} and {t.test}, so each fold keeps its groups "
            "whole, as Kaggle's split did"
        )
    if (task == "regression" and metric not in GRADE_METRICS) or len(targets) > 1:
        return "group" if grouped else "kfold"
    counts = as_names(t.tr[targets[0]]).value_counts()  # classes, or a QWK target's grades
    k = TabularRecipe.folds
    if counts.min() >= k:
        return "stratified_group" if grouped else "stratified"
    if grouped:
        return "group"
    what = "grade" if task == "regression" else "class"
    notes.append(
        f"folds: kfold, not stratified: {what} {counts.idxmin()} of {targets[0]} has {counts.min()} training row(s), "
        f"fewer than the {k} folds (stratified folds need {k} of each)"
    )
    return "kfold"


def _fitting(t: Tables, targets: list[str], metric: str, notes: list[str]) -> tuple[str, str]:
    """(target_transform, objective) the generated Config fits a regression with, from the metric.

    rmsle scores log(1 + y): fit log(1 + y). mae scores the median: train the boosters on absolute error, and on
    log(1 + y) when every target is >= 0 (a monotone transform leaves the median where it was, and the trees fit a
    skewed target's logarithm more evenly: House Prices' CV MAE 13,691 against 13,999 with squared error on prices,
    benchmarks/README.md). mape the same: an absolute error of logarithms is a relative error.
    """
    if metric == "rmsle":
        for c in targets:
            values = pd.to_numeric(t.tr[c], errors="coerce")
            if (values < 0).any():
                first = int(values.lt(0).to_numpy().argmax())
                raise ContractError(
                    f"--metric rmsle scores log(1 + {c}), but {t.train} has negative {c} values (first "
                    f"{values.iloc[first]:g}, on line {first + 2}); use --metric rmse (or mae)."
                )
        return "log1p", ""
    if metric not in ("mae", "mape"):
        return "", ""
    values = t.tr[targets].apply(pd.to_numeric, errors="coerce")
    zeros = int((values == 0).to_numpy().sum())
    if metric == "mape" and zeros:
        notes.append(
            f"mape: {zeros} target value(s) of {t.train} are 0; mape divides each error by its target (scikit-learn "
            "by 2.2e-16 for a 0), so those rows outweigh every other in the CV and the blend weights: if Kaggle scores "
            "this competition otherwise, pass --metric mae"
        )
    transform = "log1p" if bool((values.min() >= 0).all()) else ""
    fitted = "absolute error of log(1 + target)" if transform else "absolute error"
    why = "mae scores medians" if metric == "mae" else "mape scores errors relative to the target"
    notes.append(
        f"fit: the boosters train on {fitted}, as {why}; change Config.objective and Config.target_transform in the "
        "generated file"
    )
    return transform, "l1"


def _decide(t: Tables, targets: list[str], metric: str | None, task: str | None, notes: list[str]) -> tuple:
    """(task, classes, metric, submission) for one target or several."""
    if len(targets) > 1:
        _grouped_targets(t, targets, notes)  # several targets hold numbers (or 0/1 flags, never written 1,000)
        task = _several_task(t, targets, task, notes)
        return (task, None, *_several_metric(t, metric, task, len(targets), notes))
    as_numbers = metric is None or "regression" in lookup(metric).tasks  # a class metric asks for classes
    grouped = task in (None, "regression") and as_numbers and _grouped_targets(t, targets, notes)
    if grouped and task is None and metric not in GRADE_METRICS:
        task = "regression"
        notes.append(f"task: regression (from the values of {targets[0]}); change with --task")
    y = t.tr[targets[0]]
    if metric in GRADE_METRICS and task in (None, "regression"):
        task = _grades_task(y, targets[0], notes)
    task = task or _task(y, targets[0], notes, t.sub, as_numbers)
    classes = _check_task(y, targets[0], task)
    return (task, classes, *_metric(t, metric, task, targets[0], classes, notes))


def _grouped_targets(t: Tables, targets: list[str], notes: list[str]) -> bool:
    """Targets of numbers written with thousands separators (`1,234,567`, as scraped prices are) read as numbers in
    train's frame, as load_tables reads a regression target (values.numbers), with a note; True when one was. One
    that holds such numbers beside values that are no number is refused, naming the first such value's line."""
    found = []
    for c in targets:
        values = t.tr[c].dropna()
        grouped = grouped_cells(values)
        if not grouped.any():
            continue
        first = values[grouped].iloc[0]
        if not holds_grouped(values):
            try:
                numbers(t.tr.loc[values.index], c, Path(t.train))
            except ContractError as e:
                classes = ", or pass --task multiclass to read its values as classes" if len(targets) == 1 else ""
                raise ContractError(
                    f"{e} ({c} holds numbers written with thousands separators, such as {first!r}: fix that "
                    f"value{classes}.)"
                ) from None
        found.append(c)
        notes.append(f"target: {c} written with thousands separators (such as {first!r}) is read as numbers")
    t.tr = read_grouped(t.tr, found)
    return bool(found)


def infer(
    data: Path,
    name: str,
    target: str | None = None,
    id_col: str | None = None,
    metric: str | None = None,
    task: str | None = None,
    slug: str | None = None,
    train: str | None = None,
    test: str | None = None,
    sample: str | None = None,
    time: str | None = None,
) -> Spec:
    """Read the download and decide everything the generated file states (see the module docstring)."""
    _check_choices(name, metric, task)
    source = Source(Path(data).expanduser())
    notes: list[str] = []
    t = _read_tables(source, train, test, sample)
    id_col, id_start = _id_column(t, id_col, notes)
    targets = _target_columns(t, target, id_col, notes)
    _named_twice(t, targets, id_col, notes)
    _keep_words(source, t, targets, notes)
    _note_unlabelled(t, targets, notes)
    task, classes, metric, submission = _decide(t, targets, metric, task, notes)
    features = _features(t, id_col, targets, notes)
    time_col = _time_column(t, time, _later_test(t, features, notes), notes)
    id_groups = _id_groups(t, id_col, features, notes)
    folds = "time" if time_col else _fold_kind(t, targets, task, metric, notes, id_col, id_groups)
    transform, objective = _fitting(t, targets, metric, notes) if task == "regression" else ("", "")
    return Spec(
        name=name,
        slug=slug or re.sub(r"\.zip$", "", Path(data).name) or name,
        files=[n for n in source.names if not PurePosixPath(n).name.startswith(".") and n not in source.archives],
        train=t.train,
        test=t.test,
        sample=t.sample,
        id_col=id_col,
        targets=targets,
        task=task,
        metric=metric,
        submission=submission,
        classes=classes,
        n_train=len(t.tr),
        n_test=len(t.te),
        features=features,
        notes=notes,
        folds=folds,
        target_transform=transform,
        objective=objective,
        id_groups=id_groups,
        time=time_col,
        id_start=id_start,
    )


def describe(spec: Spec) -> str:
    """One line on the classes or the target's range, for the generated docstring."""
    if len(spec.targets) > 1:
        return f"{len(spec.targets)} targets, " + ("two-valued each" if spec.task == "binary" else "numeric values")
    if spec.classes is not None:
        shown = ", ".join(spec.classes[:8]) + (" ..." if len(spec.classes) > 8 else "")
        return f"{len(spec.classes)} classes ({shown})"
    return "numeric values"
