"""An image download's photo metadata as a table, blended with the image network (`new NAME --kind table`, then
`ensemble IMAGE_RUN TABLE_RUN`), as SIIM-ISIC Melanoma's and PetFinder Pawpularity's winners blended CNNs with models
of the metadata: the table competition `new --kind table` writes answers as the image one does (target, metric, test
rows, folds: a patient's photos in one fold on both sides), `ensemble` blends runs of the two competitions into a
submission scored out of fold at least as well as the better of them, `predict` and `package` of that ensemble give
its submission again, test rows in another order are realigned, and runs that answer another question (metric,
target, test rows) are refused naming both."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_image_targets import disc, save
from test_new_image_groups import siim
from test_new_image_targets import QUICK, published

from pipeline.cli import main
from pipeline.contract import load_competition

WEIGHTS = (14.0, 10.0, 8.0)  # what each 0/1 flag adds to the value: the metadata's part
FLAGS = ("Eyes", "Face", "Near")


def pawpularity(root: Path, n_train: int = 64, n_test: int = 16, test_order: np.ndarray | None = None) -> Path:
    """PetFinder Pawpularity's layout (train.csv: Id, 0/1 flags, Pawpularity; test.csv: Id and the flags; train/ and
    test/<Id>.png; a sample of Id,Pawpularity), its value the sum of a part only the pixels show (a disc's brightness,
    +-20) and a part only the flags show (WEIGHTS), plus a little noise: each reading of the download learns one part,
    their blend both. `test_order`: test.csv's rows in this order (the sample's stay in theirs)."""
    rng = np.random.default_rng(3)
    n = n_train + n_test
    level = rng.uniform(110, 250, n)
    flags = rng.integers(0, 2, (n, len(FLAGS)))
    value = 50 + (level - 180) / 3.5 + flags @ np.array(WEIGHTS) - sum(WEIGHTS) / 2 + rng.normal(0, 2, n)
    ids = [f"pet{i:03d}" for i in range(n)]
    for i, (name, v) in enumerate(zip(ids, level, strict=True)):
        save(root / ("train" if i < n_train else "test") / f"{name}.png", disc(rng, v))
    frame = pd.DataFrame({"Id": ids, **dict(zip(FLAGS, flags.T, strict=True)), "Pawpularity": np.round(value)})
    frame["Pawpularity"] = frame["Pawpularity"].astype(int)
    frame.iloc[:n_train].to_csv(root / "train.csv", index=False)
    test = frame.iloc[n_train:, :-1]
    (test if test_order is None else test.iloc[test_order]).to_csv(root / "test.csv", index=False)
    pd.DataFrame({"Id": ids[n_train:], "Pawpularity": 50}).to_csv(root / "sample_submission.csv", index=False)
    return root


def new(name: str, data: Path, *extra: str) -> int:
    return main(["new", name, "--data", str(data), "--into", "comps", *extra])


def run(name: str, data: Path, *extra: str) -> Path:
    """A run of comps/<name> (`--preset fast`, 2 folds: both readings draw the same); its folder. Tagged with the
    competition's name, so that the tests tell an image run from a table run by its run id (the folder's time stamp:
    begun in one second, they would share it; `ensemble` blends them anyway, test_ensemble_predict.py)."""
    before = set(Path("runs", name).glob("*"))
    args = ["run", f"comps/{name}", "--data", str(data), "--preset", "fast", "--folds", "2", "--quiet"]
    assert main([*args, "--tag", name, *extra]) == 0
    [run_dir] = set(Path("runs", name).glob("*")) - before
    return run_dir.resolve()


def summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


@pytest.fixture(scope="module")
def paw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """A Pawpularity download written as its image competition (meta_images) and as the table of its flags
    (meta_table), each run once: the download, the two runs."""
    root = tmp_path_factory.mktemp("metadata")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        data = pawpularity(root / "petfinder-pawpularity-score")
        assert new("meta_images", data) == 0
        assert new("meta_table", data, "--kind", "table") == 0
        images = run("meta_images", data, *QUICK)
        table = run("meta_table", data)
        yield {"root": root, "data": data, "images": images, "table": table}


def test_new_kind_table_writes_the_metadata_s_table_with_the_images_question(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    data = pawpularity(tmp_path / "petfinder-pawpularity-score", n_train=24, n_test=6)
    assert new("kind_images", data, "--kind", "images") == 0
    assert new("kind_table", data, "--kind", "table") == 0
    out = capsys.readouterr().out
    assert "wrote comps/kind_table/__init__.py: regression on Pawpularity, id Id, metric rmse" in out
    assert "folds: kfold, as the image competition's" in out and "python -m pipeline ensemble" in out
    images, table = (load_competition(f"comps/{n}") for n in ("kind_images", "kind_table"))
    assert (table.TARGET, table.ID, table.TASK, table.FOLDS) == ("Pawpularity", "Id", "regression", images.FOLDS)
    assert table.METRIC == images.METRIC and table.KAGGLE_SLUG == images.KAGGLE_SLUG
    assert table.EXPECTED_FILES == ["train.csv", "test.csv", "sample_submission.csv"]  # no image: it reads none
    loaded = table.load(table.Config(), data)
    assert list(loaded.X.columns) == list(FLAGS)  # the metadata; not the id, which names the images
    assert list(loaded.test_ids) == list(images.load_test(images.Config(), data).test_ids)


def test_a_grouped_download_s_table_draws_the_images_group_folds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """SIIM-ISIC's patient_id keeps a patient's photos in one fold: its table keeps the patient's rows in one fold too
    (not a feature), with the images' metric (roc_auc, where a table of 0/1 beside a 0.0 sample had accuracy), so the
    two runs' folds.npy are one and their probabilities blend; predict gives the ensemble's submission again."""
    monkeypatch.chdir(tmp_path)
    data = siim(tmp_path)
    assert new("meta_siim_images", data) == 0
    assert new("meta_siim_table", data, "--kind", "table") == 0
    assert "folds: stratified_group, each patient_id's rows in one fold, not a feature" in capsys.readouterr().out
    table = load_competition("comps/meta_siim_table")
    assert (table.FOLDS, table.GROUPS, table.METRIC.name, table.SUBMISSION) == (
        "stratified_group",
        "patient_id",
        "roc_auc",
        "probabilities",
    )
    assert list(table.load(table.Config(), data).X.columns) == ["sex", "age_approx", "anatom_site_general_challenge"]
    images = run("meta_siim_images", data, "--set", "epochs=1")
    tab = run("meta_siim_table", data)
    folds = np.load(images / "folds.npy")
    assert np.array_equal(folds, np.load(tab / "folds.npy"))
    patients = pd.read_csv(data / "train.csv")["patient_id"]
    assert (pd.Series(folds).groupby(patients.to_numpy()).nunique() == 1).all()
    assert main(["ensemble", str(images), str(tab), "--quiet"]) == 0
    [ens] = Path("runs/meta_siim_images").glob("*-ensemble")
    sub = published(summary(ens), data / "sample_submission.csv")
    assert sub["target"].between(0, 1).all()
    assert main(["predict", str(ens), "--data", str(data), "--out", "again", "--quiet"]) == 0
    assert Path("again/submission.csv").read_bytes() == (ens / "submission.csv").read_bytes()


def test_the_ensemble_of_the_image_run_and_the_table_run_beats_both(
    paw: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """The image network learns the pixels' part, the table the flags' part: their blend, scored out of fold, is at
    least as good as the better; its submission holds the sample's ids and columns, and predict and package give it
    again (the package carries both competitions, each run pointing at its own), also of a test set whose test.csv
    lists the pets in another order than its sample (the table's predictions realigned to the images' rows)."""
    from pipeline.commands import package

    monkeypatch.chdir(paw["root"])
    a, b = summary(paw["images"]), summary(paw["table"])
    assert main(["ensemble", str(paw["images"]), str(paw["table"]), "--tag", "both", "--quiet"]) == 0
    [ens] = Path("runs/meta_images").glob("*-ensemble-both")
    s = summary(ens)
    assert s["cv"] <= min(a["cv"], b["cv"]) - 0.5  # RMSE: the blend learns both parts
    weights = s["blend"]["weights"]
    for name, run_id in (("meta_images", a["run_id"]), ("meta_table", b["run_id"])):  # each reading has its share
        assert sum(w for key, w in weights.items() if key.startswith(f"{name}:{run_id}/")) > 0.1
    sub = published(s, paw["data"] / "sample_submission.csv")
    assert sub["Pawpularity"].std() > 5
    assert main(["predict", str(ens), "--data", str(paw["data"]), "--out", "again", "--quiet"]) == 0
    assert Path("again/submission.csv").read_bytes() == (ens / "submission.csv").read_bytes()
    monkeypatch.setattr(package, "build_wheels", lambda dest, deps, python: [])  # the wheels: test_package.py's subject
    assert main(["package", str(ens), "--out", "pkg", "--deps", ""]) == 0
    specs = [summary(Path("pkg/run/members", s["competition"], s["run_id"]))["competition_spec"] for s in (a, b)]
    assert specs == ["../../../competition/meta_images", "../../../competition/meta_table"]
    shutil.move("comps", "comps-away")  # the package alone carries the competitions
    try:
        for name in ("meta_images", "meta_table"):
            monkeypatch.delitem(sys.modules, name, raising=False)
        assert main(["predict", "pkg/run", "--data", str(paw["data"]), "--out", "packaged", "--quiet"]) == 0
    finally:
        shutil.move("comps-away", "comps")
        for name in ("meta_images", "meta_table"):
            monkeypatch.delitem(sys.modules, name, raising=False)
    assert Path("packaged/submission.csv").read_bytes() == (ens / "submission.csv").read_bytes()
    shuffled = Path("shuffled")  # a test set whose test.csv lists the pets in another order than its sample
    shutil.copytree(paw["data"], shuffled)
    test = pd.read_csv(shuffled / "test.csv", dtype=str)
    test.iloc[::-1].to_csv(shuffled / "test.csv", index=False)
    capsys.readouterr()
    assert main(["predict", str(ens), "--data", str(shuffled), "--out", "shuffled-out"]) == 0
    assert (
        f"meta_table (run {b['run_id']}) lists the test ids of meta_images (run {a['run_id']}) in another order: its "
        f"test predictions realigned to meta_images (run {a['run_id']})'s rows"
    ) in capsys.readouterr().err
    assert Path("shuffled-out/submission.csv").read_bytes() == (ens / "submission.csv").read_bytes()


def test_runs_that_answer_another_question_are_refused_naming_both(
    paw: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(paw["root"])
    data, images = paw["data"], str(paw["images"])
    made = set(Path("runs/meta_images").glob("*-ensemble*"))
    assert new("meta_mae", data, "--kind", "table", "--metric", "mae") == 0
    assert main(["ensemble", images, str(run("meta_mae", data)), "--quiet"]) == 2
    assert "ensemble: meta_images is scored by rmse and meta_mae by mae" in capsys.readouterr().err
    assert new("meta_eyes", data, "--kind", "table") == 0
    init = Path("comps/meta_eyes/__init__.py")
    init.write_text(init.read_text().replace('TARGET = "Pawpularity"', 'TARGET = "Eyes"'))  # another question
    monkeypatch.delitem(sys.modules, "meta_eyes")  # as `new` imported it to check it
    assert main(["ensemble", images, str(run("meta_eyes", data)), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "ensemble: meta_images's target (Pawpularity) and meta_eyes's (Eyes) differ: training row 1 is" in err
    assert set(Path("runs/meta_images").glob("*-ensemble*")) == made  # no ensemble folder


def test_test_rows_in_another_order_are_realigned_and_other_ids_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """The table's test rows are test.csv's, the images' the sample's: when test.csv lists the sample's pets in another
    order, row i of one is another pet than row i of the other, so the table's test predictions are realigned to the
    images' rows (the base run's) and the ensemble's submission is the one of a download whose test.csv is in the
    sample's order. A test.csv of other pets is refused (here by the image competition, which reads it too)."""
    monkeypatch.chdir(tmp_path)
    data = pawpularity(tmp_path / "petfinder-pawpularity-score", n_train=24, n_test=6, test_order=np.r_[1, 0, 2:6])
    inorder = pawpularity(tmp_path / "in-order", n_train=24, n_test=6)  # the same download, test.csv as the sample
    assert (data / "test.csv").read_bytes() != (inorder / "test.csv").read_bytes()
    assert new("meta_order_images", data) == 0
    assert new("meta_order_table", data, "--kind", "table") == 0
    made, tables = {}, {}
    for where in (data, inorder):
        images, tables[where] = run("meta_order_images", where, "--set", "epochs=1"), run("meta_order_table", where)
        assert main(["ensemble", str(images), str(tables[where]), "--tag", where.name, "--quiet"]) == 0
        [made[where]] = Path("runs/meta_order_images").glob(f"*-ensemble-{where.name}")
    realigned = "meta_order_table lists the test ids of meta_order_images in another order: its test predictions "
    assert realigned + "realigned to meta_order_images's rows" in (made[data] / "log.txt").read_text()
    assert "realigned" not in (made[inorder] / "log.txt").read_text()
    sub = published(summary(made[data]), data / "sample_submission.csv")
    assert sub["Pawpularity"].std() > 1
    assert (made[data] / "submission.csv").read_bytes() == (made[inorder] / "submission.csv").read_bytes()
    assert main(["predict", str(made[data]), "--data", str(data), "--out", "again", "--quiet"]) == 0
    assert Path("again/submission.csv").read_bytes() == (made[data] / "submission.csv").read_bytes()
    capsys.readouterr()
    other = Path("other-pet")  # test.csv lists a pet the sample does not, in place of one it does
    shutil.copytree(data, other)
    test = pd.read_csv(other / "test.csv", dtype=str)
    test.loc[2, "Id"] = "pet099"
    test.to_csv(other / "test.csv", index=False)
    assert main(["predict", str(made[data]), "--data", str(other), "--out", "refused", "--quiet"]) == 2
    assert "test.csv: its Id lacks 'pet026', the Id of sample_submission.csv line 4" in capsys.readouterr().err
    other = pawpularity(tmp_path / "other", n_train=20, n_test=6)  # another download: its own rows
    assert new("meta_order_other", other, "--kind", "table") == 0
    assert main(["ensemble", str(tables[data]), str(run("meta_order_other", other)), "--quiet"]) == 2
    assert (
        "ensemble: runs belong to different competitions: meta_order_other, meta_order_table; runs of different "
        "competitions blend only when they were made on one download"
    ) in capsys.readouterr().err


