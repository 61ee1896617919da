"""pipeline/detection: box encoding, COCO mAP against pycocotools, WBF, box-moving augmentation, the estimator."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from helpers import count_worker_starts

from pipeline.detection.boxes import CROWD, count, pack, unpack
from pipeline.detection.metric import coco_eval, coco_map
from pipeline.detection.wbf import fuse_rows, merge_folds


def random_truth(rng: np.random.Generator, n: int = 30, k: int = 5) -> np.ndarray:
    boxes, scores, labels = [], [], []
    for _ in range(n):
        m = int(rng.integers(0, 6))
        xy = rng.uniform(0, 200, (m, 2))
        wh = rng.uniform(8, 80, (m, 2))
        boxes.append(np.column_stack([xy, wh]))
        scores.append(np.ones(m))
        labels.append(rng.integers(0, k, m))
    return pack(boxes, scores, labels)


def noisy_predictions(rng: np.random.Generator, y: np.ndarray, k: int = 5) -> np.ndarray:
    """Jittered true boxes with random scores, some dropped, some wrong classes, plus false positives."""
    boxes, scores, labels = [], [], []
    for row in y:
        b, _, c = unpack(row)
        keep = rng.random(len(b)) > 0.2
        b = b[keep] + rng.normal(0, 3, (keep.sum(), 4))
        b[:, 2:] = np.abs(b[:, 2:]) + 1
        c = np.where(rng.random(len(b)) < 0.1, rng.integers(0, k, len(b)), c[keep])
        fp = np.column_stack([rng.uniform(0, 200, (3, 2)), rng.uniform(5, 60, (3, 2))])
        boxes.append(np.vstack([b, fp]))
        scores.append(rng.random(len(b) + 3))
        labels.append(np.concatenate([c, rng.integers(0, k, 3)]))
    return pack(boxes, scores, labels, 20)


def test_pack_unpack_round_trip_and_padding() -> None:
    b = [np.array([[1.0, 2, 3, 4], [5, 6, 7, 8]]), np.zeros((0, 4))]
    packed = pack(b, [np.array([0.2, 0.9]), np.zeros(0)], [np.array([3, 1]), np.zeros(0, int)], k=4)
    assert packed.shape == (2, 24) and np.isnan(packed[1]).all()
    boxes, scores, classes = unpack(packed[0])
    assert np.allclose(boxes, [[5, 6, 7, 8], [1, 2, 3, 4]]) and np.allclose(scores, [0.9, 0.2])  # best first
    assert classes.tolist() == [1, 3] and count(packed).tolist() == [2, 0]


def test_ground_truth_submitted_as_predictions_scores_map_one() -> None:
    y = random_truth(np.random.default_rng(0))
    res = coco_eval(y, y)
    assert res["mAP"] == pytest.approx(1.0) and res["AP50"] == pytest.approx(1.0)
    assert coco_map(y, y) == pytest.approx(1.0)


def pycocotools_on_files(tmp_path: Path, y: np.ndarray, pred: np.ndarray) -> list[float]:
    """COCOeval's stats run the usual way, on COCO json files (original category ids); crowd regions as iscrowd=1."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    cat_ids = [87, 131, 318, 588, 1034]
    images = [{"id": 1000 + i, "file_name": f"{i}.jpg", "width": 300, "height": 300} for i in range(len(y))]
    anns, dets = [], []
    for i, (ry, rp) in enumerate(zip(y, pred, strict=True)):
        for box, s, c in zip(*unpack(ry), strict=True):
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": 1000 + i,
                    "category_id": cat_ids[c],
                    "bbox": box.tolist(),
                    "area": float(box[2] * box[3]),
                    "iscrowd": int(s == CROWD),
                }
            )
        for box, s, c in zip(*unpack(rp), strict=True):
            dets.append({"image_id": 1000 + i, "category_id": cat_ids[c], "bbox": box.tolist(), "score": float(s)})
    gt_file, dt_file = tmp_path / "gt.json", tmp_path / "dt.json"
    gt_file.write_text(
        json.dumps({"images": images, "annotations": anns, "categories": [{"id": c, "name": str(c)} for c in cat_ids]})
    )
    dt_file.write_text(json.dumps(dets))
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_file))
        ev = COCOeval(gt, gt.loadRes(str(dt_file)), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return [float(v) for v in ev.stats]


def test_framework_map_equals_pycocotools_on_files(tmp_path: Path) -> None:
    """The in-memory evaluation equals pycocotools run the usual way on COCO json files (original category ids)."""
    rng = np.random.default_rng(1)
    y = random_truth(rng, 40)
    pred = noisy_predictions(rng, y)
    stats = pycocotools_on_files(tmp_path, y, pred)
    ours = coco_eval(y, pred, 5)
    assert 0.05 < ours["mAP"] < 0.95
    assert ours["mAP"] == pytest.approx(stats[0], abs=1e-12)
    assert ours["AP50"] == pytest.approx(stats[1], abs=1e-12)
    assert ours["AP75"] == pytest.approx(stats[2], abs=1e-12)


def test_crowd_regions_are_scored_as_pycocotools_scores_them(tmp_path: Path) -> None:
    # before: every ground-truth box went to COCOeval as iscrowd=0, so a crowd region was one more object to find
    rng = np.random.default_rng(2)
    y = random_truth(rng, 40)
    slots = y.reshape(len(y), -1, 6)
    real = np.isfinite(slots).all(2)
    crowd = real & (rng.random(real.shape) < 0.25)  # a quarter of the boxes are crowd regions
    slots[..., 4][crowd] = CROWD
    pred = noisy_predictions(rng, y)
    stats = pycocotools_on_files(tmp_path, y, pred)
    ours = coco_eval(y, pred, 5)
    assert crowd.sum() > 10 and ours["mAP"] == pytest.approx(stats[0], abs=1e-12)
    assert ours["AP50"] == pytest.approx(stats[1], abs=1e-12) and ours["AP75"] == pytest.approx(stats[2], abs=1e-12)
    as_objects = y.copy()
    as_objects.reshape(slots.shape)[..., 4][crowd] = 1.0
    assert ours["mAP"] != pytest.approx(coco_eval(as_objects, pred, 5)["mAP"], abs=1e-6)  # the crowd regions count


def test_wbf_merges_duplicate_boxes_and_keeps_distinct_ones() -> None:
    a = pack([np.array([[10.0, 10, 50, 40], [150, 150, 20, 20]])], [np.array([0.9, 0.8])], [np.array([0, 1])])
    b = pack([np.array([[12.0, 10, 50, 42], [150, 150, 20, 20]])], [np.array([0.7, 0.6])], [np.array([0, 2])])
    boxes, scores, classes = unpack(fuse_rows([a, b], max_det=10)[0])
    assert len(boxes) == 3  # the two class-0 boxes fuse; the same place with another class does not
    i = int(np.flatnonzero(classes == 0)[0])
    expect = (0.9 * np.array([10, 10, 60, 50]) + 0.7 * np.array([12, 10, 62, 52])) / 1.6  # score-weighted xyxy
    assert np.allclose(
        [boxes[i][0], boxes[i][1], boxes[i][0] + boxes[i][2], boxes[i][1] + boxes[i][3]], expect, atol=1e-3
    )
    assert scores[i] == pytest.approx(0.8, abs=1e-6)  # mean confidence over the two sources
    lone = scores[classes == 1][0]
    assert lone == pytest.approx(0.4, abs=1e-6)  # found by one source of two: confidence halved
    same = merge_folds([a, a, a])
    assert np.allclose(np.nan_to_num(same), np.nan_to_num(a[:, : same.shape[1]]), atol=1e-4)


def test_augmentation_moves_boxes_with_the_image() -> None:
    from pipeline.detection.data import make_transform

    image = np.zeros((100, 200, 3), dtype=np.uint8)
    flip = make_transform(200, True, hflip=1.0, affine_p=0.0, color=0.0)
    out = flip(image=image, bboxes=np.array([[10.0, 20, 30, 40]]), labels=[3])
    assert np.allclose(out["bboxes"][0], [160, 20, 30, 40]) and list(out["labels"]) == [3]
    half = make_transform(100, False)
    out = half(image=image, bboxes=np.array([[10.0, 20, 30, 40]]), labels=[1])
    assert out["image"].shape[:2] == (50, 100) and np.allclose(out["bboxes"][0], [5, 10, 15, 20])
    # a strong zoom: boxes leaving the image are clipped; those keeping < 30% of their area go with their label
    import albumentations as A

    from pipeline.detection.data import bbox_params

    zoom = A.Compose([A.Affine(scale=2.0, p=1.0)], bbox_params=bbox_params())
    boxes = np.array([[90.0, 40, 20, 20], [0, 0, 20, 20], [40.0, 30, 60, 40]])
    out = zoom(image=image, bboxes=boxes, labels=[0, 1, 2])
    kept = np.asarray(out["bboxes"])
    assert list(out["labels"]) == [0, 2] and len(kept) == 2  # the corner box left the image
    assert (kept[:, 0] >= 0).all() and (kept[:, 0] + kept[:, 2] <= 200 + 1e-6).all()
    assert (kept[:, 1] + kept[:, 3] <= 100 + 1e-6).all()


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from competitions.cowboy_outfits.sample import sample

    dest = tmp_path_factory.mktemp("cowboy_sample")
    sample(dest)
    return dest


def test_detector_fit_checkpoints_history_resume_and_pretrained_file(sample_dir: Path, tmp_path: Path) -> None:
    import torch

    from competitions.cowboy_outfits import Config, load
    from pipeline.contract import FitContext
    from pipeline.detection.estimator import Detector
    from pipeline.detection.models import build_detector

    data = load(Config(), sample_dir)
    X, y = data.X[:8], data.y[:8]
    est = Detector(
        arch="fasterrcnn_tiny",
        num_classes=5,
        image_size=64,
        epochs=2,
        batch_size=4,
        valid_loss=True,
        plot_images=2,
        tta=True,
    )
    reports: list[dict] = []
    ctx = FitContext(
        workdir=tmp_path / "runs" / "r" / "checkpoints" / "m" / "fold0",
        eval_set=(data.X[8:12], data.y[8:12]),
        log=lambda s: None,
        progress=False,
        model="m",
        fold=0,
        report=reports.append,
        plots_dir=tmp_path / "runs" / "r" / "plots",
    )
    ctx.workdir.mkdir(parents=True)
    est.fit(X, y, context=ctx)
    pred = est.predict(data.X[8:12])
    assert pred.shape == (4, 100 * 6)
    history = json.loads((ctx.workdir / "history.json").read_text())
    assert [r["epoch"] for r in history] == [1, 2]
    assert {"epoch", "train_loss", "valid_loss", "valid_score", "lr", "seconds", "images_per_s"} <= set(history[0])
    assert (ctx.workdir / "last.pt").is_file()
    assert [(r["model"], r["epoch"]) for r in reports] == [("m", 0), ("m", 1)]  # epoch-level reports for tune
    plots = tmp_path / "runs" / "r" / "plots"
    assert (plots / "m_fold0_ap_per_class.png").is_file() and (plots / "m_fold0_examples.png").is_file()
    # resume of a finished fit: no training, the same weights, the same predictions
    ctx.resume = True
    again = Detector(**est.get_params()).fit(X, y, context=ctx)
    assert np.array_equal(np.nan_to_num(again.predict(data.X[8:12])), np.nan_to_num(pred))
    # a local pretrained file (our own weights here: no downloads in tests) loads into a new detector
    torch.save(est.model_.state_dict(), tmp_path / "weights.pt")
    fresh = build_detector("fasterrcnn_tiny", 5, 64, pretrained_file=str(tmp_path / "weights.pt"), log=lambda s: None)
    trained = est.model_.state_dict()
    for k, v in fresh.state_dict().items():  # pretrained BatchNorm becomes FrozenBatchNorm (no batch counter)
        assert torch.equal(v, trained[k]), k
    other = build_detector("fasterrcnn_tiny", 3, 64, pretrained_file=str(tmp_path / "weights.pt"), log=lambda s: None)
    assert torch.equal(other.backbone.c3[0][0].weight, est.model_.backbone.c3[0][0].weight)  # head skipped, rest kept
    with pytest.raises(ValueError, match="no such file"):
        build_detector("fasterrcnn_tiny", 5, 64, pretrained_file=str(tmp_path / "missing.pt"))


class _Payload:
    """A pickled object that would run code on load (here only print): not tensors."""

    def __reduce__(self) -> tuple:
        return (print, ("a pretrained file ran code",))


def test_pretrained_file_that_would_run_code_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    from pipeline.contract import ContractError
    from pipeline.detection.models import build_detector

    torch.save({"model": _Payload()}, tmp_path / "evil.pt")
    with pytest.raises(ContractError, match=r"Cannot read pretrained_file .*evil\.pt"):
        build_detector("fasterrcnn_tiny", 5, 64, pretrained_file=str(tmp_path / "evil.pt"))
    assert "ran code" not in capsys.readouterr().out


def test_anchors_are_configurable() -> None:
    from pipeline.detection.models import build_detector

    m = build_detector("fasterrcnn_tiny", 5, 64, anchor_sizes=(8, 16, 32), anchor_ratios=(0.5, 1.0))
    assert m.rpn.anchor_generator.sizes == ((8.0,), (16.0,), (32.0,))
    assert m.rpn.head.cls_logits.out_channels == 2  # head rebuilt for two anchors per location
    with pytest.raises(ValueError, match="anchor-free"):
        build_detector("fcos_tiny", 5, 64, anchor_sizes=(8, 16), anchor_ratios=(0.5, 1.0))


def test_resumed_fit_equals_an_uninterrupted_one(sample_dir: Path, tmp_path: Path) -> None:
    from competitions.cowboy_outfits import Config, load
    from pipeline.contract import FitContext
    from pipeline.detection.estimator import Detector

    data = load(Config(), sample_dir)
    X, y, Xv = data.X[:8], data.y[:8], data.X[8:12]
    params = {
        "arch": "fasterrcnn_tiny",
        "num_classes": 5,
        "image_size": 64,
        "epochs": 2,
        "batch_size": 4,
        "valid_loss": False,
        "tta": False,
        "plot_images": 0,
    }
    whole = Detector(**params).fit(X, y, context=FitContext(workdir=tmp_path / "a", log=lambda s: None))

    class Killed(Exception):
        pass

    def kill_after_first_epoch(line: str) -> None:
        if line.startswith("epoch 1/2"):
            raise Killed

    ctx = FitContext(workdir=tmp_path / "b", log=kill_after_first_epoch)
    with pytest.raises(Killed):
        Detector(**params).fit(X, y, context=ctx)
    assert json.loads((tmp_path / "b" / "history.json").read_text())[-1]["epoch"] == 1
    ctx.resume, ctx.log = True, lambda s: None
    resumed = Detector(**params).fit(X, y, context=ctx)
    assert [r["epoch"] for r in resumed.history_] == [1, 2]
    assert np.array_equal(np.nan_to_num(resumed.predict(Xv)), np.nan_to_num(whole.predict(Xv)))


def test_the_deadline_is_re_shared_when_training_starts(sample_dir: Path, tmp_path: Path) -> None:
    # before: the detector trained to the deadline it was handed, so its start-up (the run's first fit: building the
    # network, decoding the images) came off its training: under a short --time-limit fold 0 trained for nothing
    import time

    from competitions.cowboy_outfits import Config, load
    from pipeline.contract import FitContext
    from pipeline.detection.estimator import Detector
    from pipeline.training import checkpoint
    from pipeline.training.deadline import MARGIN_S, reserve_seconds

    data = load(Config(), sample_dir)
    asked: list[float] = []

    def share_from_now(keep: float) -> float:  # the runner's Budget.training_deadline: a minute to train from now
        asked.append(keep)
        return time.monotonic() + keep + 60.0

    handed = time.monotonic() + 1.0  # less than the 2 s kept for predicting and the margin: no training time
    ctx = FitContext(
        workdir=tmp_path, deadline=handed, training_deadline=share_from_now, predict_rows=200, log=lambda s: None
    )
    params = {"arch": "fasterrcnn_tiny", "num_classes": 5, "image_size": 64, "epochs": 2, "batch_size": 4}
    est = Detector(**params, valid_loss=False, tta=False, plot_images=0).fit(data.X[:8], data.y[:8], context=ctx)
    assert len(est.history_) == 2  # trained to the deadline asked for as its training started
    # asked once, keeping time to predict the 200 rows at the speed measured before training (saved in last.pt; with no
    # validation nothing measures it again), not at the guess of 5 images/s (2 + 1.2 x 200 / 5 = 50 s), and the margin
    ips = checkpoint.load(tmp_path / checkpoint.LAST)["predict_ips"]
    assert ips > 0 and asked == [pytest.approx(reserve_seconds(200, 1, ips, 1.2) + MARGIN_S)]


def test_example_plots_draw_crowd_regions_apart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # before: a crowd region was drawn as one more green true box, though the metric neither asks for it nor counts a
    # detection on it
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_rgb
    from PIL import Image

    from pipeline.detection import plots

    Image.new("RGB", (64, 64)).save(tmp_path / "a.png")
    y = pack([np.array([[4.0, 4, 20, 20], [30, 30, 30, 30]])], [np.array([1.0, CROWD])], [np.array([0, 2])], k=3)
    pred = pack([np.array([[5.0, 5, 18, 18]])], [np.array([0.9])], [np.array([0])], k=3)
    drawn = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: drawn.append(fig))
    plots.examples([str(tmp_path / "a.png")], y, pred, ["hat", "belt", "boots"], tmp_path / "ex.png")
    ax = drawn[0].axes[0]
    dashed = {(tuple(p.get_xy()), p.get_width()): p.get_linestyle() in ("--", "dashed") for p in ax.patches}
    style = {(tuple(p.get_xy()), p.get_width()): p.get_edgecolor()[:3] for p in ax.patches}
    assert style[((4.0, 4.0), 20.0)] == to_rgb("lime") and not dashed[((4.0, 4.0), 20.0)]  # the true box
    assert style[((30.0, 30.0), 30.0)] == to_rgb("0.6") and dashed[((30.0, 30.0), 30.0)]  # the crowd region
    assert style[((5.0, 5.0), 18.0)] == to_rgb("red")  # the prediction
    assert [t.get_text() for t in ax.texts] == ["crowd", "hat 0.90"]
    assert "crowd regions (dashed grey)" in drawn[0].get_suptitle()
    plt.close(drawn[0])


