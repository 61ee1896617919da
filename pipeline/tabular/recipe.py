"""The Config a competition of `python -m pipeline new` extends (TabularRecipe), and the models it names."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.keypoints import find_keypoints
from pipeline.tabular.cnn import PixelCNN
from pipeline.tabular.data import as_list
from pipeline.tabular.forest import KINDS, Forest
from pipeline.tabular.mlp import TabularMLP
from pipeline.tabular.models import Boosted, linear, svm
from pipeline.tabular.multitarget import MultiTarget
from pipeline.tabular.pixels import Pixels
from pipeline.tabular.residual import BASES, ResidualBoosted
from pipeline.tabular.series import Lagged, Series
from pipeline.tabular.text import TextLinear
from pipeline.tabular.transformer import DEFAULT_ARCH, TextTransformer


@dataclass(frozen=True)
class TabularRecipe:
    """The generic tabular recipe's settings; a generated competition's Config extends it and may override any."""

    folds: int = 5
    models: tuple[str, ...] = ("lightgbm", "xgboost", "catboost", "linear")
    drop: tuple[str, ...] = ()  # feature columns to ignore
    learning_rate: float = 0.03
    max_trees: int = 5000  # an upper bound: each fold stops early
    early_stopping: int = 200  # rounds without improvement on the validation rows
    num_leaves: int = 15  # LightGBM
    min_child_samples: int = 20  # LightGBM: training rows a leaf needs
    max_depth: int = 4  # XGBoost
    min_child_weight: float = 1.0  # XGBoost: hessian a leaf needs (rows, for a squared loss)
    colsample: float = 0.8  # LightGBM, XGBoost and the *_boosted trees: share of the columns each tree sees
    reg_lambda: float = 1.0  # LightGBM, XGBoost and the *_boosted trees: L2 penalty on leaf values
    depth: int = 6  # CatBoost
    l2_leaf_reg: float = 3.0  # CatBoost: L2 penalty on leaf values
    linear_alpha: float = 1.0  # L2 strength of the linear model
    svm_c: float = 1.0  # "svm": its C
    svm_gamma: float = 0.0  # "svm": the RBF kernel's width, 0: 1 / the number of encoded features
    svm_epsilon: float = 0.1  # "svm" regression: the tube's width, on the standardised target
    # "text": the L2 strength of its logistic or ridge regression on TF-IDF n-grams; 0 chooses it per fold among
    # pipeline.tabular.text.ALPHAS on inner folds of the fold's training rows
    text_alpha: float = 0.0
    linear_clip: bool = True  # the linear model holds each feature within the training rows' range (no extrapolation)
    # "linear_boosted" and "svm_boosted" (regression): that model, then a small LightGBM of a fixed number of trees on
    # its training residuals, added to it (pipeline/tabular/residual.py)
    residual_trees: int = 1000
    residual_learning_rate: float = 0.03
    residual_leaves: int = 5
    residual_cross_fit: int = 0  # k > 1: the trees fit residuals of k inner folds' models (k more fits); 0: in-sample
    forest_trees: int = 300  # "extratrees" and "randomforest": trees per forest
    forest_min_samples_leaf: int = 1  # "extratrees" and "randomforest": training rows a leaf needs
    forest_max_leaves: int = 15000  # "extratrees" and "randomforest": leaves per tree (0: no limit)
    mlp_hidden: tuple[int, ...] = (256, 128)  # "mlp": widths of its hidden layers
    mlp_dropout: float = 0.1  # "mlp": dropout after each hidden layer
    # "mlp": stop early on this share of the training rows; 0 stops on the fold's validation rows, whose epoch pick
    # then flatters its OOF score (benchmarks/README.md, "Does the MLP earn a place?")
    mlp_valid_fraction: float = 0.1
    # "cnn" (a table whose rows hold images, PIXELS of the generated file: pipeline/tabular/cnn.py): a network on them
    cnn_arch: str = "airbench_small"  # any timm architecture; airbench_small / airbench94 are built for small images
    cnn_epochs: int = 15  # fixed: the fold's validation rows never pick the weights
    cnn_batch_size: int = 128
    cnn_lr: float = 0.1  # peak of the one-cycle schedule (SGD, Nesterov momentum 0.9)
    cnn_image_size: int = 0  # the images' longest side for the network; 0: as stored, but at least 28
    cnn_shift: int = 2  # training images moved by up to this many pixels each way (0: off)
    # training images turned by up to this many degrees each way and magnified by 1 +- up to this fraction (0: off);
    # on real MNIST digits they cut the cnn's out-of-fold errors by a tenth (benchmarks/tabular_pixels_mnist.py)
    cnn_rotate: float = 10.0
    cnn_zoom: float = 0.1
    cnn_tta: tuple[str, ...] = ("shift",)  # views averaged at prediction ("hflip" would mirror a digit)
    cnn_flip: bool = False  # training images mirrored left to right half the time (a mirrored digit is no digit)
    cnn_bag: int = 1  # networks a fold, each from its own seed, averaged: that many times the training
    # the targets are places on the image (Facial Keypoints' <stem>_x / <stem>_y pairs, found from their names:
    # pipeline/keypoints.py): each shift, turn, zoom and flip moves them with the image (a flip swapping each
    # left_* with its right_*), and a flipped or shifted view's predictions are moved back before they are averaged
    cnn_keypoints: bool = False
    # "transformer" (pipeline/tabular/transformer.py): a pretrained transformer fine-tuned on each row's free text,
    # for a GPU (`run --preset transformer` in a generated file with free text); its weights: `python -m pipeline
    # weights`. transformer_arch: a Hugging Face Hub id or a local folder of save_pretrained's files
    transformer_arch: str = DEFAULT_ARCH
    transformer_epochs: int = 3  # fixed: the fold's validation rows never pick the weights
    transformer_lr: float = 2e-5  # AdamW's peak, after a linear warm-up over 10% of the steps, then linear decay
    transformer_batch_size: int = 16
    transformer_max_length: int = 256  # tokens of each row's text ("name: value | ..."), the rest cut
    # Kaggle's text winners' fine-tuning (pipeline/tabular/transformer_parts.py): "mean" pools the last hidden states
    # (masked mean, dropout, a linear head) where "cls" keeps the model's own sequence-classification head
    transformer_pooling: str = "cls"
    # layer-wise learning-rate decay d in (0, 1]: the head at transformer_lr, the top encoder layer lr * d, the next
    # lr * d^2, ..., the embeddings lr * d^(layers + 1); 1 is off (0.8-0.9 usual for a -base, BERT / RoBERTa /
    # DeBERTa-v2 encoders only: their encoder.layer.<i>)
    transformer_llrd: float = 1.0
    # batches whose gradients are summed into each optimizer step: batch_size * accumulate rows a step, the memory of
    # batch_size (1: off); the warm-up and decay count optimizer steps
    transformer_accumulate: int = 1
    target_transform: str = ""  # regression: "log1p" fits log(1 + y), "" fits y
    objective: str = ""  # regression: "l1" trains the boosters on absolute error (for mae), "" on squared error
    bag: int = 1  # seeds averaged per model (seed bagging)
    # k > 1: k models per fold, each on k-1 inner folds of the training rows and stopped early on the one left out,
    # so early stopping never sees the rows the fold is scored on. 0 stops on the fold's validation rows: on 10
    # held-out splits of Titanic that CV matched held-out accuracy (optimism -0.0002) while k=5 read 0.0075 low at
    # 3.3 times the time and the same held-out accuracy (benchmarks/README.md, "Is the CV honest?"). On a few
    # hundred rows of weak signal it flatters: noise targets read AUC 0.521 out of fold (0.500 held out), and MCC or
    # QWK cut out of fold 0.03-0.04 above chance; 5 removed both.
    bag_folds: int = 0
    # the blend's weights: "auto" fits them, or keeps equal ones when those score better out of fold; "fitted";
    # "greedy" (ensemble selection alone: held out worse on House Prices, benchmarks/README.md); "equal"
    # (pipeline/finish.py _weights_choice)
    blend_weights: str = "auto"
    stack: str = "linear"  # level-2 meta-model on the OOF predictions: linear | log_linear | pool | off
    # the submission's models: "auto" refits each model once on every training row when the folds run forward in
    # time (the last fold's models never saw the latest period; the boosters grow the trees that fold stopped at,
    # scaled to the rows), else averages the fold models; "on" refits for any folds; "off" never
    refit: str = "auto"
    # F1, MCC or balanced accuracy on a binary target: cut the probabilities at the threshold that scores best out of
    # fold, not at 0.5; qwk: cut the values into grades at points fitted out of fold, not at the midpoints
    # (pipeline/threshold.py and grades.py: applied only when the out-of-fold score improves)
    threshold: bool = True
    # the original dataset a Playground competition was generated from (ORIGINAL of the generated file): "add" its
    # rows to every fold's training rows, "flag" add them with a from_original column, "off" leave it out
    original: str = "add"
    # pseudo-labelling (pipeline/pseudo.py): None off; else each model again, as "<model>+pseudo", on each fold's
    # training rows plus the test rows that fold's models label: for classes those whose likeliest class has at
    # least this probability (e.g. 0.95), for a regression this share of the test rows (1: all)
    pseudo_label: float | None = None
    # classes: keep the training labels' class shares among those test rows (each class capped at its share of the
    # rows kept), where a high pseudo_label would take the easy classes only
    pseudo_label_balance: bool = False


# "svm" joins the models `new` writes for at most this many rows the models fit on (train.csv's and the original
# dataset's): an RBF SVM's fit grows with the square of the rows (and SVC's probabilities with five inner fits).
# Measured (benchmarks/tabular_svm_rows.py, one fold on 2 cores): at 5,000 rows svm adds 88% to a default run's fold
# work on a binary target (5.2 times LightGBM's fold) and 28% on a regression; at 10,000 it adds 261% and 76%, at
# 20,000 436% and 168%. Here svm stops costing less than the other four models together.
SVM_MAX_ROWS = 5000


def default_models(n_rows: int, text: bool = False) -> tuple[str, ...]:
    """The models `new` writes into a generated Config when the models fit on `n_rows` rows (training rows and the
    original dataset's), `text` when a feature column holds free text: TabularRecipe's, "svm" on small data
    (benchmarks/README.md, "Tabular": House Prices generated by `new`, 0.11854 -> 0.11754 RMSLE; "Does the svm earn
    its place?": lower on 8 of 10 held-out splits), and "text" beside free text (benchmarks/README.md, "A model for
    free text").

    Not "extratrees": a stack of classes seemed to gain from it on labels no run saw, but only beside boosters cut to
    200 trees; beside boosters at their own cap (early stopping on 5,000) it gained nothing on a generated binary
    set, a 6-class one, Titanic, two regressions and a multi-label set ("Does a forest earn its place?"). It stays
    an option: --set models=...,extratrees."""
    models = (*TabularRecipe.models, "svm") if n_rows <= SVM_MAX_ROWS else TabularRecipe.models
    return (*models, "text") if text else models


def default_stack(task: str) -> str:
    """The stack `new` writes into a generated Config: "pool" for a multi-class target, else TabularRecipe's. At the
    generated Config's own settings (boosters stopped early on up to 5,000 trees) the non-negative log-linear pool
    scored a lower held-out log loss than the multinomial on every data set measured, and the multinomial's
    out-of-fold score lost to the blend's on every split of the generated 6-class set, so it was never used there
    (benchmarks/README.md, "Which meta-model stacks a multi-class target?")."""
    return "pool" if task == "multiclass" else TabularRecipe.stack


# named overrides of TabularRecipe for --preset
PRESETS: dict[str, dict[str, Any]] = {
    "fast": {"models": ("lightgbm", "linear"), "learning_rate": 0.1, "early_stopping": 50},
    "best": {"learning_rate": 0.02, "bag_folds": 5, "bag": 2},
}


def model_set(
    task: str,
    cfg: TabularRecipe,
    target: str | Sequence[str] = "",
    series: Series | None = None,
    pixels: Pixels | None = None,
) -> dict[str, Any]:
    """The models `cfg.models` names, unfitted: LightGBM, XGBoost and CatBoost stopped early on each fold's
    validation rows, and the regularised linear model; each encodes the raw columns for its family inside the fold.
    Several targets (a list of names): each a MultiTarget, one such model per target (the cnn on values: one network,
    _one_or_each). With `series` (SERIES, TIME and HORIZON of the generated file, the Config's lags and windows) each
    is Lagged: its series' past targets are features, fitted inside the fold (pipeline/tabular/series.py); lags ()
    leaves the models as they are. With `pixels` (PIXELS: the image each row holds) "cnn" is a network on them;
    "transformer" is a pretrained transformer fine-tuned on the rows' free text."""
    factories = {
        **_boosters(task, cfg),
        **_linear_family(task, cfg),
        "text": lambda: TextLinear(
            task, cfg.text_alpha, target_transform=cfg.target_transform or None, clip=cfg.linear_clip
        ),
        **{
            kind: lambda kind=kind: Forest(
                kind,
                task,
                cfg.forest_trees,
                cfg.forest_min_samples_leaf,
                max_leaf_nodes=cfg.forest_max_leaves or None,
                target_transform=cfg.target_transform or None,
            )
            for kind in KINDS
        },
        "mlp": lambda: TabularMLP(
            task,
            hidden=tuple(cfg.mlp_hidden),
            dropout=cfg.mlp_dropout,
            valid_fraction=cfg.mlp_valid_fraction,
            target_transform=cfg.target_transform or None,
            bag=cfg.bag,
        ),
        "cnn": lambda: _cnn(task, cfg, pixels, as_list(target)),
        "transformer": lambda: _transformer(task, cfg),
    }
    unknown = [m for m in cfg.models if m not in factories]
    if unknown:
        raise ValueError(f"Unknown model(s) {unknown}; valid: {', '.join(factories)}.")
    residual = [m for m in cfg.models if m.removesuffix("_boosted") in BASES and m.endswith("_boosted")]
    if residual and task != "regression":
        raise ValueError(
            f"Model(s) {', '.join(residual)} fit a LightGBM on a linear model's residuals: regression only, and this "
            f"target is {task}; leave them out of Config.models."
        )
    if "cnn" in cfg.models and pixels is None:
        raise ValueError(
            "Model cnn needs the image each row holds: set PIXELS (pipeline.tabular.Pixels) and pass it to "
            "model_set(..., pixels=PIXELS)."
        )
    if len(as_list(target)) > 1:
        if series is not None:
            raise ValueError("series lags (SERIES) take one target; set SERIES = None for several.")
        return {m: _one_or_each(m, factories[m](), task) for m in cfg.models}
    if series is not None and series.lags != ():
        return {m: _lagged(factories[m](), series, cfg) for m in cfg.models}
    return {m: factories[m]() for m in cfg.models}


def _one_or_each(name: str, model: Any, task: str) -> Any:
    """The model of several targets: the cnn on values alone as it is, one network with an output per target whose
    missing values (Facial Keypoints' unmarked keypoints) count in no loss; any other a MultiTarget, one clone per
    target column."""
    return model if name == "cnn" and task == "regression" else MultiTarget(model, task)


def _lagged(model: Any, series: Series, cfg: TabularRecipe) -> Lagged:
    """`model` with its series' lags and rolling means as features (on the scale its target is fitted)."""
    return Lagged(
        model,
        tuple(series.columns),
        series.time,
        series.horizon,
        None if series.lags is None else tuple(series.lags),
        None if series.windows is None else tuple(series.windows),
        target_transform=cfg.target_transform or None,
    )


def _boosters(task: str, cfg: TabularRecipe) -> dict[str, Callable[[], Boosted]]:
    """The three boosters' factories, at the Config's shared and per-library settings."""
    boosted = dict(
        task=task,
        learning_rate=cfg.learning_rate,
        n_estimators=cfg.max_trees,
        early_stopping=cfg.early_stopping,
        target_transform=cfg.target_transform or None,
        objective=cfg.objective or None,
        bag=cfg.bag,
        bag_folds=cfg.bag_folds,
    )
    shared = {"colsample_bytree": cfg.colsample, "reg_lambda": cfg.reg_lambda}
    params = {
        "lightgbm": {"num_leaves": cfg.num_leaves, "min_child_samples": cfg.min_child_samples, **shared},
        "xgboost": {"max_depth": cfg.max_depth, "min_child_weight": cfg.min_child_weight, **shared},
        "catboost": {"depth": cfg.depth, "l2_leaf_reg": cfg.l2_leaf_reg},
    }
    return {lib: lambda lib=lib: Boosted(lib, params=params[lib], **boosted) for lib in params}


def _linear_family(task: str, cfg: TabularRecipe) -> dict[str, Callable[[], Any]]:
    """ "linear", "svm" and each with a small LightGBM on its residuals ("<base>_boosted", a regression's: both parts
    fit the target's fitting scale, so the base is built without the log1p wrapper)."""

    def base(name: str, transform: str | None) -> Any:
        if name == "linear":
            return linear(task, cfg.linear_alpha, transform, clip=cfg.linear_clip)
        return svm(task, cfg.svm_c, cfg.svm_gamma or "auto", cfg.svm_epsilon, transform, clip=cfg.linear_clip)

    def boosted(name: str) -> ResidualBoosted:
        return ResidualBoosted(
            base(name, None),
            task,
            n_estimators=cfg.residual_trees,
            learning_rate=cfg.residual_learning_rate,
            num_leaves=cfg.residual_leaves,
            colsample=cfg.colsample,
            reg_lambda=cfg.reg_lambda,
            cross_fit=cfg.residual_cross_fit,
            target_transform=cfg.target_transform or None,
        )

    plain = {name: lambda name=name: base(name, cfg.target_transform or None) for name in BASES}
    return plain | {f"{name}_boosted": lambda name=name: boosted(name) for name in BASES}


def _transformer(task: str, cfg: TabularRecipe) -> TextTransformer:
    """The "transformer" model: a pretrained transformer fine-tuned on the rows' free text, at the Config's
    transformer_* settings."""
    return TextTransformer(
        task,
        cfg.transformer_arch,
        epochs=cfg.transformer_epochs,
        lr=cfg.transformer_lr,
        batch_size=cfg.transformer_batch_size,
        max_length=cfg.transformer_max_length,
        target_transform=cfg.target_transform or None,
        pooling=cfg.transformer_pooling,
        llrd=cfg.transformer_llrd,
        accumulate=cfg.transformer_accumulate,
    )


def _cnn(task: str, cfg: TabularRecipe, pixels: Pixels | None, targets: list[str]) -> PixelCNN:
    """The "cnn" model: a network on the image `pixels` names in each row, at the Config's cnn_* settings; with
    cnn_keypoints, the `targets` read as keypoints (an x / y pair each), or refused naming them."""
    if isinstance(cfg.cnn_bag, bool) or not isinstance(cfg.cnn_bag, int) or cfg.cnn_bag < 1:
        raise ValueError(f"cnn_bag: the networks a fold, a whole number of at least 1; got {cfg.cnn_bag!r}.")
    keypoints = None
    if cfg.cnn_keypoints:
        keypoints = find_keypoints(targets) if task == "regression" else None
        if keypoints is None:
            raise ValueError(
                f"cnn_keypoints: the targets {', '.join(targets[:6]) or '(none)'} are not keypoints: values of a "
                "regression, each half of a <name>_x / <name>_y pair. Set cnn_keypoints=False."
            )
    return PixelCNN(
        task,
        pixels,
        arch=cfg.cnn_arch,
        image_size=cfg.cnn_image_size,
        epochs=cfg.cnn_epochs,
        batch_size=cfg.cnn_batch_size,
        lr=cfg.cnn_lr,
        shift=cfg.cnn_shift,
        rotate=cfg.cnn_rotate,
        zoom=cfg.cnn_zoom,
        flip=cfg.cnn_flip,
        tta=tuple(cfg.cnn_tta),
        bag=cfg.cnn_bag,
        keypoints=keypoints,
        target_transform=cfg.target_transform or None,
    )
