"""The parts of a generated competition file that differ where each row of the table holds an image (Spec.pixels:
Digit Recognizer's pixel0 .. pixel783, FER2013's one column of space-separated values): PIXELS, the "cnn" model in
Config.models, its smoke-test preset, a search space over its knobs and the docstrings saying so. Without an image
the file is as before (template.py's own text)."""

from __future__ import annotations

import json
import textwrap

from pipeline.tabular.pixels import Pixels

# the Recipe paragraph in three parts: what trains, how its batches move and its views (AUGMENTED, which a keypoint
# lookup's file words otherwise: template_lookup.py), and how to grow it
RECIPE_START = (
    'Recipe: each row holds an image (PIXELS), and the "cnn" model reads it as one: the image pipeline\'s network\n'
    "(Config.cnn_arch, airbench_small unless set) trained a fixed number of epochs on each fold's training rows, "
)
AUGMENTED = """its batches
shifted, turned and zoomed at random, its predictions averaged over shifted views; its out-of-fold predictions are the
CV."""
RECIPE_END = """
Grow it here: set Config or tune it (`search_space`, then `python -m pipeline tune`), add models in `models`."""
RECIPE = RECIPE_START + AUGMENTED + RECIPE_END

CONFIG_DOC = '''\
    """pipeline.tabular.TabularRecipe's settings: override any here. The "cnn" model, a network on the image PIXELS
    names, takes cnn_arch (a timm architecture, or airbench_small / airbench94 for small images), cnn_epochs,
    cnn_batch_size, cnn_lr, cnn_image_size (the side the images are resized to; 0: as stored, at least 28), cnn_shift,
    cnn_rotate, cnn_zoom, cnn_tta and cnn_bag (networks a fold, each from its own seed, averaged); folds and
    blend_weights apply as to any model. models may add "lightgbm",
    "xgboost", "catboost", "linear" and the others TabularRecipe names, which read PIXELS' columns as plain features:
    each pixel column a number, one column of values as text."""'''

MODELS_LINE = (
    "    # cnn: each row holds an image (PIXELS): a network reads it whole, where a booster splits on one value\n"
    '    models: tuple[str, ...] = ("cnn",)\n'
)

# the smoke-test preset: the whole run (folds, blend, submission) in a few epochs; "best" bags the cnn (benchmarks/
# README.md, "A bag of networks a fold": 2 networks a fold, 8% fewer out-of-fold errors on MNIST for twice the work)
PRESETS = (
    "# fast: a smoke test of the whole run, 2 epochs of the cnn on 2 folds; cpu: a fifth of the default's training (3\n"
    "# folds of 6 epochs) for a run on a laptop's CPU; best: 2 networks a fold, averaged (twice the training), and\n"
    "# the boosters' settings, for models added beside the cnn\n"
    "PRESETS: dict[str, dict[str, Any]] = {\n"
    "    **tabular.PRESETS,\n"
    '    "fast": {"cnn_epochs": 2, "folds": 2},\n'
    '    "cpu": {"cnn_epochs": 6, "folds": 3},\n'
    '    "best": {**tabular.PRESETS["best"], "cnn_bag": 2},\n'
    "}"
)

# the search space's opening lines in three parts, the knobs that move the image (MOVES) between the others
SPACE_START = """    return {
        "cnn_lr": trial.suggest_float("cnn_lr", 0.02, 0.4, log=True),
"""
MOVES = """        "cnn_shift": trial.suggest_int("cnn_shift", 0, 3),
        "cnn_rotate": trial.suggest_float("cnn_rotate", 0.0, 15.0),
        "cnn_zoom": trial.suggest_float("cnn_zoom", 0.0, 0.15),
"""
SPACE_END = """        "cnn_epochs": trial.suggest_int("cnn_epochs", 5, 30, log=True),"""
SEARCH_SPACE = SPACE_START + MOVES + SPACE_END

# the end of search_space's docstring
SEARCH_NOTE = "The cnn's epochs are fixed, never stopped early: a trial of more epochs takes longer."


def where(pixels: Pixels) -> str:
    """Where the image lies, in words: `columns pixel0 .. pixel783 hold one 28x28 grey image per row` or `column pixels
    holds one 48x48 grey image per row, 2304 space-separated values`, with its white."""
    size, white = f"{pixels.height}x{pixels.width}", f"(white {pixels.max_value:g})"
    if pixels.column is not None:
        count = pixels.height * pixels.width
        return f"column {pixels.column} holds one {size} grey image per row, {count} space-separated values {white}"
    names = pixels.columns()
    return f"columns {names[0]} .. {names[-1]} hold one {size} grey image per row {white}"


def pixels_py(pixels: Pixels) -> str:
    """PIXELS' literal: tabular.Pixels(28, 28, prefix="pixel", start=0, max_value=255.0), or column="pixels"."""
    if pixels.column is not None:
        place = f"column={json.dumps(pixels.column)}"
    else:
        place = f"prefix={json.dumps(pixels.prefix)}, start={pixels.start}"
    return f"tabular.Pixels({pixels.height}, {pixels.width}, {place}, max_value={float(pixels.max_value)!r})"


def pixels_lines(pixels: Pixels | None) -> str:
    """PIXELS of the generated file with its comment, or nothing."""
    if pixels is None:
        return ""
    comment = (
        "the image each row holds, which the cnn model reads (pipeline/tabular/cnn.py), row by row from the top: "
        f"{where(pixels)}; None: no image (and models without cnn)"
    )
    return (
        textwrap.fill(comment, 120, initial_indent="# ", subsequent_indent="# ") + f"\nPIXELS = {pixels_py(pixels)}\n"
    )


def note(pixels: Pixels) -> str:
    """What `new` says of the image it found and the model it writes for it."""
    numbered = pixels.column is None
    boosters = "; add the boosters with --set models=cnn,lightgbm" if numbered else ""
    instead = "the columns as numbers" if numbered else "the column as text"
    return (
        f"image: {where(pixels)}: models cnn, a network on the images (pipeline/tabular/cnn.py){boosters}; PIXELS in "
        f"the generated file says where the image lies (--pixels none reads {instead} instead)"
    )
