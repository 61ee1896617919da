"""What `python -m pipeline new` infers from Kaggle's download: files, id, target, task, metric, submission format.

Every guess is printed with the flag that changes it; anything that cannot be inferred is refused naming the flag
that settles it (ContractError: the CLI prints `error: ...` and exits 2).

Several targets: a sample submission whose value columns are all columns of train (or `--target A,B`) asks for one
prediction per column: task "regression" when they hold numbers, "binary" (multi-label) when every one is 0/1 or
True/False, scored by a SEVERAL metric averaged over the columns. Multi-label submissions hold each target's
probability (roc_auc, log_loss) or its label (accuracy, f1: 1 where the probability is above 0.5); a sample holding
True/False asks for labels, so accuracy is then the default and a probability metric is refused.

The decisions live in the modules beside this one: infer_files.py (the download's files and its three tables),
infer_columns.py (the id and the targets), infer_task.py (the task; decide: task, classes, metric and submission),
infer_metric.py (the metric, the submission format, a regression's fit); this one states them in a Spec, with the
features and the folds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pandas as pd

from features.columns import column_kind
from features.dates import date_format, parse_dates
from pipeline.contract import ContractError
from pipeline.grades import METRICS as GRADE_METRICS
from pipeline.listing import listed
from pipeline.tabular.data import as_names, id_is_feature
from pipeline.tabular.groups import holds_groups, split_by_group, split_ids
from pipeline.tabular.headers import checked
from pipeline.tabular.infer_columns import id_and_targets
from pipeline.tabular.infer_files import Source, Tables, read_tables
from pipeline.tabular.infer_joins import infer_joins
from pipeline.tabular.infer_lookup import find_lookup
from pipeline.tabular.infer_metric import check_choices, fitting
from pipeline.tabular.infer_series import infer_series
from pipeline.tabular.infer_task import asks_numbers, decide
from pipeline.tabular.joins import Join
from pipeline.tabular.lookup import Lookup
from pipeline.tabular.original import Original
from pipeline.tabular.pixels import Pixels, find_pixels
from pipeline.tabular.recipe import TabularRecipe
from pipeline.tabular.values import empty_columns, grouped_numbers, marker_of, row_number_columns, unit_of


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
    text: list[str] = field(default_factory=list)  # feature columns of free text (the "text" model reads them)
    group: str | None = None  # GROUPS: a training column grouping rows, each group in one fold (the images' groups)
    series: list[str] | None = None  # SERIES: the columns naming each series over TIME (their target's lags)
    horizon: int | None = None  # HORIZON: steps of TIME from the last training time to the test's last
    step: str = ""  # the step between TIME's values, in words (day, week, month, ...), where SERIES is set
    joins: list[Join] | None = None  # JOINS: auxiliary tables joined by key; None: the download holds none
    pixels: Pixels | None = None  # PIXELS: the image each row holds (its pixel columns, or one column of values)
    lookup: Lookup | None = None  # LOOKUP: the CSV saying which target of which test row each sample row asks

    @property
    def target(self) -> str | list[str]:
        """TARGET of the generated file: the column's name, or the list of them for several targets."""
        return self.targets[0] if len(self.targets) == 1 else self.targets

    @property
    def target_text(self) -> str:
        """The target column(s) in words: all of them, or the first and last of a long list."""
        text = ", ".join(self.targets)
        return text if len(text) <= 40 else f"{self.targets[0]} ... {self.targets[-1]}"


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
        notes.append(_numbers_note(t, grouped))
    if not features:
        raise ContractError(f"{t.train} and {t.test} share no feature column.")
    return features


