"""`python -m pipeline new` reads each CSV of a download once: holds_images' check (its headers, the sample and the
metadata CSVs) and the inference that follows share one Source (pipeline/tabular/infer_files.py), which keeps what it
parsed and what it extracted from a 7z archive, and hands every caller a copy of its own."""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import py7zr
import pytest
from test_image_targets import pawpularity
from test_new_image_groups import siim
from test_new_images import new

from pipeline.tabular.infer_files import Source


def counted_reads(monkeypatch: pytest.MonkeyPatch) -> tuple[Counter[str], Counter[str]]:
    """pandas.read_csv counted by the file's name: whole reads, and header rows (nrows=1, headers.raw_header)."""
    whole: Counter[str] = Counter()
    headers: Counter[str] = Counter()
    read_csv = pd.read_csv

    def counting(f: Any, *args: Any, **kwargs: Any) -> pd.DataFrame:
        name = Path(str(getattr(f, "name", f))).name
        (headers if kwargs.get("nrows") == 1 else whole)[name] += 1
        return read_csv(f, *args, **kwargs)

    monkeypatch.setattr(pd, "read_csv", counting)
    return whole, headers


def counted_extractions(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """The members py7zr extracts, counted."""
    extracted: Counter[str] = Counter()
    extract = py7zr.SevenZipFile.extract

    def counting(self: py7zr.SevenZipFile, *args: Any, targets: list[str] | None = None, **kwargs: Any) -> Any:
        extracted.update(targets or ["(all)"])
        return extract(self, *args, targets=targets, **kwargs)

    monkeypatch.setattr(py7zr.SevenZipFile, "extract", counting)
    return extracted


def test_new_reads_each_csv_of_a_download_with_photo_metadata_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # before: holds_images' check read sample_submission.csv, train.csv and test.csv, and infer_images read them again
    # (train.csv three times, headers up to four times)
    data = siim(tmp_path)
    whole, headers = counted_reads(monkeypatch)
    assert new(tmp_path, "reads_siim", data) == 0
    assert whole == Counter({"sample_submission.csv": 1, "train.csv": 1, "test.csv": 1})
    assert max(headers.values()) == 1


def test_a_csv_inside_a_7z_archive_is_extracted_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # before: train.csv inside train.csv.7z was extracted for each read of it: its header, holds_images' read and the
    # inference's
    data, _ = pawpularity(tmp_path / "paw", n_train=24, n_test=6)
    buf = io.BytesIO()
    with py7zr.SevenZipFile(buf, "w") as z:
        z.write(data / "train.csv", "train.csv")
    (data / "train.csv.7z").write_bytes(buf.getvalue())
    (data / "train.csv").unlink()
    extracted = counted_extractions(monkeypatch)
    whole, _ = counted_reads(monkeypatch)
    assert new(tmp_path, "reads_7z", data) == 0
    assert extracted == Counter({"train.csv": 1})
    assert whole == Counter({"sample_submission.csv": 1, "train.csv": 1, "test.csv": 1})
    module = (tmp_path / "comps" / "reads_7z" / "__init__.py").read_text()
    assert 'FILES = CsvImageTargets(\n    "train.csv",\n    "Id",' in module  # read as run extracts it


def test_a_caller_changing_what_it_read_changes_no_later_read(tmp_path: Path) -> None:
    data, _ = pawpularity(tmp_path / "paw", n_train=24, n_test=6)
    source = Source(data)
    first = source.read("train.csv")
    want = first.copy()
    first.loc[0, "Pawpularity"] = -1
    first["added"] = 1
    pd.testing.assert_frame_equal(source.read("train.csv"), want)
    written = source.read("train.csv", written=True)  # another way of reading: its own frame, cells as text
    assert written["Pawpularity"].tolist() == want["Pawpularity"].astype(str).tolist()
    header = source.header("train.csv")
    header.append("added")
    assert source.header("train.csv") == ["Id", "Eyes", "Blur", "Pawpularity"]
