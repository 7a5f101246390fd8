"""``decide``: what happens to a job after one attempt, and to the breaker because of it.

Rules (each tested in ``tests/test_decide.py``; the budgets also as properties):

1. Succeeded -> done; the breaker hears that Plex answered.
2. Permanent -> dead-letter at once ("permanent_error"); invalid payload -> dead-letter at once.
3. Transient -> retry after ``backoff``; the ``max_retries + 1``-th transient failure
   dead-letters ("retries_exhausted"), so a job is attempted at most ``1 + max_retries`` times.
4. Not found -> retry on the longer not-found backoff; dead-letter ("not_found") on the
   ``not_found_max_retries + 1``-th not-found answer, or when the next retry would fall after
   ``not_found_window_seconds`` from the first not-found answer.
5. Outage, auth, settings that cannot work (``misconfigured``, or an answer that is not
   Plex's) and a certificate that does not verify cost no attempt: the breaker counts the
   outage failure (or opens at once for the others) and the job waits until the breaker lets
   work through again.
6. Rate limited costs no attempt: all work is throttled until the server's Retry-After (bounded to
   ``retry_after_max_seconds``; a past instant counts as now) or, without one, the transient
   backoff; the job retries after that, plus jitter that only adds.
7. Crashed (a worker died holding it) -> retry at once, up to ``max_crashes`` times, then
   dead-letter ("crashed_repeatedly").
8. An edit whose answer never came may still land: for ``late_edit_window_seconds`` after it, a
   success of the same key is not final; the job is sent once more when the window has passed,
   uncharged, so the late edit cannot win over a newer one.
"""

from __future__ import annotations

from typing import assert_never

import attrs
from attrs import frozen

from core.actions import Action, DeadLetter, DeadLetterReason, Done, RetryAt
from core.backoff import backoff, nominal_delay
from core.breaker import (
    Breaker,
    Signal,
    edit_failure_signal,
    failing_edits_detail,
    failure_signal,
    hold_until,
    observe,
    steady,
    success_signal,
    throttle,
)
from core.config import PlexSyncConfig
from core.events import Event, JobDeadLettered, JobSucceeded, ResendScheduled, RetryScheduled
from core.job import Job
from core.outage import PauseCause
from core.outcomes import ErrorClass, Failed, Outcome, Succeeded


@frozen(kw_only=True)
class Decision:
    """What ``decide`` answers: the action, the job's new counters, the breaker to store, and the
    events that happened, in order.
    """

    action: Action
    job: Job
    breaker: Breaker
    events: tuple[Event, ...]


def decide(
    job: Job,
    outcome: Outcome,
    *,
    now: float,
    jitter: float,
    config: PlexSyncConfig,
    breaker: Breaker,
    started_at: float | None = None,
) -> Decision:
    """Decide what follows *outcome*, the result of attempting *job*, which ended at *now*.

    *jitter* is a sample in [0, 1) (``jitter_sample(job.id, job.deliveries)`` makes it
    reproducible). *breaker* is the breaker as stored when the attempt ended; the decision holds
    the breaker to store in its place, in the same transaction as the job. *started_at*, when
    the attempt began, lets an outage failure from before the breaker last closed, or a success
    from before the outage under way began, be told from a new one.
    """
    if not 0 <= jitter < 1:
        raise ValueError(f"jitter must lie in [0, 1), got {jitter!r}")
    match outcome:
        case Succeeded():
            breaker = steady(breaker, now=now, config=config)
            signal = success_signal(breaker, now=now, config=config, started_at=started_at)
            after, events = observe(breaker, signal, now=now, config=config)
            late = job.late_edit_until_at
            if late is not None and now < late:
                # A window is never longer than its length from now: a clock that stepped back
                # since it was set would otherwise resend the edit every window for the jump.
                late = min(late, now + config.late_edit_window_seconds)
                job = attrs.evolve(job, late_edit_until_at=late)
                resend = ResendScheduled(at=now, job_id=job.id, key=job.key, resend_at=late)
                action = RetryAt(late, charged=False)
                return Decision(action=action, job=job, breaker=after, events=(*events, resend))
            done = JobSucceeded(at=now, job_id=job.id, key=job.key)
            return Decision(action=Done(), job=job, breaker=after, events=(*events, done))
        case Failed(may_land=may_land):
            context = _Context(
                now=now,
                jitter=jitter,
                config=config,
                breaker=steady(breaker, now=now, config=config),
                started_at=started_at,
            )
            if may_land:
                job = _may_still_land(job, context)
            return _decide_failure(job, outcome, context)
        case _:
            assert_never(outcome)


