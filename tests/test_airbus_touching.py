"""Airbus ships that touch (SegmentationRecipe.touching): the training targets carry a contact map of each image's
ships beside their union (pipeline/segmentation/contact.py), the network predicts both, and each predicted mask is
split at its contact pixels (instances.label_objects), so ships moored side by side are separate objects in the
out-of-fold score and the submission."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mask_downloads import airbus_download

from pipeline.cli import main
from pipeline.contract import ContractError, load_competition
from pipeline.segmentation.contact import contact_cell
from pipeline.segmentation.instances import components, label_objects, mean_iou_score
from pipeline.segmentation.rle import decode, encode


def test_label_objects_splits_two_touching_rectangles_at_their_contact_and_leaves_a_lone_one_whole() -> None:
    mask = np.zeros((20, 20), bool)
    mask[2:8, 2:10] = mask[8:14, 2:10] = True  # two ships side by side: one component
    mask[16:19, 14:19] = True  # a lone one
    contact = np.zeros((20, 20))
    contact[7:9, 2:10] = 0.9  # the rows where the two meet
    contact[17, 16] = 0.2  # under the threshold: no contact
    labels, n = label_objects(mask, contact)
    assert n == 3
    top, bottom, lone = (labels == k for k in (labels[2, 2], labels[13, 9], labels[17, 17]))
    assert top.sum() == bottom.sum() == 48 and lone.sum() == 15  # each ship whole, the union unchanged
    assert top[2:8, 2:10].all() and bottom[8:14, 2:10].all() and lone[16:19, 14:19].all()
    assert (labels > 0).sum() == mask.sum()
    assert len(components(mask)) == 2  # without the contact map the pair is one object
    assert [c.sum() for c in components(mask, 0, contact)] == [48, 48, 15]
    seedless = np.zeros((20, 20))
    seedless[16:19, 14:19] = 1.0  # a component all contact keeps itself, whole
    assert [c.sum() for c in components(mask, 0, seedless)] == [96, 15]


def test_targets_of_two_touching_ships_carry_their_contact_pixels(tmp_path: Path) -> None:
    data, ships = airbus_download(tmp_path / "airbus-ship-detection", n_train=12, n_test=2, touching=True)
    comps = tmp_path / "comps"
    assert main(["new", "airbus_touch_targets", "--data", str(data), "--into", str(comps)]) == 0
    module = load_competition(str(comps / "airbus_touch_targets"))
    cfg = module.Config(touching=True)
    d = module.load(cfg, data)
    assert d.X.shape == (12, 3)  # the path, the union's cell, the contact map's cell
    y = d.y.reshape(12, 2, 64, 64)
    pairs = 0
    for i, key in enumerate(d.info["train_ids"]):
        union = (sum(ships[key], np.zeros((64, 64), np.uint8)) > 0).astype(np.uint8)
        assert y[i, 0].tolist() == union.tolist()  # the mask is still the union
        assert decode(d.X[i, 2], 64, 64, "column").tolist() == y[i, 1].tolist()  # at the grid as in the image
        touching = len(ships[key]) > 1 and len(components(union)) < len(ships[key])
        if not touching:
            assert not y[i, 1].any()  # ships apart: no contact
            continue
        pairs += 1
        a, b = ships[key][0] > 0, ships[key][1] > 0  # the pair, one's first row under the other's last
        seam = max(np.flatnonzero(a.any(axis=1))[0], np.flatnonzero(b.any(axis=1))[0])
        cols = np.flatnonzero(b.any(axis=0))
        near = [seam - 2, seam - 1, seam, seam + 1]  # two grid pixels each side of the seam (contact.GRID_PIXELS)
        assert y[i, 1][np.ix_(near, cols)].all()
        assert not y[i, 1][(a | b) & ~np.isin(np.arange(64), near)[:, None]].any()  # only there
    assert pairs >= 3
    assert module.score(d.y, d.y.astype(np.float32), cfg=cfg) == 1.0  # every ship its own object
    assert mean_iou_score(d.y[:, : 64 * 64], d.y[:, : 64 * 64], (64, 64)) == 1.0
    union_only = np.concatenate([d.y[:, : 64 * 64], np.zeros_like(d.y[:, 64 * 64 :])], axis=1)
    assert module.score(d.y, union_only.astype(np.float32), cfg=cfg) < 1.0  # a pair predicted as one object


def test_touching_is_refused_for_a_competition_of_masks(tmp_path: Path) -> None:
    data, _ = airbus_download(tmp_path / "some-ships-as-dice", n_train=6, n_test=2, touching=True)
    comps = tmp_path / "comps"
    assert main(["new", "airbus_touch_dice", "--data", str(data), "--into", str(comps)]) == 0
    module = load_competition(str(comps / "airbus_touch_dice"))
    with pytest.raises(ContractError, match="touching splits the objects .*metric is dice"):
        module.load(module.Config(touching=True), data)


def test_write_submission_with_touching_writes_one_row_per_ship_where_two_touch(tmp_path: Path) -> None:
    test_ships: dict[str, list[np.ndarray]] = {}
    data, _ = airbus_download(
        tmp_path / "airbus-ship-detection", n_train=6, n_test=8, touching=True, test_ships=test_ships
    )
    comps = tmp_path / "comps"
    assert main(["new", "airbus_touch_write", "--data", str(data), "--into", str(comps)]) == 0
    module = load_competition(str(comps / "airbus_touch_write"))
    loaded = module.load_test(module.Config(touching=True), data)
    pred = []  # each test image's union and its ships' contact map, as probabilities a network could give
    for key in loaded.test_ids:
        ships = test_ships[key]
        cells = [encode(m, "column") for m in ships]
        contact = decode(contact_cell(cells, 64, 64, "column", 2), 64, 64, "column") if cells else np.zeros((64, 64))
        union = sum(ships, np.zeros((64, 64))) > 0
        pred.append(np.concatenate([np.where(union, 0.9, 0.1).ravel(), np.where(contact > 0, 0.8, 0.2).ravel()]))
    path = tmp_path / "submission.csv"
    module.write_submission(loaded, np.array(pred, np.float32), path)
    sub = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert module.validate(loaded, path) == sum(len(s) for s in test_ships.values())
    pairs = 0
    for key, ships in test_ships.items():
        rows = [decode(c, 64, 64, "column") for c in sub[sub["ImageId"] == key]["EncodedPixels"] if c]
        pairs += len(components(sum(ships, np.zeros((64, 64))))) < len(ships)
        assert sorted(r.tobytes() for r in rows) == sorted(s.astype(np.uint8).tobytes() for s in ships), key
    assert pairs >= 3  # images where two ships touch: each ship its own row, whole


def test_run_with_touching_learns_both_channels_and_writes_a_submission_that_validates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    data, _ = airbus_download(tmp_path / "airbus-ship-detection", n_train=32, n_test=6, touching=True)
    comps = tmp_path / "comps"
    assert main(["new", "airbus_touch_run", "--data", str(data), "--into", str(comps)]) == 0
    args = ["run", str(comps / "airbus_touch_run"), "--data", str(data), "--preset", "fast", "--quiet"]
    assert main([*args, "--folds", "2", "--set", "epochs=12", "--set", "touching=true"]) == 0
    (run_dir,) = (tmp_path / "runs" / "airbus_touch_run").glob("*")
    module = load_competition(str(comps / "airbus_touch_run"))
    cfg = module.Config(touching=True)
    loaded = module.load(cfg, data)
    oof = np.load(run_dir / "oof" / "_blend.npy")
    assert oof.shape == loaded.y.shape == (32, 2 * 64 * 64)  # the mask and the contact map, out of fold
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["cv"] == pytest.approx(module.score(loaded.y, oof, cfg=cfg))  # on the ships split at contact
    assert summary["cv"] > module.score(loaded.y, np.zeros(loaded.y.shape, np.float32), cfg=cfg)
    assert json.loads((run_dir / "stages.json").read_text())["threshold"]["contact"] is True
    sub = pd.read_csv(run_dir / "submission.csv", dtype=str, keep_default_na=False)
    cells = sub["EncodedPixels"]
    assert module.validate(loaded, run_dir / "submission.csv") == int((cells != "").sum()) > 0
    out = tmp_path / "pred"
    assert main(["predict", str(run_dir), "--data", str(data), "--out", str(out), "--quiet"]) == 0
    assert pd.read_csv(out / "submission.csv", dtype=str, keep_default_na=False).equals(sub)
