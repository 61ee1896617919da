"""competitions/cowboy_outfits: the real layout, id remapping, record checks, the answer zip, blend, end to end."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import competitions.cowboy_outfits as cb
from pipeline.contract import ContractError
from pipeline.detection.boxes import pack, unpack
from pipeline.submission import SubmissionError


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("cowboy")
    cb.sample(dest)
    return dest


def copy_sample(src: Path, dest: Path) -> Path:
    import shutil

    shutil.copytree(src, dest)
    return dest


def test_sample_has_the_real_layout(sample_dir: Path) -> None:
    doc = json.loads((sample_dir / "train.json").read_text())
    assert {c["id"] for c in doc["categories"]} == {87, 131, 318, 588, 1034}
    assert {a["category_id"] for a in doc["annotations"]} == {87, 131, 318, 588, 1034}
    assert max(im["id"] for im in doc["images"]) > 2**63  # beyond int64, not only int32
    assert all(len(im["file_name"]) == 20 for im in doc["images"])  # <16 hex>.jpg
    assert (sample_dir / "valid.csv").read_text().startswith("id,file_name\n")


def test_large_image_ids_round_trip_exactly(sample_dir: Path, tmp_path: Path) -> None:
    data = cb.load(cb.Config(), sample_dir)
    doc = json.loads((sample_dir / "train.json").read_text())
    assert data.info["train_ids"] == [im["id"] for im in doc["images"]]
    listed = [int(line.split(",")[0]) for line in (sample_dir / "test.csv").read_text().split()[1:]]
    assert list(data.test_ids) == listed and all(type(i) is int for i in data.test_ids)
    row_of, originals = cb.data.remap_ids(listed)
    assert [originals[row_of[i]] for i in listed] == listed
    # every test image gets one box; the ids in answer.json are the listed ones, digit for digit
    pred = pack(
        [np.array([[1.0, 1, 10, 10]])] * len(listed), [np.array([0.5])] * len(listed), [np.array([2])] * len(listed)
    )
    cb.write_submission(data, pred, tmp_path / "answer.zip")
    assert cb.validate(data, tmp_path / "answer.zip") == len(listed)
    text = zipfile.ZipFile(tmp_path / "answer.zip").read("answer.json").decode()
    answer = json.loads(text)
    assert [r["image_id"] for r in answer] == listed and {r["category_id"] for r in answer} == {318}
    assert all(str(i) in text for i in listed)


def test_valid_split_and_clipping(sample_dir: Path, tmp_path: Path) -> None:
    data = cb.load(cb.Config(predict_split="valid"), sample_dir)
    assert data.sample_submission.name == "valid.csv" and len(data.X_test) == 12
    w, h = (int(v) for v in data.info["test_sizes"][0])
    pred = np.full((len(data.X_test), 12), np.nan)
    pred[0] = [-5, -5, w + 20, 30, 1.7, 4, w - 1, h - 1, 40, 40, 0.3, 0]  # past the borders; a score above 1
    cb.write_submission(data, pred, tmp_path / "a.zip")
    cb.validate(data, tmp_path / "a.zip")
    recs = json.loads(zipfile.ZipFile(tmp_path / "a.zip").read("answer.json"))
    assert recs[0]["bbox"] == [0.0, 0.0, float(w), 25.0] and recs[0]["score"] == 1.0
    assert recs[0]["category_id"] == 1034 and recs[1]["bbox"][2:] == [1.0, 1.0] and recs[1]["category_id"] == 87


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["images"][2].pop("file_name"), r"images\[2\] \(id \d+\): missing field\(s\) file_name"),
        (
            lambda d: d["annotations"][5].__setitem__("bbox", [3, 4, -10, 8]),
            r"annotations\[5\] \(id 6\): bbox \[3, 4, -10, 8\] has a non-positive width or height",
        ),
        (
            lambda d: d["annotations"][7].__setitem__("category_id", 999),
            r"annotations\[7\] \(id 8\): unknown category_id 999; valid: 87 \(belt\)",
        ),
        (lambda d: d["annotations"][1].pop("bbox"), r"annotations\[1\] \(id 2\): missing field\(s\) bbox"),
        (
            lambda d: d["annotations"][2].__setitem__("iscrowd", "yes"),
            r"annotations\[2\] \(id 3\): iscrowd 'yes' must be 0 \(an object\) or 1 \(a crowd region\)",
        ),
        (lambda d: d["annotations"][3].__setitem__("image_id", 12345), r"annotations\[3\].*image_id 12345 is not"),
        (
            lambda d: d["images"][4].__setitem__("file_name", "0000000000000000.jpg"),
            r"images\[4\] \(id \d+\): image file 'images/0000000000000000.jpg' not found",
        ),
        # before: the four below loaded, then trained a whole run (or gave a traceback)
        (lambda d: d.__setitem__("annotations", []), r"annotations: no box over the \d+ images"),
        (lambda d: d.update(images=[], annotations=[]), r"train.json images: the list is empty"),
        (  # one picture listed twice could sit on both sides of a fold
            lambda d: d["images"].append(d["images"][4] | {"id": 10**9}),
            r"images\[\d+\] \(id 1000000000\): file_name 'images/.*' is already images\[4\]'s",
        ),
        (  # an extension in another case on disk: the likely cause named
            lambda d: d["images"][4].__setitem__("file_name", d["images"][4]["file_name"].upper()),
            r"not found; .* is there: the names differ in case",
        ),
        (
            lambda d: d["images"][3].__setitem__("width", d["images"][3]["width"] + 7),
            r"images\[3\] \(id \d+\): width x height \d+ x \d+ differ from images/.*: its boxes would not fall",
        ),
        # before: the four below loaded; the recipe's class order and answer.json's ids took the download on trust
        (
            lambda d: d["categories"].append({"id": 87, "name": "belt"}),
            r"categories\[5\] \(id 87\): duplicate category id: categories\[0\] has it too",
        ),
        (
            lambda d: d["categories"][1].__setitem__("name", "belt"),  # two names for belt; none for boot
            r"categories\[1\] \(id 131\): named 'belt' \('belt' is 87's\), but category 131 is 'boot' to the "
            r"recipe and in answer.json",
        ),
        (lambda d: d["categories"].pop(4), r"train.json categories: lacks 1034 \(sunglasses\); the recipe predicts"),
        (lambda d: d.pop("categories"), r"train.json: no 'categories' list; expected the five categories 87 \(belt\)"),
    ],
)
def test_malformed_train_json_names_the_record(sample_dir: Path, tmp_path: Path, edit, message: str) -> None:
    d = copy_sample(sample_dir, tmp_path / "data")
    doc = json.loads((d / "train.json").read_text())
    edit(doc)
    (d / "train.json").write_text(json.dumps(doc))
    with pytest.raises(cb.data.CowboyDataError, match=message):
        cb.load(cb.Config(), d)


def test_category_names_are_checked_against_their_ids_whatever_their_spelling(sample_dir: Path, tmp_path: Path) -> None:
    # before: a download calling 318 "jacket" and 588 "cowboy_hat" trained each as the other's name
    d = copy_sample(sample_dir, tmp_path / "data")
    doc = json.loads((d / "train.json").read_text())
    names = {c["id"]: c for c in doc["categories"]}
    names[318]["name"], names[588]["name"] = "jacket", "cowboy_hat"
    (d / "train.json").write_text(json.dumps(doc))
    with pytest.raises(
        cb.data.CowboyDataError, match=r"categories\[2\] \(id 318\): named 'jacket' \('jacket' is 588's\)"
    ):
        cb.load(cb.Config(), d)
    names[318]["name"], names[588]["name"] = "Cowboy Hat", "JACKET"  # the same names in another case or spacing
    (d / "train.json").write_text(json.dumps(doc))
    assert cb.load(cb.Config(), d).info["class_names"] == ["belt", "boot", "cowboy_hat", "jacket", "sunglasses"]


def test_a_crowd_box_is_no_training_target_and_no_detection_on_it_is_penalised(
    sample_dir: Path, tmp_path: Path
) -> None:
    # before: an iscrowd=1 box was trained as one more object, and scored as one: a detection on it a true positive,
    # none on it a miss. COCO (and pycocotools) trains on no crowd region and ignores detections matched to one.
    from pipeline.detection.data import DetectionDataset, make_transform

    crowded, without = copy_sample(sample_dir, tmp_path / "crowded"), copy_sample(sample_dir, tmp_path / "without")
    doc = json.loads((crowded / "train.json").read_text())
    jackets = [a for a in doc["annotations"] if a["category_id"] == 588]
    per_image = pd.Series([a["image_id"] for a in jackets]).value_counts()
    ann = next(a for a in jackets if per_image[a["image_id"]] == 1)  # the only jacket of its image
    ann["iscrowd"] = 1
    (crowded / "train.json").write_text(json.dumps(doc))
    doc["annotations"].remove(ann)
    (without / "train.json").write_text(json.dumps(doc))
    a, b = cb.load(cb.Config(), crowded), cb.load(cb.Config(), without)
    row = a.info["train_ids"].index(ann["image_id"])

    def target(data: object, i: int) -> dict:
        return DetectionDataset(data.X, data.y, make_transform(128, False), image_size=128).item(i)[1]

    for i in (row, row + 1):  # the crowd region's image: the same targets as without it; another image unchanged
        ta, tb = target(a, i), target(b, i)
        assert ta["labels"].tolist() == tb["labels"].tolist() and ta["boxes"].equal(tb["boxes"])

    # every object found (at score 0.5): not finding the crowd region costs nothing, and a detection on it, the
    # most confident of all (0.9, class 3: jacket), is neither a true nor a false positive
    rows = [(boxes, np.full(len(boxes), 0.5), classes) for boxes, _, classes in map(unpack, b.y)]
    assert cb.score(a.y, pack(*zip(*rows, strict=True))) == pytest.approx(1.0)
    boxes, scores, classes = rows[row]
    rows[row] = (np.vstack([boxes, ann["bbox"]]), np.append(scores, 0.9), np.append(classes, 3))
    on_crowd = pack(*zip(*rows, strict=True))
    assert cb.score(a.y, on_crowd) == pytest.approx(1.0)
    assert cb.score(b.y, on_crowd) < 0.999  # where no crowd region is, the same detection is a false positive
    assert (a.info["boxes"], a.info["crowd_boxes"]) == (b.info["boxes"], 1)  # counted apart


def test_an_exif_rotated_photo_is_read_in_the_frame_its_boxes_are_given_in(tmp_path: Path) -> None:
    # before: OpenCV applied the EXIF rotation, so a stored 600 x 400 photo reached the detector as 400 x 600 while
    # train.json's boxes and the test sizes were in the stored frame: boxes fell off the image and were dropped
    from PIL import Image

    from pipeline.vision.data import read_image

    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90 degrees clockwise
    pixels = np.zeros((400, 600, 3), np.uint8)
    pixels[:, :300] = 200  # the left half bright, as stored
    Image.fromarray(pixels).save(tmp_path / "a.jpg", exif=exif)
    image = read_image(tmp_path / "a.jpg")
    assert image.shape == (400, 600, 3) and image[:, :280].mean() > 190 > 10 > image[:, 320:].mean()


def test_missing_test_image_is_named(sample_dir: Path, tmp_path: Path) -> None:
    d = copy_sample(sample_dir, tmp_path / "data")
    name = (d / "test.csv").read_text().split()[3].split(",")[1]
    (d / "images" / name).unlink()
    with pytest.raises(cb.data.CowboyDataError, match=rf"test.csv line 4 \(id \d+\): image file 'images/{name}'"):
        cb.load(cb.Config(), d)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        # before: a test.csv with its header only trained a whole run, then blamed "the prediction step"
        (lambda t: t.iloc[:0], r"test.csv: no rows \(only a header\)"),
        # before: one image listed twice was predicted under two ids
        (
            lambda t: pd.concat([t, t.iloc[[1]].assign(id="777")]),
            r"test.csv line \d+ \(id 777\): file_name .* line 3's",
        ),
    ],
)
def test_a_test_list_without_rows_or_with_a_file_twice_is_refused(
    sample_dir: Path, tmp_path: Path, edit, message
) -> None:
    d = copy_sample(sample_dir, tmp_path / "data")
    test = pd.read_csv(d / "test.csv", dtype=str, keep_default_na=False)
    edit(test).to_csv(d / "test.csv", index=False)
    with pytest.raises(cb.data.CowboyDataError, match=message):
        cb.load(cb.Config(), d)


def test_a_listed_image_that_is_also_a_training_image_is_refused(sample_dir: Path, tmp_path: Path) -> None:
    # before: loaded silently; the run predicted (and answered for) pictures its models had trained on
    d = copy_sample(sample_dir, tmp_path / "data")
    images = json.loads((d / "train.json").read_text())["images"]
    test = pd.read_csv(d / "test.csv", dtype=str, keep_default_na=False)
    names = [im["file_name"] for im in images[:7]]
    again = pd.DataFrame({"id": [str(10**6 + i) for i in range(7)], "file_name": names})
    pd.concat([test, again]).to_csv(d / "test.csv", index=False)  # test.csv's 24 rows are lines 2..25
    first = images[0]["file_name"]
    with pytest.raises(
        cb.data.CowboyDataError,
        match=rf"test.csv: 7 listed image\(s\) are also training images of train.json: line 26 \(id 1000000\): "
        rf"'images/{first}' is train.json images\[0\]; line 27 .* \.\.\. and 2 more\. .*remove those rows",
    ):
        cb.load(cb.Config(), d)
    # valid.csv naming a training image's id (another file): the same refusal, for the split predicted
    valid = pd.read_csv(d / "valid.csv", dtype=str, keep_default_na=False)
    valid.loc[2, "id"] = str(images[5]["id"])
    valid.to_csv(d / "valid.csv", index=False)
    with pytest.raises(
        cb.data.CowboyDataError,
        match=rf"valid.csv: 1 listed image\(s\) .*: line 4 \(id {images[5]['id']}\): the id of train.json images\[5\]",
    ):
        cb.load(cb.Config(predict_split="valid"), d)


def test_a_training_image_saved_again_under_another_name_loads_and_is_named(sample_dir: Path, tmp_path: Path) -> None:
    # the same picture under another name is not refused (a real download may hold one), but the run's check
    # (pipeline/imagedigests.run_copies, which the runner logs as a warning) names both rows; before, nothing did
    import shutil

    from pipeline.imagedigests import run_copies, save_training_images
    from pipeline.imagefiles import image_paths

    d = copy_sample(sample_dir, tmp_path / "data")
    images = json.loads((d / "train.json").read_text())["images"]
    test = pd.read_csv(d / "test.csv", dtype=str, keep_default_na=False)
    shutil.copy(d / "images" / images[3]["file_name"], d / "images" / "renamed.jpg")
    renamed = pd.DataFrame({"id": ["123456789"], "file_name": ["renamed.jpg"]})
    pd.concat([test, renamed]).to_csv(d / "test.csv", index=False)
    data = cb.load(cb.Config(), d)
    assert data.test_ids[-1] == 123456789
    saved = save_training_images(tmp_path / "run", image_paths(data.X), d)
    said = run_copies(saved, image_paths(data.X_test), d)
    assert said.startswith("1 test image(s) are training images, byte for byte: test row ")
    assert f"'images/renamed.jpg' is training row 3 'images/{images[3]['file_name']}'" in said
    other = np.asarray(Image.open(d / "images" / "renamed.jpg")).copy()
    other[0, 0] = 255 - other[0, 0]  # one pixel changed and saved again: other bytes, so another image
    Image.fromarray(other).save(d / "images" / "renamed.jpg", quality=95)
    data = cb.load(cb.Config(), d)
    assert run_copies(saved, image_paths(data.X_test), d) == ""


def test_the_split_to_predict_loads_alone_as_load_reads_it(sample_dir: Path, tmp_path: Path) -> None:
    # before: only load (train.json, valid.csv and test.csv together); predict of a new test set needed all three
    import shutil

    full = cb.load(cb.Config(), sample_dir)
    alone = tmp_path / "alone"
    (alone / "images").mkdir(parents=True)
    shutil.copy(sample_dir / "test.csv", alone / "test.csv")
    for path in full.X_test:
        shutil.copy(path, alone / "images" / Path(path).name)
    test = cb.load_test(cb.Config(), alone)
    assert test.X is None and test.y is None and test.sample_submission == alone / "test.csv"
    assert list(test.test_ids) == list(full.test_ids) and all(type(i) is int for i in test.test_ids)
    assert [Path(p).name for p in test.X_test] == [Path(p).name for p in full.X_test]
    np.testing.assert_array_equal(test.info["test_sizes"], full.info["test_sizes"])
    with pytest.raises(
        cb.data.CowboyDataError, match=r"alone: no valid.csv; the images to predict are listed in valid"
    ):
        cb.load_test(cb.Config(predict_split="valid"), alone)


def _zip(path: Path, records: object, member: str = "answer.json") -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(member, json.dumps(records))
    return path


def test_validator_rejects_bad_answers(sample_dir: Path, tmp_path: Path) -> None:
    data = cb.load(cb.Config(), sample_dir)
    iid = int(data.test_ids[0])
    w, h = (int(v) for v in data.info["test_sizes"][0])
    good = {"image_id": iid, "category_id": 588, "bbox": [1.0, 2.0, 10.0, 10.0], "score": 0.5}
    assert cb.validate(data, _zip(tmp_path / "ok.zip", [good])) == 1
    cases = {
        "unknown.zip": ({**good, "image_id": iid + 1}, f"image_id {iid + 1} is not an image of the split predicted"),
        "cat.zip": ({**good, "category_id": 1}, "category_id 1 is not one of"),
        "box.zip": ({**good, "bbox": [w - 5.0, 0.0, 10.0, 10.0]}, f"is not a box inside the {w}x{h} image"),
        "score.zip": ({**good, "score": 1.5}, r"score 1.5 is not a number in \[0, 1\]"),
        "keys.zip": ({**good, "extra": 1}, "keys must be exactly"),
    }
    for name, (rec, msg) in cases.items():
        with pytest.raises(SubmissionError, match=rf"record 1: .*{msg}"):
            cb.validate(data, _zip(tmp_path / name, [good, rec]))
    with pytest.raises(SubmissionError, match="no answer.json at the root"):
        cb.validate(data, _zip(tmp_path / "nested.zip", [good], "sub/answer.json"))


def test_folds_keep_rare_classes_in_every_validation_fold(sample_dir: Path) -> None:
    from pipeline.folds import make_folds

    data = cb.load(cb.Config(folds=3), sample_dir)
    folds = make_folds(data.y, 3, seed=5, kind=cb.FOLDS, groups=data.groups)
    cls = data.y.reshape(len(data.y), -1, 6)[..., 5]
    for f in range(3):
        present = set(np.unique(cls[folds == f][np.isfinite(cls[folds == f])]).astype(int))
        assert present == {0, 1, 2, 3, 4}, f  # belt (0) is rare: 22 boxes in 96 images


def test_blend_fuses_models_only_when_it_helps() -> None:
    rng = np.random.default_rng(0)
    truth = [np.column_stack([rng.uniform(0, 100, (3, 2)), rng.uniform(10, 40, (3, 2))]) for _ in range(12)]
    y = pack(truth, [np.ones(3)] * 12, [np.array([0, 1, 2])] * 12)

    def jitter(s: float) -> np.ndarray:
        return pack(
            [t + rng.normal(0, s, t.shape) for t in truth], [rng.uniform(0.5, 1, 3)] * 12, [np.array([0, 1, 2])] * 12
        )

    folds = np.zeros(12, dtype=int)
    good, noisy = jitter(1.0), jitter(1.0)
    b = cb.blend({"a": good, "b": noisy}, {"a": good, "b": noisy}, y, folds)
    assert b["weights"] == {"a": 0.5, "b": 0.5} and b["score"] >= b["best_single_score"]
    # predict applies the saved weights alone to new test boxes: the same fusion as the blend's own test
    np.testing.assert_array_equal(cb.apply_blend(b["weights"], {"a": good, "b": noisy}), b["test"])
    junk = pack([rng.uniform(0, 100, (3, 4)) + [0, 0, 5, 5]] * 12, [np.ones(3)] * 12, [np.array([0, 1, 2])] * 12)
    b = cb.blend({"a": good, "junk": junk}, {"a": good, "junk": junk}, y, folds)
    assert b["weights"] == {"a": 1.0, "junk": 0.0} and b["score"] == b["best_single_score"]
    np.testing.assert_array_equal(cb.apply_blend(b["weights"], {"a": good, "junk": junk}), good)
    with pytest.raises(ContractError, match="keeps one model or weights its models alike"):
        cb.apply_blend({"a": 0.7, "junk": 0.3}, {"a": good, "junk": junk})
    merged = cb.merge_folds([good, good])
    assert cb.score(y, merged) == pytest.approx(cb.score(y, good), abs=1e-3)


def test_end_to_end_on_the_sample_with_a_wbf_blend_of_two_detectors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_plots import assert_png

    from pipeline.cli import main

    monkeypatch.chdir(tmp_path)
    rc = main(
        [
            "run",
            "competitions/cowboy_outfits",
            "--sample",
            "--preset",
            "sample",
            "--set",
            "epochs=2",
            "--set",
            "image_size=96",
            "--set",
            "models=fasterrcnn_tiny,fcos_tiny",
            "--quiet",
        ]
    )
    assert rc == 0
    run_dir = next((tmp_path / "runs" / "cowboy_outfits").iterdir())
    answer = run_dir / "answer.zip"
    data = cb.load(cb.Config(), tmp_path / "data" / "sample" / "cowboy_outfits")
    records = json.loads(zipfile.ZipFile(answer).read("answer.json"))
    assert cb.validate(data, answer) == len(records) > 0
    from PIL import Image

    sizes = {i: Image.open(path).size for i, path in zip(data.test_ids, data.X_test, strict=True)}
    for r in records:  # CodaLab's format: a known image, a real category id, an xywh box, a score
        assert set(r) == {"image_id", "category_id", "bbox", "score"}
        assert r["image_id"] in set(data.test_ids) and r["category_id"] in {87, 131, 318, 588, 1034}
        x, y, w, h = r["bbox"]
        assert w > 0 and h > 0 and x >= 0 and y >= 0 and 0 <= r["score"] <= 1
        assert x + w <= sizes[r["image_id"]][0] + 1e-6 and y + h <= sizes[r["image_id"]][1] + 1e-6
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["metric"] == "mAP@[.5:.95]" and set(summary["models"]) == {"fasterrcnn_tiny", "fcos_tiny"}
    # the WBF blend hook went through the run, scored out of fold like any blend
    folds = np.load(run_dir / "folds.npy")
    blend = json.loads((run_dir / "blend.json").read_text())
    assert blend["out_of_fold"] and sum(blend["weights"].values()) == pytest.approx(1.0)
    rows = folds >= 0
    assert summary["cv"] == pytest.approx(cb.score(data.y[rows], np.load(run_dir / "oof" / "_blend.npy")[rows]))
    oof = np.load(run_dir / "oof" / "fasterrcnn_tiny.npy")
    assert oof.shape[0] == 96 and np.isfinite(unpack(oof[folds == 0][0])[0]).all()
    history = json.loads((run_dir / "checkpoints" / "fasterrcnn_tiny" / "fold0" / "history.json").read_text())
    assert len(history) == 2 and history[-1]["valid_score"] is not None
    for png in ("fasterrcnn_tiny_fold0_ap_per_class.png", "ap_per_class.png", "examples.png"):
        assert_png(run_dir / "plots" / png, min_side=200)
    assert (tmp_path / "submissions" / "cowboy_outfits" / f"{run_dir.name}.zip").is_file()


def test_a_small_training_set_still_makes_its_folds() -> None:
    # before: 18 images gave one group ("--folds 5 is more than the 1 groups") or, at 3 folds, sklearn's traceback
    from pipeline.folds import make_folds

    strata = np.array([0] * 3 + [2] * 5 + [4] * 10)
    for folds in (3, 5):
        groups = cb.data.stratified_groups(strata, folds * 4)
        assert len(set(groups)) == min(folds * 4, 18)  # at 5 folds, one image a group
        assert len(set(make_folds(strata, folds, 0, "group", groups))) == folds
    big = np.repeat(np.arange(4), 50)
    assert np.bincount(cb.data.stratified_groups(big, 20)).tolist() == [10] * 20  # stratified as before
