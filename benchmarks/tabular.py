"""Tabular figures in one run: `new` + `run` with no hand-written code (Titanic, House Prices), the hand-made House
Prices recipe with its stack (default and --preset fast), each next to a plain scikit-learn baseline on the same
rows and folds.

    python benchmarks/tabular.py [--data-dir ../shared/data] [--skip-house-prices] [--skip-titanic]

Baselines: HistGradientBoosting (scikit-learn's LightGBM-like booster, default settings) on numeric columns plus
ordinal-coded categoricals, text columns dropped, fitted on exactly the folds the framework's run saved.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.cli import main as cli  # noqa: E402
from pipeline.runner import RunOptions, run  # noqa: E402


def sklearn_baseline(X: pd.DataFrame, y: np.ndarray, folds: np.ndarray, classify: bool) -> np.ndarray:
    """OOF predictions of a default HistGradientBoosting model on the same folds."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.preprocessing import OrdinalEncoder

    cats = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c]) and X[c].nunique() <= 30]
    X = X[[c for c in X.columns if pd.api.types.is_numeric_dtype(X[c])] + cats].copy()
    oof = np.zeros((len(y), 2 if classify else 1))
    for f in sorted(set(folds)):
        tr, va = folds != f, folds == f
        enc = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1)
        A, B = X[tr].copy(), X[va].copy()
        if cats:
            A[cats] = enc.fit_transform(A[cats].astype(str))
            B[cats] = enc.transform(B[cats].astype(str))
        mask = [c in cats for c in X.columns]
        if classify:
            m = HistGradientBoostingClassifier(categorical_features=mask, random_state=0).fit(A, y[tr])
            oof[va] = m.predict_proba(B)
        else:
            m = HistGradientBoostingRegressor(categorical_features=mask, random_state=0).fit(A, np.log(y[tr]))
            oof[va, 0] = np.exp(m.predict(B))
    return oof


def timed_run(spec: str, data: Path, work: Path, *sets: str, preset: str | None = None) -> tuple[dict, float]:
    t0 = time.perf_counter()
    run_dir = run(
        RunOptions(
            spec,
            data=str(data),
            preset=preset,
            sets=list(sets),
            quiet=True,
            tag="bench",
            runs_root=str(work / "runs"),
            submissions_root=str(work / "submissions"),
        )
    )
    return json.loads((run_dir / "summary.json").read_text()), time.perf_counter() - t0


def row(name: str, s: dict, wall: float | None) -> tuple[str, str, int, str]:
    stack = s.get("stack") or {}
    used = "stack" if stack.get("used") else "blend"
    return name, f"{s['cv']:.5f} ({used})", s["cv_rows"], "" if wall is None else f"{wall:.1f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--skip-titanic", action="store_true")
    ap.add_argument("--skip-house-prices", action="store_true")
    args = ap.parse_args()
    data_dir = Path(args.data_dir)
    rows: list[tuple[str, str, int, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if not args.skip_titanic:
            z = data_dir / "titanic.zip"
            t0 = time.perf_counter()
            cli(["new", "titanic_bench", "--data", str(z), "--into", str(work)])
            s, wall = timed_run(str(work / "titanic_bench"), z, work)
            rows.append(row("Titanic: new + run (accuracy)", s, time.perf_counter() - t0))
            for m, r in s["models"].items():
                rows.append((f"  {m}", f"{r['mean']:.5f}", s["cv_rows"], f"{r['seconds']:.1f}"))
            train = pd.read_csv(Path(s["data_dir"]) / "train.csv")
            folds = np.load(Path(s["run_dir"]) / "folds.npy")
            y = train.pop("Survived").to_numpy()
            t1 = time.perf_counter()
            oof = sklearn_baseline(train.drop(columns=["PassengerId"]), y, folds, True)
            acc = float(np.mean(oof.argmax(1) == y))
            rows.append(("Titanic: scikit-learn HistGB", f"{acc:.5f}", len(y), f"{time.perf_counter() - t1:.1f}"))
        if not args.skip_house_prices:
            z = data_dir / "house-prices-advanced-regression-techniques.zip"
            s, wall = timed_run("competitions/house_prices", z, work)
            rows.append(row("House Prices recipe, default (RMSE log)", s, wall))
            stack = s["stack"]
            rows.append((f"  stack ({stack['method']}), out of fold", f"{stack['score']:.5f}", s["cv_rows"], ""))
            rows.append(("  blend, out of fold", f"{stack['blend_score']:.5f}", s["cv_rows"], ""))
            train = pd.read_csv(Path(s["data_dir"]) / "train.csv")
            folds = np.load(Path(s["run_dir"]) / "folds.npy")
            keep = folds >= 0  # the outlier rule's rows are fold -1: trained on by no baseline, scored by none
            train, folds = train[keep].reset_index(drop=True), folds[keep]
            y = train.pop("SalePrice").to_numpy(float)
            t1 = time.perf_counter()
            oof = sklearn_baseline(train.drop(columns=["Id"]), y, folds, False)
            rmse = float(np.sqrt(np.mean((np.log(oof[:, 0]) - np.log(y)) ** 2)))
            rows.append(("House Prices: scikit-learn HistGB", f"{rmse:.5f}", len(y), f"{time.perf_counter() - t1:.1f}"))
            s, wall = timed_run("competitions/house_prices", z, work, preset="fast")
            rows.append(row("House Prices recipe, --preset fast", s, wall))
            t0 = time.perf_counter()
            cli(["new", "house_prices_bench", "--data", str(z), "--metric", "rmsle", "--into", str(work)])
            s, _ = timed_run(str(work / "house_prices_bench"), z, work)
            rows.append(row("House Prices: new + run (RMSLE, all rows)", s, time.perf_counter() - t0))
    print(f"\n| {'what':42s} | {'CV (out of fold)':>18s} | {'rows':>5s} | {'wall s':>7s} |")
    print(f"|{'-' * 44}|{'-' * 20}|{'-' * 7}|{'-' * 9}|")
    for name, cv, n, wall in rows:
        print(f"| {name:42s} | {cv:>18s} | {n:>5d} | {wall:>7s} |")


if __name__ == "__main__":
    main()
