"""`python -m pipeline new` on odd image-classification downloads (tests/test_new_images.py has the usual ones): a
probability sample whose class columns are in another order, labels that pandas would read as missing, and images
listed twice."""

from __future__ import annotations

import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_new_images import new, png

from pipeline.cli import main
from pipeline.contract import load_competition


def download(data: Path, labels: list[str], n_test: int = 6) -> list[str]:
    """train.csv (id,label), train/<id>.png, test/<id>.png and a label sample submission; returns the test ids."""
    rng = np.random.default_rng(0)
    classes = sorted(set(labels))
    for folder, n in (("train", len(labels)), ("test", n_test)):
        (data / folder).mkdir(parents=True)
        for i in range(n):
            (data / folder / f"{folder}{i}.png").write_bytes(png(i % 2, rng, 8))
    pd.DataFrame({"id": [f"train{i}" for i in range(len(labels))], "label": labels}).to_csv(
        data / "train.csv", index=False
    )
    test_ids = [f"test{i}" for i in range(n_test)]
    pd.DataFrame({"id": test_ids, "label": classes[0]}).to_csv(data / "sample_submission.csv", index=False)
    return test_ids


def test_a_probability_sample_keeps_its_class_columns_order(tmp_path: Path) -> None:
    # twelve classes named by numbers, the sample's columns in numeric order: 0, 1, 2, ..., 10, 11 (not 0, 1, 10, ...)
    data = tmp_path / "download"
    numbers = [str(k) for k in range(12)]
    test_ids = download(data, numbers * 2)
    sample = pd.DataFrame({"id": test_ids, **{k: 1 / 12 for k in numbers}})
    sample.to_csv(data / "sample_submission.csv", index=False)
    assert new(tmp_path, "numbered", data) == 0
    module = load_competition(str(tmp_path / "comps" / "numbered"))
    loaded = module.load(module.Config(), data)
    assert loaded.classes == sorted(numbers)  # "10" before "2": the classes' indices stay alphabetical
    proba = np.random.default_rng(1).random((len(test_ids), 12))
    module.write_submission(loaded, proba, tmp_path / "submission.csv")
    module.validate(loaded, tmp_path / "submission.csv")
    sub = pd.read_csv(tmp_path / "submission.csv", dtype={"id": str})
    assert list(sub.columns) == ["id", *numbers]  # the sample's order
    np.testing.assert_allclose(sub["10"], proba[:, 2] / proba.sum(1), rtol=1e-6)  # class "10" is the third sorted


def test_a_class_named_na_or_none_is_a_class(tmp_path: Path) -> None:
    # words pandas reads as missing are class names here, as the generated load reads them
    data = tmp_path / "download"
    download(data, ["NA", "None", "cat"] * 4)
    assert new(tmp_path, "words", data) == 0
    module = load_competition(str(tmp_path / "comps" / "words"))
    assert module.load(module.Config(), data).classes == ["NA", "None", "cat"]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("empty label", "train.csv line 4 (train2): empty label (1 row(s) without one); label the image or remove"),
        ("image listed twice", "train.csv line 8: id train1 is listed twice."),
        ("test image listed twice", "sample_submission.csv line 4: id test0 is listed twice."),
    ],
)
def test_rows_the_generated_load_would_refuse_are_refused_by_new(
    tmp_path: Path, capsys: pytest.CaptureFixture, case: str, expected: str
) -> None:
    data = tmp_path / "download"
    download(data, ["cat", "dog"] * 3)
    name = "sample_submission.csv" if case.startswith("test") else "train.csv"
    frame = pd.read_csv(data / name)
    if case == "empty label":
        frame.loc[2, "label"] = ""
    elif case == "image listed twice":
        frame = pd.concat([frame, frame.iloc[[1]]])  # line 8
    else:
        frame = pd.concat([frame.head(2), frame.iloc[[0]], frame.iloc[2:]])  # line 4
    frame.to_csv(data / name, index=False)
    assert new(tmp_path, "refused", data) == 2
    assert expected in capsys.readouterr().err
    assert not (tmp_path / "comps" / "refused").exists()


def test_the_next_command_pastes_as_printed_for_a_download_named_with_spaces(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    data = tmp_path / "dog-breeds (1)"  # a browser's second download of the same zip, extracted
    download(data, ["cat", "dog"] * 3)
    main(["new", "spaced", "--data", str(data), "--into", str(tmp_path / "my comps")])
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("next: "))
    args = shlex.split(line.removeprefix("next: ").split(" [")[0])
    assert args == ["python", "-m", "pipeline", "run", str(tmp_path / "my comps" / "spaced"), "--data", str(data)]


def test_an_inner_zip_whose_folder_is_not_its_name_is_expected_as_the_zip(tmp_path: Path) -> None:
    # test.zip holding test_images/...: EXPECTED_FILES named test_images, which `run --data ZIP` cannot see in the zip's
    # listing (an inner archive stands for its stem's folder), so it took the download for a test set alone and
    # extracted it beside data/<slug>/, where a later run without --data found nothing
    import zipfile

    from test_new_images import inner_zip

    from pipeline.archives import zip_folder

    rng = np.random.default_rng(5)
    z = tmp_path / "comp.zip"
    ids = [f"im{i}" for i in range(10)]
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("train.csv", pd.DataFrame({"id": ids[:8], "label": ["a", "b"] * 4}).to_csv(index=False))
        zf.writestr("sample_submission.csv", "id,label\nim8,a\nim9,a\n")
        zf.writestr("train.zip", inner_zip({f"train/{i}.png": png(k % 2, rng, 8) for k, i in enumerate(ids[:8])}))
        zf.writestr("test.zip", inner_zip({f"test_images/{i}.png": png(0, rng, 8) for i in ids[8:]}))
    assert new(tmp_path, "inner", z) == 0
    module = load_competition(str(tmp_path / "comps" / "inner"))
    assert module.EXPECTED_FILES == ["sample_submission.csv", "test.zip", "train", "train.csv"]
    default = tmp_path / "data" / "comp"
    assert zip_folder(z, default, module.EXPECTED_FILES) == default  # the full download goes to data/<slug>/


def test_classes_that_differ_only_by_spaces_are_warned_of(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # 'cat' and 'cat ' are two classes (as for tables); before, only the k-fold note hinted at the second
    download(tmp_path / "spaced", ["cat", "dog"] * 4 + ["cat "] * 2)
    assert new(tmp_path, "spaced_labels", tmp_path / "spaced") == 0
    out = capsys.readouterr().out
    assert "warning: label: classes 'cat' and 'cat ' differ only by spaces around them" in out
    assert "fix train.csv" in out
