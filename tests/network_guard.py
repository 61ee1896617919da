"""The network guard's pieces: loopback only. tests/conftest.py installs it for the session; this module has a
name of its own so tests can import it (several conftest.py files share the module name `conftest`).
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

blocked: list[str] = []
original_connect = socket.socket.connect
original_connect_ex = socket.socket.connect_ex


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


def check(sock: socket.socket, address: Any) -> None:
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    host = str(address[0]) if isinstance(address, tuple) else str(address)
    if not is_loopback(host):
        blocked.append(f"{host}:{address[1] if isinstance(address, tuple) else '?'}")
        raise NetworkGuardError(f"test network guard: connection to {host} refused (tests must stay offline)")


def guarded_connect(self: socket.socket, address: Any) -> None:
    check(self, address)
    return original_connect(self, address)


def guarded_connect_ex(self: socket.socket, address: Any) -> int:
    check(self, address)
    return original_connect_ex(self, address)
