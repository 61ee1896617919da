"""The kaggle package, made safe to call: connect/read timeouts on every request, a quiet import, visible uploads.

kagglesdk sends its requests without a timeout (a stalled network would hang a command forever), so every session
the SDK opens gets an adapter with this module's timeouts. `import kaggle` authenticates at import time and prints
help or exits when it cannot; the import is done here, quietly, after the timeouts are in place.

Timeouts: PIPELINE_KAGGLE_TIMEOUT="READ" or "CONNECT,READ" in seconds (default 10 s to connect, 60 s to wait for
each answer or chunk of a download).
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import time
from pathlib import Path
from typing import Any

from pipeline.kaggle.types import KaggleError

CONNECT_S = 10.0
READ_S = 60.0
TIMEOUT_VAR = "PIPELINE_KAGGLE_TIMEOUT"
UPLOAD_ATTEMPTS = 4  # one try and three retries; each retry is one line on stderr
_sleep = time.sleep  # replaced in tests


def timeouts() -> tuple[float, float]:
    """(connect, read) seconds for every request to Kaggle: PIPELINE_KAGGLE_TIMEOUT or the defaults."""
    given = os.environ.get(TIMEOUT_VAR, "").strip()
    if not given:
        return CONNECT_S, READ_S
    try:
        parts = [float(p) for p in given.split(",")]
    except ValueError:
        parts = []
    if len(parts) not in (1, 2) or not all(0 < p <= 3600 for p in parts):
        raise KaggleError(
            f"{TIMEOUT_VAR}={given!r}: expected seconds to wait for Kaggle, READ or CONNECT,READ (e.g. 60 or 10,60), "
            "each above 0 and at most 3600."
        )
    return (min(CONNECT_S, parts[0]), parts[0]) if len(parts) == 1 else (parts[0], parts[1])


def _timeout_adapter() -> Any:
    from requests.adapters import HTTPAdapter

    class TimeoutAdapter(HTTPAdapter):
        """An HTTPAdapter that applies `timeouts()` to requests sent without one."""

        def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
            if kwargs.get("timeout") is None:
                kwargs["timeout"] = timeouts()
            return super().send(request, *args, **kwargs)

    return TimeoutAdapter()


def install_timeouts() -> None:
    """Give every session kagglesdk opens (API calls, the redirected blob download) connect and read timeouts."""
    from kagglesdk.kaggle_http_client import KaggleHttpClient

    original = KaggleHttpClient._init_session
    if getattr(original, "_with_timeouts", False):
        return

    def _init_session(self: Any) -> Any:
        fresh = self._session is None
        result = original(self)
        if fresh and self._session is not None:
            adapter = _timeout_adapter()
            self._session.mount("http://", adapter)
            self._session.mount("https://", adapter)
        return result

    _init_session._with_timeouts = True  # type: ignore[attr-defined]
    KaggleHttpClient._init_session = _init_session


def import_kaggle() -> Any:
    """The `kaggle` package (its import-time authentication silenced, under timeouts)."""
    install_timeouts()
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            import kaggle
            from kaggle.api.kaggle_api_extended import KaggleApi  # noqa: F401 - the class connect() builds
    except ImportError as e:
        raise KaggleError(
            f'The kaggle package cannot be imported ({e}). Reinstall the project: pip install -e ".[dev]"'
        ) from None
    return kaggle


def put_file(path: Path, url: str, log: Any = None) -> None:
    """PUT a file's bytes to a storage URL Kaggle handed out, with timeouts and visible retries.

    No credentials go with it (the URL is signed). Connection failures, time-outs and 5xx/429 answers are retried
    (one line each on stderr); any other refusal, or the last failure, raises KaggleError.
    """
    import requests
    from requests.utils import get_environ_proxies

    log = log or (lambda line: print(line, file=sys.stderr))
    data = path.read_bytes()
    session = requests.Session()
    session.trust_env = False  # no ~/.netrc credentials to a storage host; proxies are passed explicitly
    proxies = get_environ_proxies(url)
    reason = ""
    try:
        for attempt in range(1, UPLOAD_ATTEMPTS + 1):
            try:
                response = session.put(url, data=data, timeout=timeouts(), proxies=proxies)
                if response.status_code in (200, 201):
                    return
                reason = f"storage answered {response.status_code}"
                if response.status_code < 500 and response.status_code not in (408, 429):
                    break
            except requests.Timeout:
                reason = f"no answer in {timeouts()[1]:g} s"
            except requests.ConnectionError:
                reason = "connection failed"
            if attempt < UPLOAD_ATTEMPTS:
                delay = 2.0**attempt
                log(f"upload of {path.name}: {reason}; retry {attempt}/{UPLOAD_ATTEMPTS - 1} in {delay:g} s")
                _sleep(delay)
    finally:
        session.close()
    raise KaggleError(f"uploading {path.name} to Kaggle's storage failed ({reason})")
