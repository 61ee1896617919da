"""House Prices: the framework's default recipe vs the D2L book's recipe, on the same folds, in one run.

    python benchmarks/house_prices.py [--data ../shared/data/house-prices-advanced-regression-techniques.zip]

Scored rows: the framework's default leaves the two documented GrLivArea outliers (GrLivArea > 4000 and
SalePrice < 300000) out of every model's fit and out of the CV (fold -1), so CV is RMSE(log) over the other 1458
training rows, 5 folds (KFold, seed 0). The D2L baseline is fitted and scored on exactly those rows and folds. A
second framework run keeps the outliers (--set drop_outliers=false) and scores all 1460 rows, for reference.

The blend's CV is out of fold (each fold's rows blended with weights fitted on the other four folds' OOF rows);
the in-sample figure (weights fitted on the rows they score) is printed beside it for comparison. Results, with
peak memory, go to benchmarks/figures/house_prices.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "benchmarks"))

from benchutil import peak_memory, save  # noqa: E402

from pipeline.runner import RunOptions, run  # noqa: E402


def d2l_features(train: pd.DataFrame, test: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """D2L 5.7: standardise numeric columns over train+test, NaN -> 0, one-hot with dummy_na."""
    all_features = pd.concat((train.iloc[:, 1:-1], test.iloc[:, 1:]))
    numeric = all_features.dtypes[all_features.dtypes != "str"].index
    numeric = [c for c in numeric if pd.api.types.is_numeric_dtype(all_features[c])]
    all_features[numeric] = all_features[numeric].apply(lambda x: (x - x.mean()) / (x.std()))
    all_features[numeric] = all_features[numeric].fillna(0)
    all_features = pd.get_dummies(all_features, dummy_na=True).astype(np.float32)
    n = len(train)
    return all_features.iloc[:n].to_numpy(), all_features.iloc[n:].to_numpy()


def d2l_fit_predict(X: np.ndarray, y: np.ndarray, X_va: np.ndarray, seed: int) -> np.ndarray:
    """D2L's linear net: MSE on prices, Adam lr 5, weight decay 0, 100 epochs, batch 64."""
    import torch

    torch.manual_seed(seed)
    net = torch.nn.Linear(X.shape[1], 1)
    opt = torch.optim.Adam(net.parameters(), lr=5, weight_decay=0)
    Xt, yt = torch.tensor(X), torch.tensor(y, dtype=torch.float32).reshape(-1, 1)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(Xt, yt), batch_size=64, shuffle=True)
    for _ in range(100):
        for xb, yb in loader:
            opt.zero_grad()
            torch.nn.functional.mse_loss(net(xb), yb).backward()
            opt.step()
    with torch.no_grad():
        return net(torch.tensor(X_va)).numpy().reshape(-1)


def rmse_log(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.log(np.clip(p, 1, None)) - np.log(y)) ** 2)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--data", default=str(ROOT.parent / "shared" / "data" / "house-prices-advanced-regression-techniques.zip")
    )
    ap.add_argument("--skip-outlier-run", action="store_true")
    args = ap.parse_args()
    rows = []
    t0 = time.perf_counter()
    run_dir = run(RunOptions("competitions/house_prices", data=args.data, tag="bench", quiet=True))
    wall = time.perf_counter() - t0
    s = json.loads((run_dir / "summary.json").read_text())
    for m, r in s["models"].items():
        rows.append((m, r["mean"], r["std"], r["seconds"]))
    rows.append(("equal-weight mean", s["blend"]["equal_score"], None, None))
    rows.append(("blend, out of fold (reported CV)", s["cv"], None, wall))
    rows.append(("blend, in-sample weights", s["blend"]["in_sample_score"], None, None))

    # D2L on the same rows and folds.
    data_dir = Path(s["data_dir"])
    train, test = pd.read_csv(data_dir / "train.csv"), pd.read_csv(data_dir / "test.csv")
    folds = np.load(run_dir / "folds.npy")
    keep = folds >= 0  # the outlier rule's rows are fold -1: the framework's models never fit them, nor does D2L
    X, _ = d2l_features(train, test)
    X, y, folds = X[keep], train.loc[keep, "SalePrice"].to_numpy(float), folds[keep]
    t1 = time.perf_counter()
    scores = [
        rmse_log(y[folds == f], d2l_fit_predict(X[folds != f], y[folds != f], X[folds == f], f))
        for f in range(folds.max() + 1)
    ]
    rows.append(("D2L baseline (linear net)", float(np.mean(scores)), float(np.std(scores)), time.perf_counter() - t1))

    if not args.skip_outlier_run:
        t2 = time.perf_counter()
        kept = run(
            RunOptions(
                "competitions/house_prices",
                data=args.data,
                tag="bench-keep-outliers",
                quiet=True,
                sets=["drop_outliers=false"],
            )
        )
        k = json.loads((kept / "summary.json").read_text())
        rows.append(("blend, outliers kept (1460 rows), out of fold", k["cv"], None, time.perf_counter() - t2))

    print(f"\nHouse Prices, 5-fold CV RMSE(log) on {s['cv_rows']} rows (2 GrLivArea outliers not scored), seed 0\n")
    print(f"| {'model':46s} | {'CV RMSE(log)':>17s} | {'vs D2L':>7s} | {'seconds':>8s} |")
    print(f"|{'-' * 48}|{'-' * 19}|{'-' * 9}|{'-' * 10}|")
    d2l = next(r[1] for r in rows if r[0].startswith("D2L"))
    for name, mean, std, sec in rows:
        cv = f"{mean:.5f}" + (f" ± {std:.4f}" if std is not None else "")
        print(f"| {name:46s} | {cv:>17s} | {mean / d2l:7.3f} | {'' if sec is None else f'{sec:8.1f}':>8s} |")
    print(
        f"\nframework default run: {wall:.1f} s wall, whole pipeline (load, {len(s['models'])} models x 5 folds, "
        f"blend, submission); blend weights {json.dumps({k: round(v, 3) for k, v in s['blend']['weights'].items()})}"
    )
    mem = peak_memory()
    print(f"peak RSS {mem['peak_rss_mib']:.0f} MiB, load average {os.getloadavg()[0]:.2f}")
    cmd = "python benchmarks/house_prices.py" + (" --skip-outlier-run" if args.skip_outlier_run else "")
    table = [{"model": n, "cv": m, "std": sd, "seconds": sec, "vs_d2l": m / d2l} for n, m, sd, sec in rows]
    save("house_prices", cmd, {"rows": table, "weights": s["blend"]["weights"], "wall_s": wall, "memory": mem})


if __name__ == "__main__":
    main()