def test_the_image_cache_trains_and_scores_as_decoding_on_the_fly(sample_dir: Path) -> None:
    from competitions.cowboy_outfits import Config, load
    from pipeline.detection.data import make_transform
    from pipeline.detection.estimator import Detector
    from pipeline.vision.data import read_image
    from pipeline.vision.decoded import DecodedImages

    data = load(Config(), sample_dir)
    X, y = data.X[:8], data.y[:8]
    # the store cuts each image as the resize of the transforms does (INTER_AREA), so what a model trains on is what
    # it is scored and predicts on
    for path, (cached, w, h) in zip(X, DecodedImages().cut(X, 64), strict=True):
        image = read_image(path)
        assert (w, h) == (image.shape[1], image.shape[0]) and max(image.shape[:2]) > 64
        np.testing.assert_array_equal(cached, make_transform(64, False, boxes=False)(image=image)["image"])
    params = {"arch": "fasterrcnn_tiny", "num_classes": 5, "image_size": 64, "epochs": 2, "batch_size": 4}
    params |= {"valid_loss": False, "tta": False, "plot_images": 0}
    held, on_the_fly = Detector(**params).fit(X, y), Detector(**params, cache_mb=0).fit(X, y)
    assert [r["train_loss"] for r in held.history_] == [r["train_loss"] for r in on_the_fly.history_]
    assert np.array_equal(np.nan_to_num(held.predict(data.X[8:12])), np.nan_to_num(on_the_fly.predict(data.X[8:12])))


