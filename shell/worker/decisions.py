"""Where the worker takes its decisions: it asks ``core`` and writes the answer to the store.

Each function here is one unit of work: it reads what the decision needs (the breaker, the jobs
in hand) inside a transaction, calls the pure core (``admit``, ``on_probe``, ``decide``), and
writes the result through the store's typed statements before the transaction commits, so a
decision and the breaker change it causes are stored together or not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final, assert_never

from attrs import frozen

from core import (
    Admission,
    BreakerEvent,
    DeadLetter,
    Decision,
    Done,
    ErrorClass,
    Failed,
    Health,
    Outcome,
    PlexSyncConfig,
    Proceed,
    RetryAt,
    Succeeded,
    admit,
    decide,
    jitter_sample,
    on_job_probe,
    on_probe,
    on_reachable,
)
from shell.store import Filters, Store, StoredJob
from shell.store.records import counter_values, extended_history

REAP_BATCH: Final = 20
"""Expired leases taken back per transaction, so it stays short however many workers died."""


@frozen(kw_only=True)
class Attempted:
    """One attempt to record: the job, what came of it, and when it ended."""

    stored: StoredJob
    outcome: Outcome
    at: float
    """When the attempt ended."""
    started_at: float | None = None
    """When it began (an outage failure of a call that began before Plex came back is stale)."""


@frozen(kw_only=True)
class Recorded:
    """What ``record`` did: the decisions written, the jobs claimed in the same breath, and
    whether the breaker now holds work (the worker's remaining jobs were then given back).
    """

    decisions: tuple[Decision, ...]
    next_jobs: tuple[StoredJob, ...] = ()
    """The remaining jobs, their leases renewed, then the jobs claimed in the same breath."""
    held: bool = False
    unwritten: tuple[StoredJob, ...] = ()
    """Attempted jobs whose lease this worker no longer held (it stalled; another worker has
    them): their decision was not written."""
    dropped: tuple[StoredJob, ...] = ()
    """Remaining jobs whose lease could not be renewed for the same reason: not to be worked."""
    probed: tuple[BreakerEvent, ...] = ()
    """What the breaker made of a job sent as its probe (before any decision's events)."""


def ask(store: Store, *, now: float, config: PlexSyncConfig) -> Admission:
    """Ask the breaker whether work may proceed; store its move if it makes one."""
    breaker = store.breaker.load()
    admission = admit(breaker, now=now, config=config)
    if admission.breaker == breaker:
        return admission
    with store.transaction() as tx:  # the breaker moves (a probe is due): decide again, locked
        breaker = tx.breaker.load()
        admission = admit(breaker, now=now, config=config)
        tx.breaker.save(breaker, admission.breaker, admission.events)
    return admission


def report_probe(
    store: Store, health: Health, *, now: float, config: PlexSyncConfig, detail: str = ""
) -> tuple[BreakerEvent, ...]:
    """Record the result of the breaker's health probe (*detail*: what it found, in words)."""
    with store.transaction() as tx:
        breaker = tx.breaker.load()
        after, events = on_probe(breaker, health, now=now, config=config, detail=detail)
        tx.breaker.save(breaker, after, events)
    return events


def report_reachable(
    store: Store, *, now: float, config: PlexSyncConfig
) -> tuple[BreakerEvent, ...]:
    """Record that Plex's port accepts connections again (``core.on_reachable``): the probe is
    due now, and so are the jobs held until it (``decide`` defers them to the probe's instant).
    """
    with store.transaction() as tx:
        breaker = tx.breaker.load()
        after, events = on_reachable(breaker, now=now, config=config)
        tx.breaker.save(breaker, after, events)
        held_until = breaker.next_probe_at
        if held_until is not None and after.next_probe_at != held_until:
            tx.jobs.bring_forward(due_at=held_until, to_at=now)
    return events


def claim(
    store: Store, *, now: float, owner: str, config: PlexSyncConfig, limit: int = 1
) -> list[StoredJob]:
    """Take up to *limit* due jobs, in due order, under a lease for *owner*."""
    with store.transaction() as tx:
        return tx.jobs.claim(
            now=now,
            owner=owner,
            lease_until_at=now + config.job_lease_seconds,
            limit=limit,
            stepped_back_after=now + config.longest_wait_seconds,
        )


def record(
    store: Store,
    attempts: Sequence[Attempted],
    *,
    config: PlexSyncConfig,
    remaining: Sequence[StoredJob] = (),
    claim_more: int = 0,
    probe: bool = False,
) -> Recorded:
    """Decide each attempt, in order, and write the decisions in one transaction.

    Each decision sees the breaker as the previous one left it. With *probe*, the (one) attempt
    was the breaker's probe: the breaker hears its result first. Then, if the breaker still lets
    work through, the worker's *remaining* claimed jobs get their leases renewed and, if
    *claim_more*, up to that many more due jobs are claimed; if it does not, the remaining jobs
    are given back untouched.
    """
    with store.transaction() as tx:
        breaker = tx.breaker.load()
        probed: tuple[BreakerEvent, ...] = ()
        if probe:
            first = attempts[0]
            after, probed = on_job_probe(breaker, first.outcome, now=first.at, config=config)
            tx.breaker.save(breaker, after, probed)
            breaker = after
        decisions = []
        unwritten = []
        for attempt in attempts:
            stored = attempt.stored
            decision = decide(
                stored.job,
                attempt.outcome,
                now=attempt.at,
                jitter=jitter_sample(stored.job.id, stored.job.deliveries),
                config=config,
                breaker=breaker,
                started_at=attempt.started_at,
            )
            if not _write(tx, stored, attempt.outcome, decision, now=attempt.at):
                unwritten.append(stored)  # a stale worker's report: it changes nothing
                continue
            tx.breaker.save(breaker, decision.breaker, decision.events)
            breaker = decision.breaker
            decisions.append(decision)
        now, owner = attempts[-1].at, attempts[-1].stored.lease_owner
        if not isinstance(admit(breaker, now=now, config=config).permission, Proceed):
            tx.jobs.release(remaining)
            return Recorded(
                decisions=tuple(decisions), held=True, probed=probed, unwritten=tuple(unwritten)
            )
        lease_until_at = now + config.job_lease_seconds
        kept = tx.jobs.renew(remaining, lease_until_at=lease_until_at)
        renewed = {stored.job.id for stored in kept}
        dropped = [stored for stored in remaining if stored.job.id not in renewed]
        more = tx.jobs.claim(
            now=now,
            owner=owner,
            lease_until_at=lease_until_at,
            limit=claim_more,
            stepped_back_after=now + config.longest_wait_seconds,
        )
    return Recorded(
        decisions=tuple(decisions),
        next_jobs=(*kept, *more),
        probed=probed,
        unwritten=tuple(unwritten),
        dropped=tuple(dropped),
    )


def renew(
    store: Store, jobs: Sequence[StoredJob], *, now: float, config: PlexSyncConfig
) -> list[StoredJob]:
    """Renew the leases of *jobs* before calling Plex for them; returns those still held (with
    their new expiry). A job missing from the answer was taken over by another worker.
    """
    with store.transaction() as tx:
        return tx.jobs.renew(jobs, lease_until_at=now + config.job_lease_seconds)


def release(store: Store, jobs: Sequence[StoredJob]) -> None:
    """Give back claimed jobs that were not attempted (the worker is stopping): they wait
    again, due as before, with no attempt or crash counted.
    """
    if jobs:
        with store.transaction() as tx:
            tx.jobs.release(jobs)


def release_held(store: Store, *, owner: str) -> int:
    """Give back every job *owner* holds, uncharged (the worker is stopping at once, maybe with
    jobs it claimed a moment ago and has not looked at yet); returns how many.
    """
    with store.transaction() as tx:
        held = tx.jobs.held_by(owner)
        tx.jobs.release(held)
    return len(held)


def reap(
    store: Store,
    *,
    now: float,
    config: PlexSyncConfig,
    alive: Callable[[str], bool] | None = None,
) -> tuple[Decision, ...]:
    """Take back jobs whose lease expired (their worker died, or stalled, or the clock jumped).

    A worker that died holding one job died on it: ``core.decide`` counts the crash and retries
    it at once or, past ``max_crashes``, dead-letters it. A worker that died holding several
    cannot say which one it was working on: they all wait again uncharged, marked suspect, and
    each is then claimed alone until it is decided. A worker *alive* says is still running (a
    worker of this host, after the clock jumped ahead) crashed on nothing: its jobs wait again
    uncharged, and it finds them gone before it calls Plex for them. A lease reaching further
    ahead than a lease is ever given (the clock stepped back since) is cut to one lease from now:
    its holder may be alive and keeps the job; if it died, the job comes back a lease later.
    """
    lease = config.job_lease_seconds
    if not store.jobs.any_expired(now=now, lease_seconds=lease):  # one indexed read, usually
        return ()
    decisions = []
    with store.transaction() as tx:
        breaker = tx.breaker.load()  # a crash is the worker's, not Plex's: read only
        tx.jobs.cut_far_leases(now=now, lease_seconds=lease)  # a clock stepped back
        for owner in tx.jobs.expired_owners(now=now, limit=REAP_BATCH):
            held = tx.jobs.held_by(owner)
            if alive is not None and alive(owner):
                tx.jobs.release(held)
                continue
            if len(held) > 1:
                tx.jobs.mark_suspect(owner)
                tx.jobs.release(held)
                continue
            [stored] = held
            crash = Failed(ErrorClass.CRASHED, f"worker {owner} died holding the job")
            decision = decide(
                stored.job,
                crash,
                now=now,
                jitter=jitter_sample(stored.job.id, stored.job.deliveries),
                config=config,
                breaker=breaker,
            )
            _write(tx, stored, crash, decision, now=now)
            decisions.append(decision)
    return tuple(decisions)


def sweep_dead_letters(store: Store, *, now: float, config: PlexSyncConfig) -> int | None:
    """Delete dead letters older than ``dlq_retention_days``, at most once an hour across all
    workers. Returns how many went, or ``None`` if a sweep ran less than an hour ago.
    """
    with store.transaction() as tx:
        if not tx.claim_retention_sweep(now=now):
            return None
        tx.late_edits.forget_before(now)
        cutoff = now - config.dlq_retention_days * 86400
        return tx.dead_letters.delete(Filters(before_at=cutoff))


def _write(
    tx: Store, stored: StoredJob, outcome: Outcome, decision: Decision, *, now: float
) -> bool:
    """Carry out *decision* on the claimed job *stored*; ``False`` if the lease was no longer
    *stored*'s (nothing was written).
    """
    error_class, message = (
        ("", "")
        if isinstance(outcome, Succeeded)
        else (
            outcome.error_class.value,
            outcome.message,
        )
    )
    match decision.action:
        case Done():
            written = tx.finish(stored)
        case RetryAt(at=at):
            written = tx.jobs.reschedule(
                stored,
                due_at=at,
                counters=counter_values(decision.job),
                error_class=error_class,
                message=message,
                history=extended_history(stored, outcome, decision.action, now=now),
            )
        case DeadLetter(reason=reason):
            written = tx.bury(
                stored,
                decision.job,
                reason=reason.value,
                error_class=error_class,
                message=message,
                history=extended_history(stored, outcome, decision.action, now=now),
                now=now,
            )
        case _:
            assert_never(decision.action)
    late, before = decision.job.late_edit_until_at, stored.job.late_edit_until_at
    if written and late is not None and late != before:
        if before is not None and late < before:  # cut to a window from now: a clock stepped back
            tx.late_edits.cut(stored.job.key, until_at=late)
        else:
            tx.late_edits.extend(stored.job.key, until_at=late)
    return written
