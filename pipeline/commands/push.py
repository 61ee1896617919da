"""`python -m pipeline push competitions/<name> --package DIR`: run an inference package as a Kaggle notebook.

Checks that your account has joined the competition (accepted its rules: the notebook mounts its data), generates
kernels/<slug>/ (notebook.ipynb that finds the package dataset under /kaggle/input and runs its
predict.py, plus kernel-metadata.json: the package dataset and the competition as sources, GPU and internet as
asked), pushes it as a new notebook version through the kaggle client, polls its status until it finishes, and
fetches its output into kernels/<slug>/output/v<N>/. A file-submission competition's submission is then validated
and submitted exactly as `submit` does it (an invalid file spends no slot); for a code competition
(CODE_COMPETITION = True in the competition module) the version to submit is reported and nothing is submitted.

Exit status: 0 done (submitted, or the version to submit reported); 2 an error (bad option or package, Kaggle
refused, the notebook failed: its log tail is shown, or its output is invalid); 1 still running at --timeout
(the notebook keeps running; `--attach` waits for it again without pushing).
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from pipeline.contract import ContractError

HELP = "run an inference package as a Kaggle notebook: push, wait, fetch its output, submit (or report the version)"
NOTEBOOK = "notebook.ipynb"
METADATA = "kernel-metadata.json"
DEFAULT_TIMEOUT_S = 4 * 3600.0
MAX_TIMEOUT_S = 86400.0


class PushError(ContractError):
    """The package, the options or the notebook's result do not allow going on."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `push`."""
    p.add_argument("competition", help="competition folder, e.g. competitions/house_prices")
    p.add_argument("--package", required=True, metavar="DIR", help="the package folder `package` wrote (uploaded)")
    p.add_argument("--gpu", action="store_true", help="run the notebook with a GPU (default: CPU)")
    p.add_argument(
        "--internet",
        choices=("off", "on"),
        default="off",
        help="the notebook's internet access (default off: the package installs offline; code competitions need off)",
    )
    p.add_argument("--kernel", metavar="SLUG", help="the notebook's slug (default: <competition>-pipeline)")
    p.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        metavar="S",
        help=f"stop waiting after S seconds (default {DEFAULT_TIMEOUT_S:g}); the notebook keeps running",
    )
    p.add_argument("--attach", action="store_true", help="push nothing: wait for the notebook's latest version")
    p.add_argument("--no-submit", action="store_true", help="fetch and validate the output, do not submit it")
    p.add_argument("-m", "--message", help="submission description (default: the run id, its CV and the version)")


def inferred(run_id: str, summary: dict[str, Any]) -> str:
    """What the package predicts with, as the notebook names it: "run <id>", or for an ensemble "ensemble <id> of
    runs <id>, <id>" (summary.json's "members": the runs it blends, each as the blend names it, "<competition>:<id>"
    when they are of several competitions, whose runs may share an id: ensemble_runs.member_names)."""
    from pipeline.ensemble_runs import member_names

    members = summary.get("members")
    if not isinstance(members, list) or not members:
        return f"run {run_id}"
    names = member_names([{"competition": m.get("competition"), "run_id": m.get("run_id")} for m in members])
    return f"ensemble {run_id} of runs {', '.join(names)}"