def test_loader_workers_start_once_per_fit_and_train_as_none(
    sample_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from competitions.cowboy_outfits import Config, load
    from pipeline.contract import FitContext
    from pipeline.detection.estimator import Detector

    worker_starts = count_worker_starts(monkeypatch, tmp_path)
    data = load(Config(), sample_dir)
    X, y = data.X[:8], data.y[:8]
    params = {"arch": "fasterrcnn_tiny", "num_classes": 5, "image_size": 64, "epochs": 3, "batch_size": 4}
    params |= {"valid_loss": True, "tta": False, "plot_images": 0}
    fits = {}
    for workers in (0, 2):
        ctx = FitContext(workdir=tmp_path / str(workers), eval_set=(data.X[8:12], data.y[8:12]), log=lambda s: None)
        fits[workers] = Detector(**params, num_workers=workers).fit(X, y, context=ctx)
    # 3 epochs, each with a validation loss and a validation mAP: 2 workers for each of the three loaders, started
    # once for the fit rather than every epoch (18)
    assert worker_starts() == 2 + 2 + 2
    assert [r["valid_loss"] for r in fits[2].history_] == [r["valid_loss"] for r in fits[0].history_]
    pred = [np.nan_to_num(fits[w].predict(data.X[8:12])) for w in (0, 2)]
    assert np.array_equal(pred[0], pred[1])


@pytest.mark.parametrize("arch", ["retinanet_tiny", "fcos_tiny"])
def test_retinanet_and_fcos_train_a_step_and_predict_boxes(sample_dir: Path, arch: str) -> None:
    from competitions.cowboy_outfits import Config, load
    from pipeline.detection.estimator import Detector

    data = load(Config(), sample_dir)
    X, y = data.X[:4], data.y[:4]

    def fit(lr: float) -> Detector:
        est = Detector(arch=arch, num_classes=5, image_size=64, epochs=1, batch_size=4, lr=lr, tta=False)
        return est.fit(X, y)

    trained, frozen = fit(0.01), fit(0.0)  # one optimizer step (4 images, batch 4) against none
    assert len(trained.history_) == 1 and np.isfinite(trained.history_[0]["train_loss"])
    moved = [
        (a - b).abs().max().item()
        for a, b in zip(trained.model_.state_dict().values(), frozen.model_.state_dict().values(), strict=True)
        if a.is_floating_point()
    ]
    assert max(moved) > 0  # the step changed the weights
    pred = trained.predict(X)
    assert pred.shape[0] == 4 and pred.shape[1] % 6 == 0
    boxes, scores, labels = unpack(pred[0])
    assert len(boxes) and np.isfinite(boxes).all() and ((scores >= 0) & (scores <= 1)).all()
    assert (boxes[:, 2:] >= 0).all() and (labels < 5).all()


def test_dense_detectors_predict_only_real_classes(sample_dir: Path) -> None:
    from competitions.cowboy_outfits import Config, load
    from pipeline.detection.estimator import Detector

    data = load(Config(), sample_dir)
    est = Detector(arch="fcos_tiny", num_classes=5, image_size=64, epochs=1, batch_size=4, tta=False)
    pred = est.fit(data.X[:4], data.y[:4]).predict(data.X[:4])
    assert all(set(unpack(row)[2]) <= set(range(5)) for row in pred)


def test_channels_last_as_on_a_gpu_trains_and_predicts(sample_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On CUDA the estimator turns channels_last on; forced here on the CPU, a step and a prediction must run and
    the model's convolutions must hold channels-last weights (per-image CHW tensors cannot take that format)."""
    import dataclasses

    import torch

    from competitions.cowboy_outfits import Config, load
    from pipeline.detection.estimator import Detector

    runtime = Detector._runtime
    monkeypatch.setattr(
        Detector, "_runtime", lambda self, ctx: dataclasses.replace(runtime(self, ctx), channels_last=True)
    )
    data = load(Config(), sample_dir)
    est = Detector(arch="fasterrcnn_tiny", num_classes=5, image_size=64, epochs=1, batch_size=4, tta=True)
    pred = est.fit(data.X[:4], data.y[:4]).predict(data.X[:4])
    assert np.isfinite(est.history_[0]["train_loss"]) and pred.shape[0] == 4
    convs = [m.weight for m in est.model_.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)
