"""The circuit breaker: when Plex as a whole is unavailable, hold all work and probe it cheaply.

Rules (each tested in ``tests/test_breaker.py`` and driven against a model in
``property_tests/test_breaker_machine.py``):

1. CLOSED -> OPEN after ``breaker_failure_threshold`` consecutive outage failures (each confirmed
   by a health check; one, by default), or at once when Plex rejects the token, the settings
   cannot work (``plex_url`` is not Plex, a library section is wrong) or Plex's certificate does
   not verify. Any answer from a live Plex (success or a job-level error) resets the count.
   Edits failing on ``failing_edits_threshold`` different items in a row, none going through in
   between, open it too: Plex answers its health call, but is failing as a whole.
2. OPEN holds all work until its cooldown runs out, then admits exactly one probe (HALF_OPEN). The
   probe is a cheap health call; when the settings were at fault, or edits were failing, it is
   one real job instead, since only a job shows whether the sections or the edits work now.
3. A failed probe reopens the breaker with a cooldown twice as long, up to
   ``breaker_max_cooldown_seconds``; a successful probe (or any job success) closes it.
4. One outage is one record: its cause, start, probe count and end. Failed probes extend it,
   they never start another.
5. A probe that does not report within ``probe_lease_seconds`` (its worker died) lets the next
   caller probe instead.
6. Reports that no longer apply (a late probe result, another worker's in-flight call finishing
   after the breaker moved, a job success of a call that began before the outage began, an
   outage failure of a call that began before the breaker last closed) leave the breaker as it
   is: the table says so, pair by pair.
7. Rate limiting is not an outage: it holds work until the server's time (``throttle``) without
   touching the state machine.
8. Time is an argument, and the wall clock may jump. A clock that steps back never makes the
   breaker wait longer than it would have from now: a probe is never more than the cooldown
   away, a probe's lease never longer than its length, a server's slow-down never longer than
   ``retry_after_max_seconds`` (``steady``). Late reports are told by how long an attempt can
   take, so a jump does not make every report look late.

Every move is one row of ``TRANSITIONS``: (state, signal) -> (effect, next state). The table is
total (a test walks every pair), and each state is a class of its own holding exactly the data
that state has, so an open breaker without an outage cannot be built.

The breaker is a value; the shell stores it in the same database, in the same transactions, as
the jobs it guards, so it resumes after a restart exactly where it was.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Final, assert_never

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
from core.outage import Outage, PauseCause
from core.outcomes import ErrorClass, Failed, Health, Outcome


class BreakerKind(enum.Enum):
    """The breaker's three states (how they are named in storage and in diagrams)."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Signal(enum.Enum):
    """What the breaker is told."""

    SUCCEEDED = "job succeeded"
    STALE_SUCCESS = "job call from before the outage succeeded"
    ANSWERED = "Plex answered"
    FAILED = "outage failure"
    STALE_FAILURE = "outage failure from before Plex came back"
    TRIPPED = "threshold reached"
    REJECTED = "token rejected"
    MISCONFIGURED = "settings cannot work"
    UNTRUSTED = "certificate does not verify"
    EDIT_FAILED = "an item's edit failed"
    EDITS_FAILING = "edits fail on many items"
    COOLED_DOWN = "cooldown over"
    PROBE_SUCCEEDED = "probe succeeded"
    PROBE_FAILED = "probe failed"
    REACHABLE = "Plex accepts connections again"


@frozen(kw_only=True)
class Closed:
    """Work flows; ``consecutive_failures`` counts confirmed outage failures in a row.
    ``closed_at`` is when the last outage ended (``None`` if there never was one): a call that
    began before it cannot reopen the breaker.
    """

    kind: ClassVar = BreakerKind.CLOSED
    consecutive_failures: int = field(default=0, validator=check.count)
    closed_at: float | None = field(default=None, validator=check.instant)
    failing_jobs: tuple[int, ...] = ()
    """The different jobs whose edits failed in a row, none going through since: when they
    reach ``failing_edits_threshold``, Plex is failing edits as a whole."""


