"""The non-negative log-linear pool (pipeline/stacking_pool.py), the constrained multi-class meta-model a Config picks
with stack="pool": out of fold, no model turned upside down, saved and read back exactly; refused for a regression."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.cli import main
from pipeline.folds import make_folds
from pipeline.stacking import MetaModel, features, fit_meta, stack
from pipeline.tabular.metrics import log_loss


def class_models(y: np.ndarray, strengths: dict[str, float], k: int, seed: int) -> dict[str, np.ndarray]:
    """Level-1 'models' whose class probabilities lean towards the true class by `strength` (negative: away)."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, strength in strengths.items():
        logits = rng.normal(size=(len(y), k)) + strength * np.eye(k)[y]
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        out[name] = p / p.sum(axis=1, keepdims=True)
    return out


def test_a_model_pointing_away_from_the_labels_gets_no_say() -> None:
    # "anti" puts little probability on the true class: a negative weight would read that as skill, as the
    # multinomial does (its stack moves with anti's test predictions); the pool gives it weight 0
    rng = np.random.default_rng(0)
    k, n = 4, 600
    y = rng.integers(0, k, n)
    oofs = class_models(y, {"good": 1.5, "anti": -1.5}, k, 1)
    tests = {m: p[:50] for m, p in oofs.items()}
    other = tests | {"anti": class_models(y[:50], {"anti": 0.0}, k, 2)["anti"]}  # anti's test rows replaced
    folds = make_folds(y, 5, 0, "stratified")
    st = stack(oofs, tests, y, folds, log_loss, classification=True, method="pool")
    assert st["model"].kind == "pool" and st["model"].parts[0].coef_[1] == 0.0
    again = stack(oofs, other, y, folds, log_loss, classification=True, method="pool")
    np.testing.assert_array_equal(st["test"], again["test"])
    multinomial = stack(oofs, tests, y, folds, log_loss, classification=True)
    assert not np.allclose(multinomial["test"], stack(oofs, other, y, folds, log_loss, classification=True)["test"])


def test_a_rows_pooled_prediction_never_depends_on_its_own_label() -> None:
    rng = np.random.default_rng(3)
    k, n = 3, 300
    y = rng.integers(0, k, n)
    oofs = class_models(y, {"a": 1.0, "b": 0.5, "noise": 0.0}, k, 4)
    folds = make_folds(y, 4, 0, "stratified")
    base = stack(oofs, oofs, y, folds, log_loss, classification=True, method="pool")
    changed = y.copy()
    changed[folds == 2] = (changed[folds == 2] + 1) % k  # fold 2's labels only
    other = stack(oofs, oofs, changed, folds, log_loss, classification=True, method="pool")
    np.testing.assert_array_equal(base["oof"][folds == 2], other["oof"][folds == 2])  # fold 2 predicted blind
    assert not np.allclose(base["oof"][folds != 2], other["oof"][folds != 2])  # the others learnt from fold 2
    assert base["score"] == pytest.approx(log_loss(y, base["oof"]))  # the reported score is those OOF rows'


def test_the_pool_is_read_back_exactly_and_leaves_an_unseen_class_at_zero() -> None:
    rng = np.random.default_rng(5)
    k = 4
    y = rng.integers(0, k - 1, 400)  # class 3 never seen in training
    F = features(list(class_models(y, {"a": 1.0, "b": 2.0}, k, 6).values()), True, "linear")
    model = fit_meta(F, y, True, k, "pool", 0)
    again = MetaModel.from_json(model.to_json())
    F_new = features(list(class_models(rng.integers(0, k, 80), {"a": 1.0, "b": 2.0}, k, 7).values()), True, "linear")
    assert again.kind == "pool" and (again.predict(F_new) == model.predict(F_new)).all()
    assert (model.predict(F_new)[:, 3] == 0).all() and np.allclose(model.predict(F_new).sum(axis=1), 1.0)


def test_a_pool_for_a_regression_is_refused() -> None:
    y = np.random.default_rng(0).normal(size=100)
    oofs = {"a": y[:, None] + 0.1, "b": y[:, None] - 0.1}
    with pytest.raises(ValueError, match="stack 'pool' pools class probabilities"):
        stack(oofs, oofs, y, make_folds(y, 5, 0, "kfold"), lambda a, b: 0.0, classification=False, method="pool")


def test_a_run_of_a_regression_with_a_pool_is_refused_before_any_fit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from tests.test_new_edge_cases import download, regression_tables

    monkeypatch.chdir(tmp_path)
    train, test = regression_tables(120, 30)
    data = download(tmp_path / "dl", train, test, pd.DataFrame({"id": test["id"], "y": 0.0}))
    assert main(["new", "pooled_values", "--data", str(data), "--into", "comps"]) == 0
    capsys.readouterr()
    assert main(["run", "comps/pooled_values", "--data", str(data), "--set", "stack=pool", "--quiet"]) == 2
    assert "Config.stack 'pool' pools class probabilities" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()  # refused before the run folder, no model fitted
