"""CowBoy Outfits Detection (D2L course, CodaLab): detect belts, boots, cowboy hats, jackets and sunglasses; COCO
mAP@[.5:.95]; answer.json inside a zip."""

from competitions.cowboy_outfits.config import PRESETS, Config
from competitions.cowboy_outfits.data import CATEGORIES, CLASS_NAMES, EXPECTED_FILES, load, load_test
from competitions.cowboy_outfits.recipe import apply_blend, blend, merge_folds, models, plots, score, search_space
from competitions.cowboy_outfits.sample import sample
from competitions.cowboy_outfits.submission import SUBMISSION_FILE, validate, write_submission
from pipeline.contract import Metric

KAGGLE_SLUG = "cowboyoutfits"
METRIC = Metric("mAP@[.5:.95]", greater_is_better=True)
# Folds come from Data.groups: small groups stratified on each image's rarest class (see data.stratified_groups),
# so belts and sunglasses land in every validation fold; the runner's GroupKFold, seeded by --seed, draws which
# groups make up each fold.
FOLDS = "group"
SUBMIT_CLOSED = (
    "CowBoy Outfits Detection was scored on CodaLab, whose competition is closed: there is nowhere to upload. "
    "Score locally instead: the run's CV (COCO mAP@[.5:.95] on held-out folds, AP50 in the log) is the number to "
    "compare, and answer.zip holds answer.json in the format CodaLab took."
)

__all__ = [
    "CATEGORIES",
    "CLASS_NAMES",
    "EXPECTED_FILES",
    "FOLDS",
    "KAGGLE_SLUG",
    "METRIC",
    "PRESETS",
    "SUBMISSION_FILE",
    "SUBMIT_CLOSED",
    "Config",
    "apply_blend",
    "blend",
    "load",
    "load_test",
    "merge_folds",
    "models",
    "plots",
    "sample",
    "score",
    "search_space",
    "validate",
    "write_submission",
]
