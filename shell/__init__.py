"""plexsync's imperative shell: the SQLite queue, the worker loop, Plex calls and the CLI.

``core`` decides; ``shell`` carries the decisions out. The host-app contract::

    from core import PlexSyncConfig
    import shell

    config = PlexSyncConfig(plex_url="http://127.0.0.1:32400", plex_token="...",
                            db_path="plexsync.db")
    job_id = shell.enqueue(config, key="scene:42", metadata={"path": "/media/a.mkv", "title": "A"})
    shell.enqueue_many(config, [("scene:43", {...}), ...])   # one transaction, all or nothing
    report = shell.run_worker(config)                   # until SIGINT/SIGTERM
    report = shell.run_worker(config, stop=event)       # until a threading.Event is set
    report = shell.run_worker(config, until_idle=True)  # work what can be worked now, then return
    shell.status(config)                                # counts, oldest job, breaker, outage

A database that cannot be used raises ``StoreError`` (one line naming the file); nothing of the
call was stored. Its kinds include ``DiskFullError`` (try again once there is space) and
``DamagedError`` (see ``plexsync db recover``).

For tests and simulations, ``FakeClock`` and ``SimulatedPlex`` (with a ``Scenario``) replace the
system clock and the real Plex: ``run_worker(config, clock=clock, plex=SimulatedPlex(...))``.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from shell.api import OutageStatus, Status, enqueue, enqueue_many, status
    from shell.clock import Clock, FakeClock, SystemClock
    from shell.gateway import PlexGateway
    from shell.payload import Metadata
    from shell.simulated_plex import Call, Scenario, SimulatedPlex, Window
    from shell.store import DamagedError, DiskFullError, StoreError
    from shell.worker import StopSignal, WorkerReport, run_worker

# A library never configures logging; it only makes sure its records go nowhere by default.
logging.getLogger("plexsync").addHandler(logging.NullHandler())

_HOMES: Final = {
    "shell.api": ("OutageStatus", "Status", "enqueue", "enqueue_many", "status"),
    "shell.clock": ("Clock", "FakeClock", "SystemClock"),
    "shell.gateway": ("PlexGateway",),
    "shell.payload": ("Metadata",),
    "shell.simulated_plex": ("Call", "Scenario", "SimulatedPlex", "Window"),
    "shell.store": ("DamagedError", "DiskFullError", "StoreError"),
    "shell.worker": ("StopSignal", "WorkerReport", "run_worker"),
}
_HOME_OF: Final = {name: module for module, names in _HOMES.items() for name in names}
"""Where each name of the contract lives. A name is imported when first read, so that a
program which needs only part of plexsync (the Stash plugin's hook, above all, which runs inside
the user's save) does not pay for the worker, the simulator or Plex's client at start-up."""


def __getattr__(name: str) -> Any:  # noqa: ANN401 - any of the names above
    """The contract's *name*, imported from its module on first use (PEP 562)."""
    home = _HOME_OF.get(name)
    if home is None:
        raise AttributeError(f"module 'shell' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The module's names, the lazily imported ones included."""
    return sorted({*globals(), *_HOME_OF})


__all__ = [
    "Call",
    "Clock",
    "DamagedError",
    "DiskFullError",
    "FakeClock",
    "Metadata",
    "OutageStatus",
    "PlexGateway",
    "Scenario",
    "SimulatedPlex",
    "Status",
    "StopSignal",
    "StoreError",
    "SystemClock",
    "Window",
    "WorkerReport",
    "enqueue",
    "enqueue_many",
    "run_worker",
    "status",
]
