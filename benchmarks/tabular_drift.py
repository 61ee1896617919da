"""Does `drift` tell rows of one kind from rows that differ? Its adversarial AUC on real downloads and controls.

    python benchmarks/tabular_drift.py [--data-dir ../shared/data]

Cases, each run as a user runs it (`new`, then `python -m pipeline drift`), in a temporary folder:

  1. Titanic and House Prices as Kaggle split them (train.csv against test.csv): Kaggle drew both tables from one
     population, so the AUC should read as chance;
  2. House Prices, later houses: the same rows re-split by YearBuilt (train: built up to the median year, test:
     after it, a drifted control): the AUC should be near 1, with the build years named;
  3. an original dataset (`drift --against original`), stood in for as benchmarks/tabular_original.py does (split
     0: the training rows halved into the competition's and the original's): "same" (real rows on both sides)
     should read as chance; "generated" (15% of each feature column's values swapped between the competition's
     rows, as a generator's noise) should not.

Results: benchmarks/figures/tabular_drift.json (AUC, standard error, verdict, top columns, wall seconds).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from benchutil import peak_memory, save, scratch_cwd  # noqa: E402
from tabular_holdout import HOUSE, TITANIC, Download, make_split, read_member  # noqa: E402
from tabular_original import stand_in  # noqa: E402

from pipeline.cli import main as cli  # noqa: E402


def drift(name: str, data: Path, work: Path, against: str = "test", new_flags: tuple[str, ...] = ()) -> dict[str, Any]:
    """`new` then `drift`; the JSON it wrote, less the paths, and its wall seconds."""
    if cli(["new", name, "--data", str(data), *new_flags, "--into", str(work / "competitions")]) != 0:
        raise SystemExit(f"{name}: `new` failed")
    out = work / f"{name}.json"
    t0 = time.perf_counter()
    if cli(["drift", str(work / "competitions" / name), "--data", str(data), "--against", against, "--out", str(out)]):
        raise SystemExit(f"{name}: `drift` failed")
    found = json.loads(out.read_text())
    found.pop("data_dir")
    found["columns"] = dict(list(found["columns"].items())[:5])
    return found | {"wall_s": round(time.perf_counter() - t0, 1)}


def later_houses(zip_path: Path, folder: Path) -> Path:
    """House Prices' train.csv re-split by YearBuilt: up to the median year as train, later houses as test."""
    full = read_member(zip_path, "train.csv")
    later = pd.to_numeric(full["YearBuilt"]) > pd.to_numeric(full["YearBuilt"]).median()
    folder.mkdir(parents=True)
    full[~later].to_csv(folder / "train.csv", index=False)
    full[later].drop(columns="SalePrice").to_csv(folder / "test.csv", index=False)
    pd.DataFrame({"Id": full.loc[later, "Id"], "SalePrice": 180000.0}).to_csv(
        folder / "sample_submission.csv", index=False
    )
    return folder


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    args = ap.parse_args()
    data_dir = Path(args.data_dir).resolve()
    results: dict[str, Any] = {}
    with scratch_cwd() as work:
        for label, d in (("Titanic", TITANIC), ("House Prices", HOUSE)):
            results[f"{label}: train vs test"] = drift(d.slug.split("-")[0], data_dir / f"{d.slug}.zip", work)
        later = later_houses(data_dir / f"{HOUSE.slug}.zip", work / "later")
        results["House Prices: later houses as test"] = drift("later", later, work)
        downloads: list[tuple[str, Download]] = [("Titanic", TITANIC), ("House Prices", HOUSE)]
        for label, d in downloads:
            for scenario in ("same", "generated"):
                split = make_split(data_dir / f"{d.slug}.zip", d, 0, work / f"{scenario}_{d.id_col}")
                original = stand_in(split, d, scenario)
                name = f"{d.slug.split('-')[0]}_{scenario}"
                flags = ("--original", str(original), "--original-slug", name.replace("_", "-"))
                results[f"{label}: original, {scenario}"] = drift(name, split.folder, work, "original", flags)
    for case, r in results.items():
        top = ", ".join(f"{c} {v:.2f}" for c, v in list(r["columns"].items())[:3])
        print(f"{case}: AUC {r['auc']:.4f} ± {r['se']:.4f} ({r['rows'][0]} vs {r['rows'][1]} rows); {top}")
    print(
        save("tabular_drift", "python benchmarks/tabular_drift.py", {"cases": results, **peak_memory()}).relative_to(
            ROOT
        )
    )


if __name__ == "__main__":
    main()
