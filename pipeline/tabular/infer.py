"""What `python -m pipeline new` infers from Kaggle's download: files, id, target, task, metric, submission format.

Every guess is printed with the flag that changes it; anything that cannot be inferred is refused naming the flag
that settles it (ContractError: the CLI prints `error: ...` and exits 2).
"""

from __future__ import annotations

import io
import keyword
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pandas as pd

from pipeline.contract import ContractError
from pipeline.tabular.data import class_names
from pipeline.tabular.metrics import METRICS, TASKS

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
    target: str
    task: str
    metric: str
    submission: str
    classes: list[str] | None
    n_train: int
    n_test: int
    features: list[str]
    notes: list[str] = field(default_factory=list)


class Source:
    """The CSV files of a competition zip (read in memory, nothing extracted) or folder."""

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

    def read(self, name: str) -> pd.DataFrame:
        """One CSV as a DataFrame, or an error naming it."""
        try:
            if self.path.is_file():
                with zipfile.ZipFile(self.path) as zf:
                    return pd.read_csv(io.BytesIO(zf.read(name)))
            return pd.read_csv(self.path / name)
        except Exception as e:
            raise ContractError(f"{self.path}: {name} cannot be read as CSV ({type(e).__name__}: {e}).") from None

    def csvs(self) -> list[str]:
        return [n for n in self.names if n.lower().endswith(".csv")]


def _pick(source: Source, role: str, words: tuple[str, ...], given: str | None, flag: str) -> str:
    csvs = source.csvs()
    if given:
        if given not in source.names:
            raise ContractError(f"{flag} {given}: no such file in {source.path}; files: {', '.join(csvs)}.")
        return given
    exact = [n for n in csvs if PurePosixPath(n).name.lower() == f"{words[0]}.csv"]
    if len(exact) == 1:
        return exact[0]
    found = [n for n in csvs if any(w in PurePosixPath(n).name.lower() for w in words)]
    if len(found) == 1:
        return found[0]
    what = "none" if not found else f"several ({', '.join(found)})"
    raise ContractError(
        f"{source.path}: cannot tell which CSV is the {role}: {what} among {', '.join(csvs) or 'no CSV files'}. "
        f"Name it with {flag} FILE."
    )


def _task(y: pd.Series, target: str, notes: list[str]) -> str:
    values = y.dropna()
    n = values.nunique()
    if n < 2:
        raise ContractError(f"target {target!r} has {n} distinct value(s): nothing to learn.")
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        task = "binary" if n == 2 else "multiclass"
    elif n == 2:
        task = "binary"
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


