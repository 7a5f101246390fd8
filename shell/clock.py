"""Clocks: the system's, and a fake one whose ``sleep`` moves time on at once.

The worker reads time only through a clock, so hours of simulated outage run in seconds. Instants
are epoch seconds (UTC) on both.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """Anything with ``now()`` (epoch seconds) and ``sleep(seconds)``."""

    def now(self) -> float:
        """The current instant, epoch seconds (UTC)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Let *seconds* pass (or fewer, if woken early)."""
        ...


class SystemClock:
    """Wall-clock time; ``sleep`` ends early when *wake* is set (so a stop request is prompt)."""

    def __init__(self, wake: threading.Event | None = None) -> None:
        self._wake = wake if wake is not None else threading.Event()

    def now(self) -> float:
        """``time.time()``: wall-clock UTC, as persisted instants are."""
        return time.time()

    def sleep(self, seconds: float) -> None:
        """Wait up to *seconds*, less if the wake event is set."""
        if seconds > 0:
            self._wake.wait(seconds)


class FakeClock:
    """A clock that only moves when told: ``sleep`` and ``advance`` add time instantly.

    Without *start_at* it starts at the wall-clock time of its first reading, so jobs a host
    enqueued just before (stamped with the real time) are due when the worker first looks:

    >>> clock = FakeClock(start_at=100.0)
    >>> clock.sleep(3600)
    >>> clock.now()
    3700.0
    """

    def __init__(self, start_at: float | None = None) -> None:
        self._now = None if start_at is None else float(start_at)

    def now(self) -> float:
        """The simulated instant."""
        if self._now is None:
            self._now = time.time()
        return self._now

    def sleep(self, seconds: float) -> None:
        """Move time on by *seconds* at once (negative values are ignored)."""
        if seconds > 0:
            self._now = self.now() + seconds

    def advance(self, seconds: float) -> None:
        """Move time on (or back, with a negative value: clocks do step backwards)."""
        self._now = self.now() + seconds
