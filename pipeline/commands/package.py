"""`python -m pipeline package RUN_DIR --out DIR`: an offline inference package for a Kaggle notebook, as a dataset.

DIR/
  dataset-metadata.json   the Kaggle dataset's id, title and licence (`kaggle datasets create -p DIR` reads it)
  wheels/                 the project as a wheel, and wheels of the --deps a notebook image may lack, fetched
                          for the notebook's machine: Linux x86_64 and the Python --python names (default this one's)
  run/                    what `predict` needs from the run: config.json (resolved config), summary, folds, OOF
                          predictions, blend/stack/threshold/calibration records, the fitted stages after the
                          blend (stages.json), the training images' digests and the fitted fold models (models/);
                          for an ensemble its own records and each run it blends in run/members/<run-id>/ (of
                          several competitions: run/members/<competition>/<run-id>/); a competition outside
                          competitions/ (`new --into DIR`) in run/competition/<name>/
  manifest.json           sha256 of every file, the library versions the run was trained with, the wheels
  predict.py              the entry script (package_entry.py): checks the files, installs the wheels with `pip
                          install --no-index --find-links` (a failure on another Python names --python), prints
                          version differences, runs `python -m pipeline predict`

torch and torchvision are never packaged: a notebook image has them; their versions are compared only. The fitted
networks need no pretrained weights (predict rebuilds each network and loads its fitted weights), so none are
packaged. `--upload` creates the dataset, or a new version of it, through the kaggle client.
"""

from __future__ import annotations

import argparse
import datetime as dt
import fnmatch
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

from pipeline import atomic
from pipeline.archives import sha256
from pipeline.contract import ContractError

HELP = "write an offline inference package (Kaggle dataset folder) for a finished run: wheels, models, entry script"
# Dependencies a Kaggle image may lack (the others it ships); --deps replaces the list.
DEFAULT_DEPS = ("py7zr", "ensemble-boxes")
CHECK_ONLY = ("torch", "torchvision")
# The machine a Kaggle notebook runs on: Linux x86_64 with glibc 2.35 (Ubuntu 22.04); pip download takes only the
# platform tags it is given, so every manylinux tag such a machine installs is listed.
NOTEBOOK_PLATFORMS = (
    *(f"manylinux_2_{minor}_x86_64" for minor in range(35, 16, -1)),
    "manylinux2014_x86_64",
    "manylinux2010_x86_64",
    "manylinux1_x86_64",
)
ENTRY_SOURCE = Path(__file__).with_name("package_entry.py")  # copied into the package as predict.py
RUN_FILES = (
    "summary.json",
    "config.json",
    "command.json",
    "env.json",
    "folds.npy",
    "scores.json",
    "blend.json",
    "stack.json",
    "threshold.json",
    "calibration.json",
    "stages.json",  # the fitted stages after the blend, which predict applies without the training data
    "train_images.json",  # the training images' digests: predict warns of a test image that is one of them
)
RUN_FOLDERS = ("oof", "models")
FORMAT = "pipeline-package/1"
ENTRY = "predict.py"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", help="a finished run folder")
    p.add_argument("--out", required=True, help="the package folder to write (must not exist, or be empty)")
    p.add_argument(
        "--deps",
        default=",".join(DEFAULT_DEPS),
        help=f"comma-separated distributions to ship as wheels (default {','.join(DEFAULT_DEPS)}; '' for none); "
        "fetched with pip download at the installed version, with their own dependencies",
    )
    p.add_argument(
        "--python",
        default=this_python(),
        metavar="X.Y",
        help="the notebook's Python, which the --deps wheels are fetched for (default this one's, %(default)s; a "
        "notebook runs `python --version` to tell)",
    )
    p.add_argument("--id", dest="dataset_id", default=None, help="the dataset's OWNER/SLUG (default: yours/<run>)")
    p.add_argument("--upload", action="store_true", help="create the Kaggle dataset, or a new version of it")
    p.add_argument("-m", "--message", default=None, help="version notes for --upload")