def test_test_ids_realign_when_only_their_order_differs() -> None:
    """ensemble_checks.test_order: the positions that put the second competition's rows in the first's order; other
    ids, or an id listed twice, refused naming both competitions and the id."""
    from pipeline.contract import ContractError
    from pipeline.ensemble_checks import test_order

    names = ("paw", "paw_meta")
    assert test_order(names, (["a", "b", "c"], [" a", "b ", "c"])) is None  # spaces around an id aside
    order = test_order(names, (np.array(["a", "b", "c"]), np.array(["c", "a", "b"])))
    assert np.array(["c", "a", "b"])[order].tolist() == ["a", "b", "c"]
    assert test_order(names, ([1, 2, 3], ["3", "2", "1"])).tolist() == [2, 1, 0]  # ids as written: 1 is "1"
    with pytest.raises(ContractError) as refused:
        test_order(names, (["a", "b", "c"], ["c", "x", "a"]))
    assert str(refused.value).startswith(
        "ensemble: paw and paw_meta predict different test rows (3 and 3): test row 2 of paw, id 'b', is none of "
        "paw_meta's; test row 2 of paw_meta, id 'x', is none of paw's; runs of different competitions"
    )
    with pytest.raises(ContractError, match=r"\(3 and 2\): test row 3 of paw, id 'c', is none of paw_meta's; runs"):
        test_order(names, (["a", "b", "c"], ["b", "a"]))
    with pytest.raises(ContractError, match="paw_meta lists test id 'b' twice"):
        test_order(names, (["a", "b", "c"], ["b", "c", "b", "a"]))


