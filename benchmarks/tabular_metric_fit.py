"""The fit follows the metric: MAE on House Prices, F1 and MCC on Titanic, each with and without what `new` adds.

    python benchmarks/tabular_metric_fit.py [--data-dir ../shared/data] [--only TEXT]

1. `new --metric mae` on Kaggle's House Prices download (all 1460 rows, no hand-written code), then `run` four times
   on the same seeded folds with `--set objective=... --set target_transform=...`: squared or absolute error, on the
   price or on log(1 + price). `new` writes the last (absolute error of log(1 + price)) as the default for mae;
   medae, mape and smape are compared the same way (mape and smape without the absolute error of prices).
2. `new --metric f1`, `--metric mcc`, `--metric balanced_accuracy` and `--metric balanced_log_loss` on Kaggle's
   Titanic download, each `run` with the decision threshold (balanced log loss: the same shift of its probabilities)
   fitted out of fold (the default) and with `--set threshold=false` (labels cut at 0.5, probabilities unshifted).
3. The same with F1, balanced accuracy and balanced log loss on a rare class with real features: House Prices'
   train.csv with its price replaced by `Expensive` (1 for the dearest 10% of sales), its test.csv and a sample
   submission of 0s, written as a download.

Reported: each run's CV (out of fold: the final stage, blend or stack, then the threshold) and each model's.
Results: benchmarks/figures/tabular_metric_fit.json (`--only TEXT`: the cases whose "<download> (<metric>)" holds
TEXT, to figures/tabular_metric_fit_<text>.json).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from benchutil import peak_memory, save, scratch_cwd  # noqa: E402

from pipeline.cli import main as cli  # noqa: E402
from pipeline.runfolder import read_record  # noqa: E402
from pipeline.runner import RunOptions, run  # noqa: E402

FIT_FIELDS = ("threshold", "score_before", "score_after", "applied")  # of threshold.json
HOUSE, TITANIC = "house-prices-advanced-regression-techniques", "titanic"
# the fits a metric of absolute or relative errors is compared over: squared or absolute error, of the price or its log
ABSOLUTE_FITS = [
    ["objective=", "target_transform="],
    ["objective=l1", "target_transform="],
    ["objective=", "target_transform=log1p"],
    ["objective=l1", "target_transform=log1p"],
]
RELATIVE_FITS = [ABSOLUTE_FITS[0], ABSOLUTE_FITS[2], ABSOLUTE_FITS[3]]  # the absolute error of prices: not for these
CUTS = [["threshold=false"], ["threshold=true"]]
# (download, metric, the --set lists to compare)
CASES: list[tuple[str, str, list[list[str]]]] = [
    (HOUSE, "mae", ABSOLUTE_FITS),
    (HOUSE, "mape", RELATIVE_FITS),
    (HOUSE, "medae", ABSOLUTE_FITS),
    (HOUSE, "smape", RELATIVE_FITS),
    (TITANIC, "f1", CUTS),
    (TITANIC, "mcc", CUTS),
    (TITANIC, "balanced_accuracy", CUTS),
    (TITANIC, "balanced_log_loss", CUTS),
    ("expensive-houses", "f1", CUTS),
    ("expensive-houses", "balanced_accuracy", CUTS),
    ("expensive-houses", "balanced_log_loss", CUTS),
    ("price-bands", "balanced_accuracy", CUTS),
    ("price-bands", "balanced_log_loss", CUTS),
]


def priced_classes(
    data_dir: Path, folder: Path, target: str, classes: Callable[[Any], Any], sample: dict[str, Any]
) -> Path:
    """House Prices written as a download whose target is classes of the price: train.csv with SalePrice replaced by
    `target` = classes(price), test.csv as downloaded, and a sample submission of the test ids with `sample`'s
    columns."""
    import zipfile

    import pandas as pd

    folder.mkdir(parents=True)
    with zipfile.ZipFile(data_dir / f"{HOUSE}.zip") as z:
        train, test = (pd.read_csv(z.open(f"{n}.csv"), dtype=str, keep_default_na=False) for n in ("train", "test"))
    train[target] = classes(pd.to_numeric(train.pop("SalePrice")))
    train.to_csv(folder / "train.csv", index=False)
    test.to_csv(folder / "test.csv", index=False)
    pd.DataFrame({"Id": test["Id"], **sample}).to_csv(folder / "sample_submission.csv", index=False)
    return folder


def expensive_houses(data_dir: Path, into: Path) -> Path:
    """House Prices as a rare-class download: Expensive = 1 for the dearest 10% of training sales."""
    return priced_classes(
        data_dir,
        into / "expensive-houses",
        "Expensive",
        lambda price: (price > price.quantile(0.9)).astype(int),
        {"Expensive": 0},
    )


def price_bands(data_dir: Path, into: Path, probabilities: bool) -> Path:
    """House Prices as three unequal classes: Band = cheap (the cheapest 70% of training sales), mid (the next 20%)
    or dear (the dearest 10%); the sample one probability column per band, or the band's name."""
    import pandas as pd

    def bands(price: Any) -> Any:
        cuts = price.quantile([0.7, 0.9]).to_numpy()
        return pd.cut(price, [-np.inf, *cuts, np.inf], labels=["cheap", "mid", "dear"]).astype(str)

    sample = {"cheap": 0.7, "mid": 0.2, "dear": 0.1} if probabilities else {"Band": "cheap"}
    return priced_classes(data_dir, into / "price-bands", "Band", bands, sample)


