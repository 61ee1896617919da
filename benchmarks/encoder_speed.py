"""The generic tabular encoder against its own earlier version: time, and the same output.

    python benchmarks/encoder_speed.py [--base 05acdef] [--data-dir ../shared/data] [--rows 200000 800000]

TabularEncoder (features/tabular.py) computes a code or text column's features once per distinct value and spreads
them to the rows; it splits codes into parts, counts words and fits its token vocabulary on distinct values weighted
by their rows. The baseline is features/ as it was at git revision --base (which did all of that row by row), loaded
from git into a temporary package. Each table is encoded by both, interleaved, twice: fit_transform on its training
rows, then transform on the rest (as a fold's validation and test rows are). Outputs must be identical (checked
for the LightGBM and linear families). Tables: the generated Playground-sized download of benchmarks/tabular_scale.py
(three string columns, one a 3000-level code) at each --rows, then Titanic's and House Prices' train.csv.
Results: benchmarks/figures/encoder_speed.json.
"""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from benchutil import peak_memory, save  # noqa: E402
from tabular_scale import write_download  # noqa: E402

from features.tabular import TabularEncoder  # noqa: E402

FAMILIES = ("lightgbm", "linear")
REPEATS = 2


def load_base(rev: str, into: Path) -> Any:
    """features/ at git revision rev as the package features_base (its own imports redirected to it)."""
    pkg = into / "features_base"
    pkg.mkdir()

    def git(*argv: str) -> str:
        return subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True, check=True).stdout

    for path in git("ls-tree", "--name-only", rev, "features/").split():
        source = git("show", f"{rev}:{path}")
        (pkg / Path(path).name).write_text(source.replace("from features.", "from features_base."))
    sys.path.insert(0, str(into))
    return importlib.import_module("features_base.tabular").TabularEncoder


def tables(data_dir: Path, rows: list[int], work: Path) -> list[tuple[str, pd.DataFrame, np.ndarray, str]]:
    """(name, features, target, task) of each table."""
    out = []
    download = work / "download"
    write_download(download, max(rows), 1)
    big = pd.read_csv(download / "train.csv")
    for n in rows:
        df = big.iloc[:n].reset_index(drop=True)
        out.append((f"generated, {n} rows", df.drop(columns=["id", "target"]), df["target"].to_numpy(), "binary"))
    for slug, target, drop, task in (
        ("titanic", "Survived", "PassengerId", "binary"),
        ("house-prices-advanced-regression-techniques", "SalePrice", "Id", "regression"),
    ):
        with zipfile.ZipFile(data_dir / f"{slug}.zip") as z, z.open("train.csv") as f:
            df = pd.read_csv(f)
        y = df.pop(target).to_numpy()
        out.append((slug.split("-")[0], df.drop(columns=[drop]), np.log1p(y) if task == "regression" else y, task))
    return out


def encode(cls: Any, family: str, task: str, X: pd.DataFrame, y: np.ndarray) -> tuple[float, Any, Any]:
    """Seconds to fit on 80% of the rows and transform the other 20%, and both outputs."""
    cut = int(0.8 * len(X))
    t0 = time.perf_counter()
    enc = cls(family, task)
    fitted = enc.fit_transform(X.iloc[:cut], y[:cut])
    other = enc.transform(X.iloc[cut:])
    return time.perf_counter() - t0, fitted, other


def same(a: Any, b: Any) -> bool:
    if isinstance(a, pd.DataFrame):
        try:
            pd.testing.assert_frame_equal(a, b)
        except AssertionError:
            return False
        return True
    return bool(np.array_equal(a, b, equal_nan=True))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", default="05acdef", help="git revision of the baseline encoder")
    ap.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--rows", type=int, nargs="+", default=[200_000, 800_000])
    args = ap.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        base_cls = load_base(args.base, Path(tmp))
        for name, X, y, task in tables(Path(args.data_dir), args.rows, Path(tmp)):
            for family in FAMILIES:
                times: dict[str, list[float]] = {"now": [], "base": []}
                identical = True
                for _ in range(REPEATS):
                    s_now, fit_now, other_now = encode(TabularEncoder, family, task, X, y)
                    s_base, fit_base, other_base = encode(base_cls, family, task, X, y)
                    times["now"].append(s_now)
                    times["base"].append(s_base)
                    identical &= same(fit_now, fit_base) and same(other_now, other_base)
                now, base = min(times["now"]), min(times["base"])
                results.append(
                    {
                        "table": name,
                        "rows": len(X),
                        "family": family,
                        "now_s": now,
                        "base_s": base,
                        "speedup": base / now,
                        "identical": identical,
                    }
                )
                print(
                    f"{name:28s} {family:8s} now {now:7.2f} s  base {base:7.2f} s  {base / now:5.1f}x  "
                    f"identical: {identical}"
                )
    command = f"python benchmarks/encoder_speed.py --base {args.base} --rows {' '.join(map(str, args.rows))}"
    print(save("encoder_speed", command, {"repeats": REPEATS, "results": results, **peak_memory()}).relative_to(ROOT))


if __name__ == "__main__":
    main()
