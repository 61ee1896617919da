"""Kaggle I/O through the kaggle client (kagglesdk): download competition data (and a dataset's files), submit,
list and await scores.

Downloads land in data/.<slug>.download/ first (the kaggle client resumes an interrupted file there), become
data/<slug>.zip only once the zip is complete, and data/<slug>/ only once extraction (all or nothing) succeeded; a
dataset "owner/name" the same way in data/datasets/<owner>/ (.<name>.download/, <name>.zip, <name>/).
A submission is reported as made only when Kaggle returned its id; an answer that never came is checked against
the submission list before anything is said, so a retry never spends a second daily slot by mistake.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
import shutil
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from pipeline.archives import (
    MARKER,
    DataError,
    check_expected,
    damage,
    display_path,
    extract_competition_zip,
    extract_inner,
)
from pipeline.kaggle.auth import (
    Credentials,
    config_path,
    find_credentials,
    no_credentials_message,
    redact,
    require_credentials,
)
from pipeline.kaggle.client import import_kaggle, put_file, timeouts
from pipeline.kaggle.errors import kaggle_call, limit_message, not_joined_message, server_error, translate
from pipeline.kaggle.types import SETTINGS_URL, KaggleError

PAGE_SIZE = 100  # asked for; the server answers 50 a page whatever is asked, so paging follows nextPageToken
MAX_PAGES = 200
POLL_FIRST_S, POLL_FACTOR, POLL_MAX_S = 3.0, 1.5, 30.0
_sleep, _clock = time.sleep, time.monotonic  # replaced in tests
T = TypeVar("T")


# ---------- connecting ----------


def _authenticated_as(api: Any, creds: Credentials) -> bool:
    values = getattr(api, "config_values", {}) or {}
    method = str(values.get("auth_method", ""))
    if creds.kind == "token":
        return method == "ACCESS_TOKEN" and values.get("token") == creds.secrets[0]
    if creds.kind == "key":
        return (
            method == "LEGACY_API_KEY"
            and values.get("key") == creds.secrets[0]
            and values.get("username") == creds.user
        )
    return method == "OAUTH"


_signed_in: dict[tuple[str, ...], Any] = {}  # credentials -> the KaggleApi signed in with them in this process


def connect(creds: Credentials) -> Any:
    """A KaggleApi authenticated with `creds`: the one `import kaggle` (or an earlier call) signed in, if it matches."""
    timeouts()  # a malformed PIPELINE_KAGGLE_TIMEOUT is reported before anything is sent
    kaggle = import_kaggle()
    shared = getattr(kaggle, "api", None)
    if shared is not None and getattr(shared, "_authenticated", False) and _authenticated_as(shared, creds):
        return shared  # no second authentication round trip
    key = (creds.kind, creds.user, str(config_path()), *creds.secrets)
    if key in _signed_in:
        return _signed_in[key]
    from kaggle.api.kaggle_api_extended import KaggleApi

    api = KaggleApi()
    # KaggleApi reads KAGGLE_CONFIG_DIR once, when the class is defined: point this instance at today's config.
    api.config_dir = str(config_path().parent)
    api.config = str(config_path())
    with kaggle_call("", "sign in to Kaggle", creds), contextlib.redirect_stdout(io.StringIO()):
        try:
            api.authenticate()
        except SystemExit:
            raise KaggleError(
                f"Kaggle did not accept the credentials from {creds.source}. Create a new token at {SETTINGS_URL} "
                "and replace the old one.\n" + no_credentials_message("sign in").split("\n", 1)[1]
            ) from None
    _signed_in[key] = api
    return api


def _service(client: Any) -> Any:
    return client.competitions.competition_api_client


def require_joined(api: Any, slug: str, creds: Credentials, action: str) -> None:
    """Refuse (KaggleError naming the rules page) when this account has not joined `slug`: accepted its rules.

    One small call, GetCompetition, whose userHasEntered says it: a notebook that mounts the competition's data, or a
    submission, is refused by Kaggle without it, and only after the notebook has run.
    """
    from kagglesdk.competitions.types.competition_api_service import ApiGetCompetitionRequest

    request = ApiGetCompetitionRequest()
    request.competition_name = slug
    with kaggle_call(slug, action, creds), api.build_kaggle_client() as client:
        competition = _service(client).get_competition(request)
    if not competition.user_has_entered:
        raise KaggleError(not_joined_message(slug, action))


# ---------- download ----------


def _damaged(dest: Path, expected: list[str]) -> str:
    """Why dest cannot be used as it is ('' when it holds the extracted data intact)."""
    if not (dest / MARKER).is_file():
        return "not extracted"
    problems = damage(dest)
    if problems:
        return problems[0]
    missing = [f for f in expected if not (dest / f).exists()]
    return f"{missing[0]} is missing" if missing else ""


def _extract(archive: Path, dest: Path, expected: list[str], slug: str, downloaded: bool, force: bool) -> Path:
    try:
        extract_competition_zip(archive, dest, force=force, expected=expected, slug=slug)
    except DataError as e:
        if downloaded:
            archive.unlink(missing_ok=True)
            raise DataError(f"{e} The corrupt download was removed; run the download again.") from None
        raise
    check_expected(dest, expected, slug)
    if downloaded:
        archive.unlink(missing_ok=True)  # extracted and checked: the zip would only double the disk space
    return dest


@dataclass(frozen=True)
class _Source:
    """What a download fetches: a competition's data or a dataset's files.

    ref: its name in messages (the competition slug, or "owner/name"). stem: the zip (<stem>.zip) and the staging
    folder (.<stem>.download) beside the data folder. call: the kaggle client -> Kaggle's redirect to the zip.
    explain: an error of the client -> the KaggleError that says what happened (None: not Kaggle's).
    """

    ref: str
    stem: str
    action: str
    call: Callable[[Any], Any]
    explain: Callable[[BaseException, Credentials], KaggleError | None]


def _fetch(api: Any, source: _Source, staging: Path, creds: Credentials, progress: bool) -> Path:
    read_s = timeouts()[1]
    with api.build_kaggle_client() as client:
        try:
            response = source.call(client)
        except Exception as e:
            raise source.explain(e, creds) or e from None
        name = response.url.split("?")[0].rsplit("/", 1)[-1]
        outfile = staging / f"{source.stem}.{name.rsplit('.', 1)[-1] if '.' in name else 'zip'}"
        try:
            api.download_file(
                response, str(outfile), client.http_client(), quiet=not progress, resume=True, timeout=read_s
            )
        except (OSError, ValueError) as e:
            import requests

            if isinstance(e, requests.HTTPError):
                raise source.explain(e, creds) or e from None
            said = f"no answer in {read_s:g} s" if "timed out" in str(e).lower() else redact(str(e), creds)[:300]
            raise KaggleError(
                f"The download of '{source.ref}' was interrupted ({type(e).__name__}: {said}). The partial file is "
                f"kept in {display_path(staging)} and is not used; run the download again to resume it."
            ) from None
    return outfile


def _download(source: _Source, dest: Path, expected: list[str], force: bool, progress: bool, log: Any) -> Path:
    """Fetch source's zip into dest.parent (staged, resumable) and extract it into dest; skipped when complete."""
    problem = "" if force else _damaged(dest, expected)
    if not force and not problem:
        extract_inner(dest)
        log(f"{display_path(dest)} is complete; nothing to download (use --force to fetch and extract it again).")
        return dest
    if force:
        log(f"--force: getting {display_path(dest)} again.")
    elif dest.is_dir() and problem != "not extracted":
        log(f"{display_path(dest)} is damaged ({problem}); getting the data again.")
    archive = dest.parent / f"{source.stem}.zip"
    if not force and archive.is_file():
        if zipfile.is_zipfile(archive):
            log(f"Extracting {display_path(archive)} into {display_path(dest)}")
            return _extract(archive, dest, expected, source.ref, downloaded=False, force=False)
        log(f"{display_path(archive)} is incomplete (an interrupted download?); downloading it again.")
    creds = require_credentials(f"download '{source.ref}'")
    staging = dest.parent / f".{source.stem}.download"
    if force:
        shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True, exist_ok=True)
    api = connect(creds)
    log(f"Downloading {source.ref} from Kaggle into {display_path(dest)}")
    got = _fetch(api, source, staging, creds, progress)
    if not got.is_file() or not zipfile.is_zipfile(got):
        got.unlink(missing_ok=True)
        raise KaggleError(
            f"The download of '{source.ref}' is not a complete zip archive (truncated?); it was removed. "
            "Run the download again."
        )
    os.replace(got, archive)
    shutil.rmtree(staging, ignore_errors=True)
    log(f"Extracting {display_path(archive)} into {display_path(dest)}")
    return _extract(archive, dest, expected, source.ref, downloaded=True, force=force)


