"""The metric `new` infers (or --metric, checked) and the submission format it implies, checked against what the
sample submission holds (labels, probabilities, a column per class, map@K's ranked classes, several targets' columns);
the competition's name, --metric and --task checked before any file is read; how the generated Config fits a
regression for its metric (fitting)."""

from __future__ import annotations

import keyword

import pandas as pd

from pipeline.contract import ContractError
from pipeline.listing import listed
from pipeline.tabular.data import class_columns, label_format_error, ranked_column, ranked_width
from pipeline.tabular.infer_files import Tables
from pipeline.tabular.metrics import METRICS, SEVERAL, TASKS, known, lookup, top_k

# what a competition page's (or another library's) name for a metric is here, said when --metric gives that name
MEANT = {
    **{n: "ROC AUC is --metric roc_auc" for n in ("auc", "rocauc", "roc-auc", "roc")},
    **{n: "log loss is --metric log_loss" for n in ("logloss", "mlogloss", "cross_entropy", "binary_logloss")},
    **{n: "--metric mae" for n in ("mean_absolute_error", "l1")},
    **{n: "--metric rmse" for n in ("root_mean_squared_error", "l2_root")},
    "rmsle_log": "--metric rmsle",
    "mcrmse": "mean column-wise RMSE is --metric rmse with several targets",
    "f1_micro": "micro-averaged F1 of one label a row is accuracy: --metric accuracy",
    "micro_f1": "micro-averaged F1 of one label a row is accuracy: --metric accuracy",
    "f1_macro": "--metric f1 is macro-averaged for several classes (for two, the positive class's F1)",
    "macro_f1": "--metric f1 is macro-averaged for several classes (for two, the positive class's F1)",
    "kappa": "quadratic weighted kappa is --metric qwk",
    "quadratic_weighted_kappa": "--metric qwk",
    "normalized_gini": "--metric gini",
    "median_absolute_error": "--metric medae",
    "mean_absolute_percentage_error": "--metric mape",
    "map@k": "name K: --metric map@3 for three classes a row",
}


def check_choices(name: str, metric: str | None, task: str | None) -> None:
    """The package name, --metric and --task, before any file is read."""
    if not name.isidentifier() or keyword.iskeyword(name) or name != name.lower():
        raise ContractError(f"competition name {name!r}: use a lower-case Python identifier, e.g. spaceship_titanic.")
    if metric is not None and not known(metric):
        meant = f" {MEANT[metric.lower()]}." if metric.lower() in MEANT else ""
        meant = f" Names are lower case: --metric {metric.lower()}." if known(metric.lower()) else meant
        raise ContractError(
            f"--metric {metric}: unknown.{meant} Valid metrics: {', '.join(METRICS)}, or map@K for K classes a row."
        )
    if task is not None and task not in TASKS:
        raise ContractError(f"--task {task}: unknown; valid tasks: {', '.join(TASKS)}.")


def single_metric(
    t: Tables, metric: str | None, task: str, target: str, classes: list[str] | None, notes: list[str]
) -> tuple[str, str]:
    """One target: the metric (given or the task's default) and the submission format it implies, checked against the
    sample."""
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


def several_metric(t: Tables, metric: str | None, task: str, k: int, notes: list[str]) -> tuple[str, str]:
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


def _is_label_column(col: pd.Series) -> bool:
    """A sample column that can hold labels: True/False, or numbers that are all 0 or 1."""
    if pd.api.types.is_bool_dtype(col):
        return True
    return pd.api.types.is_numeric_dtype(col) and set(col.dropna().unique()) <= {0, 1}


# the metrics whose regression the boosters fit on absolute error, and why (fitting's note)
ABSOLUTE = {
    "mae": "mae scores medians",
    "medae": "medae scores the median of absolute errors",
    "mape": "mape scores errors relative to the target",
    "smape": "smape scores errors relative to the target",
}


def fitting(t: Tables, targets: list[str], metric: str, notes: list[str]) -> tuple[str, str]:
    """(target_transform, objective) the generated Config fits a regression with, from the metric.

    rmsle scores log(1 + y): fit log(1 + y). mae scores the median: train the boosters on absolute error, and on
    log(1 + y) when every target is >= 0 (a monotone transform leaves the median where it was, and the trees fit a
    skewed target's logarithm more evenly: House Prices' CV MAE 13,691 against 13,999 with squared error on prices,
    benchmarks/README.md); medae too, a median of absolute errors. mape and smape the same: an absolute error of
    logarithms is a relative error.
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
    if metric not in ABSOLUTE:
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
    why = ABSOLUTE[metric]
    notes.append(
        f"fit: the boosters train on {fitted}, as {why}; change Config.objective and Config.target_transform in the "
        "generated file"
    )
    return transform, "l1"
