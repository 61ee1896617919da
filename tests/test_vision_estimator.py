"""ImageClassifier on tiny generated images: learns, runs every training path, names bad files, streams predictions."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone

from pipeline.contract import FitContext, Metric
from pipeline.vision import ImageClassifier
from pipeline.vision.data import ImageReadError
from pipeline.vision.synthetic import write_images

N_CLASSES = 4


def accuracy(y_true: np.ndarray, proba: np.ndarray) -> float:
    return float(np.mean(np.asarray(y_true) == proba.argmax(1)))


def make_set(folder: Path, n: int, size: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    y = np.arange(n) % N_CLASSES
    names = [f"{i}.png" for i in range(n)]
    write_images(folder, names, y, N_CLASSES, size, seed)
    return np.array([str(folder / f) for f in names]), y


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, np.ndarray]:
    return make_set(tmp_path_factory.mktemp("images"), 160)


def tiny(**params: object) -> ImageClassifier:
    base = dict(arch="test_resnet", num_classes=N_CLASSES, epochs=5, batch_size=32, lr=0.1, tta=())
    return ImageClassifier(**{**base, **params})


def context(tmp_path: Path, X: np.ndarray, y: np.ndarray, **kw: object) -> FitContext:
    return FitContext(
        workdir=tmp_path / "ck",
        eval_set=(X, y),
        score=accuracy,
        metric=Metric("accuracy", True),
        progress=False,
        log=lambda s: None,
        **kw,
    )


def test_fit_predict_beats_chance_and_writes_history(images, tmp_path):
    X, y = images
    est = tiny()
    est.fit(X[:120], y[:120], context=context(tmp_path, X[120:], y[120:]))
    proba = est.predict_proba(X[120:])
    assert proba.shape == (40, N_CLASSES) and proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-4)
    assert accuracy(y[120:], proba) > 0.5  # chance is 0.25
    assert list(est.predict(X[120:])[:3]) == list(est.classes_[proba.argmax(1)][:3])
    history = (tmp_path / "ck" / "history.json").read_text()
    assert '"valid_score"' in history and '"images_per_s"' in history and len(est.history_) == 5


def test_plain_sklearn_fit_without_context_and_clone(images):
    X, y = images
    est = tiny(epochs=1)
    assert clone(est).get_params() == est.get_params()
    est.fit(list(X[:64]), y[:64])  # no context: no eval set, no checkpoints
    assert est.predict_proba(X[:8]).shape == (8, N_CLASSES)


def test_ema_mixup_cutmix_smoothing_tta_accumulation_paths_run(images, tmp_path):
    X, y = images
    est = tiny(
        ema_decay=0.9,
        mixup_alpha=0.4,
        cutmix_alpha=1.0,
        label_smoothing=0.1,
        tta=("hflip", "vflip", "shift"),
        accum_steps=2,
        grad_clip=5.0,
        optimizer="adamw",
        lr=3e-3,
        schedule="cosine",
    )
    est.fit(X[:96], y[:96], context=context(tmp_path, X[96:], y[96:]))
    proba = est.predict_proba(X[96:])
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-4)


def test_early_stopping_restores_best_epoch(images, tmp_path):
    X, y = images
    est = tiny(epochs=6, patience=1, lr=0.0)  # nothing improves after epoch 1: stops at epoch 2
    est.fit(X[:64], y[:64], context=context(tmp_path, X[64:96], y[64:96]))
    assert len(est.history_) == 2
    assert (tmp_path / "ck" / "best.pt").is_file()


def test_deadline_fits_epochs_and_leaves_time_to_predict(images, tmp_path):
    X, y = images
    est = tiny(epochs=500)
    start = time.monotonic()
    ctx = context(tmp_path, X[120:], y[120:], deadline=start + 8.0, extra={"predict_rows": 40})
    est.fit(X[:120], y[:120], context=ctx)
    est.predict_proba(X[120:])
    assert time.monotonic() < start + 8.0
    assert 1 <= len(est.history_) < 500


@pytest.mark.parametrize("damage", ["garbage", "truncated", "missing"])
def test_corrupt_image_is_named(images, tmp_path, damage):
    X, y = images
    paths = [tmp_path / f"{i}.png" for i in range(8)]
    for src, dst in zip(X[:8], paths, strict=True):
        dst.write_bytes(Path(src).read_bytes())
    bad = paths[5]
    if damage == "garbage":
        bad.write_bytes(b"this is not a png")
    elif damage == "truncated":
        bad.write_bytes(bad.read_bytes()[:60])
    else:
        bad.unlink()
    with pytest.raises(ImageReadError, match="5.png"):
        tiny(epochs=1).fit(np.array([str(p) for p in paths]), y[:8])
    est = tiny(epochs=1).fit(X[:8], y[:8])
    with pytest.raises(ImageReadError, match="5.png"):
        est.predict_proba(np.array([str(p) for p in paths]))


def test_prediction_streams_in_batches_with_bounded_memory(tmp_path, monkeypatch):
    X, y = make_set(tmp_path / "many", 2000, size=32, seed=1)
    est = tiny(epochs=1, eval_batch_size=50).fit(X[:32], y[:32])
    import pipeline.vision.data as vdata

    reads = {"n": 0}
    real_read = vdata.read_image

    def counting_read(path):
        reads["n"] += 1
        return real_read(path)

    monkeypatch.setattr(vdata, "read_image", counting_read)
    forward, seen_at_forward = est.model_.forward, []

    def spy(x):
        seen_at_forward.append(reads["n"])
        return forward(x)

    monkeypatch.setattr(est.model_, "forward", spy)
    tracemalloc.start()
    proba = est.predict_proba(X)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert proba.shape == (2000, N_CLASSES)
    # images are decoded one batch at a time, just before the forward pass that uses them
    assert seen_at_forward[0] == 50 and seen_at_forward[-1] == 2000 and len(seen_at_forward) == 40
    decoded_bytes = 2000 * 32 * 32 * 3
    assert peak < decoded_bytes / 4, f"peak {peak} bytes for {decoded_bytes} bytes of images"


def test_dataloader_workers_give_the_same_model_as_each_other(images):
    X, y = images
    import albumentations as A

    def fit() -> np.ndarray:
        est = tiny(epochs=1, num_workers=1, train_transform=A.Compose([A.HorizontalFlip()]))
        return est.fit(X[:64], y[:64]).predict_proba(X[64:80])

    np.testing.assert_array_equal(fit(), fit())


def test_each_validation_epoch_is_reported_for_pruning_and_a_prune_stops_fit(images, tmp_path):
    X, y = images
    seen: list[dict] = []

    class Pruned(Exception):
        pass

    def report(value: dict) -> None:
        seen.append(value)
        if value["epoch"] == 1:
            raise Pruned

    extra = {"model": "net", "fold": 2, "report": report}
    with pytest.raises(Pruned):
        tiny(epochs=4).fit(X[:120], y[:120], context=context(tmp_path, X[120:], y[120:], extra=extra))
    assert [(v["model"], v["fold"], v["epoch"]) for v in seen] == [("net", 2, 0), ("net", 2, 1)]
    assert all(0.0 <= v["score"] <= 1.0 for v in seen)
