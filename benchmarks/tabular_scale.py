"""A Playground-sized download under --time-limit: `new` + `run` on generated data, next to a scikit-learn baseline.

    python benchmarks/tabular_scale.py [--rows 200000] [--test-rows 100000] [--time-limit 240]

Most tabular competitions people enter (the Playground series) have 100,000 to 1,000,000 rows; on a laptop a user
sets --time-limit. The download is generated (seeded): 12 numeric columns, two categoricals (7 and 40 levels) and a
3000-level code column, a binary target from a non-linear logit, scored by roc_auc. The script times `new` + `run
--time-limit` with no hand-written code, reads how long the run took after its last fold (blend, stack,
submission), and fits scikit-learn's HistGradientBoostingClassifier (default settings) on the run's own folds.
Results: benchmarks/figures/tabular_scale.json (tabular_scale_<rows>.json for other --rows).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from benchutil import peak_memory, save  # noqa: E402
from tabular import sklearn_baseline  # noqa: E402

from pipeline.cli import main as cli  # noqa: E402
from pipeline.runner import RunOptions, run  # noqa: E402
from pipeline.tabular.metrics import roc_auc  # noqa: E402


def write_download(folder: Path, rows: int, test_rows: int, seed: int = 0) -> None:
    """train.csv, test.csv and sample_submission.csv of a generated binary competition."""
    rng = np.random.default_rng(seed)

    def frame(k: int, start: int) -> pd.DataFrame:
        X = pd.DataFrame(rng.normal(size=(k, 12)), columns=[f"num{i}" for i in range(12)])
        X["cat_a"] = rng.choice(list("ABCDEFG"), k)
        X["cat_b"] = rng.choice([f"level{i}" for i in range(40)], k)
        X["code"] = [f"C{v}" for v in rng.integers(0, 3000, k)]
        X.insert(0, "id", np.arange(start, start + k))
        return X

    folder.mkdir(parents=True)
    train, test = frame(rows, 0), frame(test_rows, rows)
    logit = train.num0 - 0.7 * train.num1 * train.num2 + (train.cat_a == "C") * 1.2 + 0.3 * np.sin(3 * train.num3)
    train["target"] = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    train.to_csv(folder / "train.csv", index=False)
    test.to_csv(folder / "test.csv", index=False)
    pd.DataFrame({"id": test["id"], "target": 0.5}).to_csv(folder / "sample_submission.csv", index=False)


def seconds_after_last_fold(log: Path) -> float:
    """From the run's log.txt: the time between its last fold line and its submission line."""
    stamps = {}
    for line in log.read_text().splitlines():
        kind = "fold" if " fold " in line else "submission" if line[9:].startswith("submission ") else None
        if kind:
            stamps[kind] = dt.datetime.strptime(line[:8], "%H:%M:%S")
    return (stamps["submission"] - stamps["fold"]).total_seconds() % 86400


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--test-rows", type=int, default=100_000)
    ap.add_argument("--time-limit", type=float, default=240.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = work / "download"
        write_download(data, args.rows, args.test_rows)
        t0 = time.perf_counter()
        assert cli(["new", "scale", "--data", str(data), "--into", str(work)]) == 0
        run_dir = run(
            RunOptions(
                str(work / "scale"),
                data=str(data),
                time_limit=args.time_limit,
                quiet=True,
                runs_root=str(work / "runs"),
                submissions_root=str(work / "submissions"),
            )
        )
        wall = time.perf_counter() - t0
        summary = json.loads((run_dir / "summary.json").read_text())
        after = seconds_after_last_fold(run_dir / "log.txt")
        train = pd.read_csv(data / "train.csv")
        y = train.pop("target").to_numpy()
        folds = np.load(run_dir / "folds.npy")
        t1 = time.perf_counter()
        base = roc_auc(y, sklearn_baseline(train.drop(columns=["id"]), y, folds, True))
        base_s = time.perf_counter() - t1
    stack = summary.get("stack") or {}
    result = {
        "settings": vars(args),
        "new_and_run_wall_s": wall,
        "run_seconds": summary["seconds"],
        "seconds_after_last_fold": after,
        "cv_roc_auc": summary["cv"],
        "submitted": "stack" if stack.get("used") else "blend",
        "models": summary["models"],
        "sklearn_histgb_roc_auc": base,
        "sklearn_histgb_s": base_s,
        **peak_memory(),
    }
    print(f"new + run --time-limit {args.time_limit:g}: {wall:.1f} s wall ({after:.0f} s after the last fold)")
    print(f"  CV roc_auc {summary['cv']:.5f} ({result['submitted']}); models:")
    for m, r in summary["models"].items():
        print(f"    {m:10s} {r['mean']:.5f}  {r['seconds']:.1f} s")
    print(f"scikit-learn HistGB on the same folds: {base:.5f} ({base_s:.1f} s)")
    command = "python benchmarks/tabular_scale.py " + " ".join(sys.argv[1:])
    name = "tabular_scale" if args.rows == 200_000 else f"tabular_scale_{args.rows}"
    save(name, command.strip(), result)


if __name__ == "__main__":
    main()
