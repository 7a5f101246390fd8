"""The circuit breaker: when Plex as a whole is unavailable, hold all work and probe it cheaply.

Rules (each tested in ``tests/test_breaker.py`` and driven against a model in
``property_tests/test_breaker_machine.py``):

1. CLOSED -> OPEN after ``breaker_failure_threshold`` consecutive outage failures (confirmed by a
   health check), or at once when Plex rejects the token. Any answer from a live Plex (success or
   a job-level error) resets the count.
2. OPEN holds all work until its cooldown runs out, then admits exactly one probe (HALF_OPEN). The
   probe is a cheap health call, not a job.
3. A failed probe reopens the breaker with a cooldown twice as long, up to
   ``breaker_max_cooldown_seconds``; a successful probe (or any job success) closes it.
4. One outage is one record: its cause, start, probe count and end. Failed probes extend it,
   they never start another.
5. A probe that does not report within ``probe_lease_seconds`` (its worker died) lets the next
   caller probe instead.
6. Reports that no longer apply (a late probe result, another worker's in-flight call finishing
   after the breaker moved) leave the breaker as it is: they are the pairs missing from
   ``TRANSITIONS``, and job successes that ended before the outage began.
7. Rate limiting is not an outage: it holds work until the server's time (``throttle``) without
   touching the state machine.
8. Time is an argument. A clock that steps backwards only makes a wait look "not yet elapsed".

The breaker is a value; the shell stores it in the same database, in the same transactions, as
the jobs it guards, so it resumes after a restart exactly where it was.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Final, assert_never

import attrs
from attrs import field, frozen

from core import validation as check
from core.config import PlexSyncConfig
from core.events import (
    BreakerClosed,
    BreakerEvent,
    BreakerOpened,
    ProbeFailed,
    ProbeStarted,
    Throttled,
)
from core.outcomes import Health


class BreakerKind(enum.Enum):
    """The breaker's three states."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class PauseCause(enum.Enum):
    """Why work is held: Plex is unreachable, or it rejects our token."""

    OUTAGE = "outage"
    AUTH = "auth"


class Signal(enum.Enum):
    """What the breaker is told."""

    SUCCEEDED = "job succeeded"
    ANSWERED = "Plex answered"
    FAILED = "outage failure"
    TRIPPED = "threshold reached"
    REJECTED = "token rejected"
    COOLED_DOWN = "cooldown over"
    PROBE_SUCCEEDED = "probe succeeded"
    PROBE_FAILED = "probe failed"


_CLOSED, _OPEN, _HALF_OPEN = BreakerKind.CLOSED, BreakerKind.OPEN, BreakerKind.HALF_OPEN

TRANSITIONS: Final[Mapping[tuple[BreakerKind, Signal], BreakerKind]] = {
    (_CLOSED, Signal.SUCCEEDED): _CLOSED,  # resets the failure count
    (_CLOSED, Signal.ANSWERED): _CLOSED,  # a job-level error from a live Plex: resets the count
    (_CLOSED, Signal.FAILED): _CLOSED,  # counts one more consecutive outage failure
    (_CLOSED, Signal.TRIPPED): _OPEN,  # the threshold is reached: a new outage starts
    (_CLOSED, Signal.REJECTED): _OPEN,  # a bad token needs no threshold
    (_OPEN, Signal.COOLED_DOWN): _HALF_OPEN,  # admits one probe
    (_OPEN, Signal.SUCCEEDED): _CLOSED,  # another worker's call got through: Plex is back
    (_OPEN, Signal.REJECTED): _OPEN,  # Plex is up but refuses the token: the cause becomes auth
    (_HALF_OPEN, Signal.PROBE_SUCCEEDED): _CLOSED,
    (_HALF_OPEN, Signal.SUCCEEDED): _CLOSED,
    (_HALF_OPEN, Signal.PROBE_FAILED): _OPEN,  # the cooldown doubles, up to its maximum
    (_HALF_OPEN, Signal.REJECTED): _OPEN,  # a failed probe too, and the cause becomes auth
    (_HALF_OPEN, Signal.COOLED_DOWN): _HALF_OPEN,  # the probe's lease ran out: admit another
}
"""Every move the breaker makes. A pair not listed is a report that no longer applies: ignored."""


@frozen(kw_only=True)
class Outage:
    """One outage, from the breaker opening to it closing, however many probes it took."""

    cause: PauseCause
    started_at: float = field(validator=check.number)
    probes: int = field(default=0, validator=check.count)
    ended_at: float | None = field(default=None, validator=check.instant)


