"""Every competition's `--sample` run on a fresh, offline machine: no network (HF_HUB_OFFLINE=1), empty model caches
(HF_HOME and TORCH_HOME in a temporary folder), a new working directory. Each run must end with a validated
submission marked as a sample, say which weights it used ("random init: sample run") and download nothing.

The five runs are subprocesses, as a user starts them; together they take a few minutes on 2 CPU cores (each run's
seconds are printed: `pytest tests/test_offline_samples.py -s`).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import subprocess_env

from pipeline.config import config_dict
from pipeline.contract import load_competition
from pipeline.finish import validate_for
from pipeline.sample_preset import sample_config, sample_preset

COMPETITIONS = ["house_prices", "cifar10", "dog_breeds", "leaves", "cowboy_outfits"]
BUDGET_S = 120  # the limit per sample run on 2 CPU cores; the subprocess is killed at twice that


@pytest.fixture(scope="module")
def offline_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    caches = tmp_path_factory.mktemp("caches")
    drop = ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_ENDPOINT", "PIPELINE_WEIGHTS_MIRROR", "XDG_CACHE_HOME")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    return subprocess_env(env) | {
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(caches / "hf"),
        "TORCH_HOME": str(caches / "torch"),
        "NO_ALBUMENTATIONS_UPDATE": "1",
        # One thread per library: on a 2-core machine shared with other jobs, torch's and the boosters' OpenMP
        # threads spin against each other (a 2-epoch detector sample: 148 s with 2 threads, 27 s with 1).
        "OMP_NUM_THREADS": "1",
    }


@pytest.mark.parametrize("name", COMPETITIONS)
def test_sample_run_works_offline_with_empty_caches(name: str, offline_env: dict[str, str], tmp_path: Path) -> None:
    t0 = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", "run", f"competitions/{name}", "--sample"],
        cwd=tmp_path,
        env=offline_env,
        capture_output=True,
        text=True,
        timeout=2 * BUDGET_S,
    )
    seconds = time.monotonic() - t0
    print(f"\n{name} --sample: {seconds:.1f} s")
    assert done.returncode == 0, done.stderr[-3000:]

    (run_dir,) = (tmp_path / "runs" / name).iterdir()
    assert run_dir.name.endswith("-sample")
    summary = json.loads((run_dir / "summary.json").read_text())
    published = Path(summary["published"])
    assert summary["sample"] is True and published.name.startswith(run_dir.name)
    assert published.read_bytes() == Path(summary["submission"]).read_bytes()

    module = load_competition(name)  # the submission validates again, independently of the run
    cfg, _ = sample_config(module, {})
    data = module.load(cfg, tmp_path / "data" / "sample" / name)
    validate_for(module, data, published)
    if name == "cowboy_outfits":  # the detector learned something: clearly above a detector that ignores the image
        folds = np.load(run_dir / "folds.npy")
        prior = folds < 0 if (folds < 0).any() else np.ones(len(folds), bool)  # k folds: priors from every row
        trivial = module.score(data.y[folds >= 0], _mean_box_detector(data.y[prior], data.y[folds >= 0]))
        assert summary["cv"] > trivial + 0.1, (summary["cv"], trivial)

    config = json.loads((run_dir / "config.json").read_text())
    preset = json.loads(json.dumps(sample_preset(module)))  # as JSON: tuples are lists
    assert preset and config["sample_preset"] == preset  # the sample preset was applied and recorded
    assert {k: config["config"][k] for k in preset} == preset == {k: config_dict(cfg)[k] for k in preset}
    deep = name != "house_prices"  # the tabular recipe has no weights to speak of
    assert len(config["weights"]) == len(module.models(cfg)) * deep
    for w in config["weights"]:
        assert w["kind"] == "none" and w["why"] == "sample run"
    log = (run_dir / "log.txt").read_text()
    assert ("random init: sample run" in log) == deep and ("random init: sample run" in done.stderr) == deep
    assert "[bold]" not in log and "[/" not in log  # plain text, no rich markup

    cache = Path(offline_env["HF_HOME"]).parent
    assert [p for p in cache.rglob("*") if p.is_file()] == []  # nothing was downloaded (or tried to be)


def _mean_box_detector(train_y: np.ndarray, scored_y: np.ndarray) -> np.ndarray:
    """Every image gets, for every class, that class's mean training box at score 1: what location priors alone give."""
    from pipeline.detection.boxes import pack, unpack_all

    rows = unpack_all(train_y)
    boxes = np.concatenate([b for b, _, _ in rows])
    classes = np.concatenate([c for _, _, c in rows])
    kinds = np.unique(classes)
    means = np.stack([boxes[classes == c].mean(axis=0) for c in kinds])
    n = len(scored_y)
    return pack([means] * n, [np.ones(len(kinds))] * n, [kinds] * n, len(kinds))


def test_log_file_holds_plain_text_and_keeps_bracketed_values(tmp_path: Path) -> None:
    from pipeline.runlog import RunLog

    log = RunLog(tmp_path / "log.txt", quiet=True)
    log("[bold]airbench94[/bold]: CV 0.93000 ± 0.01000")
    log.warn("tta [hflip, shift] over range [0.5, 1]")
    lines = [line.split(" ", 1)[1] for line in (tmp_path / "log.txt").read_text().splitlines()]
    assert lines == ["airbench94: CV 0.93000 ± 0.01000", "warning: tta [hflip, shift] over range [0.5, 1]"]


@pytest.mark.parametrize("terminal, columns", [(False, 200), (True, 60), (True, 200)])
def test_list_prints_competition_names_and_slugs_whole(
    terminal: bool, columns: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pipeline.cli import main
    from pipeline.contract import available_competitions

    monkeypatch.setenv("COLUMNS", str(columns))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setattr(sys.stdout, "isatty", lambda: terminal)
    assert main(["list"]) == 0
    out = re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().out)  # without the header's bold
    assert "…" not in out
    for name in available_competitions():
        assert f"competitions/{name}" in out and load_competition(name).KAGGLE_SLUG in out
    assert ("┃" in out) == (terminal and columns == 200)  # a table only where it fits; plain blocks otherwise
    assert max(len(line) for line in out.splitlines()) <= (columns if terminal else 200)
