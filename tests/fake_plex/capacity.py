"""A fake Plex of limited capacity: it serves at most *serving* requests at once and takes
*seconds* over each; the others wait their turn in its queue, or, told to refuse, are answered
503 at once. Health calls (``GET /`` and ``/identity``) are served at once, as a busy Plex still
answers them.

It keeps how long each request spent at the server (queued and served), so that a benchmark
can tell whether a client let it breathe.
"""

from __future__ import annotations

import threading
import time
from typing import Final

from attrs import frozen

HEALTH_PATHS: Final = frozenset({"/", "/identity"})


@frozen
class Served:
    """One request's stay at the server: `time.monotonic()` when it arrived and when its
    service ended (for a refused request, both the instant it was refused).
    """

    arrived_at: float
    finished_at: float
    refused: bool = False

    @property
    def seconds(self) -> float:
        """Queued and served."""
        return self.finished_at - self.arrived_at


class Capacity:
    """Unlimited until `limit()` is called; thread-safe."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._serving: int | None = None
        self._seconds = 0.0
        self._refuse = False
        self._busy = 0
        self._log: list[Served] = []

    def limit(self, serving: int, seconds: float, *, refuse: bool = False) -> None:
        """Serve at most *serving* requests at once, *seconds* each; with *refuse*, answer 503
        to a request arriving while all are busy instead of queueing it.
        """
        if serving < 1:
            raise ValueError("serving must be at least 1")
        with self._changed:
            self._serving, self._seconds, self._refuse = serving, seconds, refuse
            self._changed.notify_all()

    def unlimited(self) -> None:
        """Serve every request at once again."""
        with self._changed:
            self._serving = None
            self._changed.notify_all()

    @property
    def busy(self) -> int:
        """Requests being served now (not those waiting their turn)."""
        with self._changed:
            return self._busy

    def served(self) -> list[Served]:
        """Every request served or refused since the capacity was limited, in arrival order."""
        with self._changed:
            return sorted(self._log, key=lambda served: served.arrived_at)

    def take_turn(self, path: str) -> bool:
        """Wait for a turn and take the time a request takes; ``False``: refused (answer 503)."""
        if path in HEALTH_PATHS or self._serving is None:
            return True
        arrived_at = time.monotonic()
        with self._changed:
            while self._serving is not None and self._busy >= self._serving:
                if self._refuse:
                    self._log.append(Served(arrived_at, arrived_at, refused=True))
                    return False
                self._changed.wait()
            self._busy += 1
            seconds = self._seconds
        try:
            time.sleep(seconds)
        finally:
            with self._changed:
                self._busy -= 1
                self._log.append(Served(arrived_at, time.monotonic()))
                self._changed.notify()
        return True
