"""`new --original`: a Playground competition's source dataset joins every fold's training rows, never scored."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.cli import main
from pipeline.contract import ContractError, load_competition
from pipeline.tabular.original import Original, as_features, match_columns

N_TRAIN, N_TEST, N_ORIGINAL = 90, 40, 900
PROJECT = Path(__file__).resolve().parent.parent
FAST = ("--preset", "fast", "--set", "max_trees=300")


def rows(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Numbers, a category and a code; the target is a smooth function of them plus noise."""
    rng = np.random.default_rng(seed)
    x, z = rng.normal(size=n), rng.normal(size=n)
    cat = rng.choice(["a", "b", "c"], size=n)
    df = pd.DataFrame({"num": x, "other": z, "color": cat, "code": rng.integers(0, 40, n).astype(str)})
    return df, 3 * np.sin(2 * x) + 2 * z + 2 * (cat == "a") + rng.normal(0, 0.3, n)


def competition(tmp_path: Path, task: str) -> Path:
    """A small competition download (few training rows, so more rows of the same kind help)."""
    train, y = rows(N_TRAIN, 0)
    test, _ = rows(N_TEST, 1)
    train.insert(0, "id", np.arange(N_TRAIN))
    test.insert(0, "id", np.arange(N_TRAIN, N_TRAIN + N_TEST))
    train["target"] = y if task == "regression" else (y > 0.5).astype(int)
    sample = pd.DataFrame({"id": test["id"], "target": 0.5 if task == "regression" else 0})
    path = tmp_path / f"playground-{task}.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("train.csv", train.to_csv(index=False))
        zf.writestr("test.csv", test.to_csv(index=False))
        zf.writestr("sample_submission.csv", sample.to_csv(index=False))
    return path


def original_zip(tmp_path: Path, task: str, labels: tuple[str, str] = ("0", "1")) -> Path:
    """The dataset the competition was 'generated from': same kind of rows, its columns named its own way (NUM for
    num, Target for target), an extra column and a README; binary labels written as `labels`."""
    df, y = rows(N_ORIGINAL, 7)
    df = df.rename(columns={"num": "NUM"}).assign(extra=1.0)
    df["Target"] = y if task == "regression" else np.where(y > 0.5, labels[1], labels[0])
    path = tmp_path / "source-data.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("source.csv", df.to_csv(index=False))
        zf.writestr("README.txt", "the original")
    return path


def new(tmp_path: Path, name: str, data: Path, *extra: str) -> int:
    return main(["new", name, "--data", str(data), "--into", str(tmp_path / "comps"), *extra])


def run(tmp_path: Path, name: str, data: Path, *extra: str) -> dict:
    args = ["run", str(tmp_path / "comps" / name), "--data", str(data), "--folds", "3", "--quiet", *FAST, *extra]
    assert main(args) == 0
    run_dir = max((tmp_path / "runs" / name).iterdir(), key=lambda p: p.stat().st_mtime)
    return json.loads((run_dir / "summary.json").read_text())


