"""The parts of a generated competition file that differ where the sample asks its values through a lookup table
(Spec.lookup: Facial Keypoints' IdLookupTable.csv): LOOKUP, load and load_test reading it, score as the RMSE over the
values present, write_submission and validate through it; where the targets are places on the image (LOOKUP's clip:
keypoints), the cnn's Recipe words, Config fields and search space. Each is the value of one of template.py's
placeholders (`parts`); without a lookup the file is template.py's own text."""

from __future__ import annotations

import json

from pipeline.tabular import template_pixels
from pipeline.tabular.infer import Spec

TARGET_COMMENT = "  # several targets: the cnn one network with an output each; another model one per column"
ARG = "\n        lookup=LOOKUP,"  # load's and load_test's
SCORE = '''\
    """The RMSE over the values present in y_true (a row marks some targets only), as Kaggle scores the
    values the lookup asks."""
    return tabular.present_rmse(y_true, pred)'''
WRITE = "    tabular.write_lookup(data, pred, path, LOOKUP)"
VALIDATE = '''\
    """The CSV check against {sample}: its header, ids and order; every value a number within
    LOOKUP's clip."""
    tabular.validate_lookup(data, path, LOOKUP)'''

# where the targets are places on the image (LOOKUP's clip: keypoints, x / y pairs), the cnn's augmentation moves them
# with the face (cnn_keypoints): on by default the flip, a flipped face's left keypoints swapping with its right, and
# the flipped view averaged; off the shift, turn and zoom, which on generated faces raised the error where the flip
# alone lowered it (benchmarks/README.md "Facial Keypoints"); the search space tunes them all
KEYPOINT_RECIPE = (
    template_pixels.RECIPE_START
    + "one output\nper target, its batches flipped at random with their keypoints (left and right swapped), its "
    "predictions\naveraged over the flipped view; its out-of-fold predictions are the CV." + template_pixels.RECIPE_END
)
KEYPOINT_MODELS = (
    template_pixels.MODELS_LINE
    + "    # the targets are places on the face (x / y pairs, pipeline/keypoints.py): a shift, turn,\n"
    "    # zoom or flip moves them with it, a flip swapping each left_* with its right_*, and the hflip\n"
    "    # view's predictions are taken back before they are averaged; on generated faces the flip and\n"
    "    # its view lowered the error, the shift, turn and zoom raised it (benchmarks/README.md)\n"
    "    cnn_keypoints: bool = True\n"
    "    cnn_flip: bool = True\n"
    '    cnn_tta: tuple[str, ...] = ("hflip",)\n'
    "    cnn_shift: int = 0\n"
    "    cnn_rotate: float = 0.0\n"
    "    cnn_zoom: float = 0.0\n"
)
KEYPOINT_SPACE = (
    template_pixels.SPACE_START
    + template_pixels.MOVES
    + '        "cnn_flip": trial.suggest_categorical("cnn_flip", [False, True]),\n'
    + template_pixels.SPACE_END
)


def keypoints(spec: Spec) -> bool:
    """Whether the values the lookup asks are places on the image (its clip: the image's side), each row's image
    read by the cnn."""
    return spec.lookup is not None and spec.lookup.clip is not None and spec.pixels is not None


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


def parts(spec: Spec, own: dict[str, str]) -> dict[str, str]:
    """template.py's placeholders that a lookup changes: `own`, the values they take without one (lookup_lines and
    lookup_arg empty, score_body, write_call and validate_body the file's own), with a lookup's where spec has one."""
    if spec.lookup is None:
        return own
    lookup = {
        "target_comment": TARGET_COMMENT if own["target_comment"] else "",
        "lookup_lines": "\n\n" + lookup_py(spec).rstrip("\n"),
        "lookup_arg": ARG,
        "score_body": SCORE,
        "write_call": WRITE,
        "validate_body": VALIDATE.replace("{sample}", spec.sample),
    }
    return {**own, **lookup}