@frozen(kw_only=True)
class Breaker:
    """The breaker's whole state, as stored.

    ``probe_at`` is when an OPEN breaker admits its probe, or when a HALF_OPEN breaker's probe
    lease runs out. ``outage`` is the outage under way (``None`` while CLOSED).
    ``throttled_until_at`` is a server's "slow down" and may be set in any state.
    """

    kind: BreakerKind = BreakerKind.CLOSED
    consecutive_failures: int = field(default=0, validator=check.count)
    cooldown_seconds: float = field(default=0.0, validator=check.number)
    probe_at: float | None = field(default=None, validator=check.instant)
    outage: Outage | None = None
    throttled_until_at: float | None = field(default=None, validator=check.instant)

    def __attrs_post_init__(self) -> None:
        closed = self.kind is BreakerKind.CLOSED
        if closed != (self.outage is None) or closed != (self.probe_at is None):
            raise ValueError(
                f"a {self.kind.value} breaker must {'not ' if closed else ''}"
                "have an outage and a probe time"
            )
        if closed != (self.cooldown_seconds == 0):
            raise ValueError("cooldown_seconds is set exactly when the breaker is not closed")
        if not closed and self.consecutive_failures != 0:
            raise ValueError("consecutive_failures only counts while the breaker is closed")


@frozen
class Proceed:
    """Work may go ahead."""


@frozen
class Probe:
    """Send the one probe (a health call) and report it with ``on_probe``; no job calls."""


@frozen
class Hold:
    """No Plex call before *until_at*."""

    until_at: float


Permission = Proceed | Probe | Hold


@frozen
class Admission:
    """What ``admit`` answers: the permission, the breaker to store, and what happened."""

    permission: Permission
    breaker: Breaker
    events: tuple[BreakerEvent, ...] = ()


def hold_until(breaker: Breaker, *, now: float) -> float | None:
    """The instant before which no Plex call may be made, or ``None`` if one may be made now."""
    match breaker.kind:
        case BreakerKind.CLOSED:
            until = breaker.throttled_until_at
        case BreakerKind.OPEN | BreakerKind.HALF_OPEN:
            until = breaker.probe_at
        case _:
            assert_never(breaker.kind)
    return until if until is not None and now < until else None


def admit(breaker: Breaker, *, now: float, config: PlexSyncConfig) -> Admission:
    """Say whether work may proceed now, until when it is held, or that the one probe is due.

    CLOSED proceeds unless a server asked us to slow down. OPEN holds until its cooldown runs
    out, then goes HALF_OPEN and admits one probe; HALF_OPEN holds every other caller until the
    probe's lease runs out.
    """
    until = hold_until(breaker, now=now)
    if until is not None:
        return Admission(Hold(until), breaker)
    if breaker.kind is BreakerKind.CLOSED:
        return Admission(Proceed(), breaker)
    after, events = observe(breaker, Signal.COOLED_DOWN, now=now, config=config)
    return Admission(Probe(), after, events)


def wake_at(
    breaker: Breaker, *, now: float, next_due_at: float | None, config: PlexSyncConfig
) -> float:
    """When an idle worker should look again: the earliest of the next due job, the end of a
    hold, and ``poll_interval`` from now (so it notices jobs that other processes enqueue).
    """
    horizon = now + config.poll_interval
    until = hold_until(breaker, now=now)
    if until is None and breaker.kind is not BreakerKind.CLOSED:
        return now  # a probe is due right now
    candidates = [horizon]
    if until is not None:
        candidates.append(until)
    elif next_due_at is not None:
        candidates.append(next_due_at)
    return max(now, min(candidates))


def failure_signal(breaker: Breaker, config: PlexSyncConfig) -> Signal:
    """The signal for one more confirmed outage failure: TRIPPED once it reaches the threshold."""
    reached = breaker.consecutive_failures + 1 >= config.breaker_failure_threshold
    return Signal.TRIPPED if reached else Signal.FAILED


_PROBE_SIGNALS: Final = {
    Health.UP: Signal.PROBE_SUCCEEDED,
    Health.DOWN: Signal.PROBE_FAILED,
    Health.UNAUTHORIZED: Signal.REJECTED,
}


def on_probe(
    breaker: Breaker, health: Health, *, now: float, config: PlexSyncConfig
) -> tuple[Breaker, tuple[BreakerEvent, ...]]:
    """Report the probe's result. A result that arrives after the breaker moved is ignored."""
    return observe(breaker, _PROBE_SIGNALS[health], now=now, config=config)


