"""Session-wide network guard: a test that connects anywhere but this machine (loopback) fails.

Tests are offline by design; the guard makes that a checked fact, so that e.g. a broken endpoint patch can never
send the test key to the real Kaggle. The connection attempt itself gets ConnectionRefusedError (the code under
test sees an offline machine), and the test fails at teardown naming the address. Unix sockets and loopback
(127.0.0.0/8, ::1, localhost) are allowed: the stand-in Kaggle server and torch.distributed's gloo use them.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest

# albumentations checks PyPI for a newer version when imported (in a thread): tests must not go online.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

# The Kaggle tests' fixtures (stand-in server, toy competition), shared by the tests/test_kaggle_*.py modules.
pytest_plugins = ["kaggle_fixtures"]

_blocked: list[str] = []
_original_connect = socket.socket.connect
_original_connect_ex = socket.socket.connect_ex


class NetworkGuardError(ConnectionRefusedError):
    """A test tried to reach a non-loopback address."""


def is_loopback(host: str) -> bool:
    """Whether `host` (an address or 'localhost') is this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _check(sock: socket.socket, address: Any) -> None:
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    host = str(address[0]) if isinstance(address, tuple) else str(address)
    if not is_loopback(host):
        _blocked.append(f"{host}:{address[1] if isinstance(address, tuple) else '?'}")
        raise NetworkGuardError(f"test network guard: connection to {host} refused (tests must stay offline)")


def _guarded_connect(self: socket.socket, address: Any) -> None:
    _check(self, address)
    return _original_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    _check(self, address)
    return _original_connect_ex(self, address)


def pytest_configure(config: pytest.Config) -> None:
    """Install the guard before any test module is imported."""
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]


def pytest_unconfigure(config: pytest.Config) -> None:
    """Put the real methods back."""
    socket.socket.connect = _original_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _original_connect_ex  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _network_guard() -> Iterator[None]:
    """Fail the test when it tried to reach the network, even if the code under test swallowed the error."""
    _blocked.clear()
    yield
    if _blocked:
        tried = ", ".join(sorted(set(_blocked)))
        _blocked.clear()
        pytest.fail(f"the test tried to connect to a non-loopback address: {tried}", pytrace=False)
