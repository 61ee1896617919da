"""Turn what the kaggle client raises into messages that say what happened and what to do, without secrets.

Classification goes by the HTTP status and the server's structured error first ({"code", "message"} from the API,
{"error": {"code", "message", "status"}} from Google's front end), and only then by the message's words; a
successful answer is never scanned for words.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

from pipeline.kaggle.auth import redact
from pipeline.kaggle.client import timeouts
from pipeline.kaggle.types import SETTINGS_URL, Credentials, KaggleError

__all__ = [
    "KaggleError",
    "kaggle_call",
    "limit_message",
    "not_joined_message",
    "rules_url",
    "server_error",
    "translate",
]

# Wording of the daily/total submission cap in a refused CreateSubmission (only read on an HTTP error while
# submitting, never on a 429 and never on a success).
DAILY_LIMIT = re.compile(
    r"submission (allowance|limit)|daily submission|submissions per day|maximum number of submissions", re.I
)
RULES = re.compile(r"\brules?\b|join (this|the) competition|not (yet )?(joined|entered)", re.I)
PERMISSION = re.compile(r"permission '[^']*' was denied", re.I)


def rules_url(slug: str) -> str:
    """The competition's rules page: rules can only be accepted there, not through the API."""
    return f"https://www.kaggle.com/competitions/{slug}/rules"


def not_joined_message(slug: str, action: str, said: str = "") -> str:
    """The account has not joined `slug` (accepted its rules): where to do it, since the API cannot."""
    kaggle_said = f" (Kaggle said: {said})" if said else ""
    return (
        f"Cannot {action}: you have not joined the competition '{slug}' or accepted its rules{kaggle_said}. Rules "
        f"cannot be accepted through the API: open {rules_url(slug)}, accept them (the 'Join Competition' or 'Late "
        "Submission' button), then run this command again."
    )


def endpoint() -> str:
    """The Kaggle API address the client talks to."""
    try:
        from kagglesdk.kaggle_env import get_endpoint, get_env

        return get_endpoint(get_env())
    except Exception:  # an unknown KAGGLE_API_ENVIRONMENT: the client itself will say so
        return "https://api.kaggle.com"