def download_competition(
    slug: str, dest: Path | str, expected: list[str], *, force: bool = False, progress: bool = True, log: Any = print
) -> Path:
    """Download and extract the competition's files into dest; complete data is not fetched again.

    force: download again and always extract again (repairs a damaged data folder).
    """
    from kagglesdk.competitions.types.competition_api_service import ApiDownloadDataFilesRequest

    def call(client: Any) -> Any:
        request = ApiDownloadDataFilesRequest()
        request.competition_name = slug
        return _service(client).download_data_files(request)

    action = f"download the data of '{slug}'"
    source = _Source(slug, slug, action, call, lambda e, creds: translate(e, slug, action, creds))
    return _download(source, Path(dest), expected, force, progress, log)


def dataset_parts(slug: str) -> tuple[str, str] | None:
    """A Kaggle dataset's (owner, name) from "owner/name"; None for a local dataset (a name without owner)."""
    parts = slug.strip("/").split("/")
    if len(parts) == 1:
        return None
    if len(parts) != 2 or not all(parts):
        raise DataError(f"'{slug}' is not a Kaggle dataset slug: write it as owner/name (kaggle.com/datasets/...).")
    return parts[0], parts[1]


def _dataset_error(e: BaseException, slug: str, action: str, creds: Credentials | None) -> KaggleError | None:
    """translate's answer, except that a refusal (403, 404) names the dataset rather than a competition."""
    import requests

    err = server_error(e) if isinstance(e, requests.HTTPError) else None
    if err is not None and err.http in (403, 404):
        return KaggleError(
            f"Cannot {action}: Kaggle has no dataset '{slug}' that this account may read ({err.http}: "
            f"{redact(err.message, creds)}). The slug may be wrong (check it against "
            f"https://www.kaggle.com/datasets/{slug}), or the dataset is private."
        )
    return translate(e, slug, action, creds)


