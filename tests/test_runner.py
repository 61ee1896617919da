"""The runner on a toy competition: artifacts, determinism, resume, time limit and ensembling of saved runs."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from toy import make_toy

from pipeline.contract import ContractError
from pipeline.ensemble_runs import ensemble_runs
from pipeline.runner import RunOptions, run


@pytest.fixture
def toy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    return str(make_toy(tmp_path / "comps", f"toy_{uuid.uuid4().hex[:8]}"))


def opts(toy: str, **kw: object) -> RunOptions:
    return RunOptions(competition=toy, sample=True, quiet=True, **kw)  # type: ignore[arg-type]


def test_run_folder_holds_every_artifact(toy: str) -> None:
    run_dir = run(opts(toy, tag="t"))
    for name in (
        "summary.json",
        "config.json",
        "command.json",
        "env.json",
        "folds.npy",
        "scores.json",
        "blend.json",
        "log.txt",
        "submission.csv",
        "oof/ridge.npy",
        "oof/knn.npy",
        "test/ridge.npy",
        "oof/_blend.npy",
        "test/_blend.npy",
        "plots/residuals.png",
        "parts/ridge/fold0.npz",
    ):
        assert (run_dir / name).exists(), name
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["sample"] is True and run_dir.name.endswith("-t-sample")
    assert Path(summary["published"]).read_bytes() == (run_dir / "submission.csv").read_bytes()
    env = json.loads((run_dir / "env.json").read_text())
    assert {"git", "versions", "device"} <= set(env)
    folds = np.load(run_dir / "folds.npy")
    assert sorted(set(folds.tolist())) == [0, 1, 2] and len(folds) == 120
    oof = np.load(run_dir / "oof" / "ridge.npy")
    assert oof.shape == (120, 1) and np.isfinite(oof).all()
    scores = json.loads((run_dir / "scores.json").read_text())
    assert len(scores["ridge"]["fold_scores"]) == 3 and scores["ridge"]["mean"] < 0.3  # learnable: noise sd 0.1


def test_same_seed_same_oof_and_other_seed_other_folds(toy: str) -> None:
    a, b, c = run(opts(toy)), run(opts(toy)), run(opts(toy, seed=7))
    for model in ("ridge", "knn"):
        assert np.array_equal(np.load(a / "oof" / f"{model}.npy"), np.load(b / "oof" / f"{model}.npy"))
    assert not np.array_equal(np.load(a / "folds.npy"), np.load(c / "folds.npy"))


def test_blend_weights_simplex_and_no_worse_than_best(toy: str) -> None:
    run_dir = run(opts(toy))
    s = json.loads((run_dir / "summary.json").read_text())
    w = np.array(list(s["blend"]["weights"].values()))
    assert (w >= 0).all() and abs(w.sum() - 1) < 1e-9
    assert s["cv"] <= s["blend"]["best_single_score"] + 1e-12


class Interrupt(Exception):
    pass


def test_resume_after_interruption_equals_uninterrupted(toy: str) -> None:
    full = run(opts(toy))
    seen: list[int] = []

    def die_after_four(info: dict) -> None:
        seen.append(1)
        if len(seen) == 4:
            raise Interrupt

    with pytest.raises(Interrupt):
        run(opts(toy, report=die_after_four, tag="killed"))
    killed = next(Path("runs").glob("*/*-killed-sample"))
    assert not (killed / "summary.json").exists()
    assert len(list((killed / "parts").glob("*/*.npz"))) == 4
    run(opts(toy, tag="killed", resume=str(killed)))
    for model in ("ridge", "knn", "slow"):
        assert np.array_equal(np.load(full / "oof" / f"{model}.npy"), np.load(killed / "oof" / f"{model}.npy"))
    assert (killed / "submission.csv").read_bytes() == (full / "submission.csv").read_bytes()


@pytest.mark.parametrize(
    ("slow_sleep", "why"),
    [(0.8, "remaining folds would overrun"), (30.0, "first fold alone overruns: abandoned at the deadline")],
)
def test_time_limit_drops_slow_models_and_still_submits(toy: str, slow_sleep: float, why: str) -> None:
    t0 = time.monotonic()
    run_dir = run(opts(toy, sets=["sleep=0.2", f"slow_sleep={slow_sleep}"], time_limit=3.0))
    elapsed = time.monotonic() - t0
    s = json.loads((run_dir / "summary.json").read_text())
    assert {"ridge", "knn"} <= set(s["models"]) and "slow" not in s["models"], why
    assert elapsed < 3.0 + 1.0, why
    sub = pd.read_csv(run_dir / "submission.csv")
    assert len(sub) == 30 and sub["target"].notna().all()
    assert "slow skipped" in (run_dir / "log.txt").read_text()


def test_ensemble_of_saved_runs_and_refusal_of_different_folds(toy: str) -> None:
    a = run(opts(toy, models=["ridge"]))
    b = run(opts(toy, models=["knn"]))
    ens = ensemble_runs([a, b], quiet=True)
    s = json.loads((ens / "summary.json").read_text())
    assert set(s["models"]) == {f"{a.name}/ridge", f"{b.name}/knn"}
    assert s["cv"] <= min(m["mean"] for m in s["models"].values()) + 0.05
    assert (ens / "submission.csv").exists()
    other = run(opts(toy, models=["knn"], seed=3))
    with pytest.raises(ContractError, match="used different folds"):
        ensemble_runs([a, other], quiet=True)


def test_runs_lists_past_runs(toy: str, capsys: pytest.CaptureFixture[str]) -> None:
    from pipeline.cli import main

    run_dir = run(opts(toy, tag="listed"))
    assert main(["runs"]) == 0
    out = capsys.readouterr().out
    assert run_dir.name in out and "sample listed" in out


def test_a_class_missing_from_a_folds_training_rows_keeps_its_column():
    from sklearn.linear_model import LogisticRegression

    from pipeline.fitting import predict_outputs

    X = np.array([[0.0], [0.1], [2.0], [2.1]])
    est = LogisticRegression().fit(X, np.array([0, 0, 2, 2]))  # class 1 of 0..2 absent from this fold
    proba = predict_outputs(est, X, classification=True, n_classes=3)
    assert proba.shape == (4, 3) and (proba[:, 1] == 0).all()
    np.testing.assert_allclose(proba[:, [0, 2]], est.predict_proba(X))
    assert proba[0].argmax() == 0 and proba[3].argmax() == 2
