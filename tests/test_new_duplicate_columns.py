"""A CSV whose header names a column twice: pandas renames the second (`x.1`) without a word. `new` and the
generated competition's load refuse a target or id named twice, naming the file and the name, and keep other such
columns under pandas' names with a warning (`new`'s notes, the run's log)."""

from __future__ import annotations

import gzip
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.cli import main
from pipeline.contract import ContractError, load_competition
from tests.test_new_edge_cases import download, new_and_run, regression_tables


def renamed(path: Path, old: str, new: str) -> None:
    """The CSV at path with its header's column `old` named `new` (the rows as they are)."""
    lines = path.read_text().split("\n")
    lines[0] = ",".join(new if c == old else c for c in lines[0].split(","))
    path.write_text("\n".join(lines))


def test_a_feature_named_twice_is_kept_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # before: not a word; the features were x and x.1, a name neither file holds
    monkeypatch.chdir(tmp_path)
    train, test = regression_tables(300, 60)
    data = download(tmp_path / "dl", train, test, pd.DataFrame({"id": test["id"], "y": 0.0}))
    for name in ("train.csv", "test.csv"):
        renamed(data / name, "z", "x")
    printed, sub, summary = new_and_run(tmp_path, "twice", data, capsys)
    for name in ("train.csv", "test.csv"):
        said = f"warning: {name}: its header names x twice (read as x, x.1); each column is kept under the name"
        assert said in printed
    log = (Path(summary["run_dir"]) / "log.txt").read_text()
    assert f"warning: {data / 'train.csv'}: its header names x twice (read as x, x.1)" in log
    assert sub["id"].tolist() == test["id"].astype(str).tolist() and summary["cv"] < 0.5 * train["y"].std()
    module = load_competition(str(tmp_path / "comps" / "twice"))
    loaded = module.load(module.Config(), data)
    assert list(loaded.X.columns) == ["x", "x.1"] and loaded.X["x.1"].tolist() == train["z"].tolist()
    # drift reads the tables as run does, and says so too (before: the column x.1 in its report, unexplained)
    assert main(["drift", str(tmp_path / "comps" / "twice"), "--data", str(data), "--rows", "200"]) == 0
    assert f"warning: {data / 'train.csv'}: its header names x twice (read as x, x.1)" in capsys.readouterr().err


def gzipped_with_bom(path: Path) -> None:
    """path (a CSV) as path.gz, its text after a UTF-8 byte order mark, as Excel saves it."""
    Path(f"{path}.gz").write_bytes(gzip.compress("\ufeff".encode() + path.read_bytes()))
    path.unlink()


@pytest.mark.parametrize(
    ("file", "column", "role"),
    [("train.csv", "y", "target"), ("test.csv", "id", "id"), ("train.csv.gz", "y", "target")],
    ids=["target", "id", "gzipped-bom"],
)
def test_a_target_or_id_named_twice_is_refused_naming_the_file_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture, file: str, column: str, role: str
) -> None:
    # before: `new` and load took the first of the two columns without a word
    train, test = regression_tables(120, 30)
    sample = pd.DataFrame({"id": test["id"], "y": 0.0})
    clean, data = (download(tmp_path / d, train, test, sample) for d in ("clean", "dl"))
    renamed(data / file.removesuffix(".gz"), "z", column)
    if file.endswith(".gz"):
        gzipped_with_bom(data / "train.csv")
        gzipped_with_bom(clean / "train.csv")
    said = (
        f"{file}: its header names {column!r} twice (pandas would read the columns as {column}, {column}.1), and "
        f"{column!r} is the {role}: which of them is meant cannot be told. Rename them in {file} so that each name "
        "is unique"
    )
    assert main(["new", "twice_key", "--data", str(data), "--into", str(tmp_path / "comps")]) == 2
    assert said in capsys.readouterr().err
    # the generated competition's load (run, predict) refuses the same
    name = f"clean_{file.replace('.', '_')}"  # one module name per case: a loaded competition stays loaded
    assert main(["new", name, "--data", str(clean), "--into", str(tmp_path / "comps")]) == 0
    module = load_competition(str(tmp_path / "comps" / name))
    with pytest.raises(ContractError, match=re.escape(f"{data / file}: its header names {column!r} twice")):
        module.load(module.Config(), data)