def download_dataset(
    slug: str, dest: Path | str, expected: list[str], *, force: bool = False, progress: bool = True, log: Any = print
) -> Path:
    """Download and extract a Kaggle dataset ("owner/name") into dest, as download_competition does a competition's.

    A local dataset (a slug without owner) cannot be downloaded: the error says where to put its files.
    """
    dest = Path(dest)
    parts = dataset_parts(slug)
    if parts is None:
        files = ", ".join(expected) or "its files"
        raise DataError(
            f"'{slug}' is a local dataset (its slug names no Kaggle owner, as owner/name would), so it cannot be "
            f"downloaded: put {files} in {display_path(dest)}/."
        )
    owner, name = parts
    from kagglesdk.datasets.types.dataset_api_service import ApiDownloadDatasetRequest

    def call(client: Any) -> Any:
        request = ApiDownloadDatasetRequest()
        request.owner_slug, request.dataset_slug = owner, name
        return client.datasets.dataset_api_client.download_dataset(request)

    ref, action = f"{owner}/{name}", f"download the dataset '{owner}/{name}'"
    source = _Source(ref, name, action, call, lambda e, creds: _dataset_error(e, ref, action, creds))
    return _download(source, dest, expected, force, progress, log)


def download_if_possible(module: ModuleType, folder: Path) -> bool:
    """Download the competition's data into folder when Kaggle credentials exist; False (quietly) when none do."""
    if find_credentials() is None:
        return False
    download_competition(module.KAGGLE_SLUG, folder, list(getattr(module, "EXPECTED_FILES", [])))
    return True


# ---------- submissions ----------


