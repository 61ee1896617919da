"""Malformed submissions of every competition, through `validate`: refused with the rule, the line and the value;
valid files (zero-padded ids, gzip, CRLF) are never refused."""

from __future__ import annotations

import gzip
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import cli, refused

from pipeline.submission import SubmissionError, validate_submission


def house_sub(work, tmp_path: Path) -> tuple[pd.DataFrame, Path]:
    sample = work("house_prices") / "sample_submission.csv"
    frame = pd.read_csv(sample)
    frame["SalePrice"] = 150000.0 + np.arange(len(frame))
    return frame, tmp_path / "submission.csv"


HOUSE_CASES = {
    "zero-price": (lambda f: f.assign(SalePrice=f.SalePrice.where(f.index != 3, 0.0)), "must be > 0"),
    "negative-price": (lambda f: f.assign(SalePrice=f.SalePrice.where(f.index != 0, -5.0)), "got -5.0 at line 2"),
    "nan": (lambda f: f.assign(SalePrice=f.SalePrice.where(f.index != 1, np.nan).astype(object).fillna("NaN")), "NaN"),
    "inf": (lambda f: f.assign(SalePrice=f.SalePrice.astype(object).where(f.index != 2, "inf")), "infinite"),
    "text": (
        lambda f: f.assign(SalePrice=f.SalePrice.astype(object).where(f.index != 2, "cheap")),
        "'cheap' at line 4",
    ),
    "duplicate": (lambda f: f.assign(Id=f.Id.where(f.index != 1, f.Id[0])), "duplicate Id"),
    "missing-row": (lambda f: f.iloc[:-1], "1 Id(s) of the sample submission are missing"),
    "extra-row": (lambda f: pd.concat([f, f.iloc[[0]].assign(Id=999999)]), "'999999'"),
    "reordered": (lambda f: f.iloc[::-1], "not in the sample submission's order"),
    "lowercase-header": (lambda f: f.rename(columns={"Id": "id"}), "column 'id' should be 'Id'"),
    "extra-column": (lambda f: f.assign(Extra=1), "unexpected column 'Extra'"),
    "price-column-missing": (lambda f: f[["Id"]], "column 'SalePrice' is missing"),
    "header-only": (lambda f: f.iloc[:0], "no rows (only a header)"),
}


@pytest.mark.parametrize("case", sorted(HOUSE_CASES))
def test_house_prices_bad_values_are_refused(work, tmp_path, capsys, case: str) -> None:
    frame, path = house_sub(work, tmp_path)
    change, message = HOUSE_CASES[case]
    change(frame).to_csv(path, index=False)
    refused(capsys, "validate", "competitions/house_prices", path, "--sample", says=message)


def test_ids_in_another_order_say_how_to_sort_them(work, tmp_path, capsys) -> None:
    # before: "ids are not in the sample submission's order; first difference at line 2: ...", and nothing on why a
    # file Kaggle would take is refused, nor how to put it right
    frame, path = house_sub(work, tmp_path)
    frame.sample(frac=1.0, random_state=0).to_csv(path, index=False)
    r = refused(
        capsys,
        "validate",
        "competitions/house_prices",
        path,
        "--sample",
        says=("every Id is there, but ids are not in the sample submission's order", "this project requires the "),
    )
    assert "(pandas: sub.set_index('Id').loc[sample['Id']].reset_index())." in r.err
    sub, sample = pd.read_csv(path), pd.read_csv(work("house_prices") / "sample_submission.csv")
    sub.set_index("Id").loc[sample["Id"]].reset_index().to_csv(path, index=False)  # the fix the message writes
    assert cli(capsys, "validate", "competitions/house_prices", path, "--sample").code == 0


def _zip(path: Path, text: str) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("submission.csv", text)


def _trailing_commas(text: str) -> str:
    lines = text.splitlines()
    return "\n".join([lines[0], *[line + "," for line in lines[1:]]]) + "\n"