@frozen(kw_only=True)
class Open:
    """Work is held for ``outage``; the one probe is admitted at ``probe_at``."""

    kind: ClassVar = BreakerKind.OPEN
    outage: Outage
    cooldown_seconds: float = field(validator=check.positive)
    probe_at: float = field(validator=check.number)


@frozen(kw_only=True)
class HalfOpen:
    """One probe is out; if it has not reported by ``probe_lease_until_at``, another may go."""

    kind: ClassVar = BreakerKind.HALF_OPEN
    outage: Outage
    cooldown_seconds: float = field(validator=check.positive)
    probe_lease_until_at: float = field(validator=check.number)


BreakerState = Closed | Open | HalfOpen


@frozen(kw_only=True)
class Breaker:
    """The breaker's whole state, as stored: the state machine's ``state``, and a server's
    "slow down" (``throttled_until_at``), which may be set in any state.
    """

    state: BreakerState = field(factory=Closed)
    throttled_until_at: float | None = field(default=None, validator=check.instant)

    @property
    def kind(self) -> BreakerKind:
        """Which of the three states the breaker is in."""
        return self.state.kind

    @property
    def outage(self) -> Outage | None:
        """The outage under way, or ``None`` while closed."""
        return None if isinstance(self.state, Closed) else self.state.outage

    @property
    def next_probe_at(self) -> float | None:
        """When the next probe may go: the end of an open breaker's cooldown, or of a half-open
        breaker's probe lease; ``None`` while closed.
        """
        match self.state:
            case Closed():
                return None
            case Open(probe_at=at) | HalfOpen(probe_lease_until_at=at):
                return at
            case _:
                assert_never(self.state)


@frozen
class Proceed:
    """Work may go ahead."""


class ProbeKind(enum.Enum):
    """How to probe: a cheap health call, or one real job (when only a job can tell)."""

    HEALTH = "health"
    JOB = "job"


PROBE_KINDS: Final = {
    PauseCause.OUTAGE: ProbeKind.HEALTH,
    PauseCause.AUTH: ProbeKind.HEALTH,
    PauseCause.MISCONFIGURED: ProbeKind.JOB,
    PauseCause.CERTIFICATE: ProbeKind.HEALTH,  # every call makes the same TLS handshake
    PauseCause.FAILING_EDITS: ProbeKind.JOB,
}
"""How each cause is probed."""


@frozen
class Probe:
    """Send the one probe and report it: a health call (``on_probe``), or one job
    (``on_job_probe``, then ``decide`` as usual); no other Plex call meanwhile.
    """

    kind: ProbeKind = ProbeKind.HEALTH


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


# ---------------------------------------------------------------------------- the table
@frozen(kw_only=True)
class _Input:
    """What an effect is told besides the state: the signal, the time and the config."""

    signal: Signal
    now: float
    config: PlexSyncConfig
    detail: str = ""
    job_id: int | None = None


_Moved = tuple[BreakerState, tuple[BreakerEvent, ...]]


def _stay(state: BreakerState, given: _Input) -> _Moved:
    """A report that no longer applies: nothing changes."""
    del given
    return state, ()


def _reset_count(state: Closed, given: _Input) -> _Moved:
    """A live Plex answered or an edit went through: the runs of failures are broken."""
    del given
    if state.consecutive_failures == 0 and not state.failing_jobs:
        return state, ()
    return attrs.evolve(state, consecutive_failures=0, failing_jobs=()), ()


def _count_failed_edit(state: Closed, given: _Input) -> _Moved:
    """Plex answered, but an item's edit failed: one more job in the run of failed edits (the
    same job failing again adds none), and the run of outage failures is broken.
    """
    jobs = state.failing_jobs
    if given.job_id is not None and given.job_id not in jobs:
        jobs = (*jobs, given.job_id)
    return attrs.evolve(state, consecutive_failures=0, failing_jobs=jobs), ()


def _count_failure(state: Closed, given: _Input) -> _Moved:
    """One more confirmed outage failure, still below the threshold."""
    del given
    return attrs.evolve(state, consecutive_failures=state.consecutive_failures + 1), ()