def test_a_sample_submission_naming_a_column_twice_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # before: `new` asked for two targets, y and y.1, and would write a header Kaggle's sample does not hold
    train, test = regression_tables(120, 30)
    data = download(tmp_path / "dl", train, test, pd.DataFrame({"id": test["id"], "y": 0.0, "z": 0.0}))
    renamed(data / "sample_submission.csv", "z", "y")
    assert main(["new", "twice_sample", "--data", str(data), "--into", str(tmp_path / "comps")]) == 2
    assert "sample_submission.csv: its header names 'y' twice" in capsys.readouterr().err


def test_the_header_is_read_as_written(tmp_path: Path) -> None:
    from pipeline.tabular.headers import named_twice, raw_header

    def unread() -> list[str]:
        raise AssertionError("the header is read again only when pandas' names hint at a name given twice")

    assert named_twice(["id", "x", "x_1"], unread) == {}
    assert named_twice(["x", "x.2", "x.1"], lambda: ["x", "x", "x.1"]) == {"x": ["x", "x.2"]}
    assert named_twice(["a", "a.1"], lambda: ["a", "a.1"]) == {}  # a column named a.1 is no second a
    text = '\ufeffid,"x",x,"a,b"\n1,2,3,4\n'
    (tmp_path / "t.csv").write_text(text)
    with zipfile.ZipFile(tmp_path / "t.csv.zip", "w") as zf:
        zf.writestr("t.csv", text)
    for name in ("t.csv", "t.csv.zip"):
        assert raw_header(tmp_path / name) == ["id", "x", "x", "a,b"]
    assert np.array_equal(pd.read_csv(tmp_path / "t.csv.zip").columns, ["id", "x", "x.1", "a,b"])


def test_a_time_column_named_twice_is_refused_naming_the_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # before: `new --time date` (and `new` inferring it) and the load took the first of the two date columns
    from tests.test_new_time import sales

    df = sales()
    train, test = df.iloc[:600], df.iloc[600:].drop(columns="sales")
    sample = pd.DataFrame({"id": test["id"], "sales": 0.0})
    clean, data = (download(tmp_path / d, train.assign(when=train["date"]), test, sample) for d in ("clean", "dl"))
    renamed(data / "train.csv", "when", "date")
    said = (
        "train.csv: its header names 'date' twice (pandas would read the columns as date, date.1), and 'date' is the "
        "time column ({}): which of them is meant cannot be told. Rename them in train.csv"
    )
    comps = str(tmp_path / "comps")
    assert main(["new", "twice_time", "--data", str(data), "--into", comps, "--time", "date"]) == 2
    assert said.format("--time") in capsys.readouterr().err
    assert main(["new", "twice_time", "--data", str(data), "--into", comps]) == 2  # the test is later: inferred
    assert said.format("the test follows it; --time none: random folds") in capsys.readouterr().err
    assert main(["new", "twice_time", "--data", str(data), "--into", comps, "--time", "none"]) == 0
    # the generated competition's load (run, predict) refuses the same
    assert main(["new", "clean_time", "--data", str(clean), "--into", comps]) == 0
    assert 'TIME = "date"' in (tmp_path / "comps" / "clean_time" / "__init__.py").read_text()
    module = load_competition(str(tmp_path / "comps" / "clean_time"))
    with pytest.raises(ContractError, match=re.escape(f"{data / 'train.csv'}: its header names 'date' twice")) as e:
        module.load(module.Config(), data)
    assert "'date' is the time column (TIME)" in str(e.value)