def notebook(dataset: str, what: str) -> dict[str, Any]:
    """The notebook: find the package dataset under /kaggle/input, run its predict.py into /kaggle/working. `what`:
    the run (or ensemble) the package predicts with (inferred)."""
    code = f"""import subprocess
import sys
from pathlib import Path

DATASET = {dataset!r}  # the inference package (python -m pipeline package), {what}
INPUT = Path("/kaggle/input")
owner, slug = DATASET.split("/")
places = [INPUT / slug, INPUT / "datasets" / owner / slug]
places += sorted(INPUT.glob(f"*/{{slug}}")) + sorted(INPUT.glob(f"*/*/{{slug}}"))
entry = next((p / "predict.py" for p in places if (p / "predict.py").is_file()), None)
if entry is None:
    raise RuntimeError(f"the package dataset {{DATASET}} is not mounted under /kaggle/input: add it as an input")
result = subprocess.run([sys.executable, str(entry), "--out", "/kaggle/working"])
if result.returncode != 0:
    raise RuntimeError(f"predict.py failed with exit status {{result.returncode}} (see the log above)")
"""
    intro = (
        f"# Inference: {what}\n\nPredicts the competition's test set with the fitted models of the package "
        f"dataset `{dataset}` (offline: wheels installed with `pip install --no-index`) and writes "
        "`/kaggle/working/submission.csv`. Generated by `python -m pipeline push`."
    )
    return {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": intro},
            {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": code},
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 4,
    }


def original_sources(module: ModuleType, run_dir: Path, summary: dict[str, Any]) -> list[str]:
    """The competition's original dataset (ORIGINAL) when the run read it: the notebook must mount it too, since
    predict loads the run's training rows, the original's among them. An ensemble's runs each load the data with
    their own Config: it is mounted when any of them read it. A local one (no owner) cannot be mounted."""
    from pipeline.ensemble_runs import member_dirs
    from pipeline.runfolder import read_record

    original = getattr(module, "ORIGINAL", None)
    if original is None:
        return []
    runs = [where for where, _ in member_dirs(run_dir, summary)] if "members" in summary else [run_dir]
    if all(read_record(r, "config").get("config", {}).get("original", "add") == "off" for r in runs):
        return []
    if "/" not in original.slug.strip("/"):
        name = module.__name__.rsplit(".", 1)[-1]
        raise PushError(
            f"{name}'s ORIGINAL '{original.slug}' is a local dataset, which a Kaggle notebook cannot mount. Upload it "
            "as a Kaggle dataset and write its OWNER/NAME in ORIGINAL, or package a run made with --set original=off."
        )
    return [original.slug]


def kernel_metadata(
    ref: str, dataset: str, competition: str, gpu: bool, internet: bool, more: list[str] | None = None
) -> dict[str, Any]:
    """kernel-metadata.json as the kaggle client reads it (title resolves to the slug); `more`: other datasets to
    mount (the competition's original dataset)."""
    return {
        "id": ref,
        "title": ref.split("/", 1)[1].replace("-", " "),
        "code_file": NOTEBOOK,
        "language": "python",
        "kernel_type": "notebook",
        "is_private": True,
        "enable_gpu": gpu,
        "enable_tpu": False,
        "enable_internet": internet,
        "dataset_sources": [dataset, *(more or [])],
        "competition_sources": [competition],
        "kernel_sources": [],
        "model_sources": [],
    }


def write_kernel(folder: Path, meta: dict[str, Any], nb: dict[str, Any]) -> Path:
    """Write the notebook folder (each file whole); return it."""
    from pipeline.atomic import write_json

    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / NOTEBOOK, nb)
    write_json(folder / METADATA, meta)
    return folder


def read_package(package: Path, module: ModuleType, name: str) -> tuple[dict[str, Any], str, Path, dict[str, Any]]:
    """The package's manifest, its dataset id, its run folder and the run's summary; errors say what to do."""
    from pipeline.atomic import read_json

    if not (package / "manifest.json").is_file() or not (package / "run" / "summary.json").is_file():
        raise PushError(
            f"--package {package}: not an inference package (no manifest.json or run/summary.json). Make one: "
            f"python -m pipeline package runs/{name}/<run-id> --out {package} --upload"
        )
    manifest = read_json(package / "manifest.json")
    if manifest.get("slug") != module.KAGGLE_SLUG:
        raise PushError(
            f"--package {package}: made for {manifest.get('competition')} ({manifest.get('slug')}), "
            f"not {name} ({module.KAGGLE_SLUG})."
        )
    dataset = str(read_json(package / "dataset-metadata.json").get("id", ""))
    if dataset.startswith("INSERT_USERNAME/") or dataset.count("/") != 1:
        raise PushError(
            f"--package {package}: not uploaded yet (its dataset id is {dataset or 'missing'}). Upload it as a "
            "Kaggle dataset first: make it with `python -m pipeline package RUN_DIR --out DIR --upload`, or set "
            f"the id in {package / 'dataset-metadata.json'} and run `kaggle datasets create -p {package}`."
        )
    summary = read_json(package / "run" / "summary.json")
    if summary.get("sample"):
        raise PushError(
            f"--package {package}: run {manifest.get('run_id')} was made on the built-in sample data: its models "
            "learned from generated rows, not the competition's (and predict refits the blend on the run's training "
            "rows where it cannot apply saved weights). Package a run on the real data."
        )
    return manifest, dataset, package / "run", summary