def _start_outage(state: Closed, given: _Input) -> _Moved:
    """Open: a new outage record, and the first probe after ``breaker_cooldown_seconds``."""
    del state
    cause = _cause(given.signal)
    detail = given.detail or DEFAULT_DETAIL[cause]
    cooldown = given.config.breaker_cooldown_seconds
    probe_at = given.now + cooldown
    opened = Open(
        outage=Outage(cause=cause, started_at=given.now, detail=detail),
        cooldown_seconds=cooldown,
        probe_at=probe_at,
    )
    event = BreakerOpened(at=given.now, cause=cause, next_probe_at=probe_at, detail=detail)
    return opened, (event,)


def _change_cause(state: Open, given: _Input) -> _Moved:
    """The outage goes on, for a different reason (Plex is up but refuses the token)."""
    return attrs.evolve(state, outage=_blamed(state.outage, given)), ()


def _admit_probe(state: Open | HalfOpen, given: _Input) -> _Moved:
    """Half-open: one probe may go; if it does not report within its lease, another may."""
    outage = attrs.evolve(state.outage, probes=state.outage.probes + 1)
    probing = HalfOpen(
        outage=outage,
        cooldown_seconds=state.cooldown_seconds,
        probe_lease_until_at=given.now + given.config.probe_lease_seconds,
    )
    return probing, (ProbeStarted(at=given.now, number=outage.probes),)


def _probe_now(state: Open, given: _Input) -> _Moved:
    """Plex, away for an outage, accepts connections again: the probe is due now rather than
    at the end of a cooldown that may have grown to minutes. Any other cause waits its turn
    (a rejected token is not cured by Plex listening).
    """
    if state.outage.cause is not PauseCause.OUTAGE or state.probe_at <= given.now:
        return state, ()
    return attrs.evolve(state, probe_at=given.now), ()


def _back_off(state: HalfOpen, given: _Input) -> _Moved:
    """The probe failed: open again, the cooldown doubled up to its maximum."""
    outage = _blamed(state.outage, given)
    cooldown = min(2 * state.cooldown_seconds, given.config.breaker_max_cooldown_seconds)
    probe_at = given.now + cooldown
    reopened = Open(outage=outage, cooldown_seconds=cooldown, probe_at=probe_at)
    failed = ProbeFailed(
        at=given.now,
        cause=outage.cause,
        cooldown_seconds=cooldown,
        next_probe_at=probe_at,
        detail=outage.detail,
    )
    return reopened, (failed,)


def _end_outage(state: Open | HalfOpen, given: _Input) -> _Moved:
    """Plex is back: close, and finish the outage record (never before it began)."""
    ended_at = max(given.now, state.outage.started_at)
    ended = attrs.evolve(state.outage, ended_at=ended_at)
    return Closed(closed_at=ended_at), (BreakerClosed(at=given.now, outage=ended),)


DEFAULT_DETAIL: Final = {
    PauseCause.OUTAGE: "Plex does not answer",
    PauseCause.AUTH: "token rejected",
    PauseCause.MISCONFIGURED: (
        "the settings do not fit this server; check plex_url and library_sections"
    ),
    PauseCause.CERTIFICATE: (
        "its certificate does not verify; set plex_ca_bundle, or plex_verify_certificate = false"
    ),
    PauseCause.FAILING_EDITS: "edits fail on many different items",
}
"""What a cause is called when the report that made it said nothing more precise."""


def _cause(signal: Signal) -> PauseCause:
    match signal:
        case Signal.REJECTED:
            return PauseCause.AUTH
        case Signal.MISCONFIGURED:
            return PauseCause.MISCONFIGURED
        case Signal.UNTRUSTED:
            return PauseCause.CERTIFICATE
        case Signal.EDITS_FAILING:
            return PauseCause.FAILING_EDITS
        case _:
            return PauseCause.OUTAGE


def _blamed(outage: Outage, given: _Input) -> Outage:
    """*outage* with the cause *given* reports: its words, or the old ones if it is the same
    cause and brought none, or the cause's usual words.
    """
    cause = _cause(given.signal)
    kept = outage.detail if cause is outage.cause else DEFAULT_DETAIL[cause]
    return attrs.evolve(outage, cause=cause, detail=given.detail or kept)


