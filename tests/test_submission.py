"""The validator rejects every malformed submission with a message naming the problem and the rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.submission import SubmissionError, validate_submission

SAMPLE = "Id,SalePrice\n1461,1.0\n1462,1.0\n1463,1.0\n"


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    path = tmp_path / "sample_submission.csv"
    path.write_text(SAMPLE)
    return path


def check(tmp_path: Path, sample: Path, text: str) -> None:
    sub = tmp_path / "submission.csv"
    sub.write_text(text)
    validate_submission(sub, sample)


def test_valid_submission_passes(tmp_path: Path, sample: Path) -> None:
    check(tmp_path, sample, "Id,SalePrice\n1461,100000.5\n1462,2e5\n1463,150000\n")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Id,SalePrice\n1461,1\n1462,1\n", "1 Id(s) of the sample submission are missing, first: ['1463']"),
        ("Id,SalePrice\n1461,1\n1462,1\n1463,1\n9999,1\n", "not in the sample submission, first '9999' at line 5"),
        ("Id,SalePrice\n1461,1\n1461,1\n1463,1\n", "duplicate Id '1461' at line 3"),
        ("Id,SalePrice\n1462,1\n1461,1\n1463,1\n", "not in the sample submission's order (first difference at line 2"),
        ("id,price\n1461,1\n1462,1\n1463,1\n", "wrong header: column 'id' should be 'Id'"),
        ("SalePrice,Id\n1,1461\n1,1462\n1,1463\n", "wrong header"),
        ("Id,SalePrice\n1461,1\n1462,NaN\n1463,1\n", "column SalePrice has NaN at line 3"),
        ("Id,SalePrice\n1461,1\n1462,1\n1463,inf\n", "column SalePrice has an infinite value at line 4"),
        ("Id,SalePrice\n1461,1\n1462,cheap\n1463,1\n", "must be numeric; non-numeric value 'cheap' at line 3"),
        ("Id,SalePrice\n1461,1\n1462,\n1463,1\n", "column SalePrice is empty (missing value) at line 3"),
    ],
    ids=["missing", "extra", "duplicate", "reordered", "header", "column-order", "nan", "inf", "non-numeric", "empty"],
)
def test_malformed_submissions_are_rejected(tmp_path: Path, sample: Path, text: str, message: str) -> None:
    with pytest.raises(SubmissionError) as e:
        check(tmp_path, sample, text)
    assert message in str(e.value)
    assert "submission.csv" in str(e.value)


def test_label_values_must_be_known_classes(tmp_path: Path) -> None:
    sample = tmp_path / "sampleSubmission.csv"
    sample.write_text("id,label\n1,cat\n2,cat\n")
    sub = tmp_path / "submission.csv"
    sub.write_text("id,label\n1,dog\n2,zebra\n")
    with pytest.raises(SubmissionError, match="unknown value 'zebra' at line 3"):
        validate_submission(sub, sample, allowed={"label": ["cat", "dog"]})


@pytest.mark.parametrize("value", ["1", "yes", "true", "0.0"])
def test_boolean_sample_column_takes_only_true_and_false(tmp_path: Path, value: str) -> None:
    sample = tmp_path / "sample_submission.csv"
    sample.write_text("PassengerId,Transported\n0013_01,False\n0018_01,False\n")
    sub = tmp_path / "submission.csv"
    sub.write_text("PassengerId,Transported\n0013_01,True\n0018_01,False\n")
    validate_submission(sub, sample)  # the sample's own words pass
    sub.write_text(f"PassengerId,Transported\n0013_01,True\n0018_01,{value}\n")
    with pytest.raises(SubmissionError, match=f"unknown value '{value}' at line 3; valid values: False, True"):
        validate_submission(sub, sample)