def one_run(spec: str, data: str, sets: list[str]) -> dict[str, Any]:
    t0 = time.perf_counter()
    run_dir = run(RunOptions(spec, data=data, sets=sets, quiet=True))
    s = read_record(run_dir, "summary")
    cut = s.get("threshold") or {}
    return {
        "sets": sets,
        "cv": s["cv"],
        "final": "stack" if (s.get("stack") or {}).get("used") else "blend",
        "threshold": cut.get("threshold") if cut.get("applied") else None,
        "threshold_fit": {k: cut.get(k) for k in FIT_FIELDS} if cut else None,
        "models": {m: r["mean"] for m, r in s["models"].items()},
        "wall_s": time.perf_counter() - t0,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--only", default="", help='the cases whose "<download> (<metric>)" holds this text')
    args = ap.parse_args()
    results: dict[str, list[dict[str, Any]]] = {}
    with scratch_cwd() as work:
        for slug, metric, variants in CASES:
            if args.only not in f"{slug} ({metric})":
                continue
            if slug == "expensive-houses":
                data = str(expensive_houses(Path(args.data_dir).resolve(), work / metric))
            elif slug == "price-bands":
                data = str(price_bands(Path(args.data_dir).resolve(), work / metric, metric == "balanced_log_loss"))
            else:
                data = str((Path(args.data_dir) / f"{slug}.zip").resolve())
            name = f"{slug.split('-')[0]}_{metric}"
            if cli(["new", name, "--data", data, "--metric", metric, "--into", str(work)]) != 0:
                raise SystemExit(f"`new {name}` failed")
            rows = results.setdefault(f"{slug} ({metric})", [])
            for sets in variants:
                rows.append(one_run(str(work / name), data, sets))
                r = rows[-1]
                fit = r["threshold_fit"]
                cut = f", cut at {r['threshold']:.3f}" if r["threshold"] is not None else ""
                if fit and not fit["applied"] and fit.get("score_after") is not None:
                    cut = f", cut at {fit['threshold']:.3f} not applied: out of fold {fit['score_after']:.6g}"
                shown = ", ".join(f"{m} {v:.5g}" for m, v in r["models"].items())
                print(f"{name} {' '.join(sets):40s} CV {r['cv']:.6g} ({r['final']}{cut}); {shown}")
    only = f" --only {args.only}" if args.only else ""
    figure = "tabular_metric_fit" + ("_" + "_".join(args.only.strip("() ").split()) if args.only else "")
    command = f"python benchmarks/tabular_metric_fit.py{only}"
    print(save(figure, command, {"cases": results, **peak_memory()}))


if __name__ == "__main__":
    main()