def throttle(breaker: Breaker, *, until_at: float, now: float) -> tuple[Breaker, Throttled]:
    """Hold all job calls until *until_at* (a server's Retry-After); an earlier hint never
    shortens a later one.
    """
    current = breaker.throttled_until_at
    latest = until_at if current is None or now >= current else max(current, until_at)
    return attrs.evolve(breaker, throttled_until_at=latest), Throttled(at=now, until_at=latest)


def observe(
    breaker: Breaker, signal: Signal, *, now: float, config: PlexSyncConfig
) -> tuple[Breaker, tuple[BreakerEvent, ...]]:
    """Apply *signal* at *now*: the move ``TRANSITIONS`` names, or nothing if it names none.

    A job success that ended no later than the outage began is a late report from before it
    (a worker writes its decisions in groups): it says nothing about Plex now, and is ignored.
    """
    target = TRANSITIONS.get((breaker.kind, signal))
    stale = (
        signal is Signal.SUCCEEDED
        and breaker.outage is not None
        and now <= breaker.outage.started_at
    )
    if target is None or stale:
        return breaker, ()
    match target:
        case BreakerKind.CLOSED:
            return _close(breaker, signal, now=now)
        case BreakerKind.OPEN:
            return _open(breaker, signal, now=now, config=config)
        case BreakerKind.HALF_OPEN:
            return _half_open(breaker, now=now, config=config)
        case _:
            assert_never(target)


def _close(
    breaker: Breaker, signal: Signal, *, now: float
) -> tuple[Breaker, tuple[BreakerEvent, ...]]:
    if breaker.outage is None:  # already closed: only the failure count moves
        failures = breaker.consecutive_failures + 1 if signal is Signal.FAILED else 0
        if failures == breaker.consecutive_failures:
            return breaker, ()  # the common case of every success: nothing to build
        return attrs.evolve(breaker, consecutive_failures=failures), ()
    ended = attrs.evolve(breaker.outage, ended_at=max(now, breaker.outage.started_at))
    closed = Breaker(throttled_until_at=breaker.throttled_until_at)
    return closed, (BreakerClosed(at=now, outage=ended),)


def _open(
    breaker: Breaker, signal: Signal, *, now: float, config: PlexSyncConfig
) -> tuple[Breaker, tuple[BreakerEvent, ...]]:
    cause = PauseCause.AUTH if signal is Signal.REJECTED else PauseCause.OUTAGE
    match breaker.kind:
        case BreakerKind.CLOSED:
            cooldown = config.breaker_cooldown_seconds
            opened = Breaker(
                kind=BreakerKind.OPEN,
                cooldown_seconds=cooldown,
                probe_at=now + cooldown,
                outage=Outage(cause=cause, started_at=now),
                throttled_until_at=breaker.throttled_until_at,
            )
            return opened, (BreakerOpened(at=now, cause=cause, next_probe_at=now + cooldown),)
        case BreakerKind.OPEN:  # the outage goes on, for a different reason
            assert breaker.outage is not None  # noqa: S101 - guaranteed by Breaker's invariant
            return attrs.evolve(breaker, outage=attrs.evolve(breaker.outage, cause=cause)), ()
        case BreakerKind.HALF_OPEN:  # the probe failed: wait longer before the next one
            assert breaker.outage is not None  # noqa: S101 - guaranteed by Breaker's invariant
            cooldown = min(2 * breaker.cooldown_seconds, config.breaker_max_cooldown_seconds)
            reopened = attrs.evolve(
                breaker,
                kind=BreakerKind.OPEN,
                cooldown_seconds=cooldown,
                probe_at=now + cooldown,
                outage=attrs.evolve(breaker.outage, cause=cause),
            )
            event = ProbeFailed(
                at=now, cause=cause, cooldown_seconds=cooldown, next_probe_at=now + cooldown
            )
            return reopened, (event,)
        case _:
            assert_never(breaker.kind)


def _half_open(
    breaker: Breaker, *, now: float, config: PlexSyncConfig
) -> tuple[Breaker, tuple[BreakerEvent, ...]]:
    assert breaker.outage is not None  # noqa: S101 - guaranteed by Breaker's invariant
    outage = attrs.evolve(breaker.outage, probes=breaker.outage.probes + 1)
    probing = attrs.evolve(
        breaker,
        kind=BreakerKind.HALF_OPEN,
        probe_at=now + config.probe_lease_seconds,
        outage=outage,
    )
    return probing, (ProbeStarted(at=now, number=outage.probes),)