def until_utc_midnight(now: dt.datetime | None = None) -> str:
    """Time left until Kaggle's daily submission allowance resets (00:00 UTC), e.g. '5h 12m'."""
    now = now or dt.datetime.now(dt.UTC)
    midnight = (now + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    minutes = int((midnight - now).total_seconds() // 60)
    return f"{minutes // 60}h {minutes % 60:02d}m"


def limit_message(slug: str, detail: str = "") -> str:
    """The submission limit is reached: when it resets; nothing was submitted."""
    return (
        f"Submission limit reached for '{slug}'{': ' + detail.rstrip('.') if detail else ''}. Nothing was submitted. "
        f"Kaggle's daily allowance resets at 00:00 UTC (in {until_utc_midnight()}); "
        f"see the limits on https://www.kaggle.com/competitions/{slug}/submissions"
    )


@dataclass(frozen=True)
class ServerError:
    """What the server said in an error answer: HTTP status, structured code/status and message."""

    http: int
    code: int | None
    status: str
    message: str
    retry_after: str


def server_error(e: Any) -> ServerError | None:
    """The structured error of an HTTPError's response (flat or nested under "error"), or None without a response."""
    response = getattr(e, "response", None)
    if response is None:
        return None
    body: Any = None
    with suppress(ValueError):
        body = response.json()
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body = body["error"]
    body = body if isinstance(body, dict) else {}
    code = body.get("code")
    message = str(body.get("message") or "") or str(getattr(response, "reason", "") or "") or str(e)
    return ServerError(
        http=int(response.status_code),
        code=int(code) if isinstance(code, int) or (isinstance(code, str) and code.isdigit()) else None,
        status=str(body.get("status") or ""),
        message=message,
        retry_after=str(response.headers.get("Retry-After") or ""),
    )


def _retry_hint(err: ServerError) -> str:
    wait = err.retry_after
    if wait.isdigit():
        return f"retry in {int(wait)} s or later"
    if wait:
        return f"retry after {wait}"
    return "wait a few minutes, then retry"


def _timeout_seconds(e: BaseException) -> str:
    import requests

    connect, read = timeouts()
    return f"{connect:g}" if isinstance(e, requests.ConnectTimeout) else f"{read:g}"


def _is_timeout(e: BaseException) -> bool:
    import requests

    if isinstance(e, requests.Timeout):
        return True
    text = f"{type(e).__name__} {e}"
    return "ReadTimeout" in text or "timed out" in text


def translate(
    e: BaseException, slug: str, action: str, creds: Credentials | None = None, *, submitting: bool = False
) -> KaggleError | None:
    """A KaggleError explaining `e` (raised while trying to `action` for `slug`), or None if `e` is not Kaggle's.

    `submitting`: the call was the upload of a submission, the only call whose refusal can be the submission cap.
    """
    import requests

    what = f"Cannot {action}"
    err = server_error(e) if isinstance(e, requests.HTTPError) else None
    if err is not None:
        said = redact(err.message, creds)
        tag = f"{err.http}{' ' + err.status if err.status else ''}: {said}"
        if err.http == 401 or err.status == "UNAUTHENTICATED":
            source = creds.source if creds else "your configuration"
            return KaggleError(
                f"{what}: Kaggle rejected the credentials from {source} ({tag}). "
                f"Create a new token at {SETTINGS_URL} and replace the old one."
            )
        if err.http == 429 or err.code == 429 or err.status == "RESOURCE_EXHAUSTED":
            return KaggleError(
                f"{what}: Kaggle is rate limiting requests from this account ({tag}); this is not the daily "
                f"submission limit and nothing was changed. {_retry_hint(err).capitalize()}."
            )
        if err.http in (400, 403) and RULES.search(said):
            return KaggleError(not_joined_message(slug, action, said))
        if err.http == 403 and (PERMISSION.search(said) or err.status == "PERMISSION_DENIED"):
            return KaggleError(
                f"{what}: Kaggle denied access to '{slug}' ({tag}). The slug may be wrong (check KAGGLE_SLUG against "
                f"https://www.kaggle.com/competitions/{slug}), or the competition is private or needs you to join "
                f"it first ({rules_url(slug)})."
            )
        if err.http == 403:
            return KaggleError(
                f"{what}: Kaggle answered 403 Forbidden ({said}). Join the competition and accept its rules at "
                f"{rules_url(slug)}; Kaggle may also require a phone-verified account."
            )
        if submitting and err.http in (400, 403, 409) and DAILY_LIMIT.search(said):
            return KaggleError(limit_message(slug, said))
        if err.http == 404:
            return KaggleError(
                f"{what}: Kaggle has no competition '{slug}' (404 Not Found: {said}). Check KAGGLE_SLUG against "
                "the competition's address, https://www.kaggle.com/competitions/<slug>; a finished competition "
                "may also no longer accept this."
            )
        if err.http >= 500:
            return KaggleError(f"{what}: Kaggle's server failed ({tag}). Try again later.")
        return KaggleError(f"{what}: Kaggle refused the request ({tag}).")
    if isinstance(e, requests.ConnectionError | requests.Timeout) and _is_timeout(e):
        return KaggleError(
            f"{what}: cannot reach Kaggle at {endpoint()} (no answer in {_timeout_seconds(e)} s). Check the network "
            "connection and any proxy settings (HTTPS_PROXY), or allow more time with PIPELINE_KAGGLE_TIMEOUT "
            "(seconds), then run the command again."
        )
    if isinstance(e, requests.ConnectionError):
        return KaggleError(
            f"{what}: cannot reach Kaggle at {endpoint()} (connection failed). Check the network connection and "
            "any proxy settings (HTTPS_PROXY), then run the command again."
        )
    if isinstance(e, requests.RequestException):
        return KaggleError(f"{what}: {type(e).__name__}: {redact(str(e), creds)}")
    return None


@contextmanager
def kaggle_call(
    slug: str, action: str, creds: Credentials | None = None, *, submitting: bool = False
) -> Iterator[None]:
    """Re-raise errors of the kaggle client inside the block as KaggleError with a helpful, secret-free message."""
    try:
        yield
    except KaggleError:
        raise
    except Exception as e:
        err = translate(e, slug, action, creds, submitting=submitting)
        if err is None:
            raise
        raise err from None
