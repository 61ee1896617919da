"""What a Kaggle user does with a segmentation download beyond `run` (tests/test_segmentation_run.py): a run whose
Config cuts its masks elsewhere than at 0.5 is scored as its submission is cut, and `tune`'s trials compare that
score."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from mask_downloads import severstal_download, tgs_download

from pipeline.cli import main
from pipeline.contract import load_competition
from pipeline.runfolder import saved_config
from pipeline.segmentation.metric import mean_dice


def new_competition(tmp_path: Path, name: str, data: Path) -> Path:
    """`new NAME --into comps` of the download; the competition's folder."""
    assert main(["new", name, "--data", str(data), "--into", str(tmp_path / "comps")]) == 0
    return tmp_path / "comps" / name


def test_the_cv_of_a_run_is_its_masks_dice_at_the_config_s_cut(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # before: the blend, the CV and the folds' scores `tune` compares cut the probabilities at 0.5 and kept every mask
    # whatever mask_threshold and min_area said, while each model's fold score and the submission used them: a trial
    # of the generated search_space's mask_threshold was scored as if it were 0.5
    monkeypatch.chdir(tmp_path)
    data, _ = tgs_download(tmp_path / "tgs", n_train=16, n_test=4)
    comp = new_competition(tmp_path, "seg_walk_cut", data)
    cut = ["--set", "mask_threshold=0.3", "--set", "min_area=40", "--set", "fit_mask_cut=false"]  # the Config's cut
    run = ["run", str(comp), "--data", str(data), "--preset", "fast", "--folds", "2", "--set", "epochs=3", *cut]
    assert main([*run, "--quiet"]) == 0
    (run_dir,) = (tmp_path / "runs" / "seg_walk_cut").glob("*")
    module = load_competition(str(comp))
    cfg = saved_config(module, run_dir)
    y = module.load(cfg, data).y
    oof, folds = np.load(run_dir / "oof" / "_blend.npy"), np.load(run_dir / "folds.npy")
    summary = json.loads((run_dir / "summary.json").read_text())
    area = 40 * module.FILES.grid[0] * module.FILES.grid[1] / (48 * 48)  # min_area's pixels at the grid
    assert summary["cv"] == pytest.approx(mean_dice(y, oof, 1, 0.3, area))
    assert summary["cv"] != pytest.approx(mean_dice(y, oof, 1, 0.5, 0))  # the cut matters on these probabilities
    by_fold = [mean_dice(y[folds == f], oof[folds == f], 1, 0.3, area) for f in (0, 1)]
    assert summary["cv_folds"] == pytest.approx(by_fold)  # what tune compares
    scores = json.loads((run_dir / "scores.json").read_text())
    model = next(m for m in scores if not m.startswith("_"))
    assert summary["blend"]["oof_scores"][model] == pytest.approx(summary["cv"])  # one model: the blend is it


def test_a_run_of_several_classes_reports_each_class_s_dice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # before: one mean over four classes, which hides the rare class a Severstal run misses
    monkeypatch.chdir(tmp_path)
    data, _ = severstal_download(tmp_path / "severstal", n_train=16, n_test=2)
    comp = new_competition(tmp_path, "seg_walk_classes", data)  # its file takes the class_scores hook of CsvMasks
    cut = ["--set", "mask_threshold=0.4", "--set", "fit_mask_cut=false"]
    assert main(["run", str(comp), "--data", str(data), "--preset", "fast", "--set", "epochs=2", *cut]) == 0
    (run_dir,) = (tmp_path / "runs" / "seg_walk_classes").glob("*")
    summary = json.loads((run_dir / "summary.json").read_text())
    module = load_competition(str(comp))
    y, oof = module.load(module.Config(), data).y, np.load(run_dir / "oof" / "_blend.npy")
    scored = np.load(run_dir / "folds.npy") >= 0
    want = [mean_dice(_class(y[scored], k), _class(oof[scored], k), 1, 0.4) for k in range(4)]
    assert list(summary["class_scores"]) == ["1", "2", "3", "4"]
    assert list(summary["class_scores"].values()) == pytest.approx(want)
    assert np.mean(want) == pytest.approx(summary["cv"])  # every image has every class: the CV is their mean
    out = capsys.readouterr().out
    assert all(f"class {k} (out of fold)" in out for k in "1234")
    assert "dice per class (out of fold): 1 " in (run_dir / "log.txt").read_text()


def _class(flat: np.ndarray, k: int, classes: int = 4) -> np.ndarray:
    """Class k's masks of (images, classes x gh x gw) rows, class-major."""
    return flat.reshape(len(flat), classes, -1)[:, k]
