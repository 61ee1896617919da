"""Competition hooks receive the run's Config, and device settings are the runner's options, not Config fields.

A toy competition whose `blend` and `merge_folds` hooks read a Config field is run through the CLI with two `--set`
values: the outputs differ. `--set num_workers=...` and the config.json of runs from before the device settings
left the Config are mapped to the runner's options (with a note in the log), for new runs, --resume and ensemble.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from toy import TOY, make_toy

from pipeline.cli import main
from pipeline.contract import ContractError
from pipeline.ensemble_runs import ensemble_runs
from pipeline.fitting import prepare
from pipeline.runner import RunOptions, run

HOOKS = '''

@dataclass(frozen=True)
class Config:
    folds: int = 3
    offset: float = 0.0  # read by the blend hook
    shift: float = 0.0  # read by the merge_folds hook


def models(cfg):
    return {"ridge": Ridge(), "workers": Workers()}


class Workers(BaseEstimator, RegressorMixin):
    """Predicts the num_workers the runner set on it (shows which device setting reached the estimator)."""

    def __init__(self, num_workers=None):
        self.num_workers = num_workers

    def fit(self, X, y):
        self.used_ = -1.0 if self.num_workers is None else float(self.num_workers)
        return self

    def predict(self, X):
        return np.full(len(X), self.used_)


def merge_folds(tests, cfg=None):
    return np.mean(tests, axis=0) + cfg.shift


def blend(oofs, tests, y, folds, cfg=None):
    mask = folds >= 0
    oof, test = oofs["ridge"] + cfg.offset, tests["ridge"] + cfg.offset
    s = score(y[mask], oof[mask])
    return {"weights": {n: float(n == "ridge") for n in oofs}, "oof": oof, "test": test, "score": s,
            "best_single": "ridge", "best_single_score": s}
'''


@pytest.fixture
def comp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    return str(make_toy(tmp_path / "comps", f"hooks_{uuid.uuid4().hex[:8]}", TOY + HOOKS))


def cli_run(comp: str, *args: str) -> Path:
    assert main(["run", comp, "--sample", "--quiet", *args]) == 0
    return max(Path("runs").glob("*/*"), key=lambda p: p.stat().st_mtime_ns)


def submission(run_dir: Path) -> np.ndarray:
    return pd.read_csv(run_dir / "submission.csv")["target"].to_numpy()


def test_blend_hook_reads_the_runs_config(comp: str) -> None:
    base, moved = cli_run(comp, "--set", "offset=0"), cli_run(comp, "--set", "offset=2.5")
    np.testing.assert_allclose(submission(moved), submission(base) + 2.5)
    # ensemble refits the blend with the saved run's Config
    np.testing.assert_allclose(submission(ensemble_runs([moved], quiet=True)), submission(moved))


def test_merge_folds_hook_reads_the_runs_config(comp: str) -> None:
    base, moved = cli_run(comp, "--set", "shift=0"), cli_run(comp, "--set", "shift=1.5")
    np.testing.assert_allclose(np.load(moved / "test" / "ridge.npy"), np.load(base / "test" / "ridge.npy") + 1.5)
    np.testing.assert_allclose(submission(moved), submission(base) + 1.5)


def test_hooks_without_a_cfg_parameter_are_called_as_before(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    source = TOY + HOOKS.replace(", cfg=None)", ")").replace("cfg.shift", "0.0").replace("cfg.offset", "0.0")
    comp = str(make_toy(tmp_path / "comps", f"nocfg_{uuid.uuid4().hex[:8]}", source))
    assert (cli_run(comp) / "submission.csv").is_file()


def test_set_of_a_device_setting_becomes_the_runner_option(comp: str) -> None:
    run_dir = cli_run(comp, "--set", "num_workers=3", "--set", "offset=0")
    assert np.all(np.load(run_dir / "oof" / "workers.npy") == 3.0)  # the estimator got it
    options = json.loads((run_dir / "command.json").read_text())["options"]
    assert options["num_workers"] == 3 and options["sets"] == ["offset=0"]
    assert "num_workers" not in json.loads((run_dir / "config.json").read_text())["config"]
    assert "--set num_workers=3: num_workers is a runner option" in (run_dir / "log.txt").read_text()
    assert np.all(np.load(cli_run(comp) / "oof" / "workers.npy") == -1.0)  # not given: the estimator's own


def test_bad_device_setting_is_refused(comp: str) -> None:
    with pytest.raises(ContractError, match="num_workers must be int"):
        run(RunOptions(competition=comp, sample=True, quiet=True, sets=["num_workers=many"]))


def test_runs_from_before_resume_and_ensemble(comp: str) -> None:
    """A run whose config.json holds num_workers (as cowboy_outfits' did): ensemble reads it, --resume applies it
    as the runner's option and keeps the parts fitted under it."""
    old = cli_run(comp)
    config = json.loads((old / "config.json").read_text())
    config["config"]["num_workers"] = 2
    (old / "config.json").write_text(json.dumps(config))
    assert (ensemble_runs([old], quiet=True) / "submission.csv").is_file()
    (old / "summary.json").unlink()
    for part in (old / "parts" / "ridge").glob("*.npz"):  # made under the config without the key: fitted again
        part.unlink()
    for part in (old / "parts" / "workers").glob("*.npz"):
        part.unlink()
    assert main(["run", "--resume", str(old), "--quiet"]) == 0
    assert np.all(np.load(old / "oof" / "workers.npy") == 2.0)
    assert "holds num_workers (runner options now)" in (old / "log.txt").read_text()
    assert json.loads((old / "config.json").read_text())["config"]["num_workers"] == 2  # still in its record
    mtimes = {p: p.stat().st_mtime_ns for p in (old / "parts").rglob("*.npz")}
    (old / "summary.json").unlink()
    assert main(["run", "--resume", str(old), "--quiet"]) == 0
    assert {p: p.stat().st_mtime_ns for p in (old / "parts").rglob("*.npz")} == mtimes  # parts kept


def test_detector_gets_the_runners_device_settings() -> None:
    pytest.importorskip("torch")
    import competitions.cowboy_outfits as cb
    from pipeline.config import field_types

    assert not {"precision", "num_workers", "cache_mb"} & set(field_types(cb.Config))
    est = cb.models(cb.Config())["fasterrcnn_mobilenet_v3_large_fpn"]
    got = prepare(est, 0, 1, {"precision": None, "num_workers": 2, "cache_mb": 512})
    assert (got.precision, got.num_workers, got.cache_mb) == ("auto", 2, 512)


def test_device_flags_reach_the_estimator_and_may_change_on_resume(
    comp: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = cli_run(comp, "--num-workers", "4")
    assert np.all(np.load(run_dir / "oof" / "workers.npy") == 4.0)
    assert json.loads((run_dir / "command.json").read_text())["options"]["num_workers"] == 4
    assert main(["run", comp, "--sample", "--quiet", "--num-workers", "-1"]) != 0
    assert "--num-workers must be 0 or more, got -1" in capsys.readouterr().err
    # a run started with the old --set form resumes with a new --set of its Config, and a new worker count
    old = cli_run(comp, "--set", "num_workers=3")
    (old / "summary.json").unlink()
    for part in (old / "parts" / "workers").glob("*.npz"):
        part.unlink()
    assert main(["run", "--resume", str(old), "--quiet", "--set", "offset=0", "--num-workers", "1"]) == 0
    assert np.all(np.load(old / "oof" / "workers.npy") == 1.0)
