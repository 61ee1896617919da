"""Bad command-line values, resume mismatches, failed runs and damaged images: refused before any work (no run
folder), or recorded as failed; nothing already good is touched."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from conftest import cli, refused, snapshot

HP = "competitions/house_prices"


def no_runs(tmp_path: Path) -> None:
    assert not (tmp_path / "runs").exists() or not any(p.is_dir() for p in (tmp_path / "runs").glob("*/*"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--time-limit", "0"], "--time-limit must be a number of seconds > 0, got 0"),
        (["--time-limit", "-5"], "got -5"),
        (["--time-limit", "nan"], "--time-limit must be"),
        (["--seed", "-1"], "--seed must be an integer in 0..4294967295, got -1"),
        (["--seed", str(2**32)], "got 4294967296"),
        (["--folds", "1"], "--folds must be at least 2"),
        (["--folds", "0"], "--folds must be at least 2"),
        (["--folds", "5000"], "--folds 5000 is more than the"),
        (["--jobs", "0"], "--jobs must be at least 1"),
        (["--models", ","], "names no model"),
        (["--models", "ridge,nope"], "Unknown model(s) nope"),
        (["--set", "nope=1"], "Unknown --set key(s): nope"),
        (["--set", "ridge_alpha=abc"], "Wrong type for 'ridge_alpha'"),
        (["--preset", "nope"], "Unknown preset 'nope'"),
        (["--data", "missing.zip"], "--data missing.zip: no such file or folder"),
        (["--data", "x.zip"], "not a zip archive"),
        # settings the stages after the fold models, the competition or scikit-learn refuse: before, found only once
        # the folds were fitted (stack=maybe at the blend, ridge_alpha=-1 at the first fit)
        (["--set", "stack=maybe"], "Config.stack must be one of off, linear, log_linear, pool, got 'maybe'"),
        (["--set", "models=ridge,foo"], "Unknown house_prices model(s) ['foo']"),
        (["--set", "ridge_alpha=-1"], "model ridge: The 'alpha' parameter of Ridge must be a float in the range"),
        (["--set", "folds=1"], "folds must be at least 2"),
        (["--tag", "a/b"], "--tag 'a/b': use letters, digits"),  # a / nested the run folder
    ],
)
def test_bad_run_values_are_refused_before_any_run_folder(work, tmp_path, capsys, args, message) -> None:
    work("house_prices")
    (tmp_path / "x.zip").write_text("hello")
    sample = [] if "--data" in args else ["--sample"]
    refused(capsys, "run", HP, *sample, "--models", "ridge", *args, says=message)
    no_runs(tmp_path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[1, 2]", "must hold a JSON object of Config overrides"),
        ('"alpha"', "got a str"),
        ("{not json", "not valid JSON"),
        (None, "cannot read it"),
        ('{"bogus": 1}', "params.json key(s): bogus"),  # "Unknown --params <file> key(s)": was blamed on --set
    ],
    ids=["list", "string", "invalid", "missing", "unknown-key"],
)
def test_params_must_be_a_json_object(work, tmp_path, capsys, content, message) -> None:
    work("house_prices")
    params = tmp_path / "params.json"
    if content is not None:
        params.write_text(content)
    refused(capsys, "run", HP, "--sample", "--params", params, says=("--params", message))
    no_runs(tmp_path)


def test_more_folds_than_the_commonest_class_is_refused(work, tmp_path, capsys) -> None:
    work("cifar10")
    refused(
        capsys, "run", "competitions/cifar10", "--sample", "--folds", "61", says="the commonest class (airplane) has 60"
    )
    no_runs(tmp_path)


def test_renamed_train_column_blames_train_csv(work, tmp_path, capsys) -> None:
    folder = tmp_path / "hp"
    shutil.copytree(work("house_prices"), folder)
    text = (folder / "train.csv").read_text()
    (folder / "train.csv").write_text(text.replace("LotArea", "Lot_Area", 1))
    r = refused(capsys, "run", HP, "--data", folder, "--models", "ridge", says=("train.csv", "'Lot_Area'", "renamed"))
    assert "test.csv:" not in r.err
    no_runs(tmp_path)


@pytest.fixture(scope="module")
def finished(tmp_path_factory, samples) -> Path:
    """One finished ridge-only House Prices run on the sample (a working folder holding runs/ and submissions/)."""
    import os

    root = tmp_path_factory.mktemp("finished")
    shutil.copytree(samples("house_prices"), root / "data" / "sample" / "house_prices")
    cwd = Path.cwd()
    os.chdir(root)
    try:
        from pipeline.cli import main

        assert main(["run", HP, "--sample", "--models", "ridge", "--quiet", "--time-limit", "600"]) == 0
    finally:
        os.chdir(cwd)
    return root


@pytest.fixture
def run_dir(finished, tmp_path, work) -> Path:
    """A copy of the finished run's working folder in this test's folder (cwd); the run folder in it."""
    for name in ("runs", "submissions"):
        shutil.copytree(finished / name, tmp_path / name)
    return next((tmp_path / "runs" / "house_prices").iterdir())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["competitions/cifar10"], "that run is of house_prices, not cifar10"),
        (["--seed", "3"], "--seed 3 differs from the run's 0"),
        (["--folds", "3"], "--folds 3 differs from the run's 5"),
        (["--data", "elsewhere"], "--data elsewhere differs"),
        (["--set", "ridge_alpha=3"], "change ridge_alpha"),
        (["--models", "lasso"], "--models lasso differs from the run's ridge"),
    ],
)
def test_resume_refuses_what_would_change_the_saved_parts(run_dir, tmp_path, capsys, args, message) -> None:
    (tmp_path / "elsewhere").mkdir()
    (run_dir / "summary.json").unlink()  # an unfinished run
    before = snapshot(run_dir)
    comp = args[:1] if args[0].startswith("competitions/") else []
    refused(capsys, "run", *comp, "--resume", run_dir, *args[len(comp) :], says=message)
    assert snapshot(run_dir) == before


def test_resuming_a_complete_run_changes_nothing(run_dir, tmp_path, capsys) -> None:
    before, published = snapshot(run_dir), snapshot(tmp_path / "submissions")
    r = cli(capsys, "run", "--resume", run_dir, "--models", "ridge")
    assert r.code == 0 and "already complete; nothing to do" in r.err
    assert snapshot(run_dir) == before and snapshot(tmp_path / "submissions") == published


def test_resume_keeps_the_saved_time_limit_unless_given(run_dir) -> None:
    from pipeline.cli import build_parser
    from pipeline.commands.run import options_from_args

    parse = build_parser().parse_args
    assert options_from_args(parse(["run", "--resume", str(run_dir)])).time_limit == 600
    assert options_from_args(parse(["run", "--resume", str(run_dir), "--time-limit", "50"])).time_limit == 50


def test_resume_of_a_folder_that_is_no_run(tmp_path, work, capsys) -> None:
    refused(capsys, "run", "--resume", tmp_path, says="not a run folder")


def test_ensemble_refuses_a_run_without_folds(run_dir, capsys) -> None:
    (run_dir / "folds.npy").unlink()
    refused(capsys, "ensemble", run_dir, says=("lacks folds.npy", "cannot be blended"))


def test_empty_submission_is_not_submitted(run_dir, capsys) -> None:
    summary = json.loads((run_dir / "summary.json").read_text())
    (run_dir / "summary.json").write_text(json.dumps(summary | {"sample": False}))
    (run_dir / "submission.csv").write_bytes(b"")
    refused(capsys, "submit", HP, run_dir, says=("Not submitted", "the file is empty (0 bytes)"))


NAN_SUBMISSION = """
def write_submission(data, pred, path):
    pd.DataFrame({"id": data.test_ids, "target": np.nan}).to_csv(path, index=False)
