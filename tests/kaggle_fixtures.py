"""Fixtures and helpers of the Kaggle tests: the stand-in server with a clean environment, a toy competition, runs.

tests/conftest.py registers this module as a plugin, so its fixtures (stub, no_sleep, toy) need no import.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import sys
import time
import types
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kaggle_stub import Competition, KaggleStub

from pipeline import contract
from pipeline.contract import Metric
from pipeline.kaggle import io as kaggle_io

SECRET = "k3y-7f3c9a1e5b2d4c6e"  # the API key: must never appear in any output or file the framework writes
TOKEN = "KGAT_tok-91b2c3d4e5f60718"  # a new-style access token, same rule
SLUG = "toy-comp"
EXPECTED = ["train.csv", "test.csv", "sample_submission.csv", "train/0.png"]
HOUSE_SLUG = "house-prices-advanced-regression-techniques"
REPO = Path(__file__).resolve().parent.parent


def competition_zip() -> bytes:
    """Kaggle's zip: CSVs plus an inner 7z of images, like CIFAR-10."""
    import py7zr

    inner = io.BytesIO()
    with py7zr.SevenZipFile(inner, "w") as z:
        z.writestr(b"\x89PNG fake image 0", "train/0.png")
        z.writestr(b"\x89PNG fake image 1", "train/1.png")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("train.csv", "Id,x,SalePrice\n1,0.5,100\n2,0.7,200\n" * 200)
        zf.writestr("test.csv", "Id,x\n3,0.1\n4,0.2\n")
        zf.writestr("sample_submission.csv", "Id,SalePrice\n3,0\n4,0\n")
        zf.writestr("train.7z", inner.getvalue())
    return out.getvalue()


@pytest.fixture
def stub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The stand-in server, the production endpoint pointed at it, a clean env with API-key credentials."""
    from kagglesdk import kaggle_env

    for name in list(os.environ):
        if name.startswith(("KAGGLE_", "PIPELINE_KAGGLE_")) or name.lower() in (
            "http_proxy",
            "https_proxy",
            "all_proxy",
            "verbose",
        ):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    (home / ".kaggle").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(home / ".kaggle"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("KAGGLE_USERNAME", "stub-user")
    monkeypatch.setenv("KAGGLE_KEY", SECRET)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    server = KaggleStub(username="stub-user", key=SECRET, token=TOKEN).start()
    server.competitions[SLUG] = Competition(zip_bytes=competition_zip(), title="Toy")
    monkeypatch.setitem(kaggle_env._env_to_endpoint, kaggle_env.KaggleEnv.PROD, server.url)
    # Each test signs in afresh: no client signed in by an earlier test (against an earlier stand-in) is reused.
    monkeypatch.setattr(kaggle_io, "_signed_in", {})
    if "kaggle" in sys.modules:
        monkeypatch.setattr(sys.modules["kaggle"], "api", None, raising=False)
    yield server
    server.stop()
    assert server.violations == [], server.violations  # no credentials ever reached the storage host


@pytest.fixture
def no_sleep(stub: KaggleStub, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every back-off (the kaggle client's download retries, upload retries, score polling) without the waiting.

    Returns the list of requested delays; polling sees a clock that the fake sleep advances.
    """
    from kaggle.api import kaggle_api_extended

    from pipeline.kaggle import client as kaggle_client
    from pipeline.kaggle import io as kaggle_io

    slept: list[float] = []
    clock = [0.0]

    def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    fake = types.SimpleNamespace(**{k: getattr(time, k) for k in dir(time) if not k.startswith("_")})
    fake.sleep = lambda s: None
    monkeypatch.setattr(kaggle_api_extended, "time", fake)
    monkeypatch.setattr(kaggle_client, "_sleep", fake_sleep)
    monkeypatch.setattr(kaggle_io, "_sleep", fake_sleep)
    monkeypatch.setattr(kaggle_io, "_clock", lambda: clock[0])
    return slept


def no_secret_anywhere(root: Path, *texts: str) -> None:
    """Neither the key nor the token in the given outputs or in any file under root (except the user's own config)."""
    for text in texts:
        assert SECRET not in text and TOKEN not in text
    for path in root.rglob("*"):
        if path.is_file() and ".kaggle" not in path.parts:
            data = path.read_bytes()
            assert SECRET.encode() not in data and TOKEN.encode() not in data, path


@dataclasses.dataclass(frozen=True)
class ToyConfig:
    alpha: float = 1.0


def toy_module(**extra: object) -> types.ModuleType:
    """A registered-looking competition: the CLI's loader is pointed at it."""
    m = types.ModuleType("competitions.toy")
    m.KAGGLE_SLUG, m.EXPECTED_FILES, m.METRIC, m.Config = SLUG, EXPECTED, Metric("rmse", False), ToyConfig
    for k, v in extra.items():
        setattr(m, k, v)
    return m


@pytest.fixture
def toy(stub: KaggleStub, monkeypatch: pytest.MonkeyPatch) -> Iterator[types.ModuleType]:
    """The toy competition, loaded by the CLI for any competition argument."""
    module = toy_module()
    with redirected_loader(monkeypatch, lambda spec: module):
        yield module


@contextlib.contextmanager
def redirected_loader(monkeypatch: pytest.MonkeyPatch, fake: Any) -> Iterator[None]:
    """Point the CLI's competition loader at `fake` for one test, and take it back everywhere afterwards.

    A module first imported during the test (`from pipeline.contract import load_competition`) binds the fake for
    good, which monkeypatch would not undo: every such binding is given the real loader back at the end.
    """
    real = contract.load_competition
    monkeypatch.setattr(contract, "load_competition", fake)
    try:
        yield
    finally:
        for mod in list(sys.modules.values()):
            if getattr(mod, "load_competition", None) is fake and mod is not contract:
                mod.load_competition = real


def download_without_credentials(monkeypatch: pytest.MonkeyPatch) -> str:
    """The KaggleError message of a download with no credentials in the environment (the stub's are removed)."""
    from pipeline.kaggle.auth import KaggleError

    monkeypatch.delenv("KAGGLE_USERNAME")
    monkeypatch.delenv("KAGGLE_KEY")
    with pytest.raises(KaggleError) as e:
        kaggle_io.download_competition(SLUG, Path("data") / SLUG, EXPECTED)
    return str(e.value)


def make_run(
    run_id: str,
    *,
    sample: bool = False,
    cv: float = 0.1234,
    started: str = "2025-01-01T10:00:00",
    values: tuple[str, str] = ("101.5", "202.25"),
    competition: str = "toy",
    data_dir: Path | None = None,
) -> Path:
    """A finished run folder as the runner writes it: summary.json, the submission, the data it used."""
    data = Path("data") / SLUG
    data.mkdir(parents=True, exist_ok=True)
    (data / "sample_submission.csv").write_text("Id,SalePrice\n3,0\n4,0\n")
    run_dir = Path("runs") / competition / run_id
    run_dir.mkdir(parents=True)
    sub = run_dir / "submission.csv"
    sub.write_text(f"Id,SalePrice\n3,{values[0]}\n4,{values[1]}\n")
    summary = {
        "competition": competition,
        "slug": SLUG,
        "run_id": run_id,
        "run_dir": str(run_dir.resolve()),
        "sample": sample,
        "data_dir": str((data_dir or data).resolve()),
        "metric": "rmse",
        "cv": cv,
        "models": {},
        "submission": str(sub.resolve()),
        "started": started,
        "finished": started,
        "tag": None,
    }
    (run_dir / "summary.json").write_text(json.dumps(summary))
    return run_dir