@dataclass
class Notebook:
    """The notebook `push` works on: Kaggle's client and credentials, owner/slug, its local folder and version."""

    api: Any
    creds: Any
    ref: str
    folder: Path
    version: int | None = None


def _check_options(args: argparse.Namespace, module: ModuleType, name: str, code: bool) -> None:
    """Refuse a timeout out of range, the internet for a code competition, submitting to a closed competition."""
    if not 0 < args.timeout <= MAX_TIMEOUT_S:
        raise PushError(f"--timeout {args.timeout:g}: seconds to wait, above 0 and at most {MAX_TIMEOUT_S:g}.")
    if args.kernel is not None and not re.fullmatch(r"[a-z0-9][a-z0-9-]{4,49}", args.kernel.lower().replace("_", "-")):
        raise PushError(
            f"--kernel {args.kernel!r}: a Kaggle notebook's slug is 5 to 50 letters, digits and '-' (it is also its "
            "title)."
        )
    if code and args.internet == "on":
        raise PushError(f"{name} is a code competition: Kaggle scores only notebooks with the internet off.")
    closed = getattr(module, "SUBMIT_CLOSED", None)
    if closed and not code and not args.no_submit:
        raise PushError(f"{closed} (use --no-submit to run the notebook and fetch its output only)")


def _connect(args: argparse.Namespace, name: str, slug: str) -> Notebook:
    """Sign in to Kaggle; the notebook is <your user name>/<--kernel or <competition>-pipeline>."""
    from pipeline.kaggle.auth import require_credentials
    from pipeline.kaggle.io import connect

    creds = require_credentials(f"push a notebook for '{slug}'")
    api = connect(creds)
    owner = str((getattr(api, "config_values", {}) or {}).get("username") or creds.user)
    if not owner:
        raise PushError("Kaggle did not say your user name; set KAGGLE_USERNAME.")
    kernel = (args.kernel or f"{name}-pipeline").lower().replace("_", "-")
    return Notebook(api, creds, f"{owner}/{kernel}", Path("kernels") / kernel)


def _push(args: argparse.Namespace, nb: Notebook, dataset: str, slug: str, what: str, more: list[str]) -> None:
    """Check that you joined the competition, write the notebook folder and push it as a new version (with --attach:
    push nothing). `what`: the run (or ensemble) the package predicts with, as the notebook names it."""
    from pipeline.kaggle import kernels as kaggle_kernels
    from pipeline.kaggle.io import require_joined

    if args.attach:
        print(f"waiting for the latest version of notebook {nb.ref} (nothing pushed)")
        return
    # the notebook mounts the competition's data and its output is submitted: both need the rules accepted, which
    # Kaggle would otherwise say only after the notebook has run
    require_joined(nb.api, slug, nb.creds, f"push a notebook for '{slug}'")
    meta = kernel_metadata(nb.ref, dataset, slug, args.gpu, args.internet == "on", more)
    write_kernel(nb.folder, meta, notebook(dataset, what))
    pushed = kaggle_kernels.push(nb.api, nb.folder, nb.ref, nb.creds)
    nb.version = pushed.version
    hardware = "GPU" if args.gpu else "CPU"
    print(f"pushed notebook {nb.ref} version {nb.version or '?'} ({hardware}, internet {args.internet}): {pushed.url}")


def _fetch(nb: Notebook, state: str, failure: str, wanted: str) -> Path:
    """Save the finished version's log and download its `wanted` output file; a failed version shows its log tail."""
    from pipeline.atomic import write_text
    from pipeline.kaggle import kernels as kaggle_kernels

    out = kaggle_kernels.output(nb.api, nb.ref, nb.creds)
    where = nb.folder / "output" / (f"v{nb.version}" if nb.version else "latest")
    if out.log:
        where.mkdir(parents=True, exist_ok=True)
        write_text(where / "log.txt", kaggle_kernels.log_text(out.log))
    if state != "COMPLETE":
        tail = kaggle_kernels.log_tail(out.log)
        if tail:
            print(f"last lines of the notebook's log ({where / 'log.txt'}):", file=sys.stderr)
            for line in tail:
                print(f"  {line}", file=sys.stderr)
        said = f": {failure}" if failure else ""
        raise PushError(
            f"notebook {nb.ref} version {nb.version or '(latest)'} ended {state}{said}; nothing was submitted. "
            f"See https://www.kaggle.com/code/{nb.ref}"
        )
    url = next((u for n, u in out.files if n == wanted), None)
    if url is None:
        listed = ", ".join(n for n, _ in out.files) or "no files"
        raise PushError(
            f"notebook {nb.ref} finished but wrote no {wanted} (its output: {listed}); nothing was submitted."
        )
    got = kaggle_kernels.download(url, where / wanted)
    print(f"output of notebook {nb.ref}: {got}")
    return got


