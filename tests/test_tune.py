"""`tune`: workers sharing one storage, resume, pruning, replay of the best params, search spaces, step axis."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import uuid
from pathlib import Path

import optuna
import pytest
from optuna.trial import FixedTrial, TrialState
from toy import TOY, make_toy

from pipeline.cli import main
from pipeline.config import apply_overrides
from pipeline.contract import available_competitions, load_competition
from pipeline.tuning.pruning import EPOCH_STRIDE, Reporter, StepPlan
from pipeline.tuning.storage import host, normalize, redact
from pipeline.tuning.workers import gpu_assignment

SPACE = """

def search_space(trial):
    alpha = trial.suggest_float("alpha", 0.01, 10.0, log=True)
    # PRUNE_FROM: trials from this number on get a ridiculous penalty, far worse on every fold.
    return {"alpha": alpha if trial.number < PRUNE_FROM else 1e5}
"""


def toy_with_space(root: Path, prune_from: int = 10**9) -> str:
    source = TOY + SPACE.replace("PRUNE_FROM", str(prune_from))
    return str(make_toy(root / "comps", f"tunetoy_{uuid.uuid4().hex[:8]}", source))


def tune(*args: str) -> int:
    return main(["tune", *args, "--sample", "--quiet"])


def load(storage: str, study: str) -> optuna.Study:
    from pipeline.tuning.storage import open_storage

    return optuna.load_study(study_name=study, storage=open_storage(normalize(storage)))


def finished(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_two_workers_on_sqlite_finish_exactly_the_requested_trials(cwd: Path) -> None:
    comp = toy_with_space(cwd)
    db = f"sqlite:///{cwd / 'study.db'}"
    code = tune(
        comp,
        "--trials",
        "4",
        "--workers",
        "2",
        "--storage",
        db,
        "--study",
        "w",
        "--models",
        "ridge",
        "--set",
        "sleep=1.5",  # a trial takes seconds: both workers are up before the first has finished its share
        "--pruner",
        "none",
    )
    assert code == 0
    trials = load(db, "w").get_trials()
    assert [t.number for t in trials] == [0, 1, 2, 3]
    assert all(t.state == TrialState.COMPLETE for t in trials), [t.state for t in trials]
    assert len({t.params["alpha"] for t in trials}) == 4  # no duplicated trial
    pids = {t.user_attrs["pid"] for t in trials}
    assert len(pids) == 2 and os.getpid() not in pids  # two worker processes, not this one
    # and they ran at the same time: some trial of one worker overlaps a trial of the other
    assert any(
        a.user_attrs["pid"] != b.user_attrs["pid"]
        and a.datetime_start < b.datetime_complete
        and b.datetime_start < a.datetime_complete
        for a in trials
        for b in trials
    )
    for t in trials:  # each trial is a finished run folder under the study folder
        run_dir = Path(t.user_attrs["run_dir"])
        assert run_dir.is_relative_to(cwd / "runs") and "tune-w" in run_dir.parts
        assert json.loads((run_dir / "summary.json").read_text())["cv"] == pytest.approx(t.value)


def test_interrupted_study_resumes_its_trial_count_and_keeps_its_settings(cwd: Path) -> None:
    comp = toy_with_space(cwd)
    journal = f"journal:{cwd / 'study.journal'}"
    common = ["--storage", journal, "--study", "r", "--models", "ridge", "--pruner", "none"]
    assert tune(comp, "--trials", "2", *common) == 0
    assert len(finished(load(journal, "r"))) == 2
    assert tune(comp, "--trials", "4", *common) == 0
    trials = load(journal, "r").get_trials()
    assert [t.number for t in trials] == [0, 1, 2, 3] and len(finished(load(journal, "r"))) == 4
    assert tune(comp, "--trials", "4", *common, "--folds", "2") == 2  # other folds: refused before any trial
    assert len(load(journal, "r").get_trials()) == 4


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_trial_of_a_killed_worker_is_failed_and_not_counted(cwd: Path) -> None:
    comp = toy_with_space(cwd)
    db = f"sqlite:///{cwd / 'study.db'}"
    assert tune(comp, "--trials", "1", "--storage", db, "--study", "k", "--models", "ridge", "--pruner", "none") == 0
    study = load(db, "k")
    zombie = study.ask()  # a trial whose worker process is gone, as after kill -9
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    zombie.set_user_attr("host", host())
    zombie.set_user_attr("pid", int(dead.stdout))
    assert tune(comp, "--trials", "3", "--storage", db, "--study", "k", "--models", "ridge", "--pruner", "none") == 0
    states = [t.state for t in load(db, "k").get_trials()]
    assert states == [TrialState.COMPLETE, TrialState.FAIL, TrialState.COMPLETE, TrialState.COMPLETE]


@pytest.mark.parametrize("pruner", ["median", "none"])
def test_median_pruner_stops_a_trial_that_is_worse_on_its_first_fold(cwd: Path, pruner: str) -> None:
    comp = toy_with_space(cwd, prune_from=3)
    db = f"sqlite:///{cwd / 'study.db'}"
    args = ["--trials", "4", "--storage", db, "--study", "p", "--models", "ridge", "--startup-trials", "3"]
    assert tune(comp, *args, "--pruner", pruner) == 0
    trials = load(db, "p").get_trials()
    assert [t.state for t in trials[:3]] == [TrialState.COMPLETE] * 3
    last = trials[3]
    if pruner == "none":
        assert last.state == TrialState.COMPLETE and last.value > 10 * max(t.value for t in trials[:3])
        return
    assert last.state == TrialState.PRUNED
    assert list(last.intermediate_values) == [0]  # pruned after fold 0: folds 1 and 2 never ran
    parts = sorted(p.name for p in (Path(last.user_attrs["run_dir"]) / "parts" / "ridge").iterdir())
    assert parts == ["fold0.npz"]
    assert list(trials[0].intermediate_values) == [0, 1, 2]


def test_best_params_replay_with_run_reproduces_the_best_score(cwd: Path) -> None:
    args = ["competitions/house_prices", "--trials", "2", "--models", "lasso", "--folds", "2", "--pruner", "none"]
    assert tune(*args, "--set", "drop_outliers=false") == 0
    study_dir = cwd / "runs" / "house_prices" / "tune-house_prices-sample"
    info = json.loads((study_dir / "study.json").read_text())
    best = json.loads((study_dir / "best_params.json").read_text())
    assert best["lasso_alpha"] == info["best"]["params"]["lasso_alpha"] and best["drop_outliers"] == "false"
    assert {p.name for p in (study_dir / "plots").iterdir()} >= {"history.png", "intermediate.png"}
    assert (study_dir / "trials.csv").read_text().count("\n") == 3
    replay = shlex.split(info["replay"])
    assert replay[:4] == ["python", "-m", "pipeline", "run"]
    assert main([*replay[3:], "--quiet"]) == 0
    runs = sorted((cwd / "runs" / "house_prices").glob("*-sample/summary.json"))
    assert len(runs) == 1
    assert json.loads(runs[0].read_text())["cv"] == info["best"]["value"]  # exactly


def test_the_first_trial_is_the_starting_settings_so_tuning_never_reads_worse(cwd: Path) -> None:
    comp = toy_with_space(cwd)
    assert tune(comp, "--trials", "3", "--models", "ridge", "--study", "s") == 0
    trials = load(f"sqlite:///{cwd / 'runs' / Path(comp).name / 'optuna.db'}", "s").get_trials()
    assert trials[0].params == {"alpha": 1.0} and trials[0].user_attrs["start"]  # the Config's value, not sampled
    assert {t.params["alpha"] for t in trials[1:]}.isdisjoint({1.0})
    assert main(["run", comp, "--sample", "--models", "ridge", "--quiet"]) == 0
    plain = [p for p in (cwd / "runs" / Path(comp).name).glob("*-sample/summary.json")]
    assert json.loads(plain[0].read_text())["cv"] == trials[0].value  # exactly: the untuned run's CV
    # study.json compares the best trial with the starting one fold by fold, from each run's cv_folds
    info = json.loads((cwd / "runs" / Path(comp).name / "tune-s" / "study.json").read_text())
    vs, best = info["vs_start"], info["best"]
    assert vs["start"] == trials[0].number == 0
    if best["number"] == 0:
        assert vs["best_is_start"]
    else:
        folds = [json.loads((Path(t.user_attrs["run_dir"]) / "summary.json").read_text())["cv_folds"]
                 for t in (trials[best["number"]], trials[0])]  # fmt: skip
        gains = [s - b for b, s in zip(*folds, strict=True)]  # toy metric: rmse, lower is better
        assert len(folds[0]) == 3 and vs["gain"] == pytest.approx(sum(gains) / 3) and vs["se"] > 0
    # a study that already has trials is resumed as it is: no second starting trial
    assert tune(comp, "--trials", "4", "--models", "ridge", "--study", "s") == 0
    resumed = load(f"sqlite:///{cwd / 'runs' / Path(comp).name / 'optuna.db'}", "s").get_trials()
    assert len(resumed) == 4 and sum(bool(t.user_attrs.get("start")) for t in resumed) == 1
    # a starting value outside the space (the preset's alpha 100; the space stops at 10) is sampled instead
    assert tune(comp, "--trials", "1", "--models", "ridge", "--preset", "strong", "--study", "p") == 0
    first = load(f"sqlite:///{cwd / 'runs' / Path(comp).name / 'optuna.db'}", "p").get_trials()[0]
    assert 0.01 <= first.params["alpha"] <= 10.0 and "start" not in first.user_attrs


def test_house_prices_search_space_with_fixed_trial() -> None:
    module = load_competition("competitions/house_prices")
    values = {
        "lasso_alpha": 5e-4,
        "enet_alpha": 5e-4,
        "ridge_alpha": 10.0,
        "svr_c": 20.0,
        "skew_threshold": 0.75,
        "lgbm_leaves": 6,
    }
    overrides = module.search_space(FixedTrial(values))
    cfg = apply_overrides(module.Config, overrides)
    assert {k: getattr(cfg, k) for k in values} == values
    with pytest.raises(ValueError):  # every parameter the space asks for must be given
        module.search_space(FixedTrial({k: v for k, v in values.items() if k != "svr_c"}))


@pytest.mark.parametrize("name", available_competitions())
def test_every_search_space_yields_valid_config_overrides(name: str) -> None:
    module = load_competition(f"competitions/{name}")
    if not hasattr(module, "search_space"):  # e.g. competitions/titanic
        pytest.skip(f"{name} has no search_space")
    sampled = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    overrides = module.search_space(sampled)
    apply_overrides(module.Config, overrides, source="search space")
    assert module.search_space(FixedTrial(sampled.params)) == overrides  # define-by-run: same params, same config


def test_step_axis_is_monotone_and_comparable_across_folds_models_and_epochs() -> None:
    fold_level = StepPlan(("lasso", "ridge"), n_folds=3)
    order = [fold_level.step(m, f) for m in ("lasso", "ridge") for f in range(3)]
    assert order == list(range(6))
    epochs = StepPlan(("net",), n_folds=2, epochs=True)
    seq = [epochs.step("net", f, e) for f in range(2) for e in range(3)]
    seq.insert(3, epochs.step("net", 0))  # fold 0 ends after its epochs, before fold 1 starts
    assert seq == sorted(seq) and len(set(seq)) == len(seq)
    assert epochs.step("net", 0, 10**6) < epochs.step("net", 0) < EPOCH_STRIDE
    # warm-up of N folds: the first step a pruner may judge is the end of the N-th fold
    assert fold_level.warmup(0) == 0 and fold_level.warmup(3) == fold_level.step("lasso", 2)
    assert epochs.warmup(1) == epochs.step("net", 0) and epochs.warmup(1) < epochs.step("net", 1, 0)


class FakeTrial:
    def __init__(self, prune_at: int) -> None:
        self.reported: list[tuple[int, float]] = []
        self.prune_at = prune_at

    def report(self, value: float, step: int) -> None:
        self.reported.append((step, value))

    def should_prune(self) -> bool:
        return self.reported[-1][0] >= self.prune_at


def test_reporter_epoch_values_count_the_current_fold_and_prune() -> None:
    trial = FakeTrial(prune_at=EPOCH_STRIDE + 1)
    rep = Reporter(trial, StepPlan(("net",), n_folds=2, epochs=True))
    rep({"model": "net", "fold": 0, "epoch": 0, "score": 0.5})
    rep({"model": "net", "fold": 0, "epoch": 0, "score": 0.5})  # a repeated epoch is not reported twice
    rep({"model": "net", "fold": 0, "score": 0.4, "folds_done": 1, "running_mean": 0.4})
    with pytest.raises(optuna.TrialPruned):
        rep({"model": "net", "fold": 1, "epoch": 1, "score": 0.2})
    assert trial.reported == [(0, 0.5), (EPOCH_STRIDE - 1, 0.4), (EPOCH_STRIDE + 1, pytest.approx(0.3))]


def test_one_gpu_per_worker_assignment() -> None:
    assert gpu_assignment(2, 0) == [None, None]
    assert gpu_assignment(3, 1) == [None, None, None]  # one GPU: every worker sees it as it is
    assert gpu_assignment(4, 4) == ["0", "1", "2", "3"]
    assert gpu_assignment(3, 2, visible="5,7") == ["5", "7", "5"]
    assert gpu_assignment(2, 2, visible="GPU-a, GPU-b") == ["GPU-a", "GPU-b"]


def test_storage_specs() -> None:
    assert normalize("journal:x/j.log").startswith("journal:/")
    assert normalize("sqlite:///rel.db").startswith("sqlite:////")
    assert normalize("postgresql://u:p@h/db") == "postgresql://u:p@h/db"
    assert redact("postgresql://user:secret@host:5432/db") == "postgresql://user:***@host:5432/db"


def test_a_starting_trial_that_failed_is_queued_again(cwd: Path) -> None:
    # a tune killed during trial 0 left it failed, and the resumed study never tried the starting settings again:
    # its best read worse than not tuning
    from types import SimpleNamespace

    from optuna.trial import TrialState

    from pipeline.tuning.study import enqueue_start

    module = load_competition(toy_with_space(cwd))
    study = optuna.create_study()
    spec = SimpleNamespace(seed=0, base={}, fixed={})
    assert enqueue_start(study, module, spec) == {"alpha": 1.0}
    first = study.ask()
    study.tell(first, state=TrialState.FAIL)  # killed mid-trial (fail_dead_trials marks it so)
    assert enqueue_start(study, module, spec) == {"alpha": 1.0}
    again = study.ask()
    module.search_space(again)
    assert again.params == {"alpha": 1.0} and again.user_attrs["start"]
    study.tell(again, 0.5)
    assert enqueue_start(study, module, spec) == {}  # finished: not a third time
