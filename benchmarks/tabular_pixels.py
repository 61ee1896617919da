"""Images held in a table at Digit Recognizer's size, on this machine: `new`, the run's `load`, and one fold-epoch of
the cnn beside LightGBM on the same fold.

    python benchmarks/tabular_pixels.py [--rows 42000] [--test-rows 28000] [--trees 100]

The download is generated (seeded, tests/pixel_downloads.py): Digit Recognizer's layout (train.csv `label,pixel0 ..
pixel783`, test.csv the pixels alone, sample `ImageId,Label`) of digits drawn by cv2.putText in random fonts, sizes
and places, 28x28, white on black. It times `python -m pipeline new` as a user runs it (a process of its own, imports
included) and the generated competition's `load` (the run reads its tables so). Then fold 0 of 5 stratified folds
(the default Config's): the "cnn" model as `new` writes it (airbench_small, batch 128, shift 2, shift TTA) fitted for
one epoch with the fold's validation rows scored after it (as the runner's context has it), then its predictions on
the validation rows and the test rows (what the runner predicts after each fold); beside it, as the baseline,
LightGBM at fixed work (`--trees` rounds, learning rate 0.1, 15 leaves, no early stopping) on the same fold, on the
threads a run gives it (pipeline/fitting.py default_jobs). A default run of the cnn is 5 folds x 15 epochs: about 75
times the epoch and 5 times the predictions. Results: benchmarks/figures/tabular_pixels.json.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))

from benchutil import peak_memory, save  # noqa: E402
from pixel_downloads import digit_recognizer  # noqa: E402

from pipeline.contract import FitContext, load_competition  # noqa: E402
from pipeline.fitting import default_jobs, pick_device  # noqa: E402
from pipeline.machine import usable_cores  # noqa: E402


def timed_new(data: Path, into: Path) -> float:
    """Seconds of `python -m pipeline new digits --data DATA`, a process of its own."""
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "pipeline", "new", "digits", "--data", str(data), "--into", str(into)]
    subprocess.run(cmd, check=True, cwd=ROOT, capture_output=True)
    return time.perf_counter() - t0


def cnn_fold_epoch(module, data, tr: np.ndarray, va: np.ndarray, work: Path, device: str) -> dict[str, float]:
    """The generated cnn, one epoch on the fold's training rows (its validation rows scored after it), then its
    predictions on the validation and test rows, on `device` (the runner's: CUDA where there is one): seconds of
    each, and the validation accuracy."""
    cfg = module.Config(cnn_epochs=1)
    est = module.models(cfg)["cnn"]
    context = FitContext(
        workdir=work,
        device=device,
        eval_set=(data.X.iloc[va], data.y[va]),
        score=module.score,
        metric=module.METRIC,
        progress=False,
        n_classes=10,
        predict_rows=len(va) + len(data.X_test),
    )
    t0 = time.perf_counter()
    est.fit(data.X.iloc[tr], data.y[tr], context=context)
    fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    pred = est.predict_proba(data.X.iloc[va])
    est.predict_proba(data.X_test)
    predict = time.perf_counter() - t0
    accuracy = float((pred.argmax(1) == data.y[va]).mean())
    return {"fit_one_epoch_s": round(fit, 1), "predict_valid_and_test_s": round(predict, 1), "accuracy": accuracy}


def lightgbm_fold(data, tr: np.ndarray, va: np.ndarray, trees: int) -> dict[str, float]:
    """LightGBM at fixed work on the same fold: seconds to fit and predict, and the validation accuracy."""
    import lightgbm as lgb

    jobs = default_jobs(len(tr) * data.X.shape[1])  # the runner's threads for these cells (--jobs unset)
    model = lgb.LGBMClassifier(
        n_estimators=trees, learning_rate=0.1, num_leaves=15, n_jobs=jobs, random_state=0, verbose=-1
    )
    t0 = time.perf_counter()
    model.fit(data.X.iloc[tr], data.y[tr])
    fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    pred = model.predict(data.X.iloc[va])
    model.predict(data.X_test)
    predict = time.perf_counter() - t0
    accuracy = float((pred == data.y[va]).mean())
    return {
        "fit_s": round(fit, 1),
        "predict_valid_and_test_s": round(predict, 1),
        "accuracy": accuracy,
        "threads": jobs,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=42_000)
    p.add_argument("--test-rows", type=int, default=28_000)
    p.add_argument("--trees", type=int, default=100, help="LightGBM's boosting rounds (10 trees each: 10 classes)")
    args = p.parse_args()
    from sklearn.model_selection import StratifiedKFold

    load_at_start = round(os.getloadavg()[0], 2)  # the machine's other work: on 2 shared cores it sets the figures
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data_zip, _ = digit_recognizer(tmp / "digit-recognizer.zip", args.rows, args.test_rows, seed=0)
        new_s = timed_new(data_zip, tmp / "comps")
        module = load_competition(str(tmp / "comps" / "digits"))
        folder = tmp / "data"
        with zipfile.ZipFile(data_zip) as zf:
            zf.extractall(folder)
        t0 = time.perf_counter()
        data = module.load(module.Config(), folder)
        load_s = time.perf_counter() - t0
        tr, va = next(StratifiedKFold(5, shuffle=True, random_state=0).split(data.X, data.y))
        device = pick_device()
        cnn = cnn_fold_epoch(module, data, tr, va, tmp / "work", device)
        lgbm = lightgbm_fold(data, tr, va, args.trees)
    results = {
        "load_average_at_start": load_at_start,
        "rows": args.rows,
        "test_rows": args.test_rows,
        "threads": usable_cores(),
        "device": device,
        "new_s": round(new_s, 1),
        "load_s": round(load_s, 1),
        "fold_training_rows": int(len(tr)),
        "cnn_one_epoch": cnn,
        f"lightgbm_{args.trees}_rounds": lgbm,
        "memory": peak_memory(),
    }
    command = "python benchmarks/tabular_pixels.py" + "".join(
        f" --{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v != p.get_default(k)
    )
    print(save("tabular_pixels" + ("_cuda" if device.startswith("cuda") else ""), command, results))
    print(results)


if __name__ == "__main__":
    main()