def test_original_rows_train_every_fold_never_scored_and_help(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    data, orig = competition(tmp_path, "regression"), original_zip(tmp_path, "regression")
    assert new(tmp_path, "orig_reg", data, "--original", str(orig), "--original-slug", "someone/source-data") == 0
    text = (tmp_path / "comps" / "orig_reg" / "__init__.py").read_text()
    assert 'ORIGINAL = tabular.Original(\n    "someone/source-data",\n    "source.csv",\n' in text
    assert 'columns={"NUM": "num", "Target": "target"}' in text
    for cmd in (["check", "--no-cache"], ["format", "--check", "--no-cache"]):  # with the project's ruff settings
        r = subprocess.run(
            [sys.executable, "-m", "ruff", *cmd, str(tmp_path / "comps")], cwd=PROJECT, capture_output=True, text=True
        )
        assert r.returncode == 0, r.stdout + r.stderr
    # the CSV is where runs look for it, byte for byte
    cached = tmp_path / "data" / "datasets" / "someone" / "source-data" / "source.csv"
    assert cached.read_bytes() == zipfile.ZipFile(orig).read("source.csv")

    with_original = run(tmp_path, "orig_reg", data)
    module = load_competition(str(tmp_path / "comps" / "orig_reg"))
    loaded = module.load(module.Config(), tmp_path / "data" / "playground-regression")
    assert len(loaded.y) == N_TRAIN + N_ORIGINAL and loaded.train_only.sum() == N_ORIGINAL
    assert not loaded.train_only[:N_TRAIN].any() and list(loaded.X.columns) == ["num", "other", "color", "code"]
    source = pd.read_csv(cached)
    assert np.allclose(loaded.y[N_TRAIN:], source["Target"]) and np.allclose(loaded.X["num"][N_TRAIN:], source["NUM"])

    without = run(tmp_path, "orig_reg", data, "--set", "original=off")
    folds_with = np.load(Path(with_original["run_dir"]) / "folds.npy")
    folds_without = np.load(Path(without["run_dir"]) / "folds.npy")
    # the competition's rows are split and scored exactly as without the original; its rows are never validated
    assert np.array_equal(folds_with[:N_TRAIN], folds_without) and (folds_with[N_TRAIN:] == -1).all()
    assert with_original["cv"] < 0.85 * without["cv"], (with_original["cv"], without["cv"])
    # the two runs blend: their scored rows and folds are the same, the original's rows are past the end
    assert main(["ensemble", with_original["run_dir"], without["run_dir"], "--quiet"]) == 0
    blended = json.loads(next((tmp_path / "runs" / "orig_reg").glob("*ensemble*/summary.json")).read_text())
    assert blended["cv_rows"] == N_TRAIN and len(np.load(Path(blended["run_dir"]) / "folds.npy")) == N_TRAIN
    assert blended["cv"] <= min(with_original["cv"], without["cv"]) + 0.02
    log = (Path(with_original["run_dir"]) / "log.txt").read_text()
    assert f"{N_TRAIN + N_ORIGINAL} training rows ({N_ORIGINAL} of them train-only: in every fold's fit" in log
    sub = pd.read_csv(with_original["published"])
    assert sub["id"].tolist() == list(range(N_TRAIN, N_TRAIN + N_TEST)) and sub["target"].notna().all()


def test_flag_adds_a_from_original_column(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    data, orig = competition(tmp_path, "binary"), original_zip(tmp_path, "binary", labels=("No", "Yes"))
    assert new(tmp_path, "orig_flag", data, "--original", str(orig), "--original-labels", "No=0,Yes=1") == 0
    module = load_competition(str(tmp_path / "comps" / "orig_flag"))
    assert module.ORIGINAL.slug == "source-data" and module.ORIGINAL.labels == {"No": "0", "Yes": "1"}
    s = run(tmp_path, "orig_flag", data, "--set", "original=flag")
    loaded = module.load(module.Config(original="flag"), tmp_path / "data" / "playground-binary")
    source = pd.read_csv(tmp_path / "data" / "datasets" / "source-data" / "source.csv")
    assert np.array_equal(loaded.y[N_TRAIN:], (source["Target"] == "Yes").astype(int))
    assert loaded.X["from_original"].tolist() == [0] * N_TRAIN + [1] * N_ORIGINAL
    assert (loaded.X_test["from_original"] == 0).all()
    importance = pd.read_csv(Path(s["run_dir"]) / "importance.csv", index_col="feature")
    assert "from_original" in importance.index
    plain = run(tmp_path, "orig_flag", data)
    assert "from_original" not in pd.read_csv(Path(plain["run_dir"]) / "importance.csv", index_col="feature").index


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ("--original-labels", "No=0"),
            "Target holds 'Yes', not one of the competition's classes (0, 1). Map it with --original-labels Yes=1",
        ),
        ((), "Target holds 'No'"),
        (("--original-columns", "Missing=target"), "--original-columns: "),
    ],
)
def test_labels_and_columns_that_do_not_match_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, extra: tuple, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    data, orig = competition(tmp_path, "binary"), original_zip(tmp_path, "binary", labels=("No", "Yes"))
    assert new(tmp_path, "orig_bad", data, "--original", str(orig), *extra) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "comps" / "orig_bad").exists()


def test_original_without_the_target_or_ambiguous_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    data = competition(tmp_path, "regression")
    df, y = rows(50, 3)
    no_target = tmp_path / "features-only.csv"
    df.to_csv(no_target, index=False)
    assert new(tmp_path, "orig_nt", data, "--original", str(no_target)) == 2
    err = capsys.readouterr().err
    assert "no column for the target 'target'" in err and "Name it with --original-columns NAME=target." in err
    two = tmp_path / "two.zip"
    with zipfile.ZipFile(two, "w") as zf:
        for name in ("a.csv", "b.csv"):
            zf.writestr(name, df.assign(target=y).to_csv(index=False))
    assert new(tmp_path, "orig_two", data, "--original", str(two)) == 2
    assert "Name it with --original-file FILE." in capsys.readouterr().err
    assert new(tmp_path, "orig_two", data, "--original", str(two), "--original-file", "b.csv") == 0
    bad = df.assign(target=y.astype(str))
    bad.loc[7, "target"] = "unknown"
    bad.to_csv(tmp_path / "bad.csv", index=False)
    assert new(tmp_path, "orig_nan", data, "--original", str(tmp_path / "bad.csv")) == 2
    assert "target must be a number for regression; line 9 has 'unknown'" in capsys.readouterr().err
    assert new(tmp_path, "orig_none", data, "--original-slug", "a/b") == 2
    assert "need --original" in capsys.readouterr().err


