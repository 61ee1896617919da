"""Kaggle credentials: find them the way the kaggle client does, check them before use, never show them.

The kaggle client (2.x) looks in this order: an API token (KAGGLE_API_TOKEN, ~/.kaggle/access_token), the legacy
API key (KAGGLE_USERNAME/KAGGLE_KEY over kaggle.json), then `kaggle auth login`'s OAuth credentials. Only the
description of a source is ever printed, never a value or a file's content.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

from pipeline.kaggle.types import SETTINGS_URL, Credentials, KaggleError

__all__ = [
    "SETTINGS_URL",
    "Credentials",
    "KaggleError",
    "config_path",
    "find_credentials",
    "no_credentials_message",
    "redact",
    "require_credentials",
    "secret_values",
]

TOKEN_PREFIX = "KGAT_"  # new-style API tokens ("Generate New Token" on the settings page) start with this


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


def _kaggle_json(path: Path) -> tuple[dict[str, Any], str]:
    """kaggle.json's values and, when it cannot serve as credentials, why (without quoting its content)."""
    if not path.is_file():
        return {}, ""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        return {}, f"cannot be read ({type(e).__name__})"
    if not text.strip():
        return {}, "is empty"
    try:
        data = json.loads(text)
    except ValueError as e:
        where = f"line {e.lineno}, column {e.colno}" if isinstance(e, json.JSONDecodeError) else "?"
        return {}, f"is not valid JSON (error at {where})"
    if not isinstance(data, dict):
        return {}, "is not a JSON object"
    missing = [k for k in ("username", "key") if not isinstance(data.get(k), str) or not data.get(k)]
    return data, f'has no "{missing[0]}" value' if missing else ""


def _access_token() -> Credentials | None:
    token = os.environ.get("KAGGLE_API_TOKEN")
    if token:
        path = Path(token).expanduser()
        if path.is_file():
            value = _read_text(path)
            if value:
                return Credentials("the file named by KAGGLE_API_TOKEN", "token", (value,))
        else:
            return Credentials("KAGGLE_API_TOKEN", "token", (token,))
    for name in ("access_token", "access_token.txt"):
        value = _read_text(Path(os.path.expanduser("~")) / ".kaggle" / name)
        if value:
            return Credentials(f"~/.kaggle/{name}", "token", (value,))
    return None


def _misplaced_token(where: str) -> KaggleError:
    return KaggleError(
        f"The API key in {where} is a new-style API token (it starts with {TOKEN_PREFIX}), which Kaggle does not "
        "accept as a legacy key. Move it: set KAGGLE_API_TOKEN to it, or save it alone in ~/.kaggle/access_token "
        f"(chmod 600), and remove it from {where}."
    )


def find_credentials() -> Credentials | None:
    """The credentials the kaggle client would use (token, API key, OAuth login), or None when there are none.

    Raises KaggleError when the credentials that would be used cannot work: a malformed kaggle.json, or a
    new-style token pasted where the legacy key belongs.
    """
    token = _access_token()
    if token is not None:
        return token
    path = config_path()
    file_values, problem = _kaggle_json(path)
    env_user, env_key = os.environ.get("KAGGLE_USERNAME"), os.environ.get("KAGGLE_KEY")
    user = env_user or file_values.get("username")
    key = env_key or file_values.get("key")
    if key and str(key).startswith(TOKEN_PREFIX):
        raise _misplaced_token("KAGGLE_KEY" if env_key else f'{path} ("key")')
    if user and key:
        both_env = bool(env_user and env_key)
        return Credentials("KAGGLE_USERNAME/KAGGLE_KEY" if both_env else str(path), "key", (str(key),), str(user))
    oauth = _read_json(Path(os.path.expanduser("~")) / ".kaggle" / "credentials.json")
    if oauth.get("refresh_token"):
        values = tuple(str(oauth[k]) for k in ("refresh_token", "access_token") if oauth.get(k))
        return Credentials("~/.kaggle/credentials.json (kaggle auth login)", "oauth", values)
    if problem and path.is_file():
        raise KaggleError(
            f"{path} is malformed: it {problem}. It must be the kaggle.json downloaded from {SETTINGS_URL}: "
            '{"username": "...", "key": "..."}. Download it again, or use an API token instead '
            "(KAGGLE_API_TOKEN or ~/.kaggle/access_token)."
        )
    return None


def no_credentials_message(action: str) -> str:
    """What to do when there are no Kaggle credentials at all: token methods first, kaggle.json as legacy."""
    legacy = config_path() if os.environ.get("KAGGLE_CONFIG_DIR") else "~/.kaggle/kaggle.json"
    return (
        f"Cannot {action}: no Kaggle credentials found (looked for KAGGLE_API_TOKEN, ~/.kaggle/access_token, "
        f"KAGGLE_USERNAME/KAGGLE_KEY, {config_path()} and kaggle auth login's credentials).\n"
        f"Create an API token at {SETTINGS_URL} ('Generate New Token'), then either:\n"
        "  - set KAGGLE_API_TOKEN to it, or save it alone in ~/.kaggle/access_token and make that private:\n"
        "    chmod 600 ~/.kaggle/access_token\n"
        "  - or log in once in a browser with: kaggle auth login\n"
        f"Legacy API keys still work: save the kaggle.json of 'Create Legacy API Key' as {legacy} "
        f"(chmod 600 {legacy}), or set KAGGLE_USERNAME and KAGGLE_KEY to the two values inside it."
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
