"""Config.pseudo_label: a second round of every model, "<model>+pseudo", on each fold's training rows plus the test
rows that fold's own models label; honest out of fold, resumable, predicted from its saved models, refused where it
cannot apply, and off by default."""

from __future__ import annotations

import json
import time
import uuid
import zipfile
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from toy import TOY, TOY_CLASSES, make_toy

import pipeline.fold_fits as fold_fits
import pipeline.pseudo as pseudo
from pipeline import runfolder
from pipeline.cli import main
from pipeline.contract import ContractError
from pipeline.runner import RunOptions, run

FIELDS = '    pseudo_label: float | None = None\n    pseudo_label_balance: bool = False\n    refit: str = "off"\n'
CLASSES = TOY_CLASSES.replace("    folds: int = 3\n", "    folds: int = 3\n" + FIELDS)
VALUES = TOY.replace("    warns: bool = False\n", "    warns: bool = False\n" + FIELDS)

# Coin-flip labels on 300 rows whose test set is the same 300 rows moved by 1e-6: a 1-nearest-neighbour student that
# learns the test copies with the labels of its fold's teacher predicts each validation row by its own copy's label.
# The honest teacher (fold k's models, which never saw fold k's rows) gives a copy a neighbour's coin flip, so the
# student's CV is chance, as is every model's accuracy on new rows of coin flips; a teacher that had seen fold k's
# rows (the mean over every fold's models) gives each copy its own row's label, and the student's CV reads near 1.
COPIES = '''
"""Coin-flip labels; the test rows are the training rows moved by 1e-6 (pseudo-labelling's honesty test)."""
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.neighbors import KNeighborsClassifier

from pipeline.contract import Data, Metric

KAGGLE_SLUG = "pseudo-copies"
METRIC = Metric("accuracy", greater_is_better=True)
FOLDS = "stratified"
EXPECTED_FILES = ["train.csv", "test.csv", "sample_submission.csv"]


@dataclass(frozen=True)
class Config:
    folds: int = 3
    pseudo_label: float | None = None


def load(cfg, data_dir):
    train, test = pd.read_csv(data_dir / "train.csv"), pd.read_csv(data_dir / "test.csv")
    return Data(X=train[["a", "b"]], y=train["label"].to_numpy(), X_test=test[["a", "b"]],
                test_ids=test["id"].to_numpy(), sample_submission=data_dir / "sample_submission.csv",
                classes=["0", "1"])


def models(cfg):
    return {"nearest": KNeighborsClassifier(1)}


def score(y_true, pred):
    return float(np.mean(np.asarray(pred).argmax(axis=1) == y_true))


def write_submission(data, pred, path):
    pd.DataFrame({"id": data.test_ids, "label": np.asarray(pred).argmax(axis=1)}).to_csv(path, index=False)


def sample(dest):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 2))
    train = pd.DataFrame(X, columns=["a", "b"]).assign(label=rng.integers(0, 2, 300))
    train.insert(0, "id", np.arange(300))
    test = pd.DataFrame(X + rng.normal(0, 1e-6, X.shape), columns=["a", "b"])
    test.insert(0, "id", np.arange(1000, 1300))
    train.to_csv(dest / "train.csv", index=False)
    test.to_csv(dest / "test.csv", index=False)
    pd.DataFrame({"id": test["id"], "label": 0}).to_csv(dest / "sample_submission.csv", index=False)
'''


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def comp(root: Path, source: str, name: str) -> str:
    """A toy competition package of its own name (unique across the test suite)."""
    return str(make_toy(root / "comps", f"{name}_{uuid.uuid4().hex[:8]}", source))


def opts(spec: str, *sets: str, **kw: object) -> RunOptions:
    return RunOptions(competition=spec, sample=True, quiet=True, sets=list(sets), **kw)  # type: ignore[arg-type]


def summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def test_each_model_has_a_student_taught_by_its_own_folds_models(here: Path) -> None:
    spec = comp(here, CLASSES, "pseudo_classes")
    run_dir = run(opts(spec, "pseudo_label=0.6", tag="on"))
    off = run(opts(spec, tag="off"))
    for m in ("logreg", "knn"):  # the first round is the run without the option
        for kind in ("oof", "test"):
            assert (run_dir / kind / f"{m}.npy").read_bytes() == (off / kind / f"{m}.npy").read_bytes()
    s = summary(run_dir)
    assert list(s["models"]) == ["logreg", "knn", "logreg+pseudo", "knn+pseudo"]  # the blend chooses among them all
    assert set(s["blend"]["oof_scores"]) == set(s["models"])
    data = pd.read_csv(Path(s["data_dir"]) / "test.csv")[["x0", "x1"]].to_numpy()
    folds = np.load(run_dir / "folds.npy")
    counts, by_class = [], []
    for f in range(3):
        # fold f's teacher: the mean of fold f's first-round models' test predictions, which never saw fold f's rows
        teacher = np.mean([np.load(run_dir / "parts" / m / f"fold{f}.npz")["test"] for m in ("logreg", "knn")], 0)
        rows = np.flatnonzero(teacher.max(axis=1) >= 0.6)
        counts.append(len(rows))
        by_class.append(np.bincount(teacher[rows].argmax(axis=1), minlength=3))
        student = joblib.load(run_dir / "models" / "knn+pseudo" / f"fold{f}.joblib")  # what it was fitted on
        n_train = int((folds != f).sum())
        np.testing.assert_array_equal(student._fit_X[n_train:], data[rows])
        np.testing.assert_array_equal(student._y[n_train:], teacher[rows].argmax(axis=1))
    assert s["models"]["knn+pseudo"]["pseudo_rows"] == s["models"]["logreg+pseudo"]["pseudo_rows"] == counts
    assert min(counts) > 0 and max(counts) < 30  # some test rows, not all, are confident enough
    assert "pseudo_rows" not in s["models"]["knn"]
    for m in ("logreg", "knn"):  # the students learned something else than their teachers
        assert not np.allclose(np.load(run_dir / "oof" / f"{m}.npy"), np.load(run_dir / "oof" / f"{m}+pseudo.npy"))
    log = (run_dir / "log.txt").read_text()
    each = [f"fold {f} {counts[f]} (a={by_class[f][0]}, b={by_class[f][1]}, c={by_class[f][2]})" for f in range(3)]
    assert f"pseudo labels of the 30 test rows from the mean of logreg, knn: {', '.join(each)}" in log  # per class
    assert "knn+pseudo fold 1: log_loss " in log and f", {counts[1]} pseudo-labelled test rows)" in log