def utc_now() -> str:
    """The current time as Kaggle writes dates: ISO 8601, UTC, seconds."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _score(value: Any) -> float | None:
    try:
        return None if value in (None, "") else float(value)
    except (TypeError, ValueError):
        return None


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
        "error": s.error_description or None,
    }


def submission_limits(api: Any, slug: str, creds: Credentials) -> dict[str, Any] | None:
    """Today's counts and allowance; None when Kaggle does not answer (never fails a submit).

    "known" is False when every figure is zero: Kaggle's answer for a user who is not on a team yet.
    """
    from kagglesdk.competitions.types.competition_api_service import ApiGetSubmissionLimitsRequest

    request = ApiGetSubmissionLimitsRequest()
    request.competition_name = slug
    try:
        with kaggle_call(slug, f"read the submission limits of '{slug}'", creds), api.build_kaggle_client() as c:
            lim = _service(c).get_submission_limits(request)
    except KaggleError:
        return None
    figures = (lim.num_today, lim.num_total, lim.num_allowed_now)
    return {
        "today": lim.num_today,
        "total": lim.num_total,
        "left": lim.num_allowed_now,
        "by_total": lim.limited_by_total,
        "known": any(figures) or bool(lim.limited_by_total),
    }


def _pages(api: Any, slug: str, creds: Credentials, max_pages: int = MAX_PAGES) -> Any:
    """Yield the submission list page by page (newest first), following nextPageToken."""
    from kagglesdk.competitions.types.competition_api_service import ApiListSubmissionsRequest

    token, used = "", set()
    with api.build_kaggle_client() as client:
        for _ in range(max_pages):
            request = ApiListSubmissionsRequest()
            request.competition_name = slug
            request.page_size = PAGE_SIZE
            request.page_token = token
            if not token:
                request.page = 1
            with kaggle_call(slug, f"list your submissions to '{slug}'", creds):
                response = _service(client).list_submissions(request)
            page = [s for s in response.submissions or [] if s is not None]
            yield page
            token = response.next_page_token or ""
            if not page or not token or token in used:
                return
            used.add(token)


def list_submissions(slug: str, *, api: Any = None, creds: Credentials | None = None) -> list[dict[str, Any]]:
    """Every submission of the user to the competition (newest first) as plain dicts with numeric scores."""
    creds = creds or require_credentials(f"list the submissions to '{slug}'")
    api = api or connect(creds)
    out: list[dict[str, Any]] = []
    seen: set[Any] = set()
    for page in _pages(api, slug, creds):
        for sub in map(_plain, page):
            if sub["ref"] not in seen or sub["ref"] is None:
                seen.add(sub["ref"])
                out.append(sub)
    return out


def _find(api: Any, slug: str, creds: Credentials, file: str, message: str, since: str) -> dict[str, Any] | None:
    """Our submission in the first page of the list (same file and message, made after `since`), if there."""
    try:
        page = next(iter(_pages(api, slug, creds, max_pages=1)), [])
    except Exception:
        return None
    earliest = (dt.datetime.fromisoformat(since.replace("Z", "+00:00")) - dt.timedelta(minutes=5)).isoformat()
    for sub in map(_plain, page):
        when = (sub["date"] or "").replace("Z", "+00:00")
        if sub["file"] == file and sub["message"] == message and when >= earliest[:19]:
            return sub
    return None


def _start_upload(api: Any, slug: str, path: Path, creds: Credentials) -> Any:
    from kagglesdk.competitions.types.competition_api_service import ApiStartSubmissionUploadRequest

    request = ApiStartSubmissionUploadRequest()
    request.competition_name = slug
    request.file_name = path.name
    request.content_length = path.stat().st_size
    request.last_modified_epoch_seconds = int(path.stat().st_mtime)
    with kaggle_call(slug, f"submit to '{slug}'", creds, submitting=True), api.build_kaggle_client() as client:
        return _service(client).start_submission_upload(request)


def submit_file(slug: str, path: Path, message: str, *, check: str = "") -> dict[str, Any]:
    """Upload a submission file; the record to keep, Kaggle's message, and the limits left.

    An account that has not joined the competition is refused first (require_joined), before anything is uploaded.
    check: the command that lists the submissions, named when Kaggle's answer is lost.
    """
    import requests
    from kagglesdk.competitions.types.competition_api_service import ApiCreateSubmissionRequest

    creds = require_credentials(f"submit to '{slug}'")
    api = connect(creds)
    require_joined(api, slug, creds, f"submit to '{slug}'")
    limits = submission_limits(api, slug, creds)
    if limits and limits["known"] and limits["left"] <= 0:
        detail = f"{limits['today']} submitted today, {limits['total']} in all"
        detail += " (the competition's total cap)" if limits["by_total"] else ""
        raise KaggleError(limit_message(slug, detail))
    started = utc_now()
    upload = _start_upload(api, slug, path, creds)
    try:
        put_file(path, upload.create_url)
    except KaggleError as e:
        raise KaggleError(
            f"Could not submit to '{slug}': {e}, so nothing was submitted. Run the command again."
        ) from None
    request = ApiCreateSubmissionRequest()
    request.competition_name = slug
    request.blob_file_tokens = upload.token
    request.submission_description = message
    said, ref = "", None
    try:
        with api.build_kaggle_client() as client:
            response = _service(client).create_submission(request)
        said, ref = str(response.message or ""), int(response.ref or 0) or None
    except (requests.ConnectionError, requests.Timeout) as e:
        found = _find(api, slug, creds, path.name, message, started)
        if found is None:
            lost = translate(e, slug, f"confirm the submission to '{slug}'", creds)
            raise KaggleError(
                f"{lost} The file was uploaded, so the submission may or may not have been made: check "
                f"{check or 'your submissions'} before submitting again, so as not to spend another slot."
            ) from None
        ref, said = found["ref"], "confirmed from the submission list after Kaggle's answer was lost"
    except requests.HTTPError as e:
        raise translate(e, slug, f"submit to '{slug}'", creds, submitting=True) or e from None
    record = {
        "ref": ref,
        "date": started,
        "message": message,
        "file": path.name,
        "status": "PENDING",
        "public_score": None,
        "private_score": None,
        "error": None,
    }
    left = None if limits is None or not limits["known"] else max(limits["left"] - 1, 0)
    return {"record": record, "kaggle_message": said, "left": left, "limits": limits, "confirmed": ref is not None}


def _poll_once(api: Any, slug: str, ref: int, creds: Credentials) -> tuple[dict[str, Any] | None, str]:
    """The submission as listed now (None if not found), or a transient failure's description."""
    import requests

    try:
        for page in _pages(api, slug, creds, max_pages=5):
            for sub in map(_plain, page):
                if sub["ref"] == ref:
                    return sub, ""
    except KaggleError as e:
        cause = e.__context__
        transient = isinstance(cause, requests.ConnectionError | requests.Timeout) or (
            isinstance(cause, requests.HTTPError)
            and cause.response is not None
            and (cause.response.status_code >= 500 or cause.response.status_code == 429)
        )
        if not transient:
            raise
        return None, str(e).split(": ", 1)[-1][:160]
    return None, "not in the list yet"


