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
    """A quiet FitContext validating on (X, y) by accuracy unless kw gives another score and metric."""
    base = {"score": accuracy, "metric": Metric("accuracy", True), "progress": False, "log": lambda s: None}
    return FitContext(workdir=tmp_path / "ck", eval_set=(X, y), **{**base, **kw})  # type: ignore[arg-type]


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


def quick_fit(X: np.ndarray, y: np.ndarray, **params: object) -> np.ndarray:
    """Two epochs on 48 images (batch 16: 6 optimizer steps), probabilities on 16 others."""
    est = tiny(epochs=2, batch_size=16, **params).fit(X[:48], y[:48])
    return est.predict_proba(X[48:64])


@pytest.fixture(scope="module")
def baseline(images) -> np.ndarray:
    return quick_fit(*images)


def test_the_same_fit_twice_gives_the_same_model(images, baseline):
    # what makes the option tests below meaningful: without the option, nothing differs
    np.testing.assert_array_equal(quick_fit(*images), baseline)


@pytest.mark.parametrize(
    "option",
    [
        {"ema_decay": 0.9},
        {"mixup_alpha": 0.4},
        {"cutmix_alpha": 1.0},
        {"label_smoothing": 0.1},
        {"accum_steps": 2},
        {"grad_clip": 1e-3},
        {"optimizer": "adamw"},
        {"schedule": "cosine"},
    ],
    ids=lambda o: next(iter(o)),
)
def test_each_training_option_changes_the_model(images, baseline, option):
    proba = quick_fit(*images, **option)
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-4)
    assert np.abs(proba - baseline).max() > 1e-4, f"{option} trained the same model as the fit without it"


def test_tta_is_the_mean_of_the_flipped_views(images, tmp_path):
    from PIL import Image

    X, y = images
    est = tiny(epochs=1).fit(X[:64], y[:64])
    flipped = []
    for i, src in enumerate(X[64:80]):
        dst = tmp_path / f"flip{i}.png"
        Image.open(src).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(dst)
        flipped.append(str(dst))
    plain, mirror = est.predict_proba(X[64:80]), est.predict_proba(np.array(flipped))
    est.set_params(tta=("hflip",))
    with_tta = est.predict_proba(X[64:80])
    np.testing.assert_allclose(with_tta, (plain + mirror) / 2, atol=1e-5)
    assert np.abs(with_tta - plain).max() > 1e-4  # the flipped view does contribute


def neg_log_loss(y_true: np.ndarray, proba: np.ndarray) -> float:
    return float(np.mean(np.log(np.clip(proba[np.arange(len(y_true)), np.asarray(y_true)], 1e-15, None))))


def test_early_stopping_restores_the_best_epochs_weights(images, tmp_path):
    X, y = images
    # validation labels shifted by one class: the better the model learns, the worse it validates, so an early
    # epoch is the best one and the training (lr 0.1) goes on changing the weights after it
    X_va, y_va = X[96:128], (y[96:128] + 1) % N_CLASSES
    ctx = context(tmp_path, X_va, y_va, score=neg_log_loss, metric=Metric("nll", True))
    est = tiny(epochs=6, patience=1, lr=0.1).fit(X[:64], y[:64], context=ctx)
    scores = [h["valid_score"] for h in est.history_]
    best = int(np.argmax(scores))
    assert len(est.history_) < 6 and best < len(scores) - 1  # stopped early, after the best epoch
    assert abs(scores[-1] - scores[best]) > 1e-4  # the weights did change after the best epoch
    restored = neg_log_loss(y_va, est.predict_proba(X_va))
    assert restored == pytest.approx(scores[best], abs=1e-5)
    assert (tmp_path / "ck" / "best.pt").is_file()


def test_deadline_stops_the_schedule_and_leaves_time_to_predict(images, tmp_path):
    X, y = images
    lines: list[str] = []
    est = tiny(epochs=500)
    start = time.monotonic()
    ctx = context(tmp_path, X[120:], y[120:], log=lines.append, deadline=start + 8.0, predict_rows=40)
    est.fit(X[:120], y[:120], context=ctx)
    # the trainer's own accounting, whatever the machine's load: it ended its schedule for the time limit, far
    # short of the 500 epochs, and kept time for the predictions
    assert any("time limit: schedule complete" in line for line in lines), lines
    assert len(est.history_) < 500
    assert est.predict_proba(X[120:]).shape == (40, N_CLASSES)


def test_the_deadline_is_re_shared_when_training_starts(images, tmp_path):
    # before: a fit trained to the deadline it was handed, so its start-up (the run's first fit: building the network,
    # decoding the images) came off its training: leaves' first fold under --time-limit 25 trained for nothing
    X, y = images
    asked: list[float] = []

    def share_from_now(keep: float) -> float:  # the runner's Budget.training_deadline, here: plenty of time
        asked.append(keep)
        return time.monotonic() + 600.0

    handed = time.monotonic() + 1.0  # less than the 2 s kept for predicting and the 2 s margin: no training time
    ctx = context(tmp_path, X[120:], y[120:], deadline=handed, training_deadline=share_from_now, predict_rows=40)
    est = tiny(epochs=2).fit(X[:120], y[:120], context=ctx)
    assert len(asked) == 1 and asked[0] >= 4.0  # asked once, keeping time to predict (>= 2 s) and the margin (2 s)
    assert len(est.history_) == 2  # trained to the deadline asked for as its training started


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
    # decoding counted in this process: no loader workers (a GPU's default is up to 8, each decoding its batches),
    # and no store of decoded images (with it, memory is bounded by --cache-mb: test_decoded_images.py)
    est = tiny(epochs=1, eval_batch_size=50, num_workers=0, cache_images=False).fit(X[:32], y[:32])
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

    with pytest.raises(Pruned):
        tiny(epochs=4).fit(
            X[:120], y[:120], context=context(tmp_path, X[120:], y[120:], model="net", fold=2, report=report)
        )
    assert [(v["model"], v["fold"], v["epoch"]) for v in seen] == [("net", 2, 0), ("net", 2, 1)]
    assert all(0.0 <= v["score"] <= 1.0 for v in seen)


def test_weights_made_non_finite_fail_the_fit_naming_them(images):
    X, y = images
    with pytest.raises(FloatingPointError, match=r"weights of \S+ non-finite in epoch 1; lower lr"):
        tiny(epochs=2, lr=1e12).fit(X[:64], y[:64])  # diverges: without the check it would go on to predict NaN
    assert np.isfinite(tiny(epochs=2).fit(X[:64], y[:64]).predict_proba(X[64:80])).all()