@frozen
class Move:
    """One row of the table: what *effect* does, and the state it leads to."""

    effect: Callable[[Any, _Input], _Moved]  # each effect takes the state class it is listed for
    target: BreakerKind


_CLOSED, _OPEN, _HALF_OPEN = BreakerKind.CLOSED, BreakerKind.OPEN, BreakerKind.HALF_OPEN
_S = Signal

TRANSITIONS: Final[Mapping[tuple[BreakerKind, Signal], Move]] = {
    (_CLOSED, _S.SUCCEEDED): Move(_reset_count, _CLOSED),
    (_CLOSED, _S.STALE_SUCCESS): Move(_stay, _CLOSED),  # never sent: closed has no outage
    (_CLOSED, _S.ANSWERED): Move(_reset_count, _CLOSED),  # a job-level error from a live Plex
    (_CLOSED, _S.FAILED): Move(_count_failure, _CLOSED),
    (_CLOSED, _S.STALE_FAILURE): Move(_stay, _CLOSED),  # the call began before Plex came back
    (_CLOSED, _S.TRIPPED): Move(_start_outage, _OPEN),  # the threshold is reached
    (_CLOSED, _S.REJECTED): Move(_start_outage, _OPEN),  # a bad token needs no threshold
    (_CLOSED, _S.MISCONFIGURED): Move(_start_outage, _OPEN),  # nor do settings that cannot work
    (_CLOSED, _S.UNTRUSTED): Move(_start_outage, _OPEN),  # nor a certificate that does not verify
    (_CLOSED, _S.EDIT_FAILED): Move(_count_failed_edit, _CLOSED),
    (_CLOSED, _S.EDITS_FAILING): Move(_start_outage, _OPEN),  # on enough different items
    (_CLOSED, _S.COOLED_DOWN): Move(_stay, _CLOSED),  # nothing cools down while closed
    (_CLOSED, _S.PROBE_SUCCEEDED): Move(_stay, _CLOSED),  # a probe reporting after another
    (_CLOSED, _S.PROBE_FAILED): Move(_stay, _CLOSED),  # worker's success closed the breaker
    (_CLOSED, _S.REACHABLE): Move(_stay, _CLOSED),  # nothing is held
    (_OPEN, _S.SUCCEEDED): Move(_end_outage, _CLOSED),  # another worker's call got through
    (_OPEN, _S.STALE_SUCCESS): Move(_stay, _OPEN),  # it began before the outage began
    (_OPEN, _S.ANSWERED): Move(_stay, _OPEN),  # a call from before the breaker opened
    (_OPEN, _S.FAILED): Move(_stay, _OPEN),  # the outage is already known
    (_OPEN, _S.STALE_FAILURE): Move(_stay, _OPEN),  # never sent: only a closed breaker has one
    (_OPEN, _S.TRIPPED): Move(_stay, _OPEN),
    (_OPEN, _S.REJECTED): Move(_change_cause, _OPEN),  # Plex is up but refuses the token
    (_OPEN, _S.MISCONFIGURED): Move(_change_cause, _OPEN),  # or is not Plex, or lacks a section
    (_OPEN, _S.UNTRUSTED): Move(_change_cause, _OPEN),  # or its certificate does not verify
    (_OPEN, _S.EDIT_FAILED): Move(_stay, _OPEN),  # a call from before the breaker opened
    (_OPEN, _S.EDITS_FAILING): Move(_stay, _OPEN),  # never sent: only a closed one counts
    (_OPEN, _S.COOLED_DOWN): Move(_admit_probe, _HALF_OPEN),
    (_OPEN, _S.PROBE_SUCCEEDED): Move(_stay, _OPEN),  # a late report of an earlier probe
    (_OPEN, _S.PROBE_FAILED): Move(_stay, _OPEN),
    (_OPEN, _S.REACHABLE): Move(_probe_now, _OPEN),  # an outage: probe now, not in minutes
    (_HALF_OPEN, _S.SUCCEEDED): Move(_end_outage, _CLOSED),
    (_HALF_OPEN, _S.STALE_SUCCESS): Move(_stay, _HALF_OPEN),
    (_HALF_OPEN, _S.ANSWERED): Move(_stay, _HALF_OPEN),
    (_HALF_OPEN, _S.FAILED): Move(_stay, _HALF_OPEN),  # the probe decides, not a job call
    (_HALF_OPEN, _S.STALE_FAILURE): Move(_stay, _HALF_OPEN),  # never sent (closed only)
    (_HALF_OPEN, _S.TRIPPED): Move(_stay, _HALF_OPEN),
    (_HALF_OPEN, _S.REJECTED): Move(_back_off, _OPEN),  # a failed probe, and the cause is auth
    (_HALF_OPEN, _S.MISCONFIGURED): Move(_back_off, _OPEN),  # ... or the settings
    (_HALF_OPEN, _S.UNTRUSTED): Move(_back_off, _OPEN),  # ... or the certificate
    (_HALF_OPEN, _S.EDIT_FAILED): Move(_stay, _HALF_OPEN),  # the probe decides
    (_HALF_OPEN, _S.EDITS_FAILING): Move(_back_off, _OPEN),  # the probe's edit failed too
    (_HALF_OPEN, _S.COOLED_DOWN): Move(_admit_probe, _HALF_OPEN),  # the probe's lease ran out
    (_HALF_OPEN, _S.PROBE_SUCCEEDED): Move(_end_outage, _CLOSED),
    (_HALF_OPEN, _S.PROBE_FAILED): Move(_back_off, _OPEN),  # the cooldown doubles
    (_HALF_OPEN, _S.REACHABLE): Move(_stay, _HALF_OPEN),  # the probe is already out
}
"""Every (state, signal) pair and what it does. ``_stay`` rows are reports that no longer apply."""


