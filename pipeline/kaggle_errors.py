"""Turn what the kaggle client raises into messages that say what happened and what to do, without secrets."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pipeline.kaggle_auth import SETTINGS_URL, Credentials, KaggleError, redact

LIMIT_WORDS = (
    "submission limit",
    "daily submission",
    "allowance",
    "maximum number of submissions",
    "limit reached",
    "submissions per day",
    "exceeded",
)


def rules_url(slug: str) -> str:
    """The competition's rules page: rules can only be accepted there, not through the API."""
    return f"https://www.kaggle.com/competitions/{slug}/rules"


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
        f"Submission limit reached for '{slug}'{': ' + detail if detail else ''}. Nothing was submitted. "
        f"Kaggle's daily allowance resets at 00:00 UTC (in {until_utc_midnight()}); "
        f"see the limits on https://www.kaggle.com/competitions/{slug}/submissions"
    )


def server_message(e: Any) -> str:
    """The message Kaggle put in its error answer (JSON 'message'), or the HTTP reason."""
    response = getattr(e, "response", None)
    try:
        body = response.json() if response is not None else None
        if isinstance(body, dict) and body.get("message"):
            return str(body["message"])
    except ValueError:
        pass
    return str(e)


def translate(e: BaseException, slug: str, action: str, creds: Credentials | None = None) -> KaggleError | None:
    """A KaggleError explaining `e` (raised while trying to `action` for `slug`), or None if `e` is not Kaggle's."""
    import requests

    what = f"Cannot {action}"
    if isinstance(e, requests.HTTPError) and e.response is not None:
        status = e.response.status_code
        said = redact(server_message(e), creds)
        if status == 401:
            source = creds.source if creds else "your configuration"
            return KaggleError(
                f"{what}: Kaggle rejected the credentials from {source} (401 Unauthorized: {said}). "
                f"Create a new token at {SETTINGS_URL} and replace the old one."
            )
        if status == 403 and "rule" in said.lower():
            return KaggleError(
                f"{what}: you have not accepted this competition's rules (Kaggle said: {said}). Rules cannot be "
                f"accepted through the API: open {rules_url(slug)}, accept them (the 'Join Competition' or 'Late "
                "Submission' button), then run this command again."
            )
        if status == 403:
            return KaggleError(
                f"{what}: Kaggle answered 403 Forbidden ({said}). Join the competition and accept its rules at "
                f"{rules_url(slug)}; Kaggle may also require a phone-verified account."
            )
        if status == 404:
            return KaggleError(
                f"{what}: Kaggle has no competition '{slug}' (404 Not Found: {said}). Check KAGGLE_SLUG against "
                f"the competition's address, https://www.kaggle.com/competitions/<slug>; a finished competition "
                "may also no longer accept this."
            )
        if any(w in said.lower() for w in LIMIT_WORDS):
            return KaggleError(limit_message(slug, said))
        if status == 429:
            return KaggleError(
                f"{what}: Kaggle is rate limiting this account (429 Too Many Requests). Wait a few "
                "minutes and run the command again."
            )
        if status >= 500:
            return KaggleError(f"{what}: Kaggle's server failed ({status}: {said}). Try again later.")
        return KaggleError(f"{what}: Kaggle answered {status} ({said}).")
    if isinstance(e, requests.ConnectionError | requests.Timeout):
        return KaggleError(
            f"{what}: cannot reach Kaggle at {endpoint()} ({type(e).__name__}). Check the network connection and "
            "any proxy settings (HTTPS_PROXY), then run the command again."
        )
    if isinstance(e, requests.RequestException):
        return KaggleError(f"{what}: {type(e).__name__}: {redact(str(e), creds)}")
    return None


@contextmanager
def kaggle_call(slug: str, action: str, creds: Credentials | None = None) -> Iterator[None]:
    """Re-raise errors of the kaggle client inside the block as KaggleError with a helpful, secret-free message."""
    try:
        yield
    except KaggleError:
        raise
    except Exception as e:
        err = translate(e, slug, action, creds)
        if err is None:
            raise
        raise err from None
