"""Kaggle I/O through the kaggle package's Python API: download competition data, submit, list submissions.

Downloads land in data/.<slug>.download/ first (the kaggle client resumes an interrupted file there), become
data/<slug>.zip only once the zip is complete, and data/<slug>/ only once extraction (all or nothing) succeeded.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

from pipeline.datasets import MARKER, DataError, check_expected, extract_competition_zip, extract_inner
from pipeline.kaggle_auth import Credentials, KaggleError, connect, find_credentials, redact, require_credentials
from pipeline.kaggle_errors import kaggle_call, limit_message

UPLOAD_FAILED = "Could not submit to competition"  # KaggleApi.COMPETITION_SUBMIT_UPLOAD_FAILED_MESSAGE


def _show(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def is_complete(dest: Path, expected: list[str]) -> bool:
    """Whether dest holds the competition's data: every expected file, or the extraction marker when none are named."""
    if not dest.is_dir():
        return False
    if expected:
        return all((dest / f).exists() for f in expected)
    return (dest / MARKER).exists()


def zip_is_complete(path: Path) -> bool:
    """Cheap completeness check: a truncated zip has no end-of-central-directory record."""
    try:
        with zipfile.ZipFile(path) as zf:
            return bool(zf.infolist())
    except (zipfile.BadZipFile, OSError, EOFError):
        return False


def _extract(archive: Path, dest: Path, expected: list[str], slug: str, downloaded: bool) -> Path:
    try:
        extract_competition_zip(archive, dest)
    except DataError as e:
        if downloaded:
            archive.unlink(missing_ok=True)
            raise DataError(f"{e} The corrupt download was removed; run the download again.") from None
        raise
    check_expected(dest, expected, slug)
    if downloaded:
        archive.unlink(missing_ok=True)  # extracted and checked: the zip would only double the disk space
    return dest


def download_competition(
    slug: str, dest: Path | str, expected: list[str], *, force: bool = False, progress: bool = True, log: Any = print
) -> Path:
    """Download and extract the competition's files into dest; complete data is not fetched again."""
    dest = Path(dest)
    if not force and is_complete(dest, expected):
        extract_inner(dest)
        log(f"{_show(dest)} is complete; nothing to download (use --force to fetch it again).")
        return dest
    archive = dest.parent / f"{slug}.zip"
    if not force and archive.is_file():
        if zip_is_complete(archive):
            log(f"Extracting {_show(archive)} into {_show(dest)}")
            return _extract(archive, dest, expected, slug, downloaded=False)
        log(f"{_show(archive)} is incomplete (an interrupted download?); downloading it again.")
    creds = require_credentials(f"download '{slug}'")
    staging = dest.parent / f".{slug}.download"
    if force:
        shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True, exist_ok=True)
    api = connect(creds)
    log(f"Downloading {slug} from Kaggle into {_show(dest)}")
    with kaggle_call(slug, f"download the data of '{slug}'", creds):
        try:
            api.competition_download_files(slug, path=str(staging), force=force, quiet=not progress)
        except (OSError, ValueError) as e:
            import requests

            if isinstance(e, requests.HTTPError | requests.ConnectionError | requests.Timeout):
                raise
            raise KaggleError(
                f"The download of '{slug}' was interrupted ({type(e).__name__}: {redact(str(e), creds)[:300]}). "
                f"The partial file is kept in {_show(staging)} and is not used; run the download again to resume it."
            ) from None
    files = [p for p in staging.iterdir() if p.name.startswith(f"{slug}.") and not p.name.endswith(".kaggle-partial")]
    if not files:
        raise KaggleError(f"Kaggle answered but no file for '{slug}' arrived in {_show(staging)}; try again.")
    got = max(files, key=lambda p: p.stat().st_mtime)
    if not zip_is_complete(got):
        got.unlink()
        raise KaggleError(
            f"The download of '{slug}' is not a complete zip archive (truncated?); it was removed. "
            "Run the download again."
        )
    os.replace(got, archive)
    shutil.rmtree(staging, ignore_errors=True)
    log(f"Extracting {_show(archive)} into {_show(dest)}")
    return _extract(archive, dest, expected, slug, downloaded=True)