def test_the_students_cv_is_out_of_fold_where_a_leaky_teacher_would_flatter_it(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = comp(here, COPIES, "pseudo_copies")
    honest = summary(run(opts(spec, "pseudo_label=0.6", tag="honest")))
    assert honest["models"]["nearest+pseudo"]["pseudo_rows"] == [300, 300, 300]
    assert 0.38 < honest["models"]["nearest"]["mean"] < 0.62  # coin flips: chance, out of fold and on new rows
    assert 0.38 < honest["models"]["nearest+pseudo"]["mean"] < 0.62
    real = pseudo.teaching

    def mean_over_folds(fold_tests, *rest):  # noqa: ANN001, ANN002, ANN202  (the leak the runner must not make)
        leaked = {m: dict.fromkeys(tests, np.mean(list(tests.values()), axis=0)) for m, tests in fold_tests.items()}
        return real(leaked, *rest)

    monkeypatch.setattr(pseudo, "teaching", mean_over_folds)
    leaky = summary(run(opts(spec, "pseudo_label=0.6", tag="leaky")))
    assert leaky["models"]["nearest+pseudo"]["mean"] > 0.9  # fold k's own labels came back through its test copies


def test_a_run_killed_in_the_second_round_resumes_to_the_same_submission(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = comp(here, CLASSES, "pseudo_resume")
    whole = run(opts(spec, "pseudo_label=0.6", tag="whole"))
    real, fits, dying = fold_fits._fit_part, [], [True]

    def dies_in_a_students_second_fold(state, job, *rest):  # noqa: ANN001, ANN002, ANN202
        fits.append(job.model)
        if dying[0] and fits.count("logreg+pseudo") == 2:
            raise KeyboardInterrupt
        return real(state, job, *rest)

    monkeypatch.setattr(fold_fits, "_fit_part", dies_in_a_students_second_fold)
    with pytest.raises(KeyboardInterrupt):
        run(opts(spec, "pseudo_label=0.6", tag="killed"))
    killed = next((here / "runs").glob("*/*-killed-sample"))
    assert len(list((killed / "parts").glob("*/*.npz"))) == 7  # both models' 3 folds and one student fold
    fits.clear()
    dying[0] = False
    run(opts(spec, "pseudo_label=0.6", tag="killed", resume=str(killed)))
    assert fits == ["logreg+pseudo"] * 2 + ["knn+pseudo"] * 3  # only the student folds not yet saved
    assert (killed / "submission.csv").read_bytes() == (whole / "submission.csv").read_bytes()
    for m in ("logreg+pseudo", "knn+pseudo"):
        np.testing.assert_array_equal(np.load(killed / "oof" / f"{m}.npy"), np.load(whole / "oof" / f"{m}.npy"))
    # predict through the saved fold models, the students' among them, gives the run's submission
    out = here / "again"
    assert main(["predict", str(killed), "--data", summary(killed)["data_dir"], "--out", str(out), "--quiet"]) == 0
    assert (out / "submission.csv").read_bytes() == (whole / "submission.csv").read_bytes()


def test_a_teachers_changed_test_predictions_refit_the_students_it_taught_and_no_other(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = comp(here, CLASSES, "pseudo_tamper")
    run_dir = run(opts(spec, "pseudo_label=0.6", tag="t"))
    student = run_dir / "models" / "knn+pseudo" / "fold1.joblib"
    taught_before = joblib.load(student)._y[int((np.load(run_dir / "folds.npy") != 1).sum()) :]
    real, fits = fold_fits._fit_part, []

    def records(state, job, *rest):  # noqa: ANN001, ANN002, ANN202
        fits.append((job.model, job.fold))
        return real(state, job, *rest)

    monkeypatch.setattr(fold_fits, "_fit_part", records)
    (run_dir / "summary.json").unlink()  # no longer complete: --resume goes through its parts again
    run(opts(spec, "pseudo_label=0.6", tag="t", resume=str(run_dir)))
    assert fits == []  # untouched, every part is kept
    # logreg's fold-1 test predictions, its classes' columns reversed, in its saved part under the same key
    teacher = run_dir / "parts" / "logreg" / "fold1.npz"
    with np.load(teacher) as z:
        part = {k: z[k] for k in z.files}
    part["test"] = part["test"][:, ::-1].copy()
    runfolder.write_part(teacher, part)
    (run_dir / "summary.json").unlink()
    run(opts(spec, "pseudo_label=0.6", tag="t", resume=str(run_dir)))
    # fold 1's teacher changed: both students' fold 1 learn its new rows and labels; the other folds' are kept
    assert fits == [("logreg+pseudo", 1), ("knn+pseudo", 1)]
    mean = np.mean([part["test"], np.load(run_dir / "parts" / "knn" / "fold1.npz")["test"]], axis=0)
    rows = np.flatnonzero(mean.max(axis=1) >= 0.6)
    taught_after = joblib.load(student)._y[int((np.load(run_dir / "folds.npy") != 1).sum()) :]
    np.testing.assert_array_equal(taught_after, mean[rows].argmax(axis=1))
    assert taught_after.tolist() != taught_before.tolist()


def test_a_regression_learns_the_share_of_test_rows_its_models_agree_on_and_refits_with_them(here: Path) -> None:
    run_dir = run(opts(comp(here, VALUES, "pseudo_values"), "pseudo_label=0.5", "refit=on", models=["ridge", "knn"]))
    s = summary(run_dir)
    assert s["models"]["ridge+pseudo"]["pseudo_rows"] == [15, 15, 15]  # half the 30 test rows
    assert s["models"]["ridge+pseudo"]["refit"] is True
    part = np.load(run_dir / "parts" / "ridge+pseudo" / "full.npz")
    assert int(part["pseudo_rows"]) == 15
    np.testing.assert_array_equal(np.load(run_dir / "test" / "ridge+pseudo.npy"), part["test"])
    assert (
        "ridge+pseudo refit on all 120 training rows, plus 15 pseudo-labelled test rows ("
        in (run_dir / "log.txt").read_text()
    )


def test_the_rows_a_regression_keeps_are_those_its_models_agree_on_labelled_by_their_mean() -> None:
    a = np.array([[1.0], [2.0], [3.0], [4.0]])
    b = np.array([[1.5], [2.0], [9.0], [4.2]])  # agree on row 1, then 3, then 0; row 2 least
    taught = pseudo.teach({"a": a, "b": b}, 0.75, None, seed=0)
    np.testing.assert_array_equal(taught.rows, [0, 1, 3])
    np.testing.assert_allclose(taught.labels, [1.25, 2.0, 4.1])
    assert len(pseudo.teach({"a": a, "b": b}, 1.0, None, seed=0).rows) == 4
    probs = {"p": np.array([[0.97, 0.03], [0.4, 0.6], [0.02, 0.98]])}
    taught = pseudo.teach(probs, 0.95, 2, seed=0)
    np.testing.assert_array_equal(taught.rows, [0, 2])
    np.testing.assert_array_equal(taught.labels, [0, 1])


def test_off_by_default_and_none_is_the_same_run(here: Path) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"id": np.arange(200), "x": rng.normal(size=200), "z": rng.normal(size=200)})
    frame["y"] = (frame["x"] + rng.normal(0, 0.5, 200) > 0).astype(int)
    data = here / "offdata.zip"
    with zipfile.ZipFile(data, "w") as zf:
        zf.writestr("train.csv", frame.iloc[:150].to_csv(index=False))
        zf.writestr("test.csv", frame.iloc[150:].drop(columns="y").to_csv(index=False))
        zf.writestr("sample_submission.csv", frame.iloc[150:][["id"]].assign(y=0).to_csv(index=False))
    assert main(["new", "pseudo_off", "--data", str(data), "--into", "comps", "--metric", "accuracy"]) == 0
    base = ["run", "comps/pseudo_off", "--data", str(data), "--set", "models=linear,lightgbm", "--quiet"]
    assert main([*base, "--tag", "default"]) == 0
    assert main([*base, "--tag", "none", "--set", "pseudo_label=None"]) == 0
    runs = {r.name.rsplit("-", 1)[1]: r for r in (here / "runs" / "pseudo_off").iterdir()}
    assert list(summary(runs["none"])["models"]) == ["linear", "lightgbm"]  # no students
    for name in ("submission.csv", "oof/_blend.npy", "test/_blend.npy", "oof/lightgbm.npy"):
        assert (runs["none"] / name).read_bytes() == (runs["default"] / name).read_bytes(), name
    assert json.loads((runs["default"] / "config.json").read_text())["config"]["pseudo_label"] is None


@pytest.mark.parametrize("value", ["1.5", "0", "-0.2", "nan", "inf"])
def test_a_value_outside_0_to_1_is_refused_naming_the_field_before_any_run_folder(here: Path, value: str) -> None:
    with pytest.raises(ContractError, match="pseudo_label"):
        run(opts(comp(here, CLASSES, "pseudo_bad"), f"pseudo_label={value}"))
    assert not (here / "runs").exists()


def test_data_it_cannot_label_is_refused_before_any_run_folder(here: Path) -> None:
    two = VALUES.replace('y=train["target"].to_numpy(float)', 'y=np.column_stack([train["target"]] * 2)')
    with pytest.raises(ContractError, match=r"Config.pseudo_label: it labels one target, and this data has 2"):
        run(opts(comp(here, two, "pseudo_two"), "pseudo_label=1"))
    forward = VALUES.replace("EXPECTED_FILES = [", 'FOLDS = "time"\nEXPECTED_FILES = [').replace(
        'sample_submission=data_dir / "sample_submission.csv")',
        'sample_submission=data_dir / "sample_submission.csv", time=train["id"].to_numpy())',
    )
    with pytest.raises(ContractError, match=r"Config.pseudo_label: the folds run forward in time"):
        run(opts(comp(here, forward, "pseudo_time"), "pseudo_label=1"))
    assert not (here / "runs").exists()


def test_the_time_limit_shares_its_fits_with_the_second_round(here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = comp(here, CLASSES, "pseudo_budget")
    real, shares = fold_fits.fit_fold, []

    def records_the_share(estimator, X, y, seed, jobs, context, *rest):  # noqa: ANN001, ANN002, ANN202
        shares.append(context.deadline - time.monotonic())
        return real(estimator, X, y, seed, jobs, context, *rest)

    monkeypatch.setattr(fold_fits, "fit_fold", records_the_share)
    run(opts(spec, time_limit=300.0, tag="one"))
    first_alone = shares[0]
    shares.clear()
    run(opts(spec, "pseudo_label=0.6", time_limit=300.0, tag="two"))
    assert len(shares) == 12  # 2 models x 3 folds, twice
    # the first fit's share of the limit: half as long when every model has a student to fit after it
    assert 1.7 < first_alone / shares[0] < 2.3


def test_test_rows_join_the_training_rows_as_each_kind_of_input_holds_them() -> None:
    taught = pseudo.PseudoRows(np.array([2, 0]), np.array([1, 0]))
    y = np.array([5, 6])
    frame, test = pd.DataFrame({"a": [1, 2]}, index=[7, 9]), pd.DataFrame({"a": [10, 20, 30]})
    X, y2 = taught.added_to(frame, y, test)
    assert X["a"].tolist() == [1, 2, 30, 10] and y2.tolist() == [5, 6, 1, 0] and y2.dtype == y.dtype
    images = np.zeros((2, 4, 4, 3), np.uint8)
    test_images = np.arange(3 * 48, dtype=np.uint8).reshape(3, 4, 4, 3)
    X, _ = taught.added_to(images, y, test_images)
    assert X.dtype == np.uint8 and X.shape == (4, 4, 4, 3)
    np.testing.assert_array_equal(X[2:], test_images[[2, 0]])
    X, _ = taught.added_to(np.array(["a.png", "b.png"]), y, np.array(["t0.png", "t1.png", "long/t2.png"]))
    assert X.tolist() == ["a.png", "b.png", "long/t2.png", "t0.png"]
    X, _ = taught.added_to(["a", "b"], y, ["t0", "t1", "t2"])
    assert X == ["a", "b", "t2", "t0"]


def test_an_image_network_has_a_student_of_its_confident_test_images(here: Path) -> None:
    args = ["run", "competitions/cifar10", "--sample", "--preset", "fast", "--set", "holdout=0", "--folds", "2"]
    sets = ["--set", "epochs=1", "--set", "batch_size=32", "--set", "pseudo_label=0.15", "--quiet"]
    assert main([*args, *sets]) == 0
    run_dir = next((here / "runs" / "cifar10").iterdir())
    s = summary(run_dir)
    (network,) = [m for m in s["models"] if not m.endswith("+pseudo")]
    assert list(s["models"]) == [network, f"{network}+pseudo"]
    counts = s["models"][f"{network}+pseudo"]["pseudo_rows"]
    assert sum(counts) > 0 and max(counts) <= 200  # of the 200 test images
    assert (run_dir / "models" / f"{network}+pseudo" / "fold1.pt").is_file()
    assert not np.allclose(
        np.load(run_dir / "oof" / f"{network}.npy"), np.load(run_dir / "oof" / f"{network}+pseudo.npy")
    )


def test_a_threshold_no_test_row_reaches_fits_no_students_and_says_why(here: Path) -> None:
    run_dir = run(opts(comp(here, CLASSES, "pseudo_none"), "pseudo_label=1"))  # logreg is never quite sure
    assert list(summary(run_dir)["models"]) == ["logreg", "knn"]
    log = (run_dir / "log.txt").read_text()
    assert "pseudo labels of the 30 test rows from the mean of logreg, knn: fold 0 0, fold 1 0, fold 2 0" in log
    assert (
        "pseudo_label=1: no test row's likeliest class reaches that probability by its fold's models' mean (the "
        in (log)
    )
    assert "so no model has a student" in log