@frozen(kw_only=True)
class _Context:
    """The inputs every rule shares besides the job and its failure."""

    now: float
    jitter: float
    config: PlexSyncConfig
    breaker: Breaker
    started_at: float | None = None

    def answered(self) -> tuple[Breaker, tuple[Event, ...]]:
        """Tell the breaker that Plex answered (a live server, whatever it said)."""
        return observe(self.breaker, Signal.ANSWERED, now=self.now, config=self.config)


def _decide_failure(job: Job, failure: Failed, context: _Context) -> Decision:  # noqa: PLR0911 - one case per class
    match failure.error_class:
        case ErrorClass.PERMANENT:
            return _permanent(job, failure, context)
        case ErrorClass.INVALID_PAYLOAD:
            return _invalid_payload(job, failure, context)
        case ErrorClass.TRANSIENT:
            return _transient(job, failure, context)
        case ErrorClass.NOT_FOUND:
            return _not_found(job, failure, context)
        case ErrorClass.CRASHED:
            return _crashed(job, failure, context)
        case (
            ErrorClass.OUTAGE
            | ErrorClass.AUTH
            | ErrorClass.MISCONFIGURED
            | ErrorClass.NOT_PLEX
            | ErrorClass.CERTIFICATE
        ):
            return _held_by_breaker(job, failure, context)
        case ErrorClass.RATE_LIMITED:
            return _rate_limited(job, failure, context)
        case _:
            assert_never(failure.error_class)


def _may_still_land(job: Job, context: _Context) -> Job:
    """Rule 8: the edit was sent and its answer never came; until the window has passed, a
    later edit of the key is not final.
    """
    until = context.now + context.config.late_edit_window_seconds
    if job.late_edit_until_at is not None:
        until = max(until, job.late_edit_until_at)
    return attrs.evolve(job, late_edit_until_at=until)


def _permanent(job: Job, failure: Failed, context: _Context) -> Decision:
    """Rule 2: dead-letter at once."""
    after, events = context.answered()
    action = DeadLetter(DeadLetterReason.PERMANENT_ERROR)
    return _conclude(action, job, failure, after, context, events)


def _invalid_payload(job: Job, failure: Failed, context: _Context) -> Decision:
    """Rule 2: dead-letter at once; Plex was never called, so the breaker learns nothing."""
    action = DeadLetter(DeadLetterReason.INVALID_PAYLOAD)
    return _conclude(action, job, failure, context.breaker, context, ())


def _transient(job: Job, failure: Failed, context: _Context) -> Decision:
    """Rule 3: back off; the (max_retries + 1)-th transient failure dead-letters. But failed
    edits of ``failing_edits_threshold`` different jobs in a row are Plex's failure, not theirs:
    the breaker holds all work, and while it does for that cause no such failure is charged.
    """
    breaker, now, config = context.breaker, context.now, context.config
    signal = edit_failure_signal(breaker, job.id, config)
    detail = failing_edits_detail(breaker, job.id, failure.message)
    after, events = observe(breaker, signal, now=now, config=config, detail=detail, job_id=job.id)
    holding = after.outage is not None and after.outage.cause is PauseCause.FAILING_EDITS
    resume_at = hold_until(after, now=now)
    if holding and resume_at is not None:
        deferred = attrs.evolve(job, outage_deferrals=job.outage_deferrals + 1)
        held = RetryAt(resume_at, charged=False)
        return _conclude(held, deferred, failure, after, context, events)
    failures = job.transient_failures + 1
    counted = attrs.evolve(job, transient_failures=failures)
    action: RetryAt | DeadLetter
    if failures > context.config.max_retries:
        action = DeadLetter(DeadLetterReason.RETRIES_EXHAUSTED)
    else:
        delay = backoff(failures, context.jitter, context.config.transient_policy)
        action = RetryAt(context.now + delay)
    return _conclude(action, counted, failure, after, context, events)