def changes_anything(move: Move) -> bool:
    """Whether a row is a real move (every row but the ``_stay`` ones)."""
    return move.effect is not _stay


# ---------------------------------------------------------------------------- the calls
def observe(
    breaker: Breaker,
    signal: Signal,
    *,
    now: float,
    config: PlexSyncConfig,
    detail: str = "",
    job_id: int | None = None,
) -> tuple[Breaker, tuple[BreakerEvent, ...]]:
    """Apply *signal* at *now*: the row of ``TRANSITIONS`` for the breaker's state and *signal*.

    *detail* says in plain words what the report found ("connection refused"); it is kept with
    the outage when the signal opens the breaker or changes its cause. *job_id* names the job
    whose edit failed (``EDIT_FAILED``).
    """
    move = TRANSITIONS[breaker.kind, signal]
    given = _Input(signal=signal, now=now, config=config, detail=detail, job_id=job_id)
    state, events = move.effect(breaker.state, given)
    if state is breaker.state:
        return breaker, events
    return attrs.evolve(breaker, state=state), events


def success_signal(
    breaker: Breaker, *, now: float, config: PlexSyncConfig, started_at: float | None = None
) -> Signal:
    """The signal for a job success of a call that ended at *now* (and began at *started_at*, if
    known): a call that began or ended no later than the outage under way began is a late report
    from before it (a worker writes its decisions in groups, at most about a second and one
    attempt after the call; with several calls out, one sent before the outage may be answered
    after another worker saw Plex down), and says nothing about Plex now. One that began or
    ended long before that is a clock that stepped back, and counts.
    """
    outage = breaker.outage
    if outage is None:
        return Signal.SUCCEEDED
    began = outage.started_at
    if began - (config.attempt_seconds + 1.0) <= now <= began:
        return Signal.STALE_SUCCESS
    if started_at is not None and began - config.attempt_seconds <= started_at < began:
        return Signal.STALE_SUCCESS
    return Signal.SUCCEEDED


