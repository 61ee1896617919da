"""Config.pseudo_label_balance: the pseudo-labelled test rows keep the training labels' class shares (each class
capped at its share of the rows kept, its most confident rows first), where a threshold alone takes the test set's
own mix; the log counts each class; refused where it cannot apply."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import joblib
import numpy as np
import pandas as pd
import pytest
from test_pseudo import CLASSES, VALUES, comp, opts, summary

import pipeline.pseudo as pseudo
from pipeline.contract import ContractError
from pipeline.runner import run

# Three well-separated classes, 50% / 30% / 20% of the 300 training rows, and a test set of the reverse mix (20% /
# 30% / 50% of 200 rows): nearly every test row is sure of its class, so a threshold alone takes the test's mix.
SKEWED = (
    CLASSES.split("def sample(dest):")[0]
    + """def sample(dest):
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [4, 0], [0, 4]])
    y = np.repeat([0, 1, 2], [150, 90, 60])
    train = pd.DataFrame(rng.normal(size=(300, 2)) + centres[y], columns=["x0", "x1"])
    train["label"] = np.array(CLASSES)[y]
    train.insert(0, "id", np.arange(300))
    y_test = np.repeat([0, 1, 2], [40, 60, 100])
    test = pd.DataFrame(rng.normal(size=(200, 2)) + centres[y_test], columns=["x0", "x1"])
    test.insert(0, "id", np.arange(1000, 1200))
    train.to_csv(dest / "train.csv", index=False)
    test.to_csv(dest / "test.csv", index=False)
    pd.DataFrame({"id": test["id"], **{c: 1 / 3 for c in CLASSES}}).to_csv(dest / "sample_submission.csv", index=False)
"""
)
SHARES = np.array([0.5, 0.3, 0.2])  # the training labels'


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def taught(run_dir: Path, fold: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fold `fold`'s pseudo-labelled test rows as its knn student was fitted on them (their indices into test.csv and
    labels), and that fold's teacher: the mean of its first-round models' test predictions."""
    test = pd.read_csv(Path(summary(run_dir)["data_dir"]) / "test.csv")[["x0", "x1"]].to_numpy()
    student = joblib.load(run_dir / "models" / "knn+pseudo" / f"fold{fold}.joblib")
    n_train = int((np.load(run_dir / "folds.npy") != fold).sum())
    where = {tuple(x): i for i, x in enumerate(test)}
    rows = np.array([where[tuple(x)] for x in student._fit_X[n_train:]], dtype=int)
    teacher = np.mean([np.load(run_dir / "parts" / m / f"fold{fold}.npz")["test"] for m in ("logreg", "knn")], axis=0)
    return rows, np.asarray(student._y[n_train:]), teacher


def test_balance_keeps_the_training_class_shares_where_the_threshold_alone_takes_the_tests_mix(here: Path) -> None:
    spec = comp(here, SKEWED, "pseudo_balance")
    plain = run(opts(spec, "pseudo_label=0.9", tag="plain"))
    balanced = run(opts(spec, "pseudo_label=0.9", "pseudo_label_balance=true", tag="balanced"))
    for m in ("logreg", "knn"):  # the first round is the same run
        assert (plain / "test" / f"{m}.npy").read_bytes() == (balanced / "test" / f"{m}.npy").read_bytes()
    log = (balanced / "log.txt").read_text()
    assert "as many of each class as keep the training class shares (pseudo_label, pseudo_label_balance)" in log
    for f in range(3):
        rows, labels, teacher = taught(plain, f)
        counts = np.bincount(labels, minlength=3)
        assert counts[0] < 0.3 * len(rows) and counts[2] > 0.4 * len(rows)  # the test's mix, not the training's
        rows, labels, teacher = taught(balanced, f)
        counts = np.bincount(labels, minlength=3)
        assert len(rows) >= 60
        assert np.all(np.abs(counts - SHARES * len(rows)) <= 1), counts  # the training shares, within rounding
        top = teacher.max(axis=1)
        np.testing.assert_array_equal(labels, teacher[rows].argmax(axis=1))
        assert top[rows].min() >= 0.9
        sure = np.flatnonzero(top >= 0.9)
        for c in range(3):  # each class's most confident rows
            left = np.setdiff1d(sure[teacher[sure].argmax(axis=1) == c], rows)
            assert not len(left) or top[rows[labels == c]].min() >= top[left].max()
        # as many rows as the scarcest class for its share allows: every sure row of class a is kept
        assert counts[0] == int((teacher[sure].argmax(axis=1) == 0).sum())
        line = f"fold {f} {len(rows)} (a={counts[0]}, b={counts[1]}, c={counts[2]})"
        assert line in log
        assert summary(balanced)["models"]["knn+pseudo"]["pseudo_rows"][f] == len(rows)


