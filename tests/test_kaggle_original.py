"""A competition's original dataset: download_dataset, datadir.original_dir and `download`, against the stand-in."""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kaggle_fixtures import SLUG, redirected_loader, toy_module  # noqa: E402
from kaggle_stub import KaggleStub  # noqa: E402

from pipeline import cli  # noqa: E402
from pipeline.datadir import DataError, original_dir  # noqa: E402
from pipeline.kaggle.auth import KaggleError  # noqa: E402
from pipeline.kaggle.io import download_dataset  # noqa: E402
from pipeline.tabular.original import Original  # noqa: E402

REF = "someone/toy-original"
FILE = "toy_original.csv"
ROWS = "x,label\n0.5,yes\n0.7,no\n" * 50
ORIGINAL = Original(REF, FILE)
FOLDER = Path("data") / "datasets" / "someone" / "toy-original"


def dataset_zip() -> bytes:
    """The dataset's files as Kaggle zips them: the CSV and a note."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(FILE, ROWS)
        zf.writestr("README.md", "the original data\n")
    return out.getvalue()


@pytest.fixture
def kaggle(stub: KaggleStub) -> KaggleStub:
    """The stand-in holding the toy original dataset."""
    stub.dataset_zips[REF] = dataset_zip()
    return stub


def no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAGGLE_USERNAME")
    monkeypatch.delenv("KAGGLE_KEY")


# ---------- download_dataset ----------


def test_download_dataset_extracts_and_is_idempotent(kaggle: KaggleStub, capsys) -> None:
    dest = download_dataset(REF, FOLDER, [FILE])
    assert dest == FOLDER and (dest / FILE).read_text() == ROWS and (dest / "README.md").exists()
    assert (dest / ".complete").is_file()  # the pipeline's stamp: later damage is found
    [call] = kaggle.calls("DownloadDataset")
    assert call["path"] == "/v1/datasets.DatasetApiService/DownloadDataset"
    assert b'"ownerSlug": "someone"' in call["body"] and b'"datasetSlug": "toy-original"' in call["body"]
    assert [r["role"] for r in kaggle.requests] == ["api", "storage"]
    assert sorted(p.name for p in FOLDER.parent.iterdir()) == ["toy-original"]  # no zip, no staging folder
    assert f"Downloading {REF} from Kaggle" in capsys.readouterr().out
    download_dataset(REF, FOLDER, [FILE])
    assert len(kaggle.requests) == 2  # complete: not fetched again
    assert "nothing to download" in capsys.readouterr().out
    (dest / FILE).unlink()
    download_dataset(REF, FOLDER, [FILE])  # damaged: fetched again
    assert (dest / FILE).read_text() == ROWS and len(kaggle.calls("blobs")) == 2


def test_truncated_dataset_zip_is_downloaded_again(kaggle: KaggleStub, capsys) -> None:
    FOLDER.parent.mkdir(parents=True)
    (FOLDER.parent / "toy-original.zip").write_bytes(dataset_zip()[:200])  # a download cut short
    dest = download_dataset(REF, FOLDER, [FILE])
    assert (dest / FILE).read_text() == ROWS and len(kaggle.calls("blobs")) == 1
    assert "incomplete" in capsys.readouterr().out


def test_interrupted_dataset_download_resumes_on_the_next_run(kaggle: KaggleStub, no_sleep) -> None:
    kaggle.truncate_blobs = -1
    with pytest.raises(KaggleError, match=f"download of '{REF}' was interrupted"):
        download_dataset(REF, FOLDER, [FILE])
    assert not FOLDER.exists() and (FOLDER.parent / ".toy-original.download").is_dir()
    kaggle.truncate_blobs = 0
    assert (download_dataset(REF, FOLDER, [FILE]) / FILE).read_text() == ROWS
    assert sorted(p.name for p in FOLDER.parent.iterdir()) == ["toy-original"]


def test_unknown_dataset_is_named_in_the_error(kaggle: KaggleStub) -> None:
    with pytest.raises(KaggleError) as e:
        download_dataset("someone/no-such-data", Path("data") / "x", [FILE])
    msg = str(e.value)
    assert "Cannot download the dataset 'someone/no-such-data'" in msg
    assert "403: Permission 'datasets.get' was denied" in msg
    assert "https://www.kaggle.com/datasets/someone/no-such-data" in msg and "competition" not in msg
    assert not (Path("data") / "x").exists()


def test_local_dataset_cannot_be_downloaded(kaggle: KaggleStub) -> None:
    with pytest.raises(DataError) as e:
        download_dataset("my-original", Path("data") / "datasets" / "my-original", [FILE])
    msg = str(e.value)
    assert "'my-original' is a local dataset" in msg and f"put {FILE} in data/datasets/my-original/" in msg
    assert kaggle.requests == []


# ---------- original_dir ----------


@pytest.mark.parametrize("layout", ["toy-original", "datasets/someone/toy-original"])
def test_original_dir_finds_a_notebook_mount(kaggle: KaggleStub, tmp_path: Path, monkeypatch, layout: str) -> None:
    mounted = tmp_path / "input" / layout
    mounted.mkdir(parents=True)
    (mounted / FILE).write_text(ROWS)
    (tmp_path / "input" / "toy-original-empty").mkdir()
    monkeypatch.setenv("PIPELINE_KAGGLE_INPUT", str(tmp_path / "input"))
    monkeypatch.setenv("KAGGLE_KERNEL_RUN_TYPE", "Interactive")
    assert original_dir(ORIGINAL) == mounted
    assert kaggle.requests == []  # credentials exist, yet nothing is downloaded


def test_original_dir_uses_the_cache_folder(kaggle: KaggleStub, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PIPELINE_DATA_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "cache" / "datasets" / "someone" / "toy-original"
    folder.mkdir(parents=True)
    (folder / FILE).write_text("x,label\n1,yes\n")  # put there by hand (or by `new --original`): no stamp
    assert original_dir(ORIGINAL) == folder and kaggle.requests == []


def test_original_dir_downloads_when_credentials_exist(kaggle: KaggleStub) -> None:
    folder = original_dir(ORIGINAL)
    assert folder.resolve() == FOLDER.resolve() and (folder / FILE).read_text() == ROWS
    assert len(kaggle.calls("DownloadDataset")) == 1
    assert original_dir(ORIGINAL) == folder and len(kaggle.requests) == 2  # found in the cache the next time


def test_original_dir_without_credentials_says_how_to_get_it(kaggle: KaggleStub, monkeypatch) -> None:
    no_credentials(monkeypatch)
    with pytest.raises(DataError) as e:
        original_dir(ORIGINAL)
    msg = str(e.value)
    assert f"No original dataset '{REF}': {FILE} is not in {FOLDER}." in msg
    assert f"kaggle datasets download -d {REF} -p {FOLDER} --unzip" in msg
    assert "python -m pipeline download <competition folder>" in msg
    assert "python -m pipeline new ... --original PATH" in msg and "--set original=off" in msg
    assert kaggle.requests == [] and not FOLDER.exists()


def test_original_dir_of_a_local_dataset_offers_no_download(kaggle: KaggleStub, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PIPELINE_KAGGLE_INPUT", str(tmp_path / "input"))
    monkeypatch.setenv("KAGGLE_KERNEL_RUN_TYPE", "Batch")
    with pytest.raises(DataError) as e:
        original_dir(Original("my-original", FILE))  # credentials exist, but there is nothing to download
    msg = str(e.value)
    assert f"{FILE} is not in {tmp_path / 'input' / 'my-original'}, data/datasets/my-original." in msg
    assert "add the dataset 'my-original' as an input" in msg
    assert f"local dataset (not on Kaggle): put {FILE} in data/datasets/my-original/" in msg
    assert "kaggle datasets download" not in msg and "--set original=off" in msg
    assert kaggle.requests == []


# ---------- `download` ----------


def test_download_command_fetches_the_original_too(kaggle: KaggleStub, monkeypatch, capsys) -> None:
    module = toy_module(ORIGINAL=ORIGINAL)
    with redirected_loader(monkeypatch, lambda spec: module):
        assert cli.main(["download", "competitions/toy", "--quiet"]) == 0
        out = capsys.readouterr().out
        assert (Path("data") / SLUG / "train" / "0.png").exists() and (FOLDER / FILE).read_text() == ROWS
        assert f"in data/{SLUG}/, and the original dataset's {FILE} in {FOLDER}/." in out
        assert len(kaggle.calls("DownloadDataFiles")) == 1 and len(kaggle.calls("DownloadDataset")) == 1
        assert cli.main(["download", "competitions/toy"]) == 0
        assert len(kaggle.requests) == 4  # both complete: nothing fetched
        (FOLDER / FILE).write_text("x,label\n")
        assert cli.main(["download", "competitions/toy", "--force"]) == 0  # --force repairs both
        assert (FOLDER / FILE).read_text() == ROWS and len(kaggle.calls("blobs")) == 4
        module.ORIGINAL = Original("my-original", FILE)  # local: `download` leaves it alone
        capsys.readouterr()
        assert cli.main(["download", "competitions/toy"]) == 0
        assert "original" not in capsys.readouterr().out and len(kaggle.requests) == 8
