"""Ids that name groups (Spaceship Titanic's PassengerId 0013_02): group size and member as features, group folds."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.cli import main
from pipeline.contract import load_competition
from pipeline.tabular.groups import group_features, holds_groups, split_by_group

FAST = ("--preset", "fast", "--set", "max_trees=300")


def travellers(n_groups: int, seed: int, first: int = 1) -> pd.DataFrame:
    """Travel groups of 1 to 5 passengers (ids gggg_pp); whether one is transported depends on the group's size and
    on the group itself (shared by its members), a little on age."""
    rng = np.random.default_rng(seed)
    rows = []
    for g in range(first, first + n_groups):
        size, shared = int(rng.choice([1, 1, 1, 2, 3, 4, 5])), rng.normal(0, 0.5)
        for m in range(1, size + 1):
            age = rng.uniform(1, 70)
            logit = (1.5 if size > 1 else -1.5) + shared + 0.01 * (age - 35) + rng.normal(0, 0.3)
            rows.append({"PassengerId": f"{g:04d}_{m:02d}", "Age": round(age), "Transported": logit > 0})
    return pd.DataFrame(rows)


def download(tmp_path: Path, shared_groups: bool = False) -> Path:
    """train.csv and test.csv split by group (as Kaggle split Spaceship Titanic), or test rows taken from train's
    groups."""
    people = travellers(260, 0)
    groups = people["PassengerId"].str[:4].astype(int)
    held = people.index % 4 == 0 if shared_groups else groups % 4 == 0
    train, test = people[~held], people[held].drop(columns="Transported")
    path = tmp_path / ("spaceship-shared.zip" if shared_groups else "spaceship.zip")
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("train.csv", train.to_csv(index=False))
        zf.writestr("test.csv", test.to_csv(index=False))
        zf.writestr("sample_submission.csv", test[["PassengerId"]].assign(Transported=False).to_csv(index=False))
    return path


def run(tmp_path: Path, name: str, data: Path, *extra: str) -> dict:
    args = ["run", str(tmp_path / "comps" / name), "--data", str(data), "--folds", "4", "--quiet", *FAST, *extra]
    assert main(args) == 0
    run_dir = max((tmp_path / "runs" / name).iterdir(), key=lambda p: p.stat().st_mtime)
    return json.loads((run_dir / "summary.json").read_text())


def test_group_features_and_folds_that_keep_groups_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    data = download(tmp_path)
    assert main(["new", "ship", "--data", str(data), "--into", str(tmp_path / "comps")]) == 0
    out = capsys.readouterr().out
    assert "PassengerId_group_size and PassengerId_member are features" in out and "keeps its groups whole" in out
    module = load_competition(str(tmp_path / "comps" / "ship"))
    assert module.ID_GROUPS is True and module.FOLDS == "stratified_group"

    s = run(tmp_path, "ship", data)
    loaded = module.load(module.Config(), Path(s["data_dir"]))
    train = pd.read_csv(Path(s["data_dir"]) / "train.csv", dtype={"PassengerId": str})
    group = train["PassengerId"].str[:4]
    assert loaded.X["PassengerId_group_size"].tolist() == group.map(group.value_counts()).tolist()  # no test group
    assert loaded.X["PassengerId_member"].tolist() == train["PassengerId"].str[5:].astype(int).tolist()
    folds = np.load(Path(s["run_dir"]) / "folds.npy")
    assert (pd.Series(folds).groupby(group.to_numpy()).nunique() == 1).all()  # every group in one fold
    sub = pd.read_csv(s["published"], dtype=str)
    sample = pd.read_csv(Path(s["data_dir"]) / "sample_submission.csv", dtype=str)
    assert sub["PassengerId"].tolist() == sample["PassengerId"].tolist()
    assert set(sub["Transported"]) == {"True", "False"}

    # the option takes effect: without the two group columns the same run scores worse
    without = run(tmp_path, "ship", data, "--set", "drop=PassengerId_group_size,PassengerId_member")
    assert s["cv"] > without["cv"] + 0.05, (s["cv"], without["cv"])
    assert np.array_equal(np.load(Path(without["run_dir"]) / "folds.npy"), folds)


def test_groups_shared_by_train_and_test_keep_plain_folds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    data = download(tmp_path, shared_groups=True)
    assert main(["new", "ship_shared", "--data", str(data), "--into", str(tmp_path / "comps")]) == 0
    module = load_competition(str(tmp_path / "comps" / "ship_shared"))
    assert module.ID_GROUPS is True and module.FOLDS == "stratified"
    loaded = module.load(module.Config(), _extracted(tmp_path, data))
    # a group's size counts its test rows too (no label is read)
    people = travellers(260, 0)
    sizes = people["PassengerId"].str[:4].value_counts()
    train = people[people.index % 4 != 0]
    assert loaded.X["PassengerId_group_size"].tolist() == train["PassengerId"].str[:4].map(sizes).tolist()


def _extracted(tmp_path: Path, data: Path) -> Path:
    folder = tmp_path / "extracted"
    with zipfile.ZipFile(data) as zf:
        zf.extractall(folder)
    return folder


@pytest.mark.parametrize(
    ("train", "test", "grouped"),
    [
        (["0001_01", "0001_02", "0002_01"], ["0003_01", "0003_02"], True),
        ([str(i) for i in range(10)], ["11", "12"], False),  # plain numbers
        ([f"user_{i}" for i in range(10)], ["user_11"], False),  # one group: a prefix, not groups
        ([f"{i:04d}_01" for i in range(10)], ["0011_01"], False),  # every group a single row
        (["0001_01", "0001_02", "x"], ["0003_01"], False),  # not every id reads as group and member
    ],
)
def test_which_ids_name_groups(train: list[str], test: list[str], grouped: bool) -> None:
    assert holds_groups(pd.Series(train), pd.Series(test)) is grouped


def test_group_size_counts_train_and_test_and_split_by_group() -> None:
    train, test = pd.Series(["0001_01", "0001_02", "0002_01"]), pd.Series(["0002_02", "0003_01"])
    tr, te, groups = group_features(train, test, "Id")
    assert tr["Id_group_size"].tolist() == [2, 2, 2] and te["Id_group_size"].tolist() == [2, 1]
    assert tr["Id_member"].tolist() == [1, 2, 1] and groups.tolist() == ["0001", "0001", "0002"]
    assert not split_by_group(train, test) and split_by_group(train, pd.Series(["0003_01"]))


@pytest.mark.parametrize("kind", ["group", "stratified_group"])
def test_a_holdout_keeps_each_group_on_one_side(kind: str) -> None:
    from pipeline.folds import make_folds

    df = travellers(300, 4)
    groups = df["PassengerId"].str[:4].to_numpy()
    fold = make_folds(df["Transported"].to_numpy().astype(int), 5, seed=0, kind=kind, groups=groups, holdout=0.2)
    held = set(groups[fold == 0])
    assert held and not held & set(groups[fold == -1])
    assert 0.1 < (fold == 0).mean() < 0.3


def test_an_original_dataset_joins_a_grouped_competition(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.folds import make_folds

    monkeypatch.chdir(tmp_path)
    data = download(tmp_path)
    original = travellers(100, 5).drop(columns="PassengerId")  # the source dataset has no Kaggle ids
    original.to_csv(tmp_path / "source.csv", index=False)
    assert main(["new", "ship_orig", "--data", str(data), "--into", str(tmp_path / "comps"), "--original",
                 str(tmp_path / "source.csv")]) == 0  # fmt: skip
    module = load_competition(str(tmp_path / "comps" / "ship_orig"))
    loaded = module.load(module.Config(), _extracted(tmp_path, data))
    n = len(loaded.y) - len(original)
    assert len(loaded.groups) == len(loaded.y) and loaded.train_only.sum() == len(original)
    assert loaded.X["PassengerId_group_size"][n:].isna().all()  # no id, so no group, in the original's rows
    folds = make_folds(loaded.y, 4, 0, module.FOLDS, loaded.groups, train_only=loaded.train_only)
    assert (folds[n:] == -1).all() and (pd.Series(folds[:n]).groupby(loaded.groups[:n]).nunique() == 1).all()
