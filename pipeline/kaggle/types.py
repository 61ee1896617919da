"""Types shared by the Kaggle modules: the error every Kaggle failure becomes, and a description of credentials."""

from __future__ import annotations

from dataclasses import dataclass, field

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
    user: str = ""  # the Kaggle username for "key" credentials (not secret)
