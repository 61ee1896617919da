"""The parts of a generated competition file that differ where the sample asks its values through a lookup table
(Spec.lookup: Facial Keypoints' IdLookupTable.csv): LOOKUP, load and load_test reading it, score as the RMSE over the
values present, write_submission and validate through it. Each is an edit of the file template.py renders, which
finds its anchor or fails; without a lookup the file is template.py's own text."""

from __future__ import annotations

import json

from pipeline.tabular import template_pixels
from pipeline.tabular.infer import Spec

# (what template.py writes, what the file of a lookup writes instead); each anchor occurs once
EDITS = (
    (
        "]  # several targets: one model of each family per column",
        "]  # several targets: the cnn one network with an output each; another model one per column",
    ),
    (
        "\n\n@dataclass(frozen=True)\nclass Config(",
        "{lookup_lines}\n\n\n@dataclass(frozen=True)\nclass Config(",
    ),
    (
        "        original_mode=cfg.original,\n    )",
        "        original_mode=cfg.original,\n        lookup=LOOKUP,\n    )",
    ),
    (
        "        row_id_start=ROW_ID_START,\n    )",
        "        row_id_start=ROW_ID_START,\n        lookup=LOOKUP,\n    )",
    ),
    (
        '    """rmse, as Kaggle computes it, on rows x outputs predictions."""\n'
        '    return tabular.score("rmse", y_true, pred)',
        '    """The RMSE over the values present in y_true (a row marks some targets only), as Kaggle scores the\n'
        '    values the lookup asks."""\n    return tabular.present_rmse(y_true, pred)',
    ),
    (
        "    tabular.write_submission(data, pred, path, SUBMISSION)",
        "    tabular.write_lookup(data, pred, path, LOOKUP)",
    ),
    (
        '    """The CSV check against {sample}: True/False columns and grades included; a log loss\'s\n'
        '    probabilities in [0, 1]."""\n    tabular.validate(data, path, SUBMISSION, METRIC.name)',
        '    """The CSV check against {sample}: its header, ids and order; every value a number within\n'
        '    LOOKUP\'s clip."""\n    tabular.validate_lookup(data, path, LOOKUP)',
    ),
)


# what template_pixels.py writes of the cnn's augmentation, each anchor taken from its own text so the two cannot drift
# apart: the Recipe's words on it, the models line, the search space's lines of the knobs that move the image
_RECIPE = template_pixels.RECIPE
_AUGMENTED = _RECIPE[_RECIPE.index("its batches") : _RECIPE.index("\nGrow it here")]
_MODELS = template_pixels.MODELS_LINE.splitlines(keepends=True)[-1]
_MOVES = ('"cnn_shift"', '"cnn_rotate"', '"cnn_zoom"')
_MOVING = "".join(s for s in template_pixels.SEARCH_SPACE.splitlines(keepends=True) if s.lstrip().startswith(_MOVES))

# where the targets are places on the image (LOOKUP's clip: keypoints, x / y pairs), the cnn's augmentation moves them
# with the face (cnn_keypoints): on by default the flip, a flipped face's left keypoints swapping with its right, and
# the flipped view averaged; off the shift, turn and zoom, which on generated faces raised the error where the flip
# alone lowered it (benchmarks/README.md "Facial Keypoints"); the search space tunes them all
KEYPOINT_EDITS = (
    (
        _AUGMENTED,
        "one output\nper target, its batches flipped at random with their keypoints (left and right swapped), its "
        "predictions\naveraged over the flipped view; its out-of-fold predictions are the CV.",
    ),
    (
        _MODELS,
        _MODELS + "    # the targets are places on the face (x / y pairs, pipeline/keypoints.py): a shift, turn,\n"
        "    # zoom or flip moves them with it, a flip swapping each left_* with its right_*, and the hflip\n"
        "    # view's predictions are taken back before they are averaged; on generated faces the flip and\n"
        "    # its view lowered the error, the shift, turn and zoom raised it (benchmarks/README.md)\n"
        "    cnn_keypoints: bool = True\n"
        "    cnn_flip: bool = True\n"
        '    cnn_tta: tuple[str, ...] = ("hflip",)\n'
        "    cnn_shift: int = 0\n"
        "    cnn_rotate: float = 0.0\n"
        "    cnn_zoom: float = 0.0\n",
    ),
    (_MOVING, _MOVING + '        "cnn_flip": trial.suggest_categorical("cnn_flip", [False, True]),\n'),
)


def lookup_py(spec: Spec) -> str:
    """LOOKUP of the generated file with its comment."""
    lk = spec.lookup
    assert lk is not None
    clip = "None" if lk.clip is None else f"({lk.clip[0]!r}, {lk.clip[1]!r})"
    args = f"{json.dumps(lk.file)}, {json.dumps(lk.row_id)}, {json.dumps(lk.id)}, {json.dumps(lk.target)}, clip={clip}"
    return (
        f"# the sample's {lk.row_id} asks, through this CSV, for one value ({lk.target}) of one test row ({lk.id}); "
        "every value\n# is cut to clip (the image: a keypoint lies on it; None: not cut)\n"
        f"LOOKUP = tabular.Lookup({args})\n"
    )


def with_lookup(text: str, spec: Spec) -> str:
    """The rendered file `text` with its lookup's parts (EDITS), or `text` itself where the spec has none."""
    if spec.lookup is None:
        return text
    edits = EDITS + (KEYPOINT_EDITS if spec.lookup.clip is not None else ())
    for old, new in edits:
        old, new = old.replace("{sample}", spec.sample), new.replace("{sample}", spec.sample)
        if text.count(old) != 1:
            raise AssertionError(f"template_lookup: the rendered file holds {old!r} {text.count(old)} times, not once")
        text = text.replace(old, new.replace("{lookup_lines}", "\n" + lookup_py(spec).rstrip("\n")))
    return text