def test_the_original_s_rows_count_toward_the_svm_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # new writes svm for at most SVM_MAX_ROWS rows as its fit grows with the square of the rows; the original's rows
    # join every fold's fit, so they count (before: only train.csv's, and a small train with a large original got svm)
    from pipeline.tabular import recipe

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(recipe, "SVM_MAX_ROWS", 500)  # between N_TRAIN and N_TRAIN + N_ORIGINAL
    data, orig = competition(tmp_path, "regression"), original_zip(tmp_path, "regression")
    assert new(tmp_path, "orig_svm_alone", data) == 0
    said = f"svm (an RBF support vector machine on the linear model's features) as train.csv has {N_TRAIN} rows, at"
    said += " most 500"
    assert said in capsys.readouterr().out
    alone = load_competition(str(tmp_path / "comps" / "orig_svm_alone"))
    assert alone.Config().models == (*recipe.TabularRecipe.models, "svm")
    assert '"svm_c": trial' in (tmp_path / "comps" / "orig_svm_alone" / "__init__.py").read_text()

    assert new(tmp_path, "orig_svm_joined", data, "--original", str(orig)) == 0
    said = (
        "  models: lightgbm, xgboost, catboost, linear; no svm (an RBF support vector machine, whose fit grows with "
        f"the square of the rows) as the models fit on {N_TRAIN} rows of train.csv and {N_ORIGINAL} of the original, "
        f"{N_TRAIN + N_ORIGINAL} in all, over 500; add it with --set models=lightgbm,xgboost,catboost,linear,svm\n"
    )
    assert said in capsys.readouterr().out
    joined = load_competition(str(tmp_path / "comps" / "orig_svm_joined"))
    assert joined.Config().models == recipe.TabularRecipe.models
    assert '"svm_c": trial' not in (tmp_path / "comps" / "orig_svm_joined" / "__init__.py").read_text()


def test_run_without_the_original_in_place_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KAGGLE_API_TOKEN", raising=False)
    data, orig = competition(tmp_path, "regression"), original_zip(tmp_path, "regression")
    assert new(tmp_path, "orig_gone", data, "--original", str(orig)) == 0
    (tmp_path / "data" / "datasets" / "source-data" / "source.csv").unlink()
    capsys.readouterr()
    code = main(["run", str(tmp_path / "comps" / "orig_gone"), "--data", str(data), "--folds", "3", "--quiet", *FAST])
    err = capsys.readouterr().err
    assert code != 0 and "source.csv" in err and "original=off" in err
    assert run(tmp_path, "orig_gone", data, "--set", "original=off")["cv"] > 0


def test_columns_match_loosely_and_values_read_as_the_competition_writes_them() -> None:
    have = ["Annual Income", "AGE", "age_", "id", "target"]
    assert match_columns(have, ["annual_income", "age", "target"]) == {"Annual Income": "annual_income"}
    assert match_columns(have, ["age"], {"age_": "age"}) == {"age_": "age"}
    like = pd.DataFrame({"n": [1.5, 2.0], "code": ["7", "8"], "gone": [1, 2]})
    frame = pd.DataFrame({"n": ["3", "?"], "code": [7.0, 9.0]})
    out, absent, unreadable = as_features(frame, like)
    assert out["n"].tolist()[0] == 3.0 and np.isnan(out["n"].tolist()[1]) and unreadable == 1
    assert out["code"].tolist() == ["7", "9"] and absent == ["gone"] and out["gone"].isna().all()
    # a number written with thousands separators, as the competition's own column was read (before: missing)
    out, _, unreadable = as_features(pd.DataFrame({"n": ["1,234", "56", None]}), like[["n"]])
    assert out["n"].tolist()[:2] == [1234.0, 56.0] and np.isnan(out["n"].tolist()[2]) and unreadable == 0
    assert Original("owner/name", "f.csv").folder == "datasets/owner/name"
    flags, absent, unreadable = as_features(
        pd.DataFrame({"vip": [1, 0, "no", "?", None]}), pd.DataFrame({"vip": [True]})
    )
    assert flags["vip"].tolist()[:3] == [True, False, False] and flags["vip"].isna().tolist()[3:] == [True, True]
    assert unreadable == 1 and absent == []
    # the competition's column misses values (pandas reads True, False and NaN): the original's 1/0 read the same way
    like = pd.read_csv(io.StringIO("vip,age\nTrue,30\n,40\nFalse,50\n"))[["vip"]]
    flags, _, _ = as_features(pd.DataFrame({"vip": [1, 0, None]}), like)
    joined = pd.concat([like["vip"], flags["vip"]])
    assert joined.tolist()[3:5] == [True, False] and joined.isna().tolist() == [False, True, False, False, False, True]
    assert {type(v) for v in joined.dropna()} == {bool}