def _not_found(job: Job, failure: Failed, context: _Context) -> Decision:
    """Rule 4: the longer backoff, within both the not-found limit and the window."""
    config, now = context.config, context.now
    after, events = context.answered()
    failures = job.not_found_failures + 1
    since = now if job.not_found_since_at is None else job.not_found_since_at
    counted = attrs.evolve(job, not_found_failures=failures, not_found_since_at=since)
    retry_at = now + backoff(failures, context.jitter, config.not_found_policy)
    action: RetryAt | DeadLetter = RetryAt(retry_at)
    if (
        failures > config.not_found_max_retries
        or retry_at > since + config.not_found_window_seconds
    ):
        action = DeadLetter(DeadLetterReason.NOT_FOUND)
    return _conclude(action, counted, failure, after, context, events)


def _crashed(job: Job, failure: Failed, context: _Context) -> Decision:
    """Rule 7: retry at once, up to max_crashes; the worker died, not Plex."""
    crashes = job.crashes + 1
    counted = attrs.evolve(job, crashes=crashes)
    action: RetryAt | DeadLetter = RetryAt(context.now)
    if crashes > context.config.max_crashes:
        action = DeadLetter(DeadLetterReason.CRASHED_REPEATEDLY)
    return _conclude(action, counted, failure, context.breaker, context, ())


def _held_by_breaker(job: Job, failure: Failed, context: _Context) -> Decision:
    """Rule 5: no attempt charged; the job is due again when the breaker lets work through."""
    breaker, now = context.breaker, context.now
    match failure.error_class:
        case ErrorClass.AUTH:
            signal = Signal.REJECTED
        case ErrorClass.MISCONFIGURED | ErrorClass.NOT_PLEX:
            signal = Signal.MISCONFIGURED
        case ErrorClass.CERTIFICATE:
            signal = Signal.UNTRUSTED
        case _:
            signal = failure_signal(breaker, context.config, started_at=context.started_at)
    after, events = observe(breaker, signal, now=now, config=context.config, detail=failure.message)
    deferred = attrs.evolve(job, outage_deferrals=job.outage_deferrals + 1)
    resume_at = hold_until(after, now=now)
    action = RetryAt(now if resume_at is None else resume_at, charged=False)
    return _conclude(action, deferred, failure, after, context, events)


def _rate_limited(job: Job, failure: Failed, context: _Context) -> Decision:
    """Rule 6: hold all work until the server's time; this job retries after it, uncharged."""
    config, now = context.config, context.now
    after, events = context.answered()
    deferrals = job.rate_limited_deferrals + 1
    deferred = attrs.evolve(job, rate_limited_deferrals=deferrals)
    floor = _bounded_floor(failure.retry_after_at, now=now, config=config)
    held_for = max(nominal_delay(deferrals, config.transient_policy), floor)
    throttled, fact = throttle(after, until_at=now + held_for, now=now)
    delay = backoff(deferrals, context.jitter, config.transient_policy, floor=floor)
    action = RetryAt(max(now + delay, fact.until_at), charged=False)
    return _conclude(action, deferred, failure, throttled, context, (*events, fact))


def _conclude(  # noqa: PLR0917 - private; every rule passes the same six things
    action: RetryAt | DeadLetter,
    job: Job,
    failure: Failed,
    breaker: Breaker,
    context: _Context,
    events: tuple[Event, ...],
) -> Decision:
    """The decision, with the job's own event after the breaker's."""
    fact: Event
    match action:
        case RetryAt(at=at, charged=charged):
            fact = RetryScheduled(
                at=context.now,
                job_id=job.id,
                key=job.key,
                error_class=failure.error_class,
                retry_at=at,
                charged=charged,
            )
        case DeadLetter(reason=reason):
            fact = JobDeadLettered(
                at=context.now,
                job_id=job.id,
                key=job.key,
                reason=reason,
                error_class=failure.error_class,
                message=failure.message,
            )
        case _:
            assert_never(action)
    return Decision(action=action, job=job, breaker=breaker, events=(*events, fact))


def _bounded_floor(retry_after_at: float | None, *, now: float, config: PlexSyncConfig) -> float:
    """Seconds from *now* to a server's Retry-After: a past instant counts as now, an absurd one
    as ``retry_after_max_seconds``.
    """
    if retry_after_at is None:
        return 0.0
    return min(max(retry_after_at - now, 0.0), config.retry_after_max_seconds)