# case: (write the bad file at path, given the good frame and its CSV text; what the refusal says)
HOUSE_FILES = {
    "floats": (
        lambda path, f, text: path.write_text(f.assign(Id=f.Id.astype(float)).to_csv(index=False)),
        "ids are floats (401.0); expected integers as in the sample (401)",
    ),
    "trailing-comma": (
        lambda path, f, text: path.write_text(_trailing_commas(text)),
        "extra field(s) '' (a trailing comma?)",
    ),
    "gzip": (
        lambda path, f, text: path.write_bytes(gzip.compress(text.encode())),
        "the file is gzip-compressed: name it submission.csv.gz or decompress it",
    ),
    "zip": (lambda path, f, text: _zip(path, text), "the file is a zip archive"),
    "empty": (lambda path, f, text: path.write_bytes(b""), "the file is empty (0 bytes)"),
    "blank": (lambda path, f, text: path.write_text("\n\n\n"), "no header line"),
    "utf16": (lambda path, f, text: path.write_bytes(text.encode("utf-16")), "UTF-16"),
    "latin1": (
        lambda path, f, text: path.write_bytes(text.replace("SalePrice", "SalePrice\xe9").encode("latin-1")),
        "not UTF-8 text",
    ),
}


@pytest.mark.parametrize("case", list(HOUSE_FILES))
def test_house_prices_bad_files_are_refused(work, tmp_path, capsys, case: str) -> None:
    frame, path = house_sub(work, tmp_path)
    write, message = HOUSE_FILES[case]
    write(path, frame, frame.to_csv(index=False))
    refused(capsys, "validate", "competitions/house_prices", path, "--sample", says=message)


def test_missing_file_and_folder_are_refused(work, tmp_path, capsys) -> None:
    work("house_prices")
    refused(capsys, "validate", "competitions/house_prices", tmp_path / "nope.csv", "--sample", says="no such file")
    refused(capsys, "validate", "competitions/house_prices", tmp_path, "--sample", says="not a file")


@pytest.mark.parametrize("variant", ["plain", "crlf", "gz", "bom"])
def test_valid_house_prices_files_pass(work, tmp_path, capsys, variant: str) -> None:
    frame, path = house_sub(work, tmp_path)
    text = frame.to_csv(index=False)
    if variant == "crlf":
        path.write_bytes(text.replace("\n", "\r\n").encode())
    elif variant == "gz":
        path = path.with_name("submission.csv.gz")
        path.write_bytes(gzip.compress(text.encode()))
    elif variant == "bom":
        path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    else:
        path.write_text(text)
    r = cli(capsys, "validate", "competitions/house_prices", path, "--sample")
    assert r.code == 0, r.err
    assert r.out.startswith(f"valid: {len(frame)} rows")


@pytest.mark.parametrize(
    ("sample_ids", "sub_ids", "ok"),
    [
        (["007", "008"], ["007", "008"], True),
        (["007", "008"], ["7", "8"], False),
        (["1e3", "2e3"], ["1e3", "2e3"], True),
        (["1e3", "2e3"], ["1000", "2000"], False),
    ],
    ids=["padded-kept", "padded-lost", "1e3-kept", "1e3-as-number"],
)
def test_ids_are_compared_as_text(tmp_path: Path, sample_ids, sub_ids, ok: bool) -> None:
    sample, sub = tmp_path / "sample.csv", tmp_path / "sub.csv"
    sample.write_text("id,p\n" + "".join(f"{i},0.5\n" for i in sample_ids))
    sub.write_text("id,p\n" + "".join(f"{i},0.25\n" for i in sub_ids))
    if ok:
        validate_submission(sub, sample)
    else:
        with pytest.raises(SubmissionError, match="missing"):
            validate_submission(sub, sample)