def test_kind_refusals_name_the_problem(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """--kind images on a table download names why it is none; --kind table on a table is the table as before; the
    table of images takes its target, id, task and folds from the images; tags are no table's."""
    from test_new_image_targets import planet

    table = tmp_path / "table"
    table.mkdir()
    pd.DataFrame({"id": range(40), "x": np.arange(40) % 7, "y": np.arange(40) % 2}).to_csv(
        table / "train.csv", index=False
    )
    pd.DataFrame({"id": range(40, 50), "x": 1}).to_csv(table / "test.csv", index=False)
    pd.DataFrame({"id": range(40, 50), "y": 0}).to_csv(table / "sample_submission.csv", index=False)
    into = ["--into", str(tmp_path / "comps")]
    assert main(["new", "kind_bad", "--data", str(table), "--kind", "images", *into]) == 2
    assert "--kind images: " + f"{table} holds 0 images among its 3 files" in capsys.readouterr().err
    assert main(["new", "kind_plain", "--data", str(table), *into]) == 0
    assert main(["new", "kind_asked", "--data", str(table), "--kind", "table", *into]) == 0
    plain, asked = ((tmp_path / "comps" / n / "__init__.py").read_text() for n in ("kind_plain", "kind_asked"))
    assert asked == plain.replace("kind_plain", "kind_asked")
    data = pawpularity(tmp_path / "paw", n_train=24, n_test=6)
    assert main(["new", "kind_target", "--data", str(data), "--kind", "table", "--target", "Eyes", *into]) == 2
    assert "takes its target, id, task and folds from them, so that a run of each blends; leave out --target" in (
        capsys.readouterr().err
    )
    assert main(["new", "kind_pixels", "--data", str(data), "--kind", "table", "--pixels", "none", *into]) == 2
    assert "--kind table: " + f"{data} holds images in files; --pixels is for" in capsys.readouterr().err
    tags, _ = planet(tmp_path / "planet", n_train=24, n_test=6)
    assert main(["new", "kind_tags", "--data", str(tags), "--kind", "table", *into]) == 2
    assert "--kind table: train_v2.csv's tags holds space-separated tags" in capsys.readouterr().err
    assert not any((tmp_path / "comps" / n).exists() for n in ("kind_bad", "kind_target", "kind_pixels", "kind_tags"))