def download_if_possible(module: ModuleType, folder: Path) -> bool:
    """Download the competition's data into folder when Kaggle credentials exist; False (quietly) when none do."""
    if find_credentials() is None:
        return False
    download_competition(module.KAGGLE_SLUG, folder, list(getattr(module, "EXPECTED_FILES", [])))
    return True


def submission_limits(api: Any, slug: str, creds: Credentials) -> dict[str, Any] | None:
    """Today's submission counts and allowance, or None when Kaggle does not tell (never fails a submit)."""
    try:
        with kaggle_call(slug, f"read the submission limits of '{slug}'", creds):
            lim = api.competition_get_submission_limits(slug)
    except KaggleError:
        return None
    return {
        "today": lim.num_today,
        "total": lim.num_total,
        "left": lim.num_allowed_now,
        "by_total": lim.limited_by_total,
    }


def submit_file(slug: str, path: Path, message: str) -> dict[str, Any]:
    """Upload a submission file; the record to keep (ref, date, message, file, status, scores) and limits left."""
    creds = require_credentials(f"submit to '{slug}'")
    api = connect(creds)
    limits = submission_limits(api, slug, creds)
    if limits and limits["left"] <= 0 and (limits["today"] or limits["total"]):
        detail = f"{limits['today']} submitted today, {limits['total']} in all"
        detail += " (the competition's total cap)" if limits["by_total"] else ""
        raise KaggleError(limit_message(slug, detail))
    with kaggle_call(slug, f"submit to '{slug}'", creds):
        resp = api.competition_submit(str(path), message, slug, quiet=True)
    said = str(getattr(resp, "message", "") or "")
    if said == getattr(api, "COMPETITION_SUBMIT_UPLOAD_FAILED_MESSAGE", UPLOAD_FAILED):
        raise KaggleError(
            f"Could not submit to '{slug}': uploading {path.name} to Kaggle's storage failed, so nothing "
            "was submitted. Run the command again."
        )
    if any(w in said.lower() for w in ("limit", "allowance", "exceeded")):
        raise KaggleError(limit_message(slug, said))
    record = {
        "ref": int(resp.ref) if getattr(resp, "ref", 0) else None,
        "date": utc_now(),
        "message": message,
        "file": path.name,
        "status": "PENDING",
        "public_score": None,
        "private_score": None,
    }
    left = None if limits is None else max(limits["left"] - 1, 0)
    return {"record": record, "kaggle_message": said, "left": left}


def utc_now() -> str:
    """The current time as Kaggle writes dates: ISO 8601, UTC, seconds."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _score(value: Any) -> float | None:
    try:
        return None if value in (None, "") else float(value)
    except (TypeError, ValueError):
        return None


def list_submissions(slug: str, max_pages: int = 20, page_size: int = 100) -> list[dict[str, Any]]:
    """The user's submissions to the competition (newest first) as plain dicts with numeric scores."""
    creds = require_credentials(f"list the submissions to '{slug}'")
    api = connect(creds)
    out: list[Any] = []
    seen: set[int] = set()
    with kaggle_call(slug, f"list your submissions to '{slug}'", creds):
        for page_number in range(1, max_pages + 1):
            page = [
                s
                for s in api.competition_submissions(slug, page_number=page_number, page_size=page_size) or []
                if s is not None
            ]
            fresh = [s for s in page if s.ref not in seen]
            seen.update(s.ref for s in fresh)
            out.extend(fresh)
            if len(page) < page_size or not fresh:  # the last page, or a server that ignores paging
                break
    return [_plain(s) for s in out]


def _plain(s: Any) -> dict[str, Any]:
    date = getattr(s, "date", None)
    status = getattr(s, "status", None)
    return {
        "ref": int(s.ref) if getattr(s, "ref", 0) else None,
        "date": date.strftime("%Y-%m-%dT%H:%M:%SZ") if isinstance(date, dt.datetime) else (date or None),
        "message": s.description or "",
        "file": s.file_name or "",
        "status": getattr(status, "name", str(status or "")),
        "public_score": _score(s.public_score),
        "private_score": _score(s.private_score),
        "error": s.error_description or "",
    }