def poll(
    check: Callable[[], tuple[T | None, str]],
    timeout_s: float,
    label: str,
    log: Any = None,
    first_s: float = POLL_FIRST_S,
    max_s: float = POLL_MAX_S,
) -> T | None:
    """Call `check` until it returns a result; None when `timeout_s` passed first.

    `check` returns (the result or None, the state to show). Waits grow from `first_s` by POLL_FACTOR up to `max_s`;
    each is one line `<label>: <state> after N s; next check in M s` (rewritten in place on a terminal).
    """
    tty = sys.stderr.isatty()
    log = log or (lambda line: print(line, file=sys.stderr, end="\r" if tty else "\n", flush=True))
    start, delay = _clock(), first_s
    while True:
        result, state = check()
        elapsed = _clock() - start
        left = timeout_s - elapsed
        if result is not None or left <= 0:
            if tty:
                print(file=sys.stderr)
            return result
        pause = min(delay, left)
        log(f"{label}: {state} after {elapsed:.0f} s; next check in {pause:.0f} s")
        _sleep(pause)
        delay = min(delay * POLL_FACTOR, max_s)


def wait_for_score(slug: str, ref: int, timeout_s: float, *, log: Any = None) -> dict[str, Any] | None:
    """Poll the submission until Kaggle has scored it (COMPLETE or ERROR); None when `timeout_s` passed first."""
    creds = require_credentials(f"read the submissions to '{slug}'")
    api = connect(creds)

    def scored() -> tuple[dict[str, Any] | None, str]:
        sub, problem = _poll_once(api, slug, ref, creds)
        if sub is not None and sub["status"] not in ("PENDING", ""):
            return sub, ""
        return None, sub["status"] if sub else problem

    return poll(scored, timeout_s, f"waiting for Kaggle to score submission {ref}", log)
