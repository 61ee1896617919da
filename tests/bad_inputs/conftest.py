"""Fixtures of the bad-input tests: a CLI runner that asserts the one-line error contract, shared sample folders."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/: the toy competition
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # albumentations' import-time version check goes online

from pipeline.cli import main  # noqa: E402


@dataclass
class Result:
    """What a user sees: exit status, stdout and stderr."""

    code: int
    out: str
    err: str


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> Result:
    """Run `python -m pipeline ARGV` in this process (an uncaught exception fails the test: a traceback)."""
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


def refused(capsys: pytest.CaptureFixture[str], *argv: str, says: str | tuple[str, ...]) -> Result:
    """Assert the contract for bad input: exit 2, one `error: ...` line naming the problem, no traceback."""
    r = cli(capsys, *argv)
    assert r.code == 2, (r.code, r.out, r.err)
    lines = [line for line in r.err.splitlines() if line.strip()]
    assert len(lines) >= 1 and lines[0].startswith("error: "), r.err
    assert "Traceback" not in r.err + r.out
    for s in (says,) if isinstance(says, str) else says:
        assert s in r.err, (s, r.err)
    return r


@pytest.fixture(scope="session")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """A working folder holding data/sample/<name>/ for each competition asked for (generated once per session)."""
    root = tmp_path_factory.mktemp("bad-inputs-samples")
    made: set[str] = set()

    def get(name: str) -> Path:
        if name not in made:
            from pipeline.contract import load_competition
            from pipeline.datadir import resolve_data

            cwd = Path.cwd()
            try:
                os.chdir(root)
                resolve_data(load_competition(f"competitions/{name}"), None, True)
            finally:
                os.chdir(cwd)
            made.add(name)
        return root / "data" / "sample" / name

    return get


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, samples: Callable[[str], Path]) -> Callable[[str], Path]:
    """chdir into a fresh folder; work(name) copies that competition's built-in sample into it and returns it."""
    monkeypatch.chdir(tmp_path)
    for var in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN", "KAGGLE_CONFIG_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "no-kaggle-config"))

    def get(name: str) -> Path:
        dest = tmp_path / "data" / "sample" / name
        if not dest.exists():
            shutil.copytree(samples(name), dest, symlinks=True)
        return dest

    return get


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file below folder (hidden ones too) and its bytes, to compare byte for byte."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
