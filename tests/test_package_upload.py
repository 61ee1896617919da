"""package --upload names the dataset after the signed-in user, creates it once, then adds versions."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pipeline.commands import package
from pipeline.contract import ContractError
from pipeline.kaggle.types import Credentials


class FakeApi:
    def __init__(self, username: str) -> None:
        self.config_values = {"username": username} if username else {}
        self.datasets: dict[str, int] = {}
        self.calls: list[str] = []

    def dataset_status(self, ref: str) -> str:
        if ref not in self.datasets:
            raise RuntimeError("404 Not Found")
        return "ready"

    def dataset_create_new(self, folder: str, **kw: Any) -> None:
        ref = json.loads((Path(folder) / "dataset-metadata.json").read_text())["id"]
        self.datasets[ref] = 1
        self.calls.append(f"new {ref}")

    def dataset_create_version(self, folder: str, message: str, **kw: Any) -> None:
        ref = json.loads((Path(folder) / "dataset-metadata.json").read_text())["id"]
        self.datasets[ref] += 1
        self.calls.append(f"version {ref}: {message}")


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "pkg"
    folder.mkdir()
    meta = {"id": "INSERT_USERNAME/house-prices-run", "title": "house prices run", "licenses": [{"name": "CC0-1.0"}]}
    (folder / "dataset-metadata.json").write_text(json.dumps(meta))
    return folder


@pytest.mark.parametrize("creds_user,api_user", [("", "tokenuser"), ("keyuser", "")])
def test_upload_names_the_dataset_after_the_user_then_versions_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, creds_user: str, api_user: str
) -> None:
    api = FakeApi(api_user)
    creds = Credentials(source="KAGGLE_API_TOKEN", kind="token" if not creds_user else "key", user=creds_user)
    monkeypatch.setattr("pipeline.kaggle.auth.require_credentials", lambda action: creds)
    monkeypatch.setattr("pipeline.kaggle.io.connect", lambda c: api)
    folder = _folder(tmp_path)
    user = creds_user or api_user
    assert package.upload(folder) == f"created dataset {user}/house-prices-run (private)"
    assert json.loads((folder / "dataset-metadata.json").read_text())["id"] == f"{user}/house-prices-run"
    assert package.upload(folder, "second run") == f"uploaded a new version of dataset {user}/house-prices-run"
    assert api.calls == [f"new {user}/house-prices-run", f"version {user}/house-prices-run: second run"]


def test_upload_without_a_known_username_says_what_to_edit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    creds = Credentials(source="KAGGLE_API_TOKEN", kind="token")
    monkeypatch.setattr("pipeline.kaggle.auth.require_credentials", lambda action: creds)
    monkeypatch.setattr("pipeline.kaggle.io.connect", lambda c: SimpleNamespace(config_values={}))
    folder = _folder(tmp_path)
    with pytest.raises(ContractError, match="replace INSERT_USERNAME"):
        package.upload(folder)
    assert "INSERT_USERNAME" in (folder / "dataset-metadata.json").read_text()
