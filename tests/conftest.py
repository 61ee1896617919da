"""Session-wide network guard: a test that connects anywhere but this machine (loopback) fails.

Tests are offline by design; the guard makes that a checked fact, so that e.g. a broken endpoint patch can never
send the test key to the real Kaggle. The connection attempt itself gets ConnectionRefusedError (the code under
test sees an offline machine), and the test fails at teardown naming the address. Unix sockets and loopback
(127.0.0.0/8, ::1, localhost) are allowed: the stand-in Kaggle server and torch.distributed's gloo use them.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import network_guard as guard  # noqa: E402

# albumentations checks PyPI for a newer version when imported (in a thread): tests must not go online.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

# The Kaggle tests' fixtures (stand-in server, toy competition), shared by the tests/test_kaggle_*.py modules.
pytest_plugins = ["kaggle_fixtures"]


def pytest_configure(config: pytest.Config) -> None:
    """Install the guard before any test module is imported."""
    socket.socket.connect = guard.guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = guard.guarded_connect_ex  # type: ignore[method-assign]


def pytest_unconfigure(config: pytest.Config) -> None:
    """Put the real methods back."""
    socket.socket.connect = guard.original_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = guard.original_connect_ex  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _network_guard() -> Iterator[None]:
    """Fail the test when it tried to reach the network, even if the code under test swallowed the error."""
    guard.blocked.clear()
    yield
    if guard.blocked:
        tried = ", ".join(sorted(set(guard.blocked)))
        guard.blocked.clear()
        pytest.fail(f"the test tried to connect to a non-loopback address: {tried}", pytrace=False)
