"""Whether runs of different competitions answer one question, so that `ensemble` may blend them: an image network
and a model of the photos' metadata written by `new` and `new --kind table` for one download (SIIM-ISIC Melanoma,
PetFinder Pawpularity), whose winners blended both.

`ensemble` (pipeline/ensemble_runs.py) checks first that the runs are of one download (the same data folder, or
folders of the same tables) and used the same folds. Here, with each competition's data loaded as its runs read it:
- the metric: the same name and direction (summary.json's "metric" and "greater_is_better");
- the target: the same training answers, row by row (classes by name, values as numbers);
- the test rows: the same ids (Data.test_ids: an image competition's are the sample submission's, a table's its test
  CSV's); listed in another order, each once, the other competition's test predictions are realigned to the base
  run's rows (test_order), as each competition's predictions are rows in its own order.
Each refusal names both competitions and what differs (the first differing row or id).

Runs of one competition blend whatever their Configs, but the ensemble's stages after the models and its submission
read one Config, its base run's: where the runs differ in a field those read (STAGE_FIELDS: a segmentation run's mask
cut, a detection run's box cut, the blend weights, the stack, the label threshold), `stage_settings_note` says which
run's values hold.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline.contract import ContractError, Data

QUESTION = "runs of different competitions blend only when they answer one question: its metric, target and test rows"
# Config fields the stages after the models and the submission read (pipeline/finish.py, threshold.py, the box and
# mask cuts, CsvMasks.write_submission): an ensemble takes them from its base run's Config
STAGE_FIELDS = (
    "blend_weights",
    "stack",
    "threshold",
    "min_score",
    "fit_min_score",
    "mask_threshold",
    "min_area",
    "fit_mask_cut",
)


def stage_settings_note(names: list[str], configs: list[dict[str, Any]], base: int) -> str | None:
    """A warning line where runs of one competition (`names`, their saved Config values `configs`) differ in a
    STAGE_FIELDS field: the ensemble blends, cuts and writes its submission with the base run's; None where they
    agree."""
    differ = [k for k in STAGE_FIELDS if len({repr(c.get(k)) for c in configs if k in c}) > 1]
    if not differ:
        return None
    values = "; ".join(
        f"{k}: " + ", ".join(f"{n} {c[k]!r}" for n, c in zip(names, configs, strict=True) if k in c) for k in differ
    )
    held = ", ".join(f"{k}={configs[base].get(k)!r}" for k in differ)
    return (
        f"ensemble: the runs' Configs differ in what the stages after the models and the submission read ({values}); "
        f"the ensemble uses {names[base]}'s ({held}), its base run's (the first named, of those with the fewest "
        "training rows)."
    )


def target_name(module: Any) -> str:
    """The competition's target column(s) in words: a table's TARGET, an image competition's answer columns (its
    FILES': values or labels, tags, or a class label), else "its target"."""
    files = getattr(module, "FILES", None)
    found = [getattr(module, "TARGET", None)]
    found += [
        getattr(files, k, None)
        for k in ("columns", "train_tags_column", "tags_column", "train_label_column", "label_column")
    ]
    target = next((t for t in found if t), None)
    if target is None:
        return "its target"
    return target if isinstance(target, str) else ", ".join(map(str, target))


def check_metric(names: tuple[str, str], summaries: tuple[dict[str, Any], dict[str, Any]]) -> None:
    """Both competitions (`names`) scored by one metric, in one direction (their runs' summaries); else refused."""
    metrics = [(s.get("metric"), bool(s.get("greater_is_better"))) for s in summaries]
    if metrics[0] != metrics[1]:
        (a, b), (ma, mb) = names, [m for m, _ in metrics]
        raise ContractError(f"ensemble: {a} is scored by {ma} and {b} by {mb}; {QUESTION}.")


def answers(data: Data, rows: int) -> np.ndarray:
    """The first `rows` training answers: class names where the competition has classes, else numbers."""
    y = np.asarray(data.y)[:rows]
    if data.classes is not None and y.ndim == 1:
        return np.asarray([str(c) for c in data.classes], dtype=object)[y.astype(np.int64)]
    return y.astype(float)


def check_target(names: tuple[str, str], modules: tuple[Any, Any], data: tuple[Data, Data], rows: int) -> None:
    """Both competitions' training answers the same on the `rows` scored rows (a class by name, a value as a number:
    equal but for rounding); else refused, naming both targets and the first row that differs."""
    a, b = (answers(d, rows) for d in data)
    (na, nb), (ta, tb) = names, (target_name(m) for m in modules)
    if a.shape != b.shape:
        raise ContractError(
            f"ensemble: {na}'s target ({ta}) and {nb}'s ({tb}) differ: {a.shape[1:] or 'one column'} against "
            f"{b.shape[1:] or 'one column'} a row; {QUESTION}."
        )
    same = a == b if a.dtype == object else np.isclose(a, b, rtol=1e-9, atol=0.0, equal_nan=True)
    if not np.all(same):
        row = int(np.flatnonzero(~same.reshape(len(a), -1).all(axis=1))[0])
        raise ContractError(
            f"ensemble: {na}'s target ({ta}) and {nb}'s ({tb}) differ: training row {row + 1} is {_shown(a[row])} in "
            f"{na} and {_shown(b[row])} in {nb}; {QUESTION}."
        )


def _shown(value: Any) -> str:
    """One answer as a message shows it: a class's name, a number in its shortest form, a row of them."""
    if isinstance(value, np.ndarray):
        return "(" + ", ".join(_shown(v) for v in value) + ")"
    return f"{value:g}" if isinstance(value, float) else repr(value)


def test_order(names: tuple[str, str], ids: tuple[Any, Any]) -> np.ndarray | None:
    """Where each of the first competition's test ids (its rows' order, which the blend's rows take) stands among the
    second's: None when both list the same ids in the same order (as written, spaces around them aside), else the
    positions that realign the second's test predictions (`pred[order]`) when it lists the same ids, each once, in
    another order. Refused, naming both competitions, when the ids differ (the first id one lists and the other does
    not) or an id is listed twice, as then no row of one is one row of the other."""
    a, b = ([str(i).strip() for i in np.asarray(v, dtype=object)] for v in ids)
    if a == b:
        return None
    (na, nb), only = names, []
    for (x, nx), (other, ny) in (((a, na), (b, nb)), ((b, nb), (a, na))):
        seen = set(other)
        row = next((i for i, v in enumerate(x) if v not in seen), None)
        if row is not None:
            only.append(f"test row {row + 1} of {nx}, id {x[row]!r}, is none of {ny}'s")
    if only:
        raise ContractError(
            f"ensemble: {na} and {nb} predict different test rows ({len(a)} and {len(b)}): {'; '.join(only)}; "
            f"{QUESTION}."
        )
    for x, nx in ((a, na), (b, nb)):
        if (twice := _first_twice(x)) is not None:
            raise ContractError(
                f"ensemble: {nx} lists test id {twice!r} twice, and {na} and {nb} list their test ids in different "
                f"orders: their test rows cannot be matched one to one; {QUESTION}."
            )
    position = {v: i for i, v in enumerate(b)}
    return np.array([position[v] for v in a], dtype=np.int64)


def _first_twice(ids: list[str]) -> str | None:
    """The first id listed a second time, else None."""
    seen: set[str] = set()
    for v in ids:
        if v in seen:
            return v
        seen.add(v)
    return None


def realigned_note(base: str, other: str) -> str:
    """The log's line for a competition whose test predictions were realigned to the base competition's rows."""
    return f"{other} lists the test ids of {base} in another order: its test predictions realigned to {base}'s rows"
