"""A simulated Plex on a fake clock: outages, late scans, transient errors and rate limits.

It implements the gateway protocol without a network, so ``run_worker`` can live through hours of
scenario in seconds. Hosts can use it to test their own integration; plexsync's tests and
``plexsync simulate`` use it too. Every call is recorded, so a test can ask what Plex saw, when.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Literal

from attrs import field, frozen

from core import ErrorClass, Failed, Health, Outcome, Succeeded
from core import validation as check
from shell.clock import Clock
from shell.payload import Metadata


@frozen
class Window:
    """A stretch of scenario time: *start_seconds* after the start, lasting *duration_seconds*."""

    start_seconds: float = field(validator=check.number)
    duration_seconds: float = field(validator=check.number)

    def holds(self, elapsed: float) -> bool:
        """Whether *elapsed* seconds after the start fall inside the window."""
        return self.start_seconds <= elapsed < self.start_seconds + self.duration_seconds


def _windows(windows: Iterable[Window]) -> tuple[Window, ...]:
    return tuple(windows)


@frozen(kw_only=True)
class Scenario:
    """How the simulated Plex behaves over time.

    ``outages``: Plex unreachable. ``token_rejected``: Plex answers 401. ``scan_delay_seconds``:
    a ``late_fraction`` of the files are unknown to Plex until that long after the start.
    ``transient_rate``: the share of job calls failing with a 500 on a healthy Plex.
    ``permanent_rate``: the share of files Plex always refuses (a 400). ``rate_limit_per_minute``:
    calls above it in a minute get a 429 with Retry-After until the minute ends.
    ``call_seconds``: how long each call takes (the clock sleeps that long), so a backlog takes
    simulated time to work through, as it would against a real server.

    More of what a sick Plex does, for long soaks: ``failing_edits``: edits answer 500 while the
    health call answers (its database is busy). ``not_plex``: something else answers at the URL.
    ``throttled``: every call gets a 429 whose Retry-After is at most a minute away. ``slow``:
    calls take ``slow_call_seconds`` and succeed. ``stalled``: calls, the health call included,
    hang for ``stall_seconds`` and time out; an edit that timed out lands all the same.
    ``poisoned_rate``: the share of files whose edits always answer 500, however healthy Plex is.
    """

    outages: tuple[Window, ...] = field(default=(), converter=_windows)
    token_rejected: tuple[Window, ...] = field(default=(), converter=_windows)
    failing_edits: tuple[Window, ...] = field(default=(), converter=_windows)
    not_plex: tuple[Window, ...] = field(default=(), converter=_windows)
    throttled: tuple[Window, ...] = field(default=(), converter=_windows)
    slow: tuple[Window, ...] = field(default=(), converter=_windows)
    stalled: tuple[Window, ...] = field(default=(), converter=_windows)
    slow_call_seconds: float = field(default=2.0, validator=check.number)
    stall_seconds: float = field(default=30.0, validator=check.number)
    poisoned_rate: float = field(default=0.0, validator=check.fraction)
    scan_delay_seconds: float = field(default=0.0, validator=check.number)
    late_fraction: float = field(default=1.0, validator=check.fraction)
    transient_rate: float = field(default=0.0, validator=check.fraction)
    permanent_rate: float = field(default=0.0, validator=check.fraction)
    rate_limit_per_minute: int | None = None
    call_seconds: float = field(default=0.05, validator=check.number)
    seed: int = 0


@frozen(kw_only=True)
class Call:
    """One call the simulated Plex received."""

    at: float
    kind: Literal["apply", "health"]
    path: str | None
    result: str


class SimulatedPlex:
    """The gateway protocol over a scenario; time is read from *clock* (usually a FakeClock)."""

    def __init__(
        self,
        scenario: Scenario,
        clock: Clock,
        *,
        start_at: float | None = None,
        host_clock: Clock | None = None,
    ) -> None:
        self.scenario = scenario
        self.clock = clock
        self.host_clock = clock if host_clock is None else host_clock
        """The clock of the host reading the answers: a Retry-After is an instant on it (its
        clock may have jumped while Plex's did not)."""
        self.start_at = clock.now() if start_at is None else start_at
        self.items: dict[str, Metadata] = {}
        """The metadata Plex holds, per path: the last edit applied."""
        self.calls: list[Call] = []
        self._minute: float | None = None
        self._calls_this_minute = 0

    def apply(self, metadata: Metadata) -> Outcome:
        """Apply *metadata* if the scenario lets the call through at this instant."""
        self.clock.sleep(self._call_seconds())
        outcome = self._answer(metadata)
        if isinstance(outcome, Succeeded) or (isinstance(outcome, Failed) and outcome.may_land):
            self.items[metadata.path] = metadata
        self._record("apply", metadata.path, outcome)
        return outcome

    def health(self) -> Health:
        """Down during an outage or a stall, unauthorized while the token is rejected, not Plex
        while something else answers, up otherwise.
        """
        self.clock.sleep(self._call_seconds())
        elapsed = self.clock.now() - self.start_at
        scenario = self.scenario
        if _during(elapsed, scenario.outages, scenario.stalled):
            health = Health.DOWN
        elif _during(elapsed, scenario.token_rejected):
            health = Health.UNAUTHORIZED
        elif _during(elapsed, scenario.not_plex):
            health = Health.NOT_PLEX
        else:
            health = Health.UP
        self.calls.append(Call(at=self.clock.now(), kind="health", path=None, result=health.value))
        return health

    def reachable(self) -> bool:
        """Whether Plex's port accepts connections: not during an outage (it is no call)."""
        elapsed = self.clock.now() - self.start_at
        return not any(w.holds(elapsed) for w in self.scenario.outages)

    def calls_between(self, start_at: float, end_at: float, kind: str | None = None) -> list[Call]:
        """The calls received in [start_at, end_at), optionally of one kind."""
        return [
            c for c in self.calls if start_at <= c.at < end_at and (kind is None or c.kind == kind)
        ]

    def _call_seconds(self) -> float:
        """How long a call takes now: longer while Plex is slow, longest while it stalls."""
        elapsed = self.clock.now() - self.start_at
        scenario = self.scenario
        if _during(elapsed, scenario.stalled):
            return scenario.stall_seconds
        if _during(elapsed, scenario.slow):
            return scenario.slow_call_seconds
        return scenario.call_seconds

    def _answer(self, metadata: Metadata) -> Outcome:
        now = self.clock.now()
        server = self._server_fault(now)
        if server is not None:
            return server
        limited = self._rate_limited(now)
        if limited is not None:
            return limited
        return self._file_answer(metadata, now - self.start_at)

    def _server_fault(self, now: float) -> Failed | None:  # noqa: PLR0911 - one per fault
        """What Plex as a whole does to every call at *now*, or ``None`` when it is well."""
        elapsed = now - self.start_at
        scenario = self.scenario
        if _during(elapsed, scenario.outages):
            return Failed(ErrorClass.OUTAGE, "connection refused (simulated outage)")
        if _during(elapsed, scenario.stalled):
            return Failed(ErrorClass.OUTAGE, "read timed out (simulated stall)", may_land=True)
        if _during(elapsed, scenario.token_rejected):
            return Failed(ErrorClass.AUTH, "(401) unauthorized (simulated)")
        if _during(elapsed, scenario.not_plex):
            return Failed(ErrorClass.NOT_PLEX, "(200) an HTML page, not Plex (simulated)")
        throttled = self._throttled(now)
        if throttled is not None:
            return throttled
        if _during(elapsed, scenario.failing_edits):
            return Failed(ErrorClass.TRANSIENT, "(500) database is locked (simulated)")
        return None

    def _file_answer(self, metadata: Metadata, elapsed: float) -> Outcome:
        """What a well Plex answers for *metadata*'s file."""
        scenario = self.scenario
        if (
            scenario.scan_delay_seconds > 0
            and elapsed < scenario.scan_delay_seconds
            and self._unit(metadata.path, "late") < scenario.late_fraction
        ):
            return Failed(ErrorClass.NOT_FOUND, f"no Plex item for {metadata.path} (not scanned)")
        if self.refused(metadata.path):
            return Failed(ErrorClass.PERMANENT, "(400) bad request (simulated)")
        if self.poisoned(metadata.path):
            return Failed(ErrorClass.TRANSIENT, "(500) internal server error (simulated poison)")
        if self._unit(metadata.path, "transient", len(self.calls)) < scenario.transient_rate:
            return Failed(ErrorClass.TRANSIENT, "(500) internal server error (simulated)")
        return Succeeded()

    def _throttled(self, now: float) -> Failed | None:
        """A 429 during a throttled window: try again at its end, or in a minute if sooner."""
        for window in self.scenario.throttled:
            if window.holds(now - self.start_at):
                end = self.start_at + window.start_seconds + window.duration_seconds
                return Failed(
                    ErrorClass.RATE_LIMITED,
                    "(429) too many requests (simulated)",
                    retry_after_at=self._on_host(min(end, now + 60)),
                )
        return None

    def _rate_limited(self, now: float) -> Failed | None:
        limit = self.scenario.rate_limit_per_minute
        if limit is None:
            return None
        minute = now - (now - self.start_at) % 60
        if minute != self._minute:
            self._minute, self._calls_this_minute = minute, 0
        self._calls_this_minute += 1
        if self._calls_this_minute <= limit:
            return None
        return Failed(
            ErrorClass.RATE_LIMITED,
            "(429) too many requests (simulated)",
            retry_after_at=self._on_host(minute + 60),
        )

    def _on_host(self, instant: float) -> float:
        """*instant* of this Plex's clock, on the host's."""
        return self.host_clock.now() + (instant - self.clock.now())

    def refused(self, path: str) -> bool:
        """Whether the scenario makes Plex refuse every edit of *path* (a 400)."""
        return self._unit(path, "permanent") < self.scenario.permanent_rate

    def poisoned(self, path: str) -> bool:
        """Whether the scenario makes every edit of *path* fail with a 500 on a healthy Plex."""
        return self._unit(path, "poisoned") < self.scenario.poisoned_rate

    def _unit(self, *parts: object) -> float:
        """A stable sample in [0, 1) for *parts* under the scenario's seed."""
        text = "\x1f".join(map(str, (self.scenario.seed, *parts))).encode()
        digest = hashlib.blake2b(text, digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2**64

    def _record(self, kind: Literal["apply", "health"], path: str | None, outcome: Outcome) -> None:
        result = "success" if isinstance(outcome, Succeeded) else outcome.error_class.value
        self.calls.append(Call(at=self.clock.now(), kind=kind, path=path, result=result))


def _during(elapsed: float, *kinds: tuple[Window, ...]) -> bool:
    """Whether *elapsed* falls inside any window of *kinds*."""
    return any(window.holds(elapsed) for windows in kinds for window in windows)