def breeds_sub(work, tmp_path: Path) -> tuple[pd.DataFrame, Path]:
    frame = pd.read_csv(work("dog_breeds") / "sample_submission.csv")
    frame.iloc[:, 1:] = 1.0 / (frame.shape[1] - 1)
    return frame, tmp_path / "breeds.csv"


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("breed-missing", "is missing"),
        ("empty", "empty (0 bytes)"),
        ("binary", "not UTF-8 text"),
        ("above-one", "must lie in [0, 1]; got 1.5 at line 4"),
        ("all-zero", "has all probabilities 0"),
        ("breeds-unsorted", "in the sample submission's order"),
    ],
)
def test_dog_breeds_submission_errors_are_submission_errors(work, tmp_path, capsys, case: str, message: str) -> None:
    frame, path = breeds_sub(work, tmp_path)
    breeds = list(frame.columns[1:])
    if case == "breed-missing":
        frame.drop(columns=breeds[-1]).to_csv(path, index=False)
        message = f"column {breeds[-1]!r} is missing"
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "binary":
        path.write_bytes(b"id,\xff\xfe\x00breed\n1,2\n")
    elif case == "above-one":
        frame.iloc[2, 1] = 1.5
        frame.to_csv(path, index=False)
    elif case == "all-zero":
        frame.iloc[0, 1:] = 0.0
        frame.to_csv(path, index=False)
    elif case == "breeds-unsorted":
        frame[["id", *breeds[::-1]]].to_csv(path, index=False)
    refused(capsys, "validate", "competitions/dog_breeds", path, "--sample", says=message)
    assert not list(tmp_path.glob("*.pending"))


def test_dog_breeds_valid_submission_passes(work, tmp_path, capsys) -> None:
    frame, path = breeds_sub(work, tmp_path)
    frame.to_csv(path, index=False)
    assert cli(capsys, "validate", "competitions/dog_breeds", path, "--sample").code == 0


@pytest.mark.parametrize("name", ["leaves", "cifar10"])
def test_label_submissions_refuse_unknown_classes_and_accept_known(work, tmp_path, capsys, name: str) -> None:
    folder = work(name)
    sample = folder / ("sampleSubmission.csv" if name == "cifar10" else "sample_submission.csv")
    frame = pd.read_csv(sample, dtype=str)
    path = tmp_path / "labels.csv"
    frame.to_csv(path, index=False)
    assert cli(capsys, "validate", f"competitions/{name}", path, "--sample").code == 0
    frame.loc[1, "label"] = "unicorn"
    frame.to_csv(path, index=False)
    refused(capsys, "validate", f"competitions/{name}", path, "--sample", says=("unknown value 'unicorn'", "line 3"))


def answer_zip(path: Path, doc: object | None, raw: bytes | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        if raw is not None:
            zf.writestr("answer.json", raw)
        elif doc is not None:
            zf.writestr("answer.json", json.dumps(doc))
        else:
            zf.writestr("other.txt", "x")
    return path


# case: (write the bad answer zip at path, given a record whose score is out of range; what the refusal says)
COWBOY_CASES = {
    "empty-list": (lambda path, record: answer_zip(path, []), "is an empty list"),
    "no-answer": (lambda path, record: answer_zip(path, None), "no answer.json at the root"),
    "bad-json": (lambda path, record: answer_zip(path, None, b"[{"), "is not valid JSON"),
    "not-a-list": (lambda path, record: answer_zip(path, {"a": 1}), "must be a JSON list"),
    "not-a-zip": (lambda path, record: path.write_text("[]"), "not a readable zip"),
    "bad-score": (lambda path, record: answer_zip(path, [record]), "score 2.0 is not a number in [0, 1]"),
}


@pytest.mark.parametrize("case", list(COWBOY_CASES))
def test_cowboy_answers_are_checked(work, tmp_path, capsys, case: str) -> None:
    folder = work("cowboy_outfits")
    first = int(pd.read_csv(folder / "test.csv")["id"].iloc[0])
    path = tmp_path / "answer.zip"
    record = {"image_id": first, "category_id": 87, "bbox": [1.0, 1.0, 5.0, 5.0], "score": 2.0}
    write, message = COWBOY_CASES[case]
    write(path, record)
    refused(capsys, "validate", "competitions/cowboy_outfits", path, "--sample", says=message)