def main(args: argparse.Namespace) -> int:
    """Check everything local, push, wait, fetch, then submit or report."""
    from pipeline import contract
    from pipeline.commands.submit import data_folder, run_config
    from pipeline.kaggle import kernels as kaggle_kernels

    module = contract.load_competition(args.competition)
    name, slug = contract.competition_name(module), module.KAGGLE_SLUG
    code = bool(getattr(module, "CODE_COMPETITION", False))
    _check_options(args, module, name, code)
    manifest, dataset, run_dir, summary = read_package(Path(args.package), module, name)
    if not code:  # the output is validated with or without --no-submit
        data_folder(module, run_dir, summary)  # the data to validate against is here before an hour on Kaggle
        run_config(module, run_dir, summary)  # and the Config to read it with (an ensemble's: its base run's)
    more = original_sources(module, run_dir, summary)
    nb = _connect(args, name, slug)
    _push(args, nb, dataset, slug, inferred(str(manifest.get("run_id")), summary), more)
    done = kaggle_kernels.wait(nb.api, nb.ref, nb.creds, args.timeout)
    if done is None:
        print(
            f"notebook {nb.ref} is still running after {args.timeout:g} s; it keeps running on Kaggle "
            f"(https://www.kaggle.com/code/{nb.ref}). Wait for it again, without pushing: python -m pipeline push "
            f"{args.competition} --package {args.package} --attach",
            file=sys.stderr,
        )
        return 1
    wanted = Path(str(summary.get("submission") or "submission.csv")).name
    got = _fetch(nb, *done, wanted)
    if code:
        v = nb.version or "<version>"
        print(
            f"{name} is a code competition: Kaggle reruns the notebook on the hidden test set. Submit version {v} of "
            f"{nb.ref}: on https://www.kaggle.com/code/{nb.ref} ('Submit to competition'), or with "
            f'kaggle competitions submit -c {slug} -k {nb.ref} -v {v} -f {wanted} -m "...". Nothing was submitted.'
        )
        return 0
    return _submit(args, module, run_dir, summary, got, nb.version)


def _submit(
    args: argparse.Namespace, module: ModuleType, run_dir: Path, summary: dict[str, Any], got: Path, version: int | None
) -> int:
    """Validate the notebook's submission as `submit` does; submit it unless --no-submit; record it in the run."""
    from pipeline.commands.submit import default_message, revalidate, warn_unconfirmed
    from pipeline.datadir import competition_arg
    from pipeline.kaggle.io import submit_file
    from pipeline.kaggle.records import RECORD_FILE, add_record

    slug, where = module.KAGGLE_SLUG, competition_arg(module)
    run_id = str(summary.get("run_id") or run_dir.name)
    tag = f"{run_id}-kernel-v{version}" if version else f"{run_id}-kernel"
    with tempfile.TemporaryDirectory(prefix="pipeline-push-") as tmp:
        staged = Path(tmp) / f"{tag}{''.join(got.suffixes) or '.csv'}"
        shutil.copyfile(got, staged)
        revalidate(module, run_dir, summary, staged, what=f"the output of notebook version {version or '(latest)'}")
        print(f"valid: {got.name} of notebook version {version or '(latest)'}")
        if args.no_submit:
            print(f"not submitted (--no-submit): {got}")
            return 0
        message = args.message or f"{default_message(summary, run_id)} | notebook v{version or '?'}"
        result = submit_file(slug, staged, message, check=f"python -m pipeline submissions {where}")
    print(f"Submitted {staged.name} to {slug}: {result['kaggle_message'] or 'ok'}")
    print(f"Message: {message}")
    own = Path(str(summary.get("run_dir") or ""))
    if own.is_dir() and (own / "summary.json").is_file():
        add_record(own, result["record"])
        print(f"Recorded in {own.name}/{RECORD_FILE}.")
    if not result["confirmed"]:
        warn_unconfirmed(where)
    print(f"Scores: python -m pipeline submissions {where}")
    return 0
