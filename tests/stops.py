"""When a test's worker stops: once the queue is empty, or once the breaker holds work for a
cause, each with a deadline after which the test fails on its counts (a loaded machine takes
longer; a fixed time would end the run before it got there). ``run_worker`` checks a stop's
``is_set()`` between its steps.
"""

from __future__ import annotations

import json
import time
from typing import Any

import attrs

from core import PauseCause, PlexSyncConfig
from shell.store import Store
from shell.worker import run_worker


class DrainedOrLate:
    """Stop once the queue at *db_path* is empty, or after *seconds*."""

    def __init__(self, db_path: str, seconds: float) -> None:
        self.store = Store.open(db_path)
        self.deadline = time.monotonic() + seconds

    def is_set(self) -> bool:
        return self.store.jobs.is_empty() or time.monotonic() > self.deadline


class HeldOrLate:
    """Stop once the breaker holds work for *cause* and has probed *probes* more times since,
    or after *seconds*.
    """

    def __init__(
        self, config: PlexSyncConfig, cause: PauseCause, *, probes: int = 0, seconds: float = 30
    ) -> None:
        self.store = Store.open(config.db_path)
        self.cause = cause
        outage = self.store.breaker.load().outage
        self.probes = probes + (outage.probes if outage is not None else 0)
        self.deadline = time.monotonic() + seconds

    def is_set(self) -> bool:
        outage = self.store.breaker.load().outage
        held = outage is not None and outage.cause is self.cause and outage.probes >= self.probes
        return held or time.monotonic() > self.deadline


def drain_and_report(config: PlexSyncConfig, within: float, **run: Any) -> int:
    """What a test's worker process does to drain its queue: ``run_worker`` (with *run*) until
    the queue is empty or *within* seconds have passed, its report printed as JSON; the exit
    status is 0 if the queue was emptied, 1 if not.
    """
    stop = DrainedOrLate(config.db_path, within)
    try:
        report = run_worker(config, stop=stop, **run)
        drained = stop.store.jobs.is_empty()
    finally:
        stop.store.close()
    print(json.dumps(attrs.asdict(report)))
    return 0 if drained else 1