def failure_signal(
    breaker: Breaker, config: PlexSyncConfig, *, started_at: float | None = None
) -> Signal:
    """The signal for one more confirmed outage failure of a call that began at *started_at*:
    TRIPPED once it reaches the threshold; STALE_FAILURE if the call began before the breaker
    last closed (its health check may have seen the outage that has just ended).
    """
    match breaker.state:
        case Closed(closed_at=closed_at) if (
            closed_at is not None
            and started_at is not None
            and closed_at - config.attempt_seconds <= started_at < closed_at
        ):
            # A call cannot take longer than attempt_seconds: one that began longer before the
            # close than that began after a clock stepped back, and is not a late report.
            return Signal.STALE_FAILURE
        case Closed(consecutive_failures=failures):
            reached = failures + 1 >= config.breaker_failure_threshold
            return Signal.TRIPPED if reached else Signal.FAILED
        case _:
            return Signal.FAILED


def edit_failure_signal(breaker: Breaker, job_id: int, config: PlexSyncConfig) -> Signal:
    """The signal for a failed edit of job *job_id* (a 5xx, an unreadable answer) on a Plex
    that answered: EDITS_FAILING once the run of different jobs whose edits failed reaches
    ``failing_edits_threshold``.
    """
    match breaker.state:
        case Closed(failing_jobs=jobs):
            failing = len({*jobs, job_id})
            reached = failing >= config.failing_edits_threshold
            return Signal.EDITS_FAILING if reached else Signal.EDIT_FAILED
        case _:
            return Signal.EDIT_FAILED


def failing_edits_detail(breaker: Breaker, job_id: int, message: str) -> str:
    """The words for a run of failed edits: the last error, and on how many items."""
    jobs = breaker.state.failing_jobs if isinstance(breaker.state, Closed) else ()
    count = len({*jobs, job_id})
    return f"Plex is failing edits: {message} on {count} different items"


def steady(breaker: Breaker, *, now: float, config: PlexSyncConfig) -> Breaker:
    """*breaker* with no wait longer than it could be if set at *now*: a clock that stepped back
    (NTP, a VM resumed, a wrong clock fixed) would otherwise hold work for the length of the
    jump. Unchanged (the same object) when nothing reaches that far.
    """
    state = breaker.state
    match state:
        case Open(probe_at=at, cooldown_seconds=cooldown) if at > now + cooldown:
            state = attrs.evolve(state, probe_at=now + cooldown)
        case HalfOpen(probe_lease_until_at=at) if at > now + config.probe_lease_seconds:
            state = attrs.evolve(state, probe_lease_until_at=now + config.probe_lease_seconds)
    throttled = breaker.throttled_until_at
    if throttled is not None and throttled > now + config.retry_after_max_seconds:
        throttled = now + config.retry_after_max_seconds
    if state is breaker.state and throttled == breaker.throttled_until_at:
        return breaker
    return Breaker(state=state, throttled_until_at=throttled)


def hold_until(breaker: Breaker, *, now: float) -> float | None:
    """The instant before which no Plex call may be made, or ``None`` if one may be made now.

    Pass a ``steady`` breaker: this reads the instants as they are.
    """
    until = breaker.throttled_until_at if breaker.kind is _CLOSED else breaker.next_probe_at
    return until if until is not None and now < until else None


def admit(breaker: Breaker, *, now: float, config: PlexSyncConfig) -> Admission:
    """Say whether work may proceed now, until when it is held, or that the one probe is due.

    CLOSED proceeds unless a server asked us to slow down. OPEN holds until its cooldown runs
    out, then goes HALF_OPEN and admits one probe; HALF_OPEN holds every other caller until the
    probe's lease runs out.
    """
    breaker = steady(breaker, now=now, config=config)
    until = hold_until(breaker, now=now)
    if until is not None:
        return Admission(Hold(until), breaker)
    if breaker.outage is None:
        return Admission(Proceed(), breaker)
    kind = PROBE_KINDS[breaker.outage.cause]
    after, events = observe(breaker, Signal.COOLED_DOWN, now=now, config=config)
    return Admission(Probe(kind), after, events)