"""


def test_failed_run_is_marked_and_shown(work, tmp_path, capsys) -> None:
    from toy import TOY, make_toy

    source = TOY.replace("\ndef write_submission(", "\ndef _unused(") + NAN_SUBMISSION
    toy = make_toy(tmp_path / "comps", f"toy_{uuid.uuid4().hex[:8]}", source)
    refused(
        capsys, "run", toy, "--sample", "--models", "ridge", "--quiet", says="submission.csv: column target is empty"
    )
    (run,) = (tmp_path / "runs").glob("*/*")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "failed" and "column target is empty" in summary["error"]
    assert "failed: " in (run / "log.txt").read_text()
    assert not list(run.glob(".*pending")) and not (tmp_path / "submissions").exists()
    r = cli(capsys, "runs")
    assert r.code == 0 and "failed" in r.out and run.name in r.out


def test_a_bug_in_write_submission_leaves_no_pending_file(tmp_path) -> None:
    from pipeline.contract import Data
    from pipeline.finish import write_validated_submission

    class Module:
        def write_submission(data, pred, path):  # noqa: N805 - a module stand-in
            Path(path).write_text("half")
            raise RuntimeError("a bug")

    with pytest.raises(RuntimeError, match="a bug"):  # real bugs stay visible
        write_validated_submission(Module, Data(None, None, None, None, tmp_path / "s.csv"), None, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_corrupt_test_image_is_found_before_any_fold(work, tmp_path, capsys) -> None:
    folder = work("cifar10")
    image = folder / "test" / "17.png"
    image.write_bytes(image.read_bytes()[:40])
    refused(capsys, "run", "competitions/cifar10", "--sample", "--preset", "fast", says=("17.png", "cannot be decoded"))
    no_runs(tmp_path)


def _resize_png(path: Path, width: int, height: int) -> None:
    import cv2

    image = cv2.imread(str(path))
    cv2.imwrite(str(path), cv2.resize(image, (width, height), interpolation=cv2.INTER_NEAREST))


@pytest.mark.parametrize("split", [["--set", "holdout=0"], []], ids=["kfold", "holdout"])
def test_cifar_image_of_another_size_is_refused_before_any_fold(work, tmp_path, capsys, split) -> None:
    # before: a k-fold run failed its second fold ("Images in a batch have different sizes", no file named) and a
    # holdout run cropped the image silently; both now refuse at load, naming the files, their sizes and the count
    folder = work("cifar10")
    _resize_png(folder / "train" / "5.png", 32, 33)
    for name in ("3.png", "9.png"):
        _resize_png(folder / "test" / name, 24, 24)
    says = ("3 image(s) are not 32x32 pixels", "train/5.png is 32x33", "test/3.png is 24x24", "test/9.png is 24x24")
    refused(capsys, "run", "competitions/cifar10", "--sample", "--preset", "fast", *split, says=says)
    no_runs(tmp_path)


def test_image_size_check_names_the_first_few_and_is_cached_with_the_size(tmp_path) -> None:
    import numpy as np

    from pipeline.imagefiles import ImageFileError, verify_images
    from pipeline.vision.synthetic import write_images

    names = [f"{i}.png" for i in range(20)]
    write_images(tmp_path / "img", names, np.arange(20) % 3, 3, 16, 0)
    paths = [str(tmp_path / "img" / n) for n in names]
    assert verify_images(paths, tmp_path) == 20  # remembered without a size: that says nothing about sizes
    with pytest.raises(ImageFileError, match=r"20 image\(s\) are not 32x32 pixels .* of toy has: ") as caught:
        verify_images(paths, tmp_path, size=(32, 32), owner="toy")
    shown = [f"{tmp_path / 'img' / n} is 16x16" for n in names[:5]]
    assert ", ".join(shown) + " ... and 15 more." in str(caught.value) and "img/5.png" not in str(caught.value)
    assert verify_images(paths, tmp_path, size=(16, 16)) == 20
    assert verify_images(paths, tmp_path, size=(16, 16)) == 0  # cached with its size


def test_image_size_of_a_competition_must_be_width_and_height(tmp_path, monkeypatch) -> None:
    from toy import TOY, make_toy

    from pipeline.contract import ContractError, load_competition

    monkeypatch.chdir(tmp_path)
    toy = make_toy(tmp_path / "comps", f"toy_{uuid.uuid4().hex[:8]}", TOY + "\nIMAGE_SIZE = 32\n")
    with pytest.raises(ContractError, match="IMAGE_SIZE must be None or \\(width, height\\) in pixels, got 32"):
        load_competition(str(toy))


def test_image_check_is_cached_and_redone_after_a_change(tmp_path) -> None:
    import numpy as np

    from pipeline.imagefiles import ImageFileError, verify_images
    from pipeline.vision.synthetic import write_images

    names = [f"{i}.png" for i in range(20)]
    write_images(tmp_path / "img", names, np.arange(20) % 3, 3, 16, 0)
    paths = [str(tmp_path / "img" / n) for n in names]
    assert verify_images(paths, tmp_path) == 20
    assert verify_images(paths, tmp_path) == 0  # cached
    Path(paths[5]).write_bytes(Path(paths[5]).read_bytes()[:-30])
    with pytest.raises(ImageFileError, match="5.png cannot be decoded"):
        verify_images(paths, tmp_path)


def test_truncated_jpeg_is_found(tmp_path) -> None:
    from PIL import Image

    from pipeline.imagefiles import decode_problem

    path = tmp_path / "dog.jpg"
    Image.new("RGB", (300, 200), (120, 40, 10)).save(path, quality=95)
    assert decode_problem(str(path)) is None
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    assert "truncated" in (decode_problem(str(path)) or "")


def test_real_process_prints_one_line_and_no_traceback(work, tmp_path) -> None:
    work("house_prices")
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline", "run", HP, "--sample", "--seed", "-1"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0
    assert proc.stderr.startswith("error: --seed must be") and "Traceback" not in proc.stderr


def test_a_complete_run_resumed_with_more_epochs_trains_on(tmp_path) -> None:
    """'Nothing to do' is for the same config; a resumable change (epochs) continues the finished run."""
    from pipeline.runner import RunOptions, run

    cifar = dict(competition="competitions/cifar10", sample=True, preset="fast", quiet=True, runs_root=str(tmp_path))
    cifar |= dict(submissions_root=str(tmp_path / "subs"))
    run_dir = run(RunOptions(**cifar, sets=["epochs=1"]))
    same = (run_dir / "summary.json").read_bytes()
    assert run(RunOptions(**cifar, sets=["epochs=1"], resume=str(run_dir))) == run_dir
    assert (run_dir / "summary.json").read_bytes() == same  # the same config: nothing to do
    run(RunOptions(**cifar, sets=["epochs=2"], resume=str(run_dir)))
    history = json.loads(next(run_dir.glob("checkpoints/*/fold0/history.json")).read_text())
    assert [r["epoch"] for r in history] == [1, 2]
    assert "continuing from epoch 1 of 2" in (run_dir / "log.txt").read_text()


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("tta=foo", "Unknown TTA view(s) ['foo']"),
        ("batch_size=0", "The 'batch_size' parameter of ImageClassifier must be an int in the range [1, inf)"),
        ("lr=-1", "The 'lr' parameter of ImageClassifier must be a float in the range (0.0, inf)"),
        ("epochs=0", "The 'epochs' parameter of ImageClassifier must be an int in the range [1, inf)"),
        ("crop_scale=1.5", "scale; Value error, All values in (1.5, 1.0) must be >= 0 and <= 1"),
    ],
)
def test_bad_image_training_settings_are_refused_before_any_run_folder(
    work, tmp_path, capsys, setting, message
) -> None:
    # before: tracebacks from the trainer after the images were checked (tta, batch_size, lr), a many-line pydantic
    # error (crop_scale), and for epochs=0 a "complete" run whose submission came from untrained weights
    work("dog_breeds")
    r = refused(
        capsys, "run", "competitions/dog_breeds", "--sample", "--preset", "fast", "--set", setting, says=message
    )
    assert len([line for line in r.err.splitlines() if line.strip()]) == 1, r.err
    no_runs(tmp_path)


def test_image_check_names_the_users_file_behind_a_linked_data_folder(tmp_path) -> None:
    # a --data folder is linked into the data cache (data/<slug>/test -> the user's folder): the check named the
    # cache's path, so "replace the file" sent the user to data/<slug>/; it names the file they have
    import numpy as np

    from pipeline.imagefiles import ImageFileError, verify_images
    from pipeline.vision.synthetic import write_images

    names = [f"{i}.png" for i in range(4)]
    write_images(tmp_path / "mine" / "test", names, np.arange(4) % 2, 2, 16, 0)
    _resize_png(tmp_path / "mine" / "test" / "2.png", 16, 17)
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "test").symlink_to(tmp_path / "mine" / "test")
    paths = [str(tmp_path / "cache" / "test" / n) for n in names]
    with pytest.raises(ImageFileError, match=r"1 image\(s\) are not 16x16") as caught:
        verify_images(paths, size=(16, 16), owner="toy")
    assert f"{tmp_path / 'mine' / 'test' / '2.png'} is 16x17" in str(caught.value)
    (tmp_path / "mine" / "test" / "2.png").write_bytes(b"not a png")
    with pytest.raises(ImageFileError, match=f"image {tmp_path / 'mine' / 'test' / '2.png'} cannot be decoded"):
        verify_images(paths)


def test_a_test_image_that_is_a_training_image_renamed_is_named_by_the_run(work, tmp_path, capsys) -> None:
    # before: the same picture saved under another name in the test set went unremarked; the run now warns of it,
    # naming both rows (a real download may hold such copies, so it is not refused)
    folder = work("cifar10")
    (folder / "test" / "3.png").write_bytes((folder / "train" / "5.png").read_bytes())
    r = cli(capsys, "run", "competitions/cifar10", "--sample", "--preset", "fast", "--set", "epochs=1")
    assert r.code == 0, r.err
    assert "1 test image(s) are training images, byte for byte: test row" in r.err
    assert "'test/3.png' is training row" in r.err and "'train/5.png'" in r.err
    run_dir = next((tmp_path / "runs" / "cifar10").iterdir())
    assert len(json.loads((run_dir / "train_images.json").read_text())["images"]) == len(list(folder.glob("train/*")))
