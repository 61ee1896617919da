"""The table of an image download's photo metadata, for `python -m pipeline new NAME --kind table`: a tabular
competition (pipeline/tabular/infer.py) that answers the question the image competition `new` writes for the same
download answers, so that `ensemble` blends a run of each.

SIIM-ISIC Melanoma's train.csv holds sex, age_approx and the mole's site beside each image_name and its target, and
its test.csv the same for the test images; PetFinder Pawpularity's, 12 0/1 flags beside each Id. The winners of both
blended networks on the photos with models on those columns. Read here:
- the files, the target, the metric and the folds are the image reading's (pipeline/vision/infer.py): its training
  CSV, its test CSV listing the sample's images, its sample, its answer columns, its metric (roc_auc for SIIM's 0.0
  sample, where a table of 0/1 would be scored by accuracy), and its fold kind with its group column (SIIM's
  patient_id: FOLDS "stratified_group", GROUPS "patient_id", read as CsvImages reads it), so that one seed and one
  --folds give both runs the same folds.npy;
- the features are the columns of both CSVs but the id, the answers, the group column and any column naming the
  download's images (file names are no metadata); the id never gives group features (ID_GROUPS), nor are the folds
  forward in time (the images' are drawn at random);
- EXPECTED_FILES are the three CSVs: the table reads no image.
A download whose answers are tags (the tabular recipe learns no tags), whose training images are folders of one
folder per class, or that has no test CSV of metadata is refused, saying why.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.contract import ContractError
from pipeline.listing import listed
from pipeline.tabular.infer import Spec, infer
from pipeline.tabular.infer_files import Source
from pipeline.vision.image_ids import ImageNames, names_images
from pipeline.vision.infer import ImageSpec, infer_images

KIND = "--kind table"


def infer_metadata(
    data: Path,
    source: Source,
    name: str,
    slug: str | None,
    metric: str | None,
    files: tuple[str | None, str | None, str | None],
    groups: str | None = None,
) -> Spec:
    """The tabular competition of the image download `data` (`source`: its files): the module docstring. `files`:
    --train, --test and --sample; `metric`: --metric, else the images' default; `groups`: --groups, as for images."""
    train, test, sample = files
    images = infer_images(source, name, slug or name, metric, train, sample, groups=groups)
    test = test or _test_csv(images, data)
    target = ",".join(images.columns) if images.columns else images.train_label_column or images.label_column
    spec = infer(
        data,
        name,
        target=target,
        metric=images.metric,
        slug=slug,
        train=images.train_csv,
        test=test,
        sample=images.sample_csv,
        time="none",
        source=source,
        tables=False,
    )
    _as_images(spec, images, source)
    return spec


def _test_csv(images: ImageSpec, data: Path) -> str:
    """The image reading's test CSV, refused where there is none or it is not a table the models can read."""
    if images.kind == "tags":
        raise ContractError(
            f"{KIND}: {images.train_csv}'s {images.train_label_column or images.label_column} holds space-separated "
            "tags, which the tabular recipe does not learn; `new` reads this download as images only."
        )
    if images.class_folders:
        raise ContractError(
            f"{KIND}: {data}'s training images are {images.train_csv}/<class>/ folders, with no table of metadata."
        )
    if images.test_csv is None:
        raise ContractError(
            f"{KIND}: {data} has no test CSV listing the sample submission's {images.id_column}s beside other "
            "columns, so the test rows would have no metadata to predict from (--test FILE names one)."
        )
    return images.test_csv


def _as_images(spec: Spec, images: ImageSpec, source: Source) -> None:
    """The tabular spec made to answer as the image competition does: its folds and group column, no id groups or
    forward folds, no column naming images as a feature, the three CSVs as its files (the module docstring)."""
    names = ImageNames.of(source)
    test = source.read(spec.test, written=True)
    named = [c for c in spec.features if c in test and names_images(test[c], names)]
    dropped = [c for c in (images.group_column, *named) if c in spec.features]
    spec.features = [c for c in spec.features if c not in dropped]
    if not spec.features:
        raise ContractError(
            f"{KIND}: {spec.train} and {spec.test} share no column of metadata beside the images' ids, their answers "
            f"and their groups{f' ({listed(dropped)})' if dropped else ''}; there is no table to learn from."
        )
    spec.text = [c for c in spec.text if c in spec.features]
    spec.files = [spec.train, spec.test, spec.sample]
    spec.id_groups, spec.folds, spec.group = False, images.folds, images.group_column
    decided = ("id:", "target:", "task:", "metric:", "folds:", f"feature: the id {spec.id_col} reads as")
    spec.notes = [n for n in spec.notes if not n.startswith(decided)]  # the images' (no flag changes them here)
    spec.notes += [f"ignored: {c} (names the download's images: no metadata)" for c in named]
    grouped = f", each {images.group_column}'s rows in one fold, not a feature" if images.group_column else ""
    spec.notes += [
        f"kind: the table of the photos' metadata ({KIND}), answering as the image competition of this download: "
        f"its files, target and metric ({images.metric}); `new` without {KIND} writes the images'",
        f"folds: {images.folds}{grouped}, as the image competition's: run both with one --seed and --folds and "
        "`python -m pipeline ensemble IMAGE_RUN TABLE_RUN` blends them",
    ]
