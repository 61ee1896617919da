"""The cnn's bag (Config.cnn_bag): several networks a fold, each from its own seed, their probabilities averaged; each
with its own checkpoints and an equal share of the time left."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from pipeline.contract import FitContext
from pipeline.tabular import TabularRecipe, model_set
from pipeline.tabular.cnn import BAG_SEED, PixelCNN, _bagged
from pipeline.tabular.pixels import Pixels
from tests.test_pixels import digits, table


def test_a_bag_of_two_averages_two_networks_of_their_own_seeds(tmp_path: Path) -> None:
    images, y = digits(200, seed=7)
    frame = table(images)
    train, held = frame.iloc[:160], frame.iloc[160:]
    settings = {"pixels": Pixels(28, 28), "epochs": 1, "batch_size": 32, "rotate": 0, "zoom": 0, "tta": ()}
    bag = PixelCNN(**settings, bag=2, random_state=0)
    bag.fit(train, y[:160], FitContext(workdir=tmp_path / "fold0", model="cnn"))
    alone = [PixelCNN(**settings, random_state=seed).fit(train, y[:160]) for seed in (0, BAG_SEED)]
    first, second = (model.predict_proba(held) for model in alone)
    assert not np.allclose(first, second)  # two seeds, two networks
    np.testing.assert_allclose(bag.predict_proba(held), (first + second) / 2, atol=1e-6)
    assert list(bag.predict(held)) == list(bag.classes_[((first + second) / 2).argmax(1)])
    # each network checkpoints on its own: the second beside the first, under bag1/
    assert any((tmp_path / "fold0" / "bag1").iterdir())
    bag.save_fitted(tmp_path / "fold0.pt")
    loaded = PixelCNN.load_fitted(tmp_path / "fold0.pt", device="cpu")
    assert len(loaded.networks_) == 2
    np.testing.assert_allclose(loaded.predict_proba(held), bag.predict_proba(held), atol=1e-6)


def test_each_network_of_a_bag_takes_an_equal_share_of_the_time_left(tmp_path: Path) -> None:
    now = time.monotonic()
    context = FitContext(
        workdir=tmp_path,
        deadline=now + 90.0,
        training_deadline=lambda keep: time.monotonic() + 60.0,
        model="cnn",
        report=lambda report: None,
    )
    first, last = _bagged(context, 0, 3), _bagged(context, 2, 3)
    assert first.deadline == pytest.approx(now + 30.0, abs=1.0)  # a third of 90 s
    assert first.training_deadline(0.0) == pytest.approx(time.monotonic() + 20.0, abs=1.0)  # a third of 60 s
    assert last.deadline == pytest.approx(context.deadline, abs=1.0)  # the last takes all that is left
    assert first.workdir == tmp_path and first.report is context.report
    assert last.workdir == tmp_path / "bag2" and last.report is None and last.model == "cnn_bag2"
    assert _bagged(context, 0, 1) is context


@pytest.mark.parametrize("bad", [0, -1, 1.5])
def test_a_bag_of_no_networks_is_refused_naming_the_setting(bad: object) -> None:
    with pytest.raises(ValueError, match=r"cnn_bag: the networks a fold, a whole number of at least 1"):
        model_set("multiclass", TabularRecipe(models=("cnn",), cnn_bag=bad), "label", pixels=Pixels(28, 28))
    cfg = TabularRecipe(models=("cnn",), cnn_bag=3)
    (model,) = model_set("multiclass", cfg, "label", pixels=Pixels(28, 28)).values()
    assert model.bag == 3
