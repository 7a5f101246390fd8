"""Plex calls in flight: the worker sends attempts off and collects them as they come back.

plexapi's calls block, so each attempt in flight runs in a thread of its own (at most
``max_in_flight`` threads). Only the call to Plex (and the health call that may settle it) runs
there: claiming, deciding and writing stay in the worker's thread, which alone uses the store.

On a fake clock (``plexsync simulate``, tests) and with ``max_in_flight = 1`` every call is made
at once, in the worker's thread, when it is sent: one at a time, in due order, reproducible.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Final

from attrs import frozen

from core import Outcome
from shell.clock import Clock
from shell.store import StoredJob

THREAD_NAME: Final = "plexsync-call"


@frozen(kw_only=True)
class Called:
    """What one attempt's calls came to: the outcome as the job call reported it (*reported*),
    the outcome after the health call that may have settled it, and how many calls it made.
    """

    reported: Outcome
    outcome: Outcome
    calls: int


@frozen(kw_only=True)
class Landed:
    """An attempt that came back."""

    stored: StoredJob
    called: Called
    started_at: float
    ended_at: float
    in_flight: int
    """Attempts in flight when this one was sent, itself included."""


class Flights:
    """Attempts in flight: ``send`` one, ``collect`` those that came back (waiting for one)."""

    def __init__(
        self, attempt: Callable[[StoredJob], Called], clock: Clock, *, threads: int
    ) -> None:
        """*attempt* makes one job's calls; *threads* is the most in flight (0: make each call
        at once, in the caller's thread).
        """
        self._attempt = attempt
        self._clock = clock
        self._threaded = threads > 0
        self.capacity = max(threads, 1)
        """The most attempts that can be out at once (one when each call is made as sent)."""
        self._out = 0
        self._back: queue.SimpleQueue[Landed | BaseException] = queue.SimpleQueue()

    def __len__(self) -> int:
        """Attempts sent and not yet collected."""
        return self._out

    def send(self, stored: StoredJob) -> None:
        """Start the attempt at *stored*."""
        self._out += 1
        if not self._threaded:
            self._back.put(self._fly(stored, self._out))
            return
        # A daemon thread per attempt: a worker told to stop at once must not wait for a call
        # stuck in a slow Plex (its job is given back uncharged, and redone).
        threading.Thread(
            target=self._fly_and_report, args=(stored, self._out), name=THREAD_NAME, daemon=True
        ).start()

    def collect(self) -> list[Landed]:
        """The attempts that came back, in the order they did; waits for one if none has."""
        if not self._out:
            return []
        landed = [self._back.get()]
        while not self._back.empty():
            landed.append(self._back.get())
        self._out -= len(landed)
        for found in landed:
            if isinstance(found, BaseException):
                raise found
        return [found for found in landed if isinstance(found, Landed)]

    def abandon(self) -> None:
        """Wait for every attempt in flight, and forget what came of it."""
        while self._out:
            self._back.get()
            self._out -= 1

    def _fly_and_report(self, stored: StoredJob, in_flight: int) -> None:
        try:
            self._back.put(self._fly(stored, in_flight))
        except BaseException as exc:  # noqa: BLE001 - handed to the worker's thread, raised there
            self._back.put(exc)

    def _fly(self, stored: StoredJob, in_flight: int) -> Landed:
        started_at = self._clock.now()
        called = self._attempt(stored)
        return Landed(
            stored=stored,
            called=called,
            started_at=started_at,
            ended_at=self._clock.now(),
            in_flight=in_flight,
        )
