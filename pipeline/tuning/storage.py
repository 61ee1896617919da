"""Where a study lives (SQLite by default, any RDB URL, or an Optuna journal file) and how local workers share it."""

from __future__ import annotations

import os
import re
import socket
import warnings
from pathlib import Path
from typing import Any

# SQLite waits this long for a lock held by another worker instead of failing with "database is locked".
SQLITE_TIMEOUT_S = 120
# RDB storages record a heartbeat per running trial: a trial whose worker died (on any machine) is failed
# after the grace period, so it stops counting towards --trials.
HEARTBEAT_S = 30
GRACE_S = 120


def default_storage(competition_dir: Path) -> str:
    """SQLite file under runs/<competition>/, one database for all studies of the competition."""
    return f"sqlite:///{(competition_dir / 'optuna.db').resolve()}"


def normalize(spec: str) -> str:
    """Absolute paths for local files, so worker processes (and a later resume) open the same storage."""
    if spec.startswith("journal:"):
        return "journal:" + str(Path(spec[len("journal:") :]).expanduser().resolve())
    m = re.match(r"sqlite:///(.+)$", spec)
    if m and not m.group(1).startswith(":memory:") and not m.group(1).startswith("/"):
        return f"sqlite:///{Path(m.group(1)).resolve()}"
    return spec


def redact(spec: str) -> str:
    """The storage URL without its password, for logs and study.json."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", spec)


def open_storage(spec: str) -> Any:
    """An Optuna storage for `journal:PATH`, `sqlite:///PATH` or any SQLAlchemy URL (postgresql://, mysql://...)."""
    import optuna

    if spec.startswith("journal:"):
        from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

        path = spec[len("journal:") :]
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        # The open(O_EXCL) lock works on filesystems without symlinks, NFS included.
        return optuna.storages.JournalStorage(JournalFileBackend(path, lock_obj=JournalFileOpenLock(path)))
    if "://" not in spec:
        from pipeline.contract import ContractError

        raise ContractError(
            f"--storage {spec!r}: expected a database URL (sqlite:///PATH, postgresql://...) or journal:PATH."
        )
    engine_kwargs: dict[str, Any] = {}
    if spec.startswith("sqlite:"):
        m = re.match(r"sqlite:///(.+)$", spec)
        if m and not m.group(1).startswith(":memory:"):
            Path(m.group(1)).parent.mkdir(parents=True, exist_ok=True)
        engine_kwargs = {"connect_args": {"timeout": SQLITE_TIMEOUT_S}}
    else:
        engine_kwargs = {"pool_pre_ping": True}
    with warnings.catch_warnings():  # heartbeats are marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RDBStorage(
            spec, engine_kwargs=engine_kwargs, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S
        )


def host() -> str:
    """This machine's name, recorded on each trial next to its worker's pid."""
    return socket.gethostname()


def pid_alive(pid: int) -> bool:
    """True when a process with this id exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ClaimLock:
    """A machine-wide lock (flock on a file) around "count the study's trials, then start one".

    Held from before the count until the new trial is RUNNING and tagged with its worker, so local workers never
    start more trials than --trials asks for. Release is idempotent: the objective releases it as soon as its trial
    exists, the worker loop again in `finally`.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        """Block until this process holds the lock."""
        import fcntl

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        self._fd = fd

    def release(self) -> None:
        """Release the lock if held."""
        if self._fd is None:
            return
        import fcntl

        fd, self._fd = self._fd, None
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