def wake_at(
    breaker: Breaker, *, now: float, next_due_at: float | None, config: PlexSyncConfig
) -> float:
    """When an idle worker should look again: the earliest of the next due job, the end of a
    hold, and ``poll_interval`` from now (so it notices jobs that other processes enqueue).
    """
    horizon = now + config.poll_interval
    until = hold_until(steady(breaker, now=now, config=config), now=now)
    if until is None and breaker.kind is not _CLOSED:
        return now  # a probe is due right now
    candidates = [horizon]
    if until is not None:
        candidates.append(until)
    elif next_due_at is not None:
        candidates.append(next_due_at)
    return max(now, min(candidates))


_PROBE_SIGNALS: Final = {
    Health.UP: Signal.PROBE_SUCCEEDED,
    Health.DOWN: Signal.PROBE_FAILED,
    Health.UNAUTHORIZED: Signal.REJECTED,
    Health.NOT_PLEX: Signal.MISCONFIGURED,
    Health.UNTRUSTED: Signal.UNTRUSTED,
}

HEALTH_DETAIL: Final = {
    Health.UNAUTHORIZED: "token rejected (401)",
    Health.NOT_PLEX: "answered, but not as a Plex server; check plex_url",
}
"""What a health answer says when the gateway gives no more precise words (a failed probe of a
server that is still down, or whose certificate still does not verify, keeps the words the
outage began with)."""


def on_probe(
    breaker: Breaker, health: Health, *, now: float, config: PlexSyncConfig, detail: str = ""
) -> tuple[Breaker, tuple[BreakerEvent, ...]]:
    """Report a health probe's result (*detail*: what it found, in plain words). A result that
    arrives after the breaker moved is ignored.
    """
    signal = _PROBE_SIGNALS[health]
    words = detail or HEALTH_DETAIL.get(health, "")
    return observe(breaker, signal, now=now, config=config, detail=words)


def on_reachable(
    breaker: Breaker, *, now: float, config: PlexSyncConfig
) -> tuple[Breaker, tuple[BreakerEvent, ...]]:
    """Report that Plex, whose port refused connections, accepts them again: an open breaker
    held for an outage probes now (the probe decides, as ever; this only brings it forward).
    """
    return observe(breaker, Signal.REACHABLE, now=now, config=config)


def on_job_probe(
    breaker: Breaker, outcome: Outcome, *, now: float, config: PlexSyncConfig
) -> tuple[Breaker, tuple[BreakerEvent, ...]]:
    """Report a job sent as the probe (``ProbeKind.JOB``), before ``decide`` hears of the job.

    A job that Plex answered about (done, or failed for reasons of its own) shows the settings
    work again; one that failed as a whole server fails is a failed probe.
    """
    failing_edits = breaker.outage is not None and breaker.outage.cause is PauseCause.FAILING_EDITS
    match outcome:
        case Failed(error_class=ErrorClass.TRANSIENT, message=message) if failing_edits:
            words = f"Plex is still failing edits: {message}"
            return observe(breaker, Signal.EDITS_FAILING, now=now, config=config, detail=words)
        case Failed(error_class=ErrorClass.OUTAGE, message=message):
            return observe(breaker, Signal.PROBE_FAILED, now=now, config=config, detail=message)
        case Failed(error_class=ErrorClass.AUTH, message=message):
            return observe(breaker, Signal.REJECTED, now=now, config=config, detail=message)
        case Failed(error_class=ErrorClass.MISCONFIGURED | ErrorClass.NOT_PLEX, message=message):
            return observe(breaker, Signal.MISCONFIGURED, now=now, config=config, detail=message)
        case Failed(error_class=ErrorClass.CERTIFICATE, message=message):
            return observe(breaker, Signal.UNTRUSTED, now=now, config=config, detail=message)
        case _:
            return observe(breaker, Signal.PROBE_SUCCEEDED, now=now, config=config)


def throttle(breaker: Breaker, *, until_at: float, now: float) -> tuple[Breaker, Throttled]:
    """Hold all job calls until *until_at* (a server's Retry-After); an earlier hint never
    shortens a later one.
    """
    current = breaker.throttled_until_at
    latest = until_at if current is None or now >= current else max(current, until_at)
    return attrs.evolve(breaker, throttled_until_at=latest), Throttled(at=now, until_at=latest)
