"""The task `new` infers from the target's values (binary, multiclass, regression; qwk's grades fitted as a
regression; several targets multi-label or regression), checked against --task; and decide, which settles the task,
the classes, the metric and the submission format together for one target or several."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipeline.contract import ContractError
from pipeline.grades import METRICS as GRADE_METRICS
from pipeline.listing import listed
from pipeline.tabular.data import class_columns, class_names
from pipeline.tabular.infer_files import Tables
from pipeline.tabular.infer_metric import several_metric, single_metric
from pipeline.tabular.metrics import lookup
from pipeline.tabular.values import grouped_cells, holds_grouped, numbers, read_grouped

MAX_CLASS_LEVELS = 10  # integer targets with at most this many values are classes, above it values


def decide(t: Tables, targets: list[str], metric: str | None, task: str | None, notes: list[str]) -> tuple:
    """(task, classes, metric, submission) for one target or several."""
    if len(targets) > 1:
        _grouped_targets(t, targets, notes)  # several targets hold numbers (or 0/1 flags, never written 1,000)
        task = _several_task(t, targets, task, notes)
        return (task, None, *several_metric(t, metric, task, len(targets), notes))
    as_numbers = metric is None or "regression" in lookup(metric).tasks  # a class metric asks for classes
    grouped = task in (None, "regression") and as_numbers and _grouped_targets(t, targets, notes)
    if grouped and task is None and metric not in GRADE_METRICS:
        task = "regression"
        notes.append(f"task: regression (from the values of {targets[0]}); change with --task")
    y = t.tr[targets[0]]
    if metric in GRADE_METRICS and task in (None, "regression"):
        task = _grades_task(y, targets[0], t.train, notes)
    if task is None and asks_numbers(metric, task) and not pd.api.types.is_numeric_dtype(y):  # rmse on words
        _refuse_text(
            y, targets[0], t.train, f"--metric {metric} scores numbers", "use a label metric (--metric accuracy)"
        )
    if task is None and asks_numbers(metric, task):  # rmse on counts 0..5 or a 0/1 column: values, as asked
        task = "regression"
        notes.append(f"task: regression (--metric {metric} scores values of {targets[0]}); change with --task")
    task = task or _task(y, targets[0], notes, t.sub, as_numbers)
    classes = _check_task(y, targets[0], task, t.train)
    if twins := spaced_twins(classes or []):
        notes.append(
            f"warning: target: classes {twins} differ only by spaces around them, so each is a class of its own; if "
            f"they are one, fix {t.train}"
        )
    return (task, classes, *single_metric(t, metric, task, targets[0], classes, notes))


def asks_numbers(metric: str | None, task: str | None) -> bool:
    """Whether --task or --metric asks for a target of numbers: --task regression, or with no --task a metric that
    scores only values (rmse, mae, r2 ..., qwk's grades). Such a target's NA is a missing value, as pandas reads it,
    not a class's word (values.with_words), as the generated load reads a regression's."""
    if task is not None:
        return task == "regression"
    return metric is not None and lookup(metric).tasks == ("regression",)


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


def _grades_task(y: pd.Series, target: str, where: str, notes: list[str]) -> str:
    """A QWK target: whole-number grades, fitted as a regression (the models learn their order) and cut into grades
    at points fitted out of fold; refused when the target holds anything else, naming the first such line of
    `where` (train's file; an empty cell or NA is no label, as pandas reads it)."""
    values = pd.to_numeric(y.dropna(), errors="coerce")
    odd = y.dropna()[values.isna().to_numpy() | (values % 1 != 0).to_numpy()]
    if len(odd):
        first = odd.iloc[0]
        shown = repr(first) if isinstance(first, str) else f"{float(first):g}"
        raise ContractError(
            f"{where}: --metric qwk scores whole-number grades, but {target} holds {shown} on line {odd.index[0] + 2}; "
            "fix that value, or use a label metric (--metric accuracy)."
        )
    notes.append(
        f"task: regression on the {values.nunique()} grades of {target} (qwk scores ordered grades: the models fit "
        "them as numbers, then the values are cut into grades at points fitted out of fold)"
    )
    return "regression"


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


def _check_task(y: pd.Series, target: str, task: str, where: str) -> list[str] | None:
    """The class names (None for regression), checked against the task; a regression target holding text is refused
    naming the first line of `where` (train's file) whose value is no number."""
    classes = class_names(y) if task != "regression" else None
    if task == "binary" and classes is not None and len(classes) != 2:
        raise ContractError(f"--task binary: {target} has {len(classes)} classes; use --task multiclass.")
    if task == "regression" and not pd.api.types.is_numeric_dtype(y):
        _refuse_text(y, target, where, "--task regression", "pass --task multiclass")
    return classes


def spaced_twins(classes: list[str]) -> str:
    """Classes that are one name with spaces around it or not (`'yes'`, `'yes '`), shown; "" when none."""
    by_name: dict[str, list[str]] = {}
    for c in classes:
        by_name.setdefault(str(c).strip(), []).append(str(c))
    return "; ".join(" and ".join(repr(c) for c in group) for group in by_name.values() if len(group) > 1)


def _refuse_text(y: pd.Series, target: str, where: str, asked: str, fix: str) -> None:
    """Refuse a target holding text where `asked` (--task regression, --metric rmse ...) wants numbers: one line
    naming the first line of `where` (train's file) whose value is no number, and `fix`, the flag that predicts its
    values as classes instead."""
    try:
        numbers(y.dropna().to_frame(), target, Path(where))  # unlabelled rows aside; names the line
    except ContractError as e:
        raise ContractError(
            f"{asked}: {e} Fix that value, or, to predict {target}'s values as classes, {fix}."
        ) from None
    raise ContractError(f"{asked}: {target} holds text (e.g. {y.iloc[0]!r}), not numbers.")
