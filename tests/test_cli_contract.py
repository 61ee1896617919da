"""Contract and configuration errors reach the user before any work, with messages that say what is valid."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from toy import make_toy

from pipeline.cli import main
from pipeline.config import apply_overrides
from pipeline.contract import ContractError, load_competition

ROOT = Path(__file__).resolve().parent.parent


def test_help_answers_without_heavy_imports() -> None:
    code = (
        "import sys; from pipeline.cli import build_parser; build_parser(); "
        "print(sorted(m for m in ('torch', 'sklearn', 'optuna', 'kaggle', 'timm', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_reader_that_closes_stdout_early_gets_no_traceback() -> None:
    """`python -m pipeline list | head -1`: the pipe closed before the listing is written ends the command quietly,
    with the status a shell gives a command SIGPIPE ended, not a BrokenPipeError traceback."""
    read, write = os.pipe()
    os.close(read)  # the reader is gone before anything is written: every write fails
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pipeline", "list"], cwd=ROOT, stdout=write, stderr=subprocess.PIPE, text=True
        )
    finally:
        os.close(write)
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr, done.stderr
    assert done.returncode == 141


def test_unknown_competition_lists_available(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "competitions/no_such_thing", "--sample"]) == 2
    err = capsys.readouterr().err
    assert "Unknown competition 'competitions/no_such_thing'" in err
    assert "house_prices" in err


def test_missing_required_names_are_listed(tmp_path: Path) -> None:
    folder = make_toy(tmp_path, f"broken_{uuid.uuid4().hex[:8]}", "KAGGLE_SLUG = 'x'\n")
    with pytest.raises(ContractError) as e:
        load_competition(str(folder))
    msg = str(e.value)
    for name in ("METRIC", "Config", "load", "models", "score", "write_submission"):
        assert name in msg
    assert "KAGGLE_SLUG," not in msg.split("missing required names:")[1].split(".")[0]


def test_unknown_set_key_lists_valid_keys(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "competitions/house_prices", "--sample", "--set", "lasso_alfa=0.1"]) == 2
    err = capsys.readouterr().err
    assert "Unknown --set key(s): lasso_alfa" in err and "lasso_alpha" in err and "ridge_alpha" in err


def test_wrong_type_for_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "competitions/house_prices", "--sample", "--set", "gbr_trees=many"]) == 2
    assert "Wrong type for 'gbr_trees': expected int, got 'many'" in capsys.readouterr().err


def test_unknown_preset_lists_presets(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "competitions/house_prices", "--sample", "--preset", "turbo"]) == 2
    assert "Valid presets: cpu, fast, full" in capsys.readouterr().err


def test_overrides_coerce_types() -> None:
    module = load_competition("competitions/house_prices")
    cfg = apply_overrides(module.Config, {"models": "lasso,ridge", "drop_outliers": "false", "folds": "3"})
    assert cfg.models == ("lasso", "ridge") and cfg.drop_outliers is False and cfg.folds == 3
    with pytest.raises(ContractError, match="expected bool"):
        apply_overrides(module.Config, {"drop_outliers": "maybe"})


def test_no_data_message_names_kaggle_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "no-kaggle"))
    monkeypatch.delenv("KAGGLE_USERNAME", raising=False)
    monkeypatch.delenv("KAGGLE_KEY", raising=False)
    monkeypatch.delenv("KAGGLE_API_TOKEN", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert main(["run", "competitions/house_prices"]) == 2
    err = capsys.readouterr().err
    assert "kaggle competitions download -c house-prices-advanced-regression-techniques" in err
    assert "--sample" in err
    assert not (tmp_path / "runs").exists(), "no run folder for a run that never started"


def test_a_refusal_is_printed_by_torchrun_rank_0_only(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """Every rank meets the same refusal of its settings; one copy of the message, every rank exits 2."""
    for rank, printed in (("1", False), ("0", True)):
        monkeypatch.setenv("RANK", rank)
        assert main(["run", "competitions/house_prices", "--sample", "--set", "stack=maybe"]) == 2
        err = capsys.readouterr().err
        assert ("Config.stack must be one of" in err) is printed, (rank, err)
