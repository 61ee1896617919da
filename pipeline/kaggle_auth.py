"""Kaggle credentials: find them the way the kaggle client does, never show them, build an authenticated client.

`import kaggle` authenticates at import time (and prints help or exits when it cannot), so the kaggle package is
imported only in `connect()`, after `find_credentials()` has confirmed there is something to authenticate with.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.contract import ContractError

SETTINGS_URL = "https://www.kaggle.com/settings/api"


class KaggleError(ContractError):
    """Kaggle refused, could not be reached, or the user must act first (credentials, rules, limits)."""


@dataclass(frozen=True)
class Credentials:
    """Where the kaggle client will find credentials (a description, never the values) and the secret values."""

    source: str
    kind: str  # "token", "key" or "oauth"
    secrets: tuple[str, ...] = field(default=(), repr=False)


def config_path() -> Path:
    """The kaggle.json the kaggle client reads: $KAGGLE_CONFIG_DIR, ~/.kaggle, or the XDG config folder on Linux."""
    given = os.environ.get("KAGGLE_CONFIG_DIR")
    if given:
        return Path(given).expanduser() / "kaggle.json"
    home = Path(os.path.expanduser("~")) / ".kaggle"
    if sys.platform.startswith("linux") and not home.exists():
        xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
        return Path(xdg) / "kaggle" / "kaggle.json"
    return home / "kaggle.json"


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def _read_json(path: Path) -> dict[str, Any]:
    text = _read_text(path)
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def find_credentials() -> Credentials | None:
    """The credentials the kaggle client would use, in its order: access token, API key, OAuth login; or None."""
    token = os.environ.get("KAGGLE_API_TOKEN")
    if token:
        if Path(token).expanduser().is_file():
            value = _read_text(Path(token).expanduser())
            if value:
                return Credentials("the file named by KAGGLE_API_TOKEN", "token", (value,))
        else:
            return Credentials("KAGGLE_API_TOKEN", "token", (token,))
    for name in ("access_token", "access_token.txt"):
        value = _read_text(Path(os.path.expanduser("~")) / ".kaggle" / name)
        if value:
            return Credentials(f"~/.kaggle/{name}", "token", (value,))
    path = config_path()
    file_values = _read_json(path) if path.is_file() else {}
    user = os.environ.get("KAGGLE_USERNAME") or file_values.get("username")
    key = os.environ.get("KAGGLE_KEY") or file_values.get("key")
    if user and key:
        from_env = bool(os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY"))
        return Credentials("KAGGLE_USERNAME/KAGGLE_KEY" if from_env else str(path), "key", (str(key),))
    oauth = _read_json(Path(os.path.expanduser("~")) / ".kaggle" / "credentials.json")
    if oauth.get("refresh_token"):
        values = tuple(str(oauth[k]) for k in ("refresh_token", "access_token") if oauth.get(k))
        return Credentials("~/.kaggle/credentials.json (kaggle auth login)", "oauth", values)
    return None


def no_credentials_message(action: str) -> str:
    """What to do when there are no Kaggle credentials at all."""
    target = config_path() if os.environ.get("KAGGLE_CONFIG_DIR") else "~/.kaggle/kaggle.json"
    return (
        f"Cannot {action}: no Kaggle credentials found (looked for KAGGLE_API_TOKEN, ~/.kaggle/access_token, "
        f"KAGGLE_USERNAME/KAGGLE_KEY and {config_path()}).\n"
        f"Create a token at {SETTINGS_URL} (its API section), then either:\n"
        f"  - save the downloaded kaggle.json as {target} (or in the folder named by KAGGLE_CONFIG_DIR) and make it "
        f"private: chmod 600 {target}\n"
        "  - or set the variables KAGGLE_USERNAME and KAGGLE_KEY (the two values inside kaggle.json)\n"
        "  - or, for a new-style API token, set KAGGLE_API_TOKEN or save it to ~/.kaggle/access_token (chmod 600)\n"
        "  - or log in once with: kaggle auth login"
    )


def require_credentials(action: str) -> Credentials:
    """The credentials, or a KaggleError saying where to put them; warns when kaggle.json is readable by others."""
    creds = find_credentials()
    if creds is None:
        raise KaggleError(no_credentials_message(action))
    path = config_path()
    if creds.source == str(path) and os.name != "nt":
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            print(f"warning: {path} is readable by other users; make it private: chmod 600 {path}", file=sys.stderr)
    return creds


def secret_values(creds: Credentials | None = None) -> list[str]:
    """Every credential value that must never be printed or written (of `creds` and of the environment)."""
    values = set(creds.secrets if creds else ())
    for name in ("KAGGLE_KEY", "KAGGLE_API_TOKEN", "KAGGLE_IAP_TOKEN"):
        if os.environ.get(name):
            values.add(os.environ[name])
    return sorted((v for v in values if len(v) >= 6), key=len, reverse=True)


def redact(text: str, creds: Credentials | None = None) -> str:
    """Text with every credential value replaced by ***."""
    for value in secret_values(creds):
        text = text.replace(value, "***")
    return text


def import_kaggle_api() -> type:
    """The KaggleApi class; the import-time authentication of `kaggle` stays silent (we authenticate ourselves)."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            from kaggle.api.kaggle_api_extended import KaggleApi
    except ImportError as e:
        raise KaggleError(
            f'The kaggle package cannot be imported ({e}). Reinstall the project: pip install -e ".[dev]"'
        ) from None
    return KaggleApi


def connect(creds: Credentials) -> Any:
    """A KaggleApi authenticated with the credentials found now (environment and config read at call time)."""
    from pipeline.kaggle_errors import kaggle_call

    api_cls = import_kaggle_api()
    api = api_cls()
    # KaggleApi reads KAGGLE_CONFIG_DIR once, when the class is defined: point this instance at today's config.
    api.config_dir = str(config_path().parent)
    api.config = str(config_path())
    quiet = io.StringIO()
    with kaggle_call("", "sign in to Kaggle", creds), contextlib.redirect_stdout(quiet):
        try:
            api.authenticate()
        except SystemExit:
            raise KaggleError(
                f"Kaggle did not accept the credentials from {creds.source}. Create a new token at {SETTINGS_URL} "
                "and replace the old one.\n" + no_credentials_message("sign in").split("\n", 1)[1]
            ) from None
    return api