def test_balance_takes_no_row_where_a_class_reaches_no_probability_and_says_which() -> None:
    probs = {"p": np.array([[0.97, 0.03], [0.95, 0.05], [0.3, 0.7], [0.92, 0.08]])}  # class 1 never reaches 0.9
    assert pseudo.teach(probs, 0.9, 2, seed=0).rows.tolist() == [0, 1, 3]
    none = pseudo.teach(probs, 0.9, 2, seed=0, priors=np.array([0.5, 0.5]))
    assert len(none.rows) == 0 and none.scarce == (1,)
    warning = pseudo.none_taught({0: none}, 0.9, ["cat", "dog"])
    assert "no test row of class(es) dog reaches that probability" in warning
    assert "lower pseudo_label, or set pseudo_label_balance=false" in warning
    # shares of 3/4 and 1/4: three rows of class 0 for the one of class 1, the surest three
    probs = {"p": np.array([[0.91, 0.09], [0.99, 0.01], [0.05, 0.95], [0.93, 0.07], [0.96, 0.04], [0.9, 0.1]])}
    kept = pseudo.teach(probs, 0.9, 2, seed=0, priors=np.array([0.75, 0.25]))
    assert kept.rows.tolist() == [1, 2, 3, 4] and kept.labels.tolist() == [0, 1, 0, 0]


def test_balance_is_refused_without_pseudo_label_on_a_regression_or_as_no_bool_before_any_run_folder(
    here: Path,
) -> None:
    with pytest.raises(ContractError, match=r"pseudo_label_balance is true and pseudo_label is None \(off\)"):
        run(opts(comp(here, CLASSES, "balance_alone"), "pseudo_label_balance=true"))
    with pytest.raises(ContractError, match=r"Config.pseudo_label_balance: .* this target is a regression"):
        run(opts(comp(here, VALUES, "balance_values"), "pseudo_label=0.5", "pseudo_label_balance=true"))
    assert not (here / "runs").exists()
    with pytest.raises(ContractError, match=r"Config.pseudo_label_balance must be true or false, got 'yes'"):
        pseudo.check_setting(SimpleNamespace(pseudo_label=0.9, pseudo_label_balance="yes"))


def test_a_run_saved_before_the_balance_setting_resumes_as_it_was(here: Path) -> None:
    """A run made before Config.pseudo_label_balance existed: complete, it stays complete; killed, its resume keeps
    its saved parts (the field is left out of its config and keys, as it was, ADDED_FIELDS)."""
    import sys

    before_field = CLASSES.replace("    pseudo_label_balance: bool = False\n", "")
    assert "pseudo_label_balance" not in before_field
    spec = comp(here, before_field, "balance_legacy")
    old = run(opts(spec, "pseudo_label=0.6"))
    submission, finished = (old / "submission.csv").read_bytes(), (old / "summary.json").stat().st_mtime_ns
    (Path(spec) / "__init__.py").write_text(CLASSES)  # the package as it is now: the Config gained the field
    sys.modules.pop(Path(spec).name, None)
    run(opts(spec, "pseudo_label=0.6", resume=str(old)))
    assert (old / "summary.json").stat().st_mtime_ns == finished  # already complete: nothing done
    (old / "summary.json").unlink()
    stamps = {p: p.stat().st_mtime_ns for p in (old / "parts").glob("*/fold*.npz")}
    run(opts(spec, "pseudo_label=0.6", resume=str(old)))
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())  # kept, not fitted again
    assert (old / "submission.csv").read_bytes() == submission
