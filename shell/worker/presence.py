"""Whether a worker is running on a queue: every worker holds a shared lock on a file beside the
database for as long as it runs, so anyone on the same host can ask without touching the queue.

A host that starts a worker when none runs (the Stash plugin does) asks ``worker_running``; the
operating system drops a dead worker's lock with its process, so a crash never leaves a stale
"running". Locks are ``flock`` locks: on a system without them (Windows) nothing is announced
and no worker is ever seen.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

if sys.platform != "win32":
    import fcntl


def presence_path(db_path: str) -> str:
    """The file whose lock says that workers run on the queue at *db_path*."""
    return os.path.abspath(db_path) + ".workers"


@contextlib.contextmanager
def announce(db_path: str) -> Iterator[None]:
    """Hold the shared "a worker runs here" lock for the duration of the block."""
    if sys.platform == "win32" or db_path == ":memory:":  # pragma: no cover - nothing to do
        yield
        return
    descriptor = os.open(presence_path(db_path), os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH)
        yield
    finally:
        os.close(descriptor)  # releases the lock


def worker_running(db_path: str) -> bool:
    """Whether some worker on this host is working the queue at *db_path* now."""
    if sys.platform == "win32":  # pragma: no cover - no locks: never seen
        return False
    try:
        descriptor = os.open(presence_path(db_path), os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(descriptor)
    return False
