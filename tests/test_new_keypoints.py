"""`new` on Facial Keypoints Detection's layout (training.csv of keypoint columns, many empty, and `Image`; test.csv
`ImageId,Image`; IdLookupTable.csv saying which keypoint of which face each RowId of SampleSubmission.csv asks): it
writes LOOKUP, PIXELS and the cnn, one network of every keypoint; a run scores the keypoints present out of fold and
writes the asked values, which `validate` accepts and `predict` on the run's folder writes again. A lookup it cannot
read is refused naming the file and the column."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from face_downloads import NAMES, facial_keypoints
from test_new_pixels import ruff_clean

from pipeline.cli import main
from pipeline.contract import ContractError, Data, load_competition
from pipeline.tabular import Lookup, present_rmse, write_lookup
from pipeline.tabular.cnn import PixelCNN

RUN = ("--preset", "fast", "--set", "cnn_epochs=5", "--quiet")


def new(tmp_path: Path, name: str, data: Path, *extra: str) -> int:
    return main(["new", name, "--data", str(data), "--into", str(tmp_path / "comps"), *extra])


def test_new_writes_one_network_of_every_keypoint_and_the_lookup_submission(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # before: `new` refused the sample's RowId (no column of test.csv) and MultiTarget would train a cnn per keypoint
    monkeypatch.chdir(tmp_path)
    data, truth = facial_keypoints(tmp_path / "facial-keypoints-detection.zip", 200, 30, side=32)
    capsys.readouterr()
    assert new(tmp_path, "facial_kp_run", data) == 0
    printed = capsys.readouterr().out
    assert "through IdLookupTable.csv (ImageId, FeatureName), one of 8 values of one test row" in printed
    assert "0 to 32 (LOOKUP's clip)" in printed and "column Image holds one 32x32 grey image" in printed
    comp = tmp_path / "comps" / "facial_kp_run"
    text = (comp / "__init__.py").read_text()
    assert 'LOOKUP = tabular.Lookup("IdLookupTable.csv", "RowId", "ImageId", "FeatureName", clip=(0.0, 32.0))' in text
    assert text.count("lookup=LOOKUP,") == 2 and "tabular.write_lookup(data, pred, path, LOOKUP)" in text
    ruff_clean(comp / "__init__.py")
    module = load_competition(str(comp))
    assert module.TARGET == NAMES and module.ID == "ImageId" and module.Config().models == ("cnn",)
    # the keypoints are places on the face: the flip moves them with it, swapping left and right, and the flipped
    # view is averaged back; the shift, turn and zoom are off (benchmarks/README.md), the search space tunes them all
    cfg = module.Config()
    assert (cfg.cnn_keypoints, cfg.cnn_flip, cfg.cnn_tta) == (True, True, ("hflip",))
    assert (cfg.cnn_shift, cfg.cnn_rotate, cfg.cnn_zoom) == (0, 0.0, 0.0) and "flipped at random with their" in text
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    tuned = {"cnn_lr", "cnn_epochs", "cnn_shift", "cnn_rotate", "cnn_zoom", "cnn_flip"}
    assert set(module.search_space(trial)) == tuned

    # the run moves the keypoints with each flipped, shifted and turned face, and averages the flipped view back
    assert main(["run", str(comp), "--data", str(data), *RUN, "--set", "cnn_shift=2", "--set", "cnn_rotate=10"]) == 0
    (run_dir,) = (tmp_path / "runs" / "facial_kp_run").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    with zipfile.ZipFile(data) as zf:
        train = pd.read_csv(zf.open("training.csv"))
        sample = pd.read_csv(zf.open("SampleSubmission.csv"))
    y = train[NAMES].to_numpy()
    assert np.isnan(y).any()  # training rows marking some keypoints only are kept, and scored on those
    oof = np.load(run_dir / "oof" / "cnn.npy")
    assert oof.shape == (200, 8) and np.isfinite(oof).all()  # every keypoint of every face, marked or not
    assert summary["cv"] == pytest.approx(present_rmse(y, oof), rel=1e-3)
    means = present_rmse(y, np.broadcast_to(np.nanmean(y, axis=0), y.shape))  # the training means, in sample
    assert summary["cv"] < 0.6 * means, (summary["cv"], means)
    network = PixelCNN.load_fitted(run_dir / "models" / "cnn" / "fold0.pt").network_
    assert network.n_outputs_ == 8  # one network of the 8 values
    assert network.keypoints.mirror == (2, 3, 0, 1, 4, 5, 6, 7) and network.batch_augment.flip  # eyes swap flipped
    assert network.tta == ("hflip",)

    sub = pd.read_csv(summary["published"])
    assert list(sub.columns) == ["RowId", "Location"] and sub["RowId"].tolist() == sample["RowId"].tolist()
    assert sub["Location"].between(0, 32).all()
    held_out = float(np.sqrt(np.mean((sub["Location"] - truth["Location"]) ** 2)))
    assert held_out < 0.6 * means, (held_out, means)
    assert main(["validate", str(comp), summary["published"], "--data", str(data)]) == 0
    out = tmp_path / "predicted"
    assert main(["predict", str(run_dir), "--data", str(data), "--out", str(out), "--quiet"]) == 0
    assert (out / "submission.csv").read_bytes() == Path(summary["published"]).read_bytes()


def _rewritten(path: Path, name: str, frame: pd.DataFrame) -> Path:
    """The download at `path` with one CSV replaced (a new zip beside it)."""
    out = path.with_name(f"bad-{path.name}")
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w") as dst:
        for member in src.namelist():
            text = frame.to_csv(index=False) if member == name else src.read(member).decode()
            dst.writestr(member, text)
    return out


def _lookup(path: Path) -> pd.DataFrame:
    with zipfile.ZipFile(path) as zf:
        return pd.read_csv(io.BytesIO(zf.read("IdLookupTable.csv")))


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (
            lambda lk: lk.rename(columns={"ImageId": "Face"}),
            "IdLookupTable.csv: holds the sample's RowId, but no column of test.csv's ids",
        ),
        (
            lambda lk: lk.assign(FeatureName=lk["FeatureName"].where(lk.index != 3, "Image")),
            "IdLookupTable.csv: column FeatureName, line 5: 'Image' is not one of training.csv's columns of numbers",
        ),
        (
            lambda lk: lk.drop(columns="FeatureName"),
            "IdLookupTable.csv: holds the sample's RowId and test.csv's ImageId, but no column naming training.csv's",
        ),
    ],
)
def test_a_lookup_new_cannot_read_is_refused_naming_file_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture, change, said: str
) -> None:
    data, _ = facial_keypoints(tmp_path / "facial-keypoints-detection.zip", 20, 4, side=32)
    bad = _rewritten(data, "IdLookupTable.csv", change(_lookup(data)))
    assert new(tmp_path, "facial_kp_bad", bad) == 2
    assert said in capsys.readouterr().err
    assert not (tmp_path / "comps" / "facial_kp_bad").exists()


def test_another_metric_or_target_for_a_lookup_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data, _ = facial_keypoints(tmp_path / "facial-keypoints-detection.zip", 20, 4, side=32)
    assert new(tmp_path, "facial_kp_mae", data, "--metric", "mae") == 2
    assert "--metric mae: a sample asking values through a lookup table is a regression" in capsys.readouterr().err
    assert new(tmp_path, "facial_kp_target", data, "--target", "nose_tip_x") == 2
    assert "--target: the sample asks its values through a lookup table" in capsys.readouterr().err


def _data(folder: Path, lookup: pd.DataFrame, sample_ids: list[int], test_ids: list[int]) -> Data:
    lookup.to_csv(folder / "lookup.csv", index=False)
    pd.DataFrame({"RowId": sample_ids, "Location": 0}).to_csv(folder / "sample.csv", index=False)
    return Data(
        X=None,
        y=None,
        X_test=None,
        test_ids=np.array(test_ids),
        sample_submission=folder / "sample.csv",
        data_dir=folder,
        info={"targets": ["a_x", "a_y"]},
    )


def test_the_lookup_picks_each_asked_value_in_the_samples_order_cut_to_the_clip(tmp_path: Path) -> None:
    lookup = pd.DataFrame({"RowId": [1, 2, 3], "ImageId": [7, 7, 9], "FeatureName": ["a_x", "a_y", "a_y"]})
    data = _data(tmp_path, lookup, [3, 1, 2], [9, 7])
    pred = np.array([[10.0, 99.0], [-4.0, 20.0]])  # test row 9, then 7
    write_lookup(data, pred, tmp_path / "sub.csv", Lookup("lookup.csv", "RowId", "ImageId", "FeatureName", (0, 96)))
    sub = pd.read_csv(tmp_path / "sub.csv")
    assert sub["RowId"].tolist() == [3, 1, 2] and sub["Location"].tolist() == [96.0, 0.0, 20.0]


def test_a_lookup_row_of_an_unknown_face_is_refused_naming_its_line(tmp_path: Path) -> None:
    lookup = pd.DataFrame({"RowId": [1, 2], "ImageId": [7, 8], "Name": ["a_x", "a_x"]})
    data = _data(tmp_path, lookup, [1, 2], [7])
    with pytest.raises(ContractError, match=r"lookup.csv: line 3: test id '8' is not one of the test rows' ids"):
        write_lookup(data, np.zeros((1, 2)), tmp_path / "sub.csv", Lookup("lookup.csv", "RowId", "ImageId", "Name"))


def test_the_score_pools_the_values_present() -> None:
    y = np.array([[1.0, np.nan], [3.0, 10.0], [5.0, np.nan]])
    pred = np.array([[2.0, 50.0], [3.0, 14.0], [5.0, -7.0]])
    assert present_rmse(y, pred) == pytest.approx(np.sqrt((1 + 0 + 0 + 16) / 4))  # not the columns' mean RMSE


def test_kaggles_zips_inside_the_download_are_read_as_the_flat_files(tmp_path: Path) -> None:
    # Kaggle ships training.csv and test.csv as training.zip and test.zip inside the download
    flat, _ = facial_keypoints(tmp_path / "facial-keypoints-detection.zip", 20, 4, side=32)
    nested = tmp_path / "nested" / "facial-keypoints-detection.zip"
    nested.parent.mkdir()
    with zipfile.ZipFile(flat) as src, zipfile.ZipFile(nested, "w") as dst:
        for member in src.namelist():
            if member in ("training.csv", "test.csv"):
                inner = io.BytesIO()
                with zipfile.ZipFile(inner, "w") as z:
                    z.writestr(member, src.read(member))
                dst.writestr(member.replace(".csv", ".zip"), inner.getvalue())
            else:
                dst.writestr(member, src.read(member))
    assert new(tmp_path, "facial_kp_flat", flat) == 0 and new(tmp_path, "facial_kp_nested", nested) == 0
    texts = [(tmp_path / "comps" / n / "__init__.py").read_text() for n in ("facial_kp_flat", "facial_kp_nested")]
    assert texts[0].replace("facial_kp_flat", "X") == texts[1].replace("facial_kp_nested", "X")
    assert "LOOKUP = tabular.Lookup(" in texts[1]
