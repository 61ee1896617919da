"""Kaggle notebooks (kernels) through the kaggle client: push a version, poll its status, list and fetch its output.

Calls go through kagglesdk's kernels.KernelsApiService (SaveKernel via the client's kernels_push, which reads and
checks kernel-metadata.json; GetKernelSessionStatus; ListKernelSessionOutput). Output files are downloaded from the
signed URLs Kaggle lists, which live on another host: they are fetched without credentials. Errors are classified
by pipeline/kaggle/errors.py; a refused notebook (403/404) gets a message about the notebook, not a competition.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.kaggle import io as kaggle_io
from pipeline.kaggle.client import timeouts
from pipeline.kaggle.errors import server_error, translate
from pipeline.kaggle.types import Credentials, KaggleError

FINISHED = ("COMPLETE", "ERROR", "CANCEL_REQUESTED", "CANCEL_ACKNOWLEDGED")
OUTPUT_PAGE = 50
MAX_PAGES = 200
POLL_FIRST_S, POLL_MAX_S = 10.0, 60.0  # a notebook runs minutes to hours


@dataclass(frozen=True)
class Pushed:
    """A notebook version Kaggle accepted."""

    ref: str  # owner/slug
    version: int | None
    url: str


@dataclass(frozen=True)
class Output:
    """A finished version's output: (file name, signed URL) pairs and the log text."""

    files: list[tuple[str, str]]
    log: str


@contextlib.contextmanager
def _call(ref: str, action: str, creds: Credentials | None) -> Iterator[None]:
    """Kaggle's errors as KaggleError; a 403/404 names the notebook (the competition wording would mislead)."""
    import requests

    try:
        yield
    except KaggleError:
        raise
    except requests.HTTPError as e:
        err = server_error(e)
        if err is not None and err.http in (403, 404) and ("kernel" in err.message.lower() or err.http == 404):
            raise KaggleError(
                f"Cannot {action}: Kaggle has no notebook {ref} that you may use ({err.http}: {err.message}). "
                f"Check the owner (your user name) and the slug: https://www.kaggle.com/code/{ref}"
            ) from None
        raise translate(e, ref, action, creds) or e from None
    except Exception as e:
        err = translate(e, ref, action, creds)
        if err is None:
            raise
        raise err from None


def push(api: Any, folder: Path, ref: str, creds: Credentials) -> Pushed:
    """Push the notebook in `folder` (code file and kernel-metadata.json) as a new version; refused sources fail."""
    with _call(ref, f"push the notebook {ref}", creds), contextlib.redirect_stdout(io.StringIO()):
        response = api.kernels_push(str(folder))
    problems = [str(response.error)] if response.error else []
    for what, bad in (
        ("dataset", response.invalid_dataset_sources),
        ("competition", response.invalid_competition_sources),
        ("notebook", response.invalid_kernel_sources),
        ("model", response.invalid_model_sources),
    ):
        if bad:
            problems.append(f"{what} source(s) not found or not visible to you: {', '.join(bad)}")
    if problems:
        raise KaggleError(f"Kaggle refused the notebook {ref}: {'; '.join(problems)}.")
    return Pushed(ref=ref, version=int(response.version_number or 0) or None, url=str(response.url or ""))


def status(api: Any, ref: str, creds: Credentials) -> tuple[str, str]:
    """The latest version's status name (QUEUED, RUNNING, COMPLETE, ERROR, ...) and its failure message."""
    from kagglesdk.kernels.types.kernels_api_service import ApiGetKernelSessionStatusRequest

    request = ApiGetKernelSessionStatusRequest()
    request.user_name, request.kernel_slug = ref.split("/", 1)
    with _call(ref, f"read the status of notebook {ref}", creds), api.build_kaggle_client() as client:
        response = client.kernels.kernels_api_client.get_kernel_session_status(request)
    state = getattr(response.status, "name", str(response.status or "QUEUED"))
    return state, str(response.failure_message or "")


