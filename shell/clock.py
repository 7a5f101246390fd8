"""Clocks: the system's, and a fake one whose ``sleep`` moves time on at once.

The worker reads time only through a clock, so hours of simulated outage run in seconds. Instants
are epoch seconds (UTC) on both.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

T_DEFAULT_START = 1_767_225_600.0
"""2026-01-01T00:00:00Z: where a FakeClock starts unless told otherwise."""


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

    >>> clock = FakeClock(start_at=100.0)
    >>> clock.sleep(3600)
    >>> clock.now()
    3700.0
    """

    def __init__(self, start_at: float = T_DEFAULT_START) -> None:
        self._now = float(start_at)

    def now(self) -> float:
        """The simulated instant."""
        return self._now

    def sleep(self, seconds: float) -> None:
        """Move time on by *seconds* at once (negative values are ignored)."""
        if seconds > 0:
            self._now += seconds

    def advance(self, seconds: float) -> None:
        """Move time on (or back, with a negative value: clocks do step backwards)."""
        self._now += seconds