def _numbers_note(t: Tables, grouped: list[str]) -> str:
    """The note on feature columns of text read as numbers (values.grouped_numbers): those written with thousands
    separators, and those written with a unit, each with an example."""
    parts = []
    for c in grouped:
        values = pd.concat([t.tr[c], t.te[c]]).dropna()
        if (unit := unit_of(values)) is not None:
            parts.append(f"{c} written with a unit ({unit!r}, such as {str(values.iloc[0])!r})")
        elif (mark := marker_of(values)) is not None:
            parts.append(f"{c} with {mark!r} for a missing number ({int((values.astype(str) == mark).sum())} rows)")
        else:
            first = values.astype(str)[values.astype(str).str.contains(",", regex=False)].iloc[0]
            parts.append(f"{c} written with thousands separators (such as {first!r})")
    return f"numbers: {listed(parts, 8)} are read as numbers"


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
    """TIME: --time's column (checked: in train, named once by its header, a date or number on every row), else the
    date column every test row follows; None with --time none, or when the test is not later.

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
    role = "time column (--time)" if time else "time column (the test follows it; --time none: random folds)"
    checked(t.twice.get(t.train, {}), t.train, [(role, column)])  # named twice: refused, as load_tables does
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


def _pixels(t: Tables, features: list[str], given: str | None) -> Pixels | None:
    """PIXELS: the image each training row holds among the features (pixels.find_pixels), None where none does or
    with --pixels none; anything else --pixels says is refused."""
    if given is not None and given.lower() != "none":
        raise ContractError(
            f"--pixels takes 'none' (read the columns of an image as numbers), got {given!r}; `new` finds the image "
            "itself, and PIXELS in the generated file says where it lies."
        )
    return None if given is not None else find_pixels(t.tr, features)


def download_slug(data: Path) -> str:
    """The competition's Kaggle slug as the download's name says it: the zip's name less `.zip`, and less the copy
    number a browser adds to a second download of it (`titanic (1).zip`, `titanic(2).zip`), which no slug holds."""
    return re.sub(r"\s*\(\d+\)$", "", re.sub(r"\.zip$", "", data.name, flags=re.IGNORECASE))


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
    source: Source | None = None,
    series: str | None = None,
    join: str | None = None,
    tables: bool = True,
    pixels: str | None = None,
) -> Spec:
    """Read the download and decide everything the generated file states (see the module docstring); `source`: its
    files when the caller has listed them already (else listed here). `join`: --join; `tables` False: no auxiliary
    table is looked for (the table of an image download's metadata, whose EXPECTED_FILES are its three CSVs);
    `pixels`: --pixels, "none" to read the columns of an image each row holds as numbers."""
    check_choices(name, metric, task)
    source = source or Source(Path(data).expanduser())
    notes: list[str] = []
    t = read_tables(source, train, test, sample)
    if (lookup := find_lookup(source, t, notes)) is not None:  # Facial Keypoints: the sample asks through a lookup
        task, classes, metric, submission = _lookup_task(metric, task, target, id_col)
        id_col, id_start, targets = lookup.id_col, None, lookup.targets
    else:
        numbers = asks_numbers(metric, task)
        id_col, id_start, targets = id_and_targets(source, t, id_col, target, notes, classes=not numbers)
        task, classes, metric, submission = decide(t, targets, metric, task, notes)
    features = _features(t, id_col, targets, notes)
    image = _pixels(t, features, pixels)
    pixel_columns = set(image.columns()) if image is not None else set()  # an image's text column is no free text
    time_col = _time_column(t, time, _later_test(t, features, notes), notes)
    id_groups = _id_groups(t, id_col, features, notes)
    folds = "time" if time_col else _fold_kind(t, targets, task, metric, notes, id_col, id_groups)
    found = infer_series(t, time_col, id_col, targets, task, series, notes)  # before the joins: none is a series key
    joins = infer_joins(source, t, join, notes) if tables and lookup is None else None  # a lookup is no join
    transform, objective = fitting(t, targets, metric, notes) if task == "regression" else ("", "")
    return Spec(
        name=name,
        slug=slug or download_slug(Path(data)) or name,
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
        text=[c for c in features if c not in pixel_columns and column_kind(t.tr[c]) == "text"],
        series=None if found is None else found.columns,
        horizon=None if found is None else found.horizon,
        step="" if found is None else found.step,
        joins=joins,
        pixels=image,
        lookup=None if lookup is None else lookup.lookup,
    )


def _lookup_task(
    metric: str | None, task: str | None, target: str | None, id_col: str | None
) -> tuple[str, None, str, str]:
    """(task, classes, metric, submission) of a sample asking through a lookup: a regression of every target, scored
    by the RMSE over the values asked; another --metric or --task is refused, as is --target or --id, which the lookup
    settles (its column of names, its column of test ids)."""
    if target is not None or id_col is not None:
        flag = "--target" if target is not None else "--id"
        raise ContractError(
            f"{flag}: the sample asks its values through a lookup table, which names the targets and the test rows' "
            "id; leave the flag out."
        )
    if metric not in (None, "rmse") or task not in (None, "regression"):
        flag = f"--metric {metric}" if metric not in (None, "rmse") else f"--task {task}"
        raise ContractError(
            f"{flag}: a sample asking values through a lookup table is a regression scored by the RMSE over the "
            "values asked (rmse); leave the flag out."
        )
    return "regression", None, "rmse", "values"


def describe(spec: Spec) -> str:
    """One line on the classes or the target's range, for the generated docstring."""
    if len(spec.targets) > 1:
        return f"{len(spec.targets)} targets, " + ("two-valued each" if spec.task == "binary" else "numeric values")
    if spec.classes is not None:
        return f"{len(spec.classes)} classes ({listed(spec.classes, 8)})"
    return "numeric values"