def _default_metric(task: str, sample_values: pd.DataFrame, classes: list[str] | None) -> str:
    if task == "regression":
        return "rmse"
    if sample_values.shape[1] > 1:
        return "log_loss"
    col = sample_values.iloc[:, 0]
    if pd.api.types.is_float_dtype(col) and not (col.dropna() % 1 == 0).all():
        return "roc_auc" if task == "binary" else "log_loss"
    return "accuracy"


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
) -> Spec:
    """Read the download and decide everything the generated file states (see the module docstring)."""
    if not name.isidentifier() or keyword.iskeyword(name) or name != name.lower():
        raise ContractError(f"competition name {name!r}: use a lower-case Python identifier, e.g. spaceship_titanic.")
    if metric is not None and metric not in METRICS:
        raise ContractError(f"--metric {metric}: unknown; valid metrics: {', '.join(METRICS)}.")
    if task is not None and task not in TASKS:
        raise ContractError(f"--task {task}: unknown; valid tasks: {', '.join(TASKS)}.")
    source = Source(Path(data).expanduser())
    notes: list[str] = []
    train_f = _pick(source, "training table", ("train",), train, "--train")
    test_f = _pick(source, "test table", ("test",), test, "--test")
    sample_f = _pick(source, "sample submission", ("sample_submission", "submission", "sample"), sample, "--sample")
    tr, te, sub = source.read(train_f), source.read(test_f), source.read(sample_f)
    if sub.shape[1] < 2:
        raise ContractError(f"{sample_f}: a sample submission needs an id column and at least one value column.")

    # id: the sample's first column, present in test
    if id_col is None:
        first = sub.columns[0]
        if first in te:
            id_col = first
        else:
            unique = [c for c in te.columns if te[c].is_unique and te[c].notna().all()]
            hint = f" (test columns with unique values: {', '.join(unique)})" if unique else ""
            raise ContractError(
                f"{sample_f}: its first column {first!r} is not a column of {test_f}, so the id is unclear{hint}. "
                f"Name it with --id COL."
            )
    elif id_col not in te:
        raise ContractError(f"--id {id_col}: not a column of {test_f}; columns: {', '.join(te.columns)}.")
    if te[id_col].duplicated().any():
        raise ContractError(f"{test_f}: id column {id_col!r} has duplicate values; name the real id with --id COL.")

    # target: the sample's other columns present in train, else the one train-only column
    value_cols = list(sub.columns[1:])
    if target is None:
        in_train = [c for c in value_cols if c in tr and c not in te]
        only_train = [c for c in tr.columns if c not in te.columns and c != id_col]
        if len(in_train) == 1:
            target = in_train[0]
        elif len(in_train) > 1:
            raise ContractError(
                f"{sample_f} asks for several targets ({', '.join(in_train)}); this starter models one. "
                f"Name it with --target COL (and edit write_submission for the others)."
            )
        elif len(only_train) == 1:
            target = only_train[0]
            notes.append(f"target: {target} (the only column of {train_f} not in {test_f}); change with --target")
        else:
            cands = f"; columns only in {train_f}: {', '.join(only_train)}" if only_train else ""
            raise ContractError(
                f"cannot tell the target: no column of {sample_f} ({', '.join(value_cols)}) is in {train_f}{cands}. "
                f"Name it with --target COL."
            )
    elif target not in tr:
        raise ContractError(f"--target {target}: not a column of {train_f}; columns: {', '.join(tr.columns)}.")
    if target in te:
        raise ContractError(f"target {target!r} is also a column of {test_f}; is it really the target? Check --target.")

    task = task or _task(tr[target], target, notes)
    classes = class_names(tr[target]) if task != "regression" else None
    if task == "binary" and classes is not None and len(classes) != 2:
        raise ContractError(f"--task binary: {target} has {len(classes)} classes; use --task multiclass.")
    if task == "regression" and not pd.api.types.is_numeric_dtype(tr[target]):
        raise ContractError(f"--task regression: {target} holds text (e.g. {tr[target].iloc[0]!r}), not numbers.")
    if metric is None:
        metric = _default_metric(task, sub[value_cols], classes)
        notes.append(f"metric: {metric} (default for {task} with this sample submission); change with --metric NAME")
    spec_metric = METRICS[metric]
    if task not in spec_metric.tasks:
        raise ContractError(f"--metric {metric} is for {', '.join(spec_metric.tasks)}, not {task}.")
    submission = spec_metric.submission
    if submission == "probabilities" and len(value_cols) > 1 and classes is not None:
        if len(value_cols) != len(classes):
            raise ContractError(
                f"{sample_f} has {len(value_cols)} value columns but {target} has {len(classes)} classes."
            )
    elif task == "multiclass" and submission == "probabilities":
        raise ContractError(
            f"--metric {metric} needs one probability column per class, but {sample_f} has one value column; "
            f"use a label metric (--metric accuracy)."
        )
    elif len(value_cols) > 1:
        raise ContractError(f"{sample_f} has several value columns ({', '.join(value_cols)}): use --metric log_loss.")
    features = [c for c in tr.columns if c in te.columns and c not in (id_col, target)]
    extra = [c for c in tr.columns if c not in te.columns and c not in (id_col, target)]
    if extra:
        notes.append(f"ignored: {', '.join(extra)} (in {train_f} only: not available for the test rows)")
    if not features:
        raise ContractError(f"{train_f} and {test_f} share no feature column.")
    return Spec(
        name=name,
        slug=slug or re.sub(r"\.zip$", "", Path(data).name) or name,
        files=[n for n in source.names if not PurePosixPath(n).name.startswith(".")],
        train=train_f,
        test=test_f,
        sample=sample_f,
        id_col=id_col,
        target=target,
        task=task,
        metric=metric,
        submission=submission,
        classes=classes,
        n_train=len(tr),
        n_test=len(te),
        features=features,
        notes=notes,
    )


def describe(spec: Spec) -> str:
    """One line on the classes or the target's range, for the generated docstring."""
    if spec.classes is not None:
        shown = ", ".join(spec.classes[:8]) + (" ..." if len(spec.classes) > 8 else "")
        return f"{len(spec.classes)} classes ({shown})"
    return "numeric values"
