"""`predict RUN_DIR --data PATH`: the saved fold models alone reproduce the run's submission; no training."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.cli import main


def _run(tmp_path: Path, *args: str) -> Path:
    assert main(["run", *args, "--quiet"]) == 0
    return next(p for p in (tmp_path / "runs").glob("*/*") if p.is_dir())


def _forbid_fitting(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any fit of a fold model during predict fails the test."""
    import pipeline.fitting

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("predict trained a model")

    monkeypatch.setattr(pipeline.fitting, "fit_fold", refuse)
    monkeypatch.setattr("pipeline.fold_fits.fit_fold", refuse)


def test_house_prices_predict_reproduces_the_submission_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    run_dir = _run(tmp_path, "competitions/house_prices", "--sample", "--folds", "3")
    assert len(list((run_dir / "models").glob("*/fold*.joblib"))) == 3 * len(list((run_dir / "models").iterdir()))
    _forbid_fitting(monkeypatch)
    data = tmp_path / "data" / "sample" / "house_prices"
    assert main(["predict", str(run_dir), "--data", str(data), "--out", str(tmp_path / "pred")]) == 0
    assert "identical to the run's own submission" in capsys.readouterr().err
    ours = (tmp_path / "pred" / "submission.csv").read_bytes()
    assert ours == (run_dir / "submission.csv").read_bytes()

    # a sample run with no --data predicts the built-in sample, the only data whose training rows are the run's
    # (before: 'No data for ...' at data/<slug>/, pointing at `run --sample`)
    assert main(["predict", str(run_dir), "--out", str(tmp_path / "pred0")]) == 0
    assert "data: built-in sample" in capsys.readouterr().err
    assert (tmp_path / "pred0" / "submission.csv").read_bytes() == ours

    # another test set (rows reordered, half of them): the same models give the same per-row predictions
    test = pd.read_csv(data / "test.csv")
    sub = pd.read_csv(data / "sample_submission.csv")
    other = tmp_path / "other"
    shutil.copytree(data, other)
    keep = test.sample(frac=0.5, random_state=1).index
    test.loc[keep].to_csv(other / "test.csv", index=False)
    sub.loc[keep].to_csv(other / "sample_submission.csv", index=False)
    assert main(["predict", str(run_dir), "--data", str(other), "--out", str(tmp_path / "pred2"), "--quiet"]) == 0
    new = pd.read_csv(tmp_path / "pred2" / "submission.csv").set_index("Id")["SalePrice"]
    old = pd.read_csv(run_dir / "submission.csv").set_index("Id")["SalePrice"]
    np.testing.assert_allclose(new.to_numpy(), old.loc[new.index].to_numpy(), rtol=1e-9)

    # a folder holding only the new test set (before: 'missing train.csv', as predict refitted the blend on the OOF
    # predictions against the training targets): the saved blend weights (stages.json) make the same submission
    only_test = tmp_path / "only_test"
    only_test.mkdir()
    for name in ("test.csv", "sample_submission.csv"):
        shutil.copy(other / name, only_test / name)
    assert main(["predict", str(run_dir), "--data", str(only_test), "--out", str(tmp_path / "pred4"), "--quiet"]) == 0
    assert (tmp_path / "pred4" / "submission.csv").read_bytes() == (tmp_path / "pred2" / "submission.csv").read_bytes()
    for name in ("test.csv", "sample_submission.csv"):  # the run's own test set alone: the run's submission
        shutil.copy(data / name, only_test / name)
    assert main(["predict", str(run_dir), "--data", str(only_test), "--out", str(tmp_path / "pred5"), "--quiet"]) == 0
    assert (tmp_path / "pred5" / "submission.csv").read_bytes() == ours

    # a run whose models are gone says so, in one line, exit 2
    shutil.rmtree(run_dir / "models" / "ridge")
    assert main(["predict", str(run_dir), "--data", str(data), "--out", str(tmp_path / "pred3")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "the run folder is incomplete: it lacks models/ridge/fold0.json" in err


def test_image_competition_predict_reproduces_the_submission(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    fast = ["--preset", "fast", "--set", "epochs=2", "--set", "batch_size=16"]
    run_dir = _run(tmp_path, "competitions/cifar10", "--sample", *fast)
    assert list((run_dir / "models").glob("*/fold0.pt"))
    _forbid_fitting(monkeypatch)
    data = tmp_path / "data" / "sample" / "cifar10"
    args = ["predict", str(run_dir), "--data", str(data), "--out", str(tmp_path / "pred"), "--device", "cpu"]
    assert main([*args, "--quiet"]) == 0
    # same device: identical labels; the per-fold probabilities equal the run's saved ones to float tolerance
    assert (tmp_path / "pred" / "submission.csv").read_bytes() == (run_dir / "submission.csv").read_bytes()
    from pipeline.contract import load_competition
    from pipeline.prediction import fold_predictions, model_fits

    module = load_competition("competitions/cifar10")
    from pipeline.prediction import load_run

    _, cfg, summary = load_run(run_dir)
    model = next(iter(summary["models"]))
    fits = model_fits(np.load(run_dir / "folds.npy"), refit=False)
    preds = fold_predictions(run_dir, model, fits, module.load(cfg, data), "cpu")
    with np.load(run_dir / "parts" / model / "fold0.npz") as part:
        np.testing.assert_allclose(preds[0], part["test"], atol=1e-5)
    # the test images and sampleSubmission.csv alone (before: 'missing trainLabels.csv, train'): the same submission
    only_test = tmp_path / "only_test"
    shutil.copytree(data / "test", only_test / "test")
    shutil.copy(data / "sampleSubmission.csv", only_test)
    args = ["predict", str(run_dir), "--data", str(only_test), "--out", str(tmp_path / "pred_alone"), "--device", "cpu"]
    assert main([*args, "--quiet"]) == 0
    assert (tmp_path / "pred_alone" / "submission.csv").read_bytes() == (run_dir / "submission.csv").read_bytes()

    # a new test set holding an image of another size, then one cut short: refused before any model predicts, the
    # file named, as a run refuses it (before: "Images in a batch have different sizes", or a decode traceback)
    from PIL import Image

    new = tmp_path / "new"
    shutil.copytree(data, new)
    first = sorted((new / "test").iterdir(), key=lambda p: int(p.stem))[0]  # in the first batch predicted
    kept = first.read_bytes()
    Image.open(first).resize((33, 32)).save(first)
    args = ["predict", str(run_dir), "--data", str(new), "--out", str(tmp_path / "pred_new"), "--device", "cpu"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "1 image(s) are not 32x32 pixels" in err and f"every image of cifar10 has: {first} is 33x32." in err
    first.write_bytes(kept)
    cut = new / "test" / "7.png"
    cut.write_bytes(cut.read_bytes()[:60])
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"image {cut} cannot be decoded" in err and "replace the file" in err
    assert "predict cifar10 with" not in err  # logged as the models start predicting
    assert not (tmp_path / "pred_new").exists()


def test_generated_competition_predict_reproduces_the_submission_from_another_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A competition made by `new` (a folder outside competitions/, named by a relative path): blend and stack."""
    import subprocess
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from test_new_command import write_zip

    monkeypatch.chdir(tmp_path)
    z = write_zip(tmp_path / "binary-comp.zip", "binary")
    assert main(["new", "comp_predict", "--data", str(z), "--into", "comps"]) == 0
    fast = ["--preset", "fast", "--set", "max_trees=300", "--models", "lightgbm,linear", "--folds", "3"]
    run_dir = _run(tmp_path, "comps/comp_predict", "--data", str(z), *fast)
    assert (run_dir / "stack.json").is_file() and len(list((run_dir / "models").glob("*/fold*.joblib"))) == 6
    elsewhere = tmp_path / "elsewhere"  # a new process in another directory: comps/comp_predict is not there
    elsewhere.mkdir()
    cmd = [sys.executable, "-m", "pipeline", "predict", str(run_dir), "--data", str(z), "--out", str(elsewhere)]
    result = subprocess.run(cmd, cwd=elsewhere, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "identical to the run's own submission" in result.stderr
    assert (elsewhere / "submission.csv").read_bytes() == (run_dir / "submission.csv").read_bytes()


def test_predict_cuts_f1_labels_at_the_runs_threshold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from test_new_command import rare_class_zip

    monkeypatch.chdir(tmp_path)
    z = rare_class_zip(tmp_path / "rare-comp.zip")
    assert main(["new", "comp_f1_predict", "--data", str(z), "--metric", "f1", "--into", "comps"]) == 0
    fast = ["--preset", "fast", "--set", "max_trees=300", "--folds", "3"]
    run_dir = _run(tmp_path, "comps/comp_f1_predict", "--data", str(z), *fast)
    assert json.loads((run_dir / "threshold.json").read_text())["applied"]
    _forbid_fitting(monkeypatch)
    assert main(["predict", str(run_dir), "--data", str(z), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    assert (tmp_path / "out" / "submission.csv").read_bytes() == (run_dir / "submission.csv").read_bytes()


def test_predict_reweighs_several_classes_by_the_runs_shares(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # balanced accuracy over three classes: the run divides each class's probability by its share (fitted out of
    # fold, applied as it improves the CV), and predict applies the same shares to the test rows
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from test_new_command import write_zip

    monkeypatch.chdir(tmp_path)
    z = write_zip(tmp_path / "three-comp.zip", "strings")
    assert main(["new", "comp_prior", "--data", str(z), "--metric", "balanced_accuracy", "--into", "comps"]) == 0
    fast = ["--preset", "fast", "--set", "max_trees=300", "--folds", "3"]
    run_dir = _run(tmp_path, "comps/comp_prior", "--data", str(z), *fast)
    info = json.loads((run_dir / "threshold.json").read_text())
    summary = json.loads((run_dir / "summary.json").read_text())
    assert info["applied"] and summary["cv"] == info["score_after"] > info["score_before"]
    assert json.loads((run_dir / "stages.json").read_text())["threshold"]["kind"] == "prior"
    _forbid_fitting(monkeypatch)
    assert main(["predict", str(run_dir), "--data", str(z), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    assert (tmp_path / "out" / "submission.csv").read_bytes() == (run_dir / "submission.csv").read_bytes()


def test_detector_predict_reproduces_the_submission(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """cowboy_outfits (Faster R-CNN, flip TTA, weighted boxes fusion) on its sample preset, one epoch."""
    import json
    import zipfile

    monkeypatch.chdir(tmp_path)
    run_dir = _run(tmp_path, "competitions/cowboy_outfits", "--sample", "--set", "epochs=1")
    assert list((run_dir / "models").glob("*/fold0.pt"))
    _forbid_fitting(monkeypatch)
    data = tmp_path / "data" / "sample" / "cowboy_outfits"
    args = ["predict", str(run_dir), "--data", str(data), "--out", str(tmp_path / "pred"), "--device", "cpu"]
    assert main([*args, "--quiet"]) == 0
    with zipfile.ZipFile(run_dir / "answer.zip") as theirs, zipfile.ZipFile(tmp_path / "pred" / "answer.zip") as ours:
        assert ours.namelist() == theirs.namelist() == ["answer.json"]
        detections = json.loads(theirs.read("answer.json"))
        assert detections and ours.read("answer.json") == theirs.read("answer.json")  # same boxes, scores, order

    # before: a new test set needed train.json and valid.csv too ("incomplete: missing train.json, valid.csv"), as
    # predict refitted the blend on the run's OOF boxes; now blend.json's weights apply as saved, and a folder holding
    # only the new test.csv and its images is enough
    new = tmp_path / "new"
    (new / "images").mkdir(parents=True)
    test = pd.read_csv(data / "test.csv", dtype=str, keep_default_na=False)
    valid = pd.read_csv(data / "valid.csv", dtype=str, keep_default_na=False)
    listing = pd.concat([test.iloc[:8], valid.iloc[:5]])  # the run's first batch of test images (8), and 5 new ones
    for name in listing["file_name"]:
        shutil.copy(data / "images" / name, new / "images" / name)
    args = ["predict", str(run_dir), "--data", str(new), "--out", str(tmp_path / "new_pred"), "--device", "cpu"]
    assert main([*args, "--quiet"]) == 2  # without its listing, the folder is refused naming it
    assert "new: no test.csv; the images to predict are listed in test.csv (id,file_name)" in capsys.readouterr().err
    listing.to_csv(new / "test.csv", index=False)
    assert main([*args, "--quiet"]) == 0
    with zipfile.ZipFile(tmp_path / "new_pred" / "answer.zip") as answer:
        records = json.loads(answer.read("answer.json"))
    kept, added = {int(i) for i in test["id"][:8]}, {int(i) for i in valid["id"][:5]}
    assert {r["image_id"] for r in records} <= kept | added and any(r["image_id"] in added for r in records)
    assert [r for r in records if r["image_id"] in kept] == [r for r in detections if r["image_id"] in kept]

    # before: a training image saved again under another name was predicted as a new picture, unremarked (load_test
    # reads no train.json); now the run's saved digests of its training images name it, in a warning
    saved = json.loads((run_dir / "train_images.json").read_text())["images"]
    assert len(saved) == len(json.loads((data / "train.json").read_text())["images"])
    shutil.copy(data / saved[2]["file"], new / "images" / "renamed.jpg")
    copy = pd.DataFrame({"id": ["4242"], "file_name": ["renamed.jpg"]})
    pd.concat([listing, copy]).to_csv(new / "test.csv", index=False)  # 13 rows on lines 2..14, the copy on 15
    assert main(args) == 0
    assert (
        f"1 test image(s) are training images of run {run_dir.name}, byte for byte: test.csv line 15 (id 4242): "
        f"'images/renamed.jpg' is training image '{saved[2]['file']}' (training row 2)"
    ) in capsys.readouterr().err
    # a run folder from before the digests were saved: predicted as before, with a one-line warning
    (run_dir / "train_images.json").unlink()
    assert main(args) == 0
    assert "saved no digests of its training images" in capsys.readouterr().err


def test_a_run_folder_copied_in_part_is_refused_before_any_model_predicts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # before: "error: copy/oof/linear.npy: No such file or directory", after the fold models had predicted
    import sys

    import pipeline.modelstore

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from test_new_command import write_zip

    monkeypatch.chdir(tmp_path)
    z = write_zip(tmp_path / "part-comp.zip", "binary")
    assert main(["new", "comp_part", "--data", str(z), "--into", "comps"]) == 0
    run_dir = _run(tmp_path, "comps/comp_part", "--data", str(z), "--models", "linear", "--folds", "2")

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a saved model predicted")

    monkeypatch.setattr(pipeline.modelstore, "load_fold_model", refuse)
    copy = tmp_path / "copy"
    models = ("models/linear/fold1.joblib", "models/linear/fold0.json")
    for lost in ("config.json", "folds.npy", "oof/linear.npy", *models):
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(run_dir, copy)
        (copy / lost).unlink()
        capsys.readouterr()
        assert main(["predict", str(copy), "--data", str(z), "--out", str(tmp_path / "out"), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {copy}: the run folder is incomplete: it lacks {lost}, which the run wrote"), err
        assert "copy the whole run folder, or make the run anew (python -m pipeline run comps/comp_part)" in err


def test_predict_refuses_data_whose_classes_differ_before_any_model_predicts(tmp_path: Path) -> None:
    # before: every fold model predicted, then "expected 20 x 5 test probabilities, got 20 x 6"
    from pipeline.contract import ContractError, Data
    from pipeline.prediction import _check_classes

    (tmp_path / "oof").mkdir()
    np.save(tmp_path / "oof" / "m.npy", np.zeros((4, 3)))
    data = Data(
        X=None, y=None, X_test=None, test_ids=None, sample_submission=tmp_path / "s.csv", classes=["a", "b", "d"]
    )
    with pytest.raises(ContractError, match=r"s.csv: its classes differ .*\(the data lacks c; the run never saw d\)"):
        _check_classes(tmp_path, {"classes": ["a", "b", "c"]}, ["m"], data)
    _check_classes(tmp_path, {"classes": ["a", "b", "d"]}, ["m"], data)  # the same classes pass
    data.classes = ["a", "b"]  # a run from before summary.json kept its classes: their count in its OOF rows
    with pytest.raises(ContractError, match="2 classes, but run .* predicts 3"):
        _check_classes(tmp_path, {}, ["m"], data)


def test_a_damaged_summary_is_named_not_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # before: json.decoder.JSONDecodeError and its traceback
    run_dir = tmp_path / "runs" / "comp" / "20260101-000000"
    run_dir.mkdir(parents=True)
    (run_dir / "summary.json").write_text('{\n  "competition": "comp",\n  "cv": 0.9')  # cut short
    assert main(["predict", str(run_dir), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"{run_dir / 'summary.json'}: not valid JSON (" in err and "the file is damaged" in err
    assert main(["runs"]) == 0  # the table of runs still skips it


def test_a_rejected_prediction_is_kept_in_the_out_folder(tmp_path: Path) -> None:
    # before: "the rejected file is kept at OUT/.predict-XXXX/rejected-submission.csv", a scratch folder predict had
    # already deleted, and "nothing was written to submissions/", a folder predict never writes to
    from types import SimpleNamespace

    from pipeline.contract import Data
    from pipeline.prediction import write_prediction
    from pipeline.submission import SubmissionError

    def write(data: Data, pred: np.ndarray, path: Path) -> None:
        path.write_text("id,target\n1,0.5\n")

    def refuse(data: Data, path: Path) -> None:
        raise SubmissionError(f"{path.name}: 1 id(s) of the sample submission are missing, first: ['2'].")

    module = SimpleNamespace(write_submission=write, validate=refuse)
    data = Data(X=None, y=None, X_test=None, test_ids=None, sample_submission=tmp_path / "s.csv")
    out = tmp_path / "out"
    with pytest.raises(SubmissionError) as caught:
        write_prediction(module, data, out, {}, lambda work: np.zeros(1), print)
    assert f"(the rejected file is kept at {out / 'rejected-submission.csv'}; no submission.csv was written)" in str(
        caught.value
    )
    assert (out / "rejected-submission.csv").read_text() == "id,target\n1,0.5\n"
    assert [p.name for p in out.iterdir()] == ["rejected-submission.csv"]  # no scratch folder left