def _transient(e: KaggleError) -> bool:
    import requests

    cause = e.__context__
    if isinstance(cause, requests.ConnectionError | requests.Timeout):
        return True
    response = getattr(cause, "response", None)
    return (
        isinstance(cause, requests.HTTPError)
        and response is not None
        and response.status_code in (429, 500, 502, 503, 504)
    )


def wait(api: Any, ref: str, creds: Credentials, timeout_s: float, log: Any = None) -> tuple[str, str] | None:
    """Poll until the latest version has finished: (status, failure message); None when `timeout_s` passed first.

    One progress line per poll; waits grow from 10 s to 60 s; a transient failure (network, 5xx, 429) is a line,
    not an error. The loop is kaggle_io.poll (its clock and sleep are replaced in tests).
    """

    def finished() -> tuple[tuple[str, str] | None, str]:
        try:
            state, failure = status(api, ref, creds)
        except KaggleError as e:
            if not _transient(e):
                raise
            return None, f"no answer ({str(e).split(': ', 1)[-1][:120]})"
        return ((state, failure) if state in FINISHED else None), state

    return kaggle_io.poll(finished, timeout_s, f"notebook {ref}", log, POLL_FIRST_S, POLL_MAX_S)


def output(api: Any, ref: str, creds: Credentials) -> Output:
    """Every output file of the latest finished version (following nextPageToken) and its log."""
    from kagglesdk.kernels.types.kernels_api_service import ApiListKernelSessionOutputRequest

    files: list[tuple[str, str]] = []
    log, token, seen = "", "", set()
    with api.build_kaggle_client() as client:
        for _ in range(MAX_PAGES):
            request = ApiListKernelSessionOutputRequest()
            request.user_name, request.kernel_slug = ref.split("/", 1)
            request.page_size = OUTPUT_PAGE
            if token:
                request.page_token = token
            with _call(ref, f"list the output of notebook {ref}", creds):
                response = client.kernels.kernels_api_client.list_kernel_session_output(request)
            files += [(str(f.file_name), str(f.url)) for f in response.files or [] if f is not None and f.url]
            log = log or str(response.log or "")
            token = str(response.next_page_token or "")
            if not token or token in seen:
                break
            seen.add(token)
    return Output(files=files, log=log)


def download(url: str, dest: Path) -> Path:
    """Fetch a signed output URL into `dest` (whole or not at all); no credentials go with it."""
    import requests
    from requests.utils import get_environ_proxies

    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(f".{dest.name}.partial")
    session = requests.Session()
    session.trust_env = False  # no ~/.netrc credentials to the storage host; proxies are passed explicitly
    try:
        with session.get(url, stream=True, timeout=timeouts(), proxies=get_environ_proxies(url)) as response:
            if response.status_code != 200:
                raise KaggleError(
                    f"downloading {dest.name} from Kaggle's storage failed (answered {response.status_code})"
                )
            expected = response.headers.get("Content-Length")
            with open(partial, "wb") as f:
                for chunk in response.iter_content(1 << 20):
                    f.write(chunk)
        if expected is not None and partial.stat().st_size != int(expected):
            raise KaggleError(f"downloading {dest.name} from Kaggle's storage was cut short; run the command again")
        os.replace(partial, dest)
    except requests.RequestException as e:
        raise KaggleError(f"downloading {dest.name} from Kaggle's storage failed ({type(e).__name__})") from None
    finally:
        partial.unlink(missing_ok=True)
        session.close()
    return dest


def log_text(log: str) -> str:
    """A kernel log as plain text: Kaggle serves a JSON array of {"stream_name", "time", "data"}; else as given."""
    try:
        entries = json.loads(log)
    except ValueError:
        return log
    if not isinstance(entries, list):
        return log
    return "".join(str(e.get("data", "")) for e in entries if isinstance(e, dict))


def log_tail(log: str, lines: int = 20) -> list[str]:
    """The last `lines` non-empty lines of a kernel log."""
    return [line for line in log_text(log).splitlines() if line.strip()][-lines:]