def main(args: argparse.Namespace) -> int:
    deps = [d.strip() for d in args.deps.split(",") if d.strip()]
    out = build_package(Path(args.run_dir), Path(args.out), deps, args.dataset_id, args.python)
    print(f"package {out} ({_size(out) / 2**20:.1f} MiB)")
    if args.upload:
        print(upload(out, args.message))
    return 0


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def this_python() -> str:
    """This interpreter's Python version as X.Y."""
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def project_root() -> Path:
    """The project's source tree (pyproject.toml beside the pipeline package)."""
    root = Path(__file__).resolve().parents[2]
    if not (root / "pyproject.toml").is_file():
        raise ContractError("package needs the project's source tree (pyproject.toml); run it from a checkout.")
    return root


def _pip(*args: str, what: str) -> None:
    result = subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True)
    if result.returncode != 0:
        tail = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise ContractError(f"{what} failed: {tail}")


# files setuptools puts in a wheel's metadata by default (its license-files)
LICENSE_FILES = ("LICEN[CS]E*", "COPYING*", "NOTICE*", "AUTHORS*")


def wheel_source(root: Path, dest: Path) -> Path:
    """A copy in `dest` of what the project's wheel is built from: pyproject.toml, its readme and licence files, and
    the top-level folders its package patterns (tool.setuptools.packages.find.include) name. The build writes its
    own folders (build/, *.egg-info) beside its source, so building the copy leaves the checkout as it was."""
    config = tomllib.loads((root / "pyproject.toml").read_text())
    readme = config.get("project", {}).get("readme")
    readme = readme.get("file") if isinstance(readme, dict) else readme
    include = config.get("tool", {}).get("setuptools", {}).get("packages", {}).get("find", {}).get("include", ["*"])
    tops = {pattern.split(".")[0] for pattern in include}
    dest.mkdir(parents=True, exist_ok=True)
    for entry in sorted(root.iterdir()):
        name = entry.name
        if name.startswith("."):
            continue
        if entry.is_dir() and any(fnmatch.fnmatchcase(name, top) for top in tops):
            shutil.copytree(entry, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif entry.is_file() and (
            name in ("pyproject.toml", readme) or any(fnmatch.fnmatchcase(name, g) for g in LICENSE_FILES)
        ):
            shutil.copy2(entry, dest / name)
    return dest


def build_wheels(dest: Path, deps: list[str], python: str) -> list[str]:
    """The project's wheel (built from a temporary copy of its source: wheel_source) and the deps' wheels (at the
    installed versions, with their own dependencies, for a notebook's machine running `python`: NOTEBOOK_PLATFORMS)
    into dest; their file names."""
    if not re.fullmatch(r"3\.\d{1,2}", python):
        raise ContractError(f"--python {python!r}: a Python version as X.Y, such as 3.11 (`python --version` says).")
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pipeline-wheel-") as tmp:
        source = wheel_source(project_root(), Path(tmp) / "source")
        _pip("wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w", str(dest), str(source), what="wheel")
    pinned = []
    for dep in deps:
        if dep in CHECK_ONLY:
            raise ContractError(
                f"--deps {dep}: torch and torchvision come from the notebook image; they are not packaged."
            )
        version = _version(dep)
        if version is None:
            raise ContractError(f"--deps {dep}: not installed here, so there is no version to package.")
        pinned.append(f"{dep}=={version}")
    if pinned:
        _pip(
            "download",
            "--quiet",
            "--only-binary=:all:",
            "--implementation",
            "cp",
            "--python-version",
            python,
            *(flag for tag in NOTEBOOK_PLATFORMS for flag in ("--platform", tag)),
            "-d",
            str(dest),
            *pinned,
            what="pip download " + " ".join(pinned),
        )
    return sorted(p.name for p in dest.glob("*.whl"))


def _copy_run(run_dir: Path, dest: Path) -> None:
    dest.mkdir(parents=True)
    for name in RUN_FILES:
        if (run_dir / name).is_file():
            shutil.copy2(run_dir / name, dest / name)
    for folder in RUN_FOLDERS:
        if (run_dir / folder).is_dir():
            shutil.copytree(run_dir / folder, dest / folder)


def _runs(run_dir: Path) -> tuple[ModuleType, dict[str, Any], dict[str, tuple[Path, ModuleType]]]:
    """The competition, the summary and the folders to package (package path under run/ -> run folder and its
    competition): the run alone, or an ensemble with each run it blends under members/ (predict finds them there,
    member_folder), each with its own competition (an image network's and its photo metadata's table's may be two),
    every one checked to hold its fitted models."""
    from pipeline.modelstore import saved_files
    from pipeline.prediction import load_run, read_summary

    summary = read_summary(run_dir)
    if "members" in summary:
        from pipeline.ensemble_predict import load_members

        members = load_members(run_dir, summary)
        module = next(m.module for m in members if m.base)
        several = len({m.summary["competition"] for m in members}) > 1
        blended = {member_folder(m.summary, several): (m.run_dir, m.module) for m in members}
    else:
        module, _, summary = load_run(run_dir)
        blended = {"": (run_dir, module)}
    for where, _ in blended.values():
        if not saved_files(where):
            raise ContractError(f"{where}: the run kept no fitted models (made before they were kept); run it again.")
    return module, summary, {"": (run_dir, module)} | blended


def member_folder(summary: dict[str, Any], several: bool) -> str:
    """Where the package keeps a run an ensemble blends (its summary: its id and competition), under run/:
    members/<run_id>, or members/<competition>/<run_id> for an ensemble of several competitions, whose runs may share
    an id (runs begun in one second: ensemble_runs.member_names)."""
    return f"members/{summary['competition']}/{summary['run_id']}" if several else f"members/{summary['run_id']}"


def _copy_competition(module: ModuleType, run: Path) -> Path | None:
    """A competition outside the project's competitions/ (`new NAME --into DIR`'s DIR/NAME) copied into the package's
    run/competition/NAME, where its summaries point (_packaged_summary), so the package predicts without the folder
    the run was made from; its location, or None for a competition of this project (the wheel holds it)."""
    if module.__name__.startswith("competitions."):
        return None
    folder = Path(str(module.__file__)).resolve().parent
    dest = run / "competition" / folder.name
    shutil.copytree(folder, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dest


def _packaged_summary(path: Path, module: ModuleType, competition: Path | None, members: list[str]) -> None:
    """The copied summary.json as the package's predict reads it: a competition of this project found inside the
    installed wheel, wherever the run was made, another one in the package (`competition`, recorded relative to the
    summary's folder: runfolder.competition_spec looks there first); an ensemble's runs in its members/ folder (their
    folders under run/, in the order of its "members")."""
    summary = json.loads(path.read_text())
    packaged = dict(summary)
    if competition is not None:
        packaged["competition_spec"] = Path(os.path.relpath(competition, path.parent)).as_posix()
    elif module.__name__.startswith("competitions."):
        packaged["competition_spec"] = module.__name__
    if "members" in summary:
        packaged["members"] = [m | {"path": p} for m, p in zip(summary["members"], members, strict=True)]
    if packaged != summary:
        path.write_text(json.dumps(packaged, indent=2) + "\n")


def model_deps(runs: list[Path]) -> list[str]:
    """The libraries the runs' kept models need at the versions they were trained with, whatever --deps says: each
    saved model class's NOTEBOOK_DEPS (the transformer's transformers and sentencepiece, whose saved files an image's
    other version may not load), in the order first named."""
    from pipeline.modelstore import FOLDER, model_class

    deps: list[str] = []
    for run in runs:
        for record in sorted((run / FOLDER).glob("*/*.json")):
            try:
                cls = model_class(json.loads(record.read_text()))
            except (ImportError, AttributeError):  # a class predict finds in the package's own competition folder
                continue
            deps += [d for d in getattr(cls, "NOTEBOOK_DEPS", ()) if d not in deps]
    return deps


def _trained_versions(runs: list[Path]) -> dict[str, str | None]:
    """The library versions the runs were trained with (their env.json; an ensemble has none of its own)."""
    versions: dict[str, str | None] = {}
    for run in runs:
        if (run / "env.json").is_file():
            versions = json.loads((run / "env.json").read_text()).get("versions", {}) | versions
    return versions


def build_package(
    run_dir: Path, out: Path, deps: list[str], dataset_id: str | None = None, python: str | None = None
) -> Path:
    """Write the package folder (into a temporary sibling first, moved in place when complete); return it."""
    run_dir = Path(run_dir)
    module, summary, runs = _runs(run_dir)
    if out.exists() and any(out.iterdir()):
        raise ContractError(f"--out {out}: exists and is not empty; give a new folder.")
    tmp = out.parent / f".{out.name}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    deps = [*deps, *(d for d in model_deps([where for where, _ in runs.values()]) if d not in deps)]
    try:
        python = python or this_python()
        wheels = build_wheels(tmp / "wheels", deps, python)
        for path, (where, _) in runs.items():
            _copy_run(where, tmp / "run" / path)
        modules = {m.__name__: m for _, m in runs.values()}  # each competition once
        copied = {name: _copy_competition(m, tmp / "run") for name, m in modules.items()}
        members = [path for path in runs if path]  # an ensemble's runs, in its "members" order (_runs)
        for path, (_, its) in runs.items():
            _packaged_summary(tmp / "run" / path / "summary.json", its, copied[its.__name__], [] if path else members)
        project = _version("kaggle-pipeline")
        requirements = importlib.metadata.requires("kaggle-pipeline") or []
        names = [r.split(";")[0].split("==")[0].split(">=")[0].split("[")[0].strip() for r in requirements]
        trained = _trained_versions([where for where, _ in runs.values()])
        versions = {n: _version(n) for n in names if not n.startswith(("pytest", "ruff"))} | trained
        (tmp / ENTRY).write_text(ENTRY_SOURCE.read_text())
        slug = f"{summary['competition']}-{run_dir.name}".lower().replace("_", "-").replace(".", "-")[:50]
        meta = {
            "title": f"{summary['competition']} {run_dir.name} inference"[:50],
            "id": dataset_id or f"INSERT_USERNAME/{slug}",
            "licenses": [{"name": "CC0-1.0"}],
        }
        (tmp / "dataset-metadata.json").write_text(json.dumps(meta, indent=2) + "\n")
        files = {str(p.relative_to(tmp)): sha256(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
        manifest = {
            "format": FORMAT,
            "competition": summary["competition"],
            "slug": module.KAGGLE_SLUG,
            "run_id": run_dir.name,
            "cv": summary.get("cv"),
            "metric": summary.get("metric"),
            "created": dt.datetime.now().isoformat(timespec="seconds"),
            "project_version": project,
            "python": sys.version.split()[0],
            "versions": versions,
            "check_only": list(CHECK_ONLY),
            "wheels": wheels,
            "wheels_python": python,  # the Python the --deps wheels were fetched for
            "deps": deps,
            "files": files,
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def upload(folder: Path, message: str | None = None) -> str:
    """Create the dataset from `folder`, or a new version when it exists; one line saying which."""
    from pipeline.kaggle.auth import require_credentials
    from pipeline.kaggle.io import connect

    meta = json.loads((folder / "dataset-metadata.json").read_text())
    creds = require_credentials("upload the package")
    api = connect(creds)
    if str(meta.get("id", "")).startswith("INSERT_USERNAME/"):
        # token credentials carry no username: the signed-in client knows it (kaggle sets it on authentication)
        user = creds.user or str(getattr(api, "config_values", {}).get("username") or "")
        if not user:
            raise ContractError(
                f"{folder / 'dataset-metadata.json'}: cannot tell your Kaggle username from {creds.source}; "
                'replace INSERT_USERNAME in its "id" with your username and run package --upload again.'
            )
        meta["id"] = f"{user}/{meta['id'].split('/', 1)[1]}"
        atomic.write_text(folder / "dataset-metadata.json", json.dumps(meta, indent=2) + "\n")
    try:
        api.dataset_status(meta["id"])
        exists = True
    except Exception:
        exists = False
    if exists:
        api.dataset_create_version(str(folder), message or "new run", quiet=True, dir_mode="zip")
        return f"uploaded a new version of dataset {meta['id']}"
    api.dataset_create_new(str(folder), public=False, quiet=True, dir_mode="zip")
    return f"created dataset {meta['id']} (private)"