def test_an_original_class_named_none_is_a_class(tmp_path: Path) -> None:
    # before: the original's None (a class, as in the competition's own target) was read as missing and its rows
    # dropped as unlabelled, so the original added no row of that class
    from pipeline.tabular.original import read_original

    (tmp_path / "source.csv").write_text("x,Disorder\n1,None\n2,Insomnia\n3,\n4,None\n")
    frame = read_original(Original("owner/name", "source.csv", columns={"Disorder": "sleep"}), tmp_path, ["sleep"])
    assert frame["sleep"].tolist()[:2] == ["None", "Insomnia"] and frame["sleep"].isna().tolist() == [
        False, False, True, False
    ]  # fmt: skip


def test_an_original_naming_a_column_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # before: pandas read the second Target as Target.1 without a word, and the first one's values were the labels
    monkeypatch.chdir(tmp_path)
    data = competition(tmp_path, "regression")
    df, y = rows(200, 3)
    df = df.assign(Target=y)
    twice = tmp_path / "twice.csv"
    twice.write_text(df.assign(T2=-y).to_csv(index=False).replace(",T2\n", ",Target\n", 1))
    assert new(tmp_path, "orig_twice", data, "--original", str(twice)) == 2
    err = capsys.readouterr().err
    assert f"{twice}: its header names 'Target' twice (pandas would read the columns as Target, Target.1)" in err
    # another column named twice: kept as pandas names it, with a warning in new's notes
    other = tmp_path / "other.csv"
    other.write_text(df.assign(o2=1.0).to_csv(index=False).replace(",o2\n", ",other\n", 1))
    assert new(tmp_path, "orig_other", data, "--original", str(other)) == 0
    said = "its header names other twice (read as other, other.1); the competition's columns are read from the first"
    assert f"warning: original: {other}: {said}" in capsys.readouterr().out
    # each run's load says so too (before: `new` only), as it does of the competition's own tables: run, predict and
    # drift show Data.info's warnings
    module = load_competition(str(tmp_path / "comps" / "orig_other"))
    cached = next((tmp_path / "data" / "datasets").rglob("other.csv"))
    zipfile.ZipFile(data).extractall(tmp_path / "download")
    loaded = module.load(module.Config(), tmp_path / "download")
    assert loaded.info["warnings"] == [f"{cached}: {said} of each; rename them in the CSV if another is meant"]
    assert loaded.X["other"].tolist()[N_TRAIN:] == df["other"].tolist()  # the first of the two
    assert (
        main(["drift", str(tmp_path / "comps" / "orig_other"), "--data", str(tmp_path / "download"), "--rows", "200"])
        == 0
    )
    assert f"warning: {cached}: {said}" in capsys.readouterr().err
    # the load reads the original again: a target named twice since is refused there too
    cached.write_text(twice.read_text())
    with pytest.raises(ContractError, match="its header names 'Target' twice"):
        module.load(module.Config(), tmp_path / "download")


def test_new_counts_an_original_s_class_named_none_as_the_load_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # before: new read the original without its words, so its None rows were dropped from the count of labelled rows
    # (and from the label check) that the generated load, keeping them, trains on
    from tests.test_new_edge_cases import download
    from tests.test_new_written_values import three_classes

    monkeypatch.chdir(tmp_path)
    names = ("Insomnia", "None", "Sleep Apnea")
    train, test, _ = three_classes(150, 40, names)
    data = download(tmp_path / "dl", train, test, pd.DataFrame({"id": test["id"], "label": "None"}))
    source, _, _ = three_classes(300, 0, names, seed=3)
    source.loc[5, "label"] = np.nan  # an empty cell: no label, in the original as in train.csv
    source.drop(columns="id").rename(columns={"label": "Disorder"}).to_csv("sleep.csv", index=False)
    n_none, n_labelled = int((source["label"] == "None").sum()), int(source["label"].notna().sum())
    assert (
        n_none > 50
        and new(tmp_path, "sleep_orig", data, "--original", "sleep.csv", "--original-columns", "Disorder=label") == 0
    )
    printed = capsys.readouterr().out
    assert f"original: {n_labelled} labelled rows of sleep.csv (sleep) join every fold's training rows" in printed
    assert f"original: 'None' ({n_none} rows) in Disorder of sleep.csv read as a value (a class)" in printed
    module = load_competition(str(tmp_path / "comps" / "sleep_orig"))
    assert int(module.load(module.Config(), data).train_only.sum()) == n_labelled
    summary = run(tmp_path, "sleep_orig", data, "--set", "models=linear")
    log = (Path(summary["run_dir"]) / "log.txt").read_text()
    assert f"{150 + n_labelled} training rows ({n_labelled} of them train-only" in log
