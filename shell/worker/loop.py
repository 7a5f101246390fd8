"""The worker loop: claim due jobs, call Plex, ask ``core.decide``, write the answers down.

Jobs are worked one at a time, in due order. The worker claims about a second's worth of due
jobs at once (judged by how long recent calls took, at most ``MAX_BATCH``) and writes decisions
in groups: after any failure (so the breaker and the retry are stored before the next Plex call),
when the batch is used up, or after ``FLUSH_SECONDS``. A crash therefore redoes at most a
second of successful edits, which is harmless (edits are idempotent), and costs far fewer commits.

Before any Plex call the breaker is asked (``decisions.ask``): while it holds, no job call is made;
when it asks for a probe, one health call is made and reported. An outage- or auth-looking
failure is checked against a health call before ``decide`` sees it. When
nothing is due the worker sleeps until the earliest of the next due job, the end of a hold, and
``poll_interval``.

The worker never dies on one job: a payload that no longer decodes is dead-lettered as invalid,
and an unexpected exception from a gateway becomes a transient failure (logged with its type), so
a bug ends in the DLQ with a reason after the retry budget instead of killing the loop.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, deque
from collections.abc import Callable, Mapping
from typing import Final, Protocol

from attrs import field, frozen
from returns.result import Failure, Success

from core import (
    BreakerClosed,
    BreakerOpened,
    ErrorClass,
    Event,
    Failed,
    Hold,
    JobDeadLettered,
    JobSucceeded,
    Outcome,
    PauseCause,
    PlexSyncConfig,
    Probe,
    ProbeKind,
    Proceed,
    RetryScheduled,
    confirm,
    counted,
    needs_confirmation,
    wake_at,
)
from shell.clock import Clock, SystemClock
from shell.gateway import PlexGateway
from shell.payload import decode_payload
from shell.redact import get_logger
from shell.settings import load_config
from shell.store import Store, StoredJob
from shell.worker import decisions
from shell.worker.decisions import Attempted
from shell.worker.log import EventLog
from shell.worker.owner import alive_here, expire_leases_of_dead_local_workers, new_owner
from shell.worker.presence import announce
from shell.worker.signals import StopNow, stop_on_signals

log = get_logger("plexsync.worker")

OUTAGE_LOG_INTERVAL: Final = 300.0
"""Seconds between status lines while Plex is unavailable (never one per poll)."""
FLUSH_SECONDS: Final = 1.0
"""Longest a finished attempt waits to be written (when no failure forces it sooner)."""
MAX_BATCH: Final = 64
"""Most jobs claimed, or decisions written, at once."""
REAP_INTERVAL: Final = 1.0
"""Seconds between looks for expired leases (a dead worker's jobs)."""
SWEEP_INTERVAL: Final = 3600.0
"""Seconds between DLQ retention sweeps."""


class StopSignal(Protocol):
    """Anything with ``is_set()``: a ``threading.Event``, or a condition of the host's."""

    def is_set(self) -> bool:
        """Whether the worker should stop after the job in hand."""
        ...


@frozen(kw_only=True)
class WorkerReport:
    """What one ``run_worker`` call did."""

    done: int
    retried: int
    dead_lettered: Mapping[str, int] = field(factory=dict)
    """Dead-lettered jobs by reason."""
    plex_calls: int
    """Every call made to the gateway: job calls, health checks and probes."""
    probes: int
    outages: int
    """Outages that began while this worker ran."""
    started_at: float
    stopped_at: float
    lost: int = 0
    """Jobs this worker lost its lease on (it stalled) and left to the worker that took them."""
    held: PauseCause | None = None
    """Why work was held when the worker stopped (Plex down, the token rejected, the settings
    wrong), or ``None`` if nothing held it: a caller from cron or systemd can tell."""

    @property
    def dead_lettered_total(self) -> int:
        """All dead-lettered jobs, whatever the reason."""
        return sum(self.dead_lettered.values())


def run_worker(
    config: PlexSyncConfig | None = None,
    *,
    stop: StopSignal | None = None,
    until_idle: bool = False,
    clock: Clock | None = None,
    plex: PlexGateway | None = None,
    on_event: Callable[[Event], None] | None = None,
) -> WorkerReport:
    """Work the queue in *config*'s database until stopped (without *config*, the settings are
    read as ``plexsync`` reads them: the TOML file and ``PLEXSYNC_*`` variables).

    Stops when *stop* is set, on SIGINT/SIGTERM (when called in the main thread without *stop*),
    or, with *until_idle*, as soon as no job can be worked now (jobs due later, or held by an
    open breaker, stay queued). *clock* defaults to the system clock, *plex* to the real Plex
    gateway; *on_event* receives every event the core reports.
    """
    config = load_config() if config is None else config
    stop_event = threading.Event()
    wake = stop if isinstance(stop, threading.Event) else stop_event
    clock = clock if clock is not None else SystemClock(wake=wake)
    store = Store.open(config.db_path, synchronous=config.sqlite_synchronous)
    own_gateway = None
    if plex is None:
        from shell.plex import PlexServerGateway  # noqa: PLC0415 - imports plexapi: only if used

        plex = own_gateway = PlexServerGateway(config, clock=clock)
    try:
        with stop_on_signals(stop_event, enabled=stop is None), announce(config.db_path):
            worker = _Worker(config, store, clock, plex, on_event)
            return worker.run(stop if stop is not None else stop_event, until_idle=until_idle)
    finally:
        if own_gateway is not None:
            own_gateway.close()
        store.close()


class _Worker:
    def __init__(
        self,
        config: PlexSyncConfig,
        store: Store,
        clock: Clock,
        plex: PlexGateway,
        on_event: Callable[[Event], None] | None,
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.plex = plex
        self.on_event = on_event
        self.log = EventLog(config.plex_url)
        self.owner = new_owner()
        self.done = self.retried = self.plex_calls = self.probes = self.outages = self.lost = 0
        self.dead_lettered: Counter[str] = Counter()
        self.last_outage_log_at: float | None = None
        self.last_sweep_at: float | None = None
        self.last_reap_at: float | None = None
        self.stop: StopSignal | None = None
        self.call_seconds = 0.05
        """Moving average of one attempt's duration: sizes claims to about a second of work."""

    def run(self, stop: StopSignal, *, until_idle: bool) -> WorkerReport:
        started_at = self.clock.now()
        expire_leases_of_dead_local_workers(self.store, now=started_at)
        log.info("worker %s started on %s", self.owner, self.store.path)
        self.stop = stop
        try:
            while not stop.is_set():
                if not self._step(until_idle=until_idle):
                    break
        except StopNow as again:
            released = decisions.release_held(self.store, owner=self.owner)
            log.info(
                "received %s again: stopping now; %s in hand given back uncharged",
                again,
                counted(released, "job"),
            )
        except KeyboardInterrupt:
            decisions.release_held(self.store, owner=self.owner)
            raise
        stopped_at = self.clock.now()
        log.info(
            "worker %s stopped: %d done, %d retried, %d dead-lettered, %s",
            self.owner,
            self.done,
            self.retried,
            sum(self.dead_lettered.values()),
            counted(self.plex_calls, "Plex call"),
        )
        return WorkerReport(
            done=self.done,
            retried=self.retried,
            dead_lettered=dict(self.dead_lettered),
            plex_calls=self.plex_calls,
            probes=self.probes,
            outages=self.outages,
            started_at=started_at,
            stopped_at=stopped_at,
            lost=self.lost,
            held=self._held(),
        )

    def _held(self) -> PauseCause | None:
        outage = self.store.breaker.load().outage
        return None if outage is None else outage.cause

    def _step(self, *, until_idle: bool) -> bool:
        """One turn of the loop; ``False`` when an idle-draining worker has nothing left now."""
        now = self.clock.now()
        self._housekeeping(now)
        admission = decisions.ask(self.store, now=now, config=self.config)
        self._emit(admission.events)
        match admission.permission:
            case Probe(kind=ProbeKind.JOB):
                self._probe_with_a_job(now)
                return True
            case Probe():
                self._probe()
                return True
            case Hold(until_at=until):
                self._log_outage_status(now, until)
                return self._idle(now, until_idle=until_idle)
            case Proceed():
                batch = decisions.claim(
                    self.store,
                    now=now,
                    owner=self.owner,
                    config=self.config,
                    limit=self._batch_size(),
                )
                if not batch:
                    return self._idle(now, until_idle=until_idle)
                self._work(batch)
                return True

    def _idle(self, now: float, *, until_idle: bool) -> bool:
        if until_idle:
            return False
        breaker = self.store.breaker.load()
        next_due_at = self.store.jobs.next_due_at(
            now=now, stepped_back_after=now + self.config.longest_wait_seconds
        )
        wake = wake_at(breaker, now=now, next_due_at=next_due_at, config=self.config)
        self.clock.sleep(wake - now)
        return True

    def _probe(self) -> None:
        health = self.plex.health()
        self.plex_calls += 1
        self.probes += 1
        events = decisions.report_probe(
            self.store, health, now=self.clock.now(), config=self.config
        )
        self._emit(events)

    def _probe_with_a_job(self, now: float) -> None:
        """Probe with the next due job: only a real job shows whether the settings work now.
        With nothing due, a health call has to do.
        """
        batch = decisions.claim(self.store, now=now, owner=self.owner, config=self.config)
        if not batch:
            self._probe()
            return
        started = self.clock.now()
        outcome = self._attempt(batch[0])
        self.probes += 1
        attempt = Attempted(
            stored=batch[0], outcome=outcome, at=self.clock.now(), started_at=started
        )
        self._flush([attempt], deque(), claim_more=0, probe=True)

    def _work(self, batch: list[StoredJob]) -> None:
        """Work claimed jobs one after another, in due order, writing decisions in groups.

        A group is written after any failure (so the breaker and the job's retry are stored
        before the next Plex call), when the batch is used up, or after ``FLUSH_SECONDS``; the
        transaction that writes it renews the remaining leases and claims more work while the
        breaker lets it through. A crash loses at most the group's unwritten successes, which
        are redone: applying a job twice leaves Plex as applying it once.
        """
        queue = deque(batch)
        pending: list[Attempted] = []
        flushed_at = self.clock.now()
        while queue:
            if self.stop is not None and self.stop.is_set():
                self._flush(pending, queue, claim_more=0)
                decisions.release(self.store, list(queue))
                return
            stored = self._still_held(queue.popleft())
            if stored is None:
                continue
            started = self.clock.now()
            outcome = self._attempt(stored)
            now = self.clock.now()
            self._learn_call_time(now - started)
            pending.append(Attempted(stored=stored, outcome=outcome, at=now, started_at=started))
            if (
                isinstance(outcome, Failed)
                or not queue
                or len(pending) >= MAX_BATCH
                or not 0 <= now - flushed_at < FLUSH_SECONDS
            ):
                more = self._batch_size() if not queue else 0
                if not self._flush(pending, queue, claim_more=more):
                    return
                pending = []
                flushed_at = now
                self._housekeeping(now)

    def _flush(
        self,
        pending: list[Attempted],
        queue: deque[StoredJob],
        *,
        claim_more: int,
        probe: bool = False,
    ) -> bool:
        """Write *pending*; ``False`` if the breaker now holds work (*queue* was given back)."""
        if not pending:
            return True
        recorded = decisions.record(
            self.store,
            pending,
            config=self.config,
            remaining=list(queue),
            claim_more=claim_more,
            probe=probe,
        )
        self._emit(recorded.probed)
        for decision in recorded.decisions:
            self._emit(decision.events)
        for stored in recorded.unwritten:
            self._lost(stored, "its result was not written")
        for stored in recorded.dropped:
            self._lost(stored, "dropped without calling Plex")
        queue.clear()
        if recorded.held:
            return False
        queue.extend(recorded.next_jobs)
        return True

    def _still_held(self, stored: StoredJob) -> StoredJob | None:
        """*stored*, if this worker may call Plex for it: its lease must outlast the call.

        A lease about to run out, or already run out (the worker stalled: a VM paused, a laptop
        slept, the clock jumped), is renewed first, in a write that only succeeds if no other
        worker has claimed the job since; if one has, the job is dropped without a word to
        Plex. ``None`` then.
        """
        now = self.clock.now()
        if now + self._call_budget() < stored.lease_expires_at:
            return stored
        renewed = decisions.renew(self.store, [stored], now=now, config=self.config)
        if renewed:
            return renewed[0]
        self._lost(stored, "dropped without calling Plex")
        return None

    def _call_budget(self) -> float:
        """The longest one attempt may take: a call, its health check, and a second to spare."""
        config = self.config
        return (
            config.connect_timeout_seconds
            + config.read_timeout_seconds
            + config.health_timeout_seconds
            + 1.0
        )

    def _lost(self, stored: StoredJob, what_happened: str) -> None:
        self.lost += 1
        log.warning(
            "job %d (%s): this worker lost its lease (it stalled past it, and another worker "
            "has taken the job over); %s",
            stored.job.id,
            stored.job.key,
            what_happened,
        )

    def _learn_call_time(self, seconds: float) -> None:
        self.call_seconds += 0.2 * (max(seconds, 0.0) - self.call_seconds)

    def _batch_size(self) -> int:
        """About ``FLUSH_SECONDS`` of work, judging by recent calls; at most ``MAX_BATCH``."""
        return max(1, min(MAX_BATCH, int(FLUSH_SECONDS / max(self.call_seconds, 1e-6))))

    def _attempt(self, stored: StoredJob) -> Outcome:
        if stored.row_problem is not None:
            return Failed(ErrorClass.INVALID_PAYLOAD, stored.row_problem)
        match decode_payload(stored.payload):
            case Failure(reason):
                return Failed(ErrorClass.INVALID_PAYLOAD, reason)
            case Success(metadata):
                pass
        try:
            outcome = self.plex.apply(metadata)
        except (
            Exception
        ) as exc:  # the loop must outlive a gateway's bug; the job still ends somewhere
            log.exception("the Plex gateway raised on job %d (%s)", stored.job.id, stored.job.key)
            outcome = Failed(ErrorClass.TRANSIENT, f"unexpected {type(exc).__name__}")
        self.plex_calls += 1
        if needs_confirmation(outcome):
            outcome = confirm(outcome, self.plex.health())
            self.plex_calls += 1
        return outcome

    def _emit(self, events: tuple[Event, ...]) -> None:
        for event in events:
            self._count(event)
            self.log(event)
            if self.on_event is not None:
                self.on_event(event)

    def _count(self, event: Event) -> None:
        match event:
            case JobSucceeded():
                self.done += 1
            case RetryScheduled():
                self.retried += 1
            case JobDeadLettered(reason=reason):
                self.dead_lettered[reason.value] += 1
            case BreakerOpened():
                self.outages += 1
                self.last_outage_log_at = event.at
            case BreakerClosed():
                self.last_outage_log_at = None
            case _:
                pass

    def _log_outage_status(self, now: float, until: float) -> None:
        breaker = self.store.breaker.load()
        if breaker.outage is None:
            return  # a rate-limit hold: not an outage
        last = self.last_outage_log_at
        if last is not None and 0 <= now - last < OUTAGE_LOG_INTERVAL:
            return
        self.last_outage_log_at = now
        waiting = self.store.jobs.count()
        self.log.outage_status(breaker.outage, now=now, until=until, waiting=waiting)

    def _housekeeping(self, now: float) -> None:
        """Take back dead workers' jobs (every second) and sweep old dead letters (hourly)."""
        if _due(self.last_reap_at, now, REAP_INTERVAL):
            self.last_reap_at = now
            reaped = decisions.reap(self.store, now=now, config=self.config, alive=alive_here)
            for decision in reaped:
                self._emit(decision.events)
        if _due(self.last_sweep_at, now, SWEEP_INTERVAL):
            self.last_sweep_at = now
            self._sweep_dead_letters(now)

    def _sweep_dead_letters(self, now: float) -> None:
        # The store keeps all workers together to one sweep an hour; this one asks hourly too,
        # since asking costs a write transaction.
        removed = decisions.sweep_dead_letters(self.store, now=now, config=self.config)
        if removed is not None:
            log.log(
                logging.INFO if removed else logging.DEBUG,
                "removed %s older than %s days",
                counted(removed, "dead letter"),
                f"{self.config.dlq_retention_days:g}",
            )


def _due(last: float | None, now: float, interval: float) -> bool:
    """Whether *interval* has passed since *last* (a clock that stepped back counts as due)."""
    return last is None or not 0 <= now - last < interval
