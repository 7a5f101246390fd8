"""The worker loop: claim due jobs, call Plex, ask ``core.decide``, write the answers down.

Jobs are sent in due order, several at once: as many Plex calls stay in flight as the
concurrency limit (``core.limit``) allows, each in a thread of its own (``flights``); the limit
starts at one call, grows while Plex answers as fast as it does with fewer, shrinks when answers
slow down or Plex says it is overloaded, and goes back to one whenever work was held. The claims
guarantee that no two jobs of one key are ever out at once. The worker claims about a second's
worth of due jobs at once (judged by how fast recent calls came back, at most ``MAX_BATCH``) and
writes decisions in groups: after any failure (so the breaker and the retry are stored before
the next Plex call goes out), when the batch is used up, or after ``FLUSH_SECONDS``. A crash
therefore redoes at most a second of successful edits, which is harmless (edits are idempotent),
and costs far fewer commits.

Before any Plex call the breaker is asked (``decisions.ask``): while it holds, no job call is made;
when it asks for a probe, one health call is made and reported, with nothing else in flight. When
a written decision makes the breaker hold, no call goes out until every call in flight has come
back and been written. An outage- or auth-looking
failure is checked against a health call before ``decide`` sees it. When
nothing is due the worker sleeps until the earliest of the next due job, the end of a hold, and
``poll_interval``.

The worker never dies on one job: a payload that no longer decodes is dead-lettered as invalid,
and an unexpected exception from a gateway becomes a transient failure (logged with its type), so
a bug ends in the DLQ with a reason after the retry budget instead of killing the loop. Nor on a
full disk: it holds all work and waits for space (``storage``). A damaged file stops it, at start
(``storage.check_at_start``) or when SQLite meets the damage, with one line saying what to do.
"""

from __future__ import annotations

import contextlib
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
    Outage,
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
from core.limit import Limit, Restarted, initial_limit, next_limit, observe
from shell.clock import Clock, SystemClock
from shell.gateway import Knocks, PlexGateway, check_health
from shell.payload import decode_payload
from shell.redact import get_logger
from shell.settings import load_config
from shell.store import DiskFullError, Store, StoredJob
from shell.store.database import named_failures
from shell.worker import decisions, storage
from shell.worker.decisions import Attempted
from shell.worker.flights import Called, Flights, Landed
from shell.worker.log import EventLog
from shell.worker.owner import alive_here, expire_leases_of_dead_local_workers, new_owner
from shell.worker.presence import announce, worker_running
from shell.worker.signals import StopNow, stop_on_signals

log = get_logger("plexsync.worker")

OUTAGE: Final = PauseCause.OUTAGE
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
    on_limit: Callable[[float, int], None] | None = None,
) -> WorkerReport:
    """Work the queue in *config*'s database until stopped (without *config*, the settings are
    read as ``plexsync`` reads them: the TOML file and ``PLEXSYNC_*`` variables).

    Stops when *stop* is set, on SIGINT/SIGTERM (when called in the main thread without *stop*),
    or, with *until_idle*, as soon as no job can be worked now (jobs due later, or held by an
    open breaker, stay queued). *clock* defaults to the system clock, *plex* to the real Plex
    gateway; *on_event* receives every event the core reports, *on_limit* each change of the
    concurrency limit (the instant, and how many calls may now be in flight).
    """
    config = load_config() if config is None else config
    stop_event = threading.Event()
    wake = stop if isinstance(stop, threading.Event) else stop_event
    clock = clock if clock is not None else SystemClock(wake=wake)
    alone = not worker_running(config.db_path)
    checked_at = storage.check_at_start(config.db_path, now=clock.now(), alone=alone)
    store = Store.open(config.db_path, synchronous=config.sqlite_synchronous)
    own_gateway = None
    if plex is None:
        from shell.plex import PlexServerGateway  # noqa: PLC0415 - imports plexapi: only if used

        plex = own_gateway = PlexServerGateway(config, clock=clock)
    try:
        with (
            stop_on_signals(stop_event, enabled=stop is None),
            announce(config.db_path),
            named_failures(config.db_path),
        ):
            worker = _Worker(config, store, clock, plex, on_event=on_event, on_limit=on_limit)
            stopping = stop if stop is not None else stop_event
            storage.record_start(store, alone=alone, checked_at=checked_at)
            return worker.run(stopping, until_idle=until_idle)
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
        *,
        on_event: Callable[[Event], None] | None,
        on_limit: Callable[[float, int], None] | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.plex = plex
        self.on_event = on_event
        self.on_limit = on_limit
        self.log = EventLog(config.plex_url)
        self.owner = new_owner()
        self.done = self.retried = self.plex_calls = self.probes = self.outages = self.lost = 0
        self.dead_lettered: Counter[str] = Counter()
        self.last_outage_log_at: float | None = None
        self.last_sweep_at: float | None = None
        self.last_reap_at: float | None = None
        self.last_knock_at: float | None = None
        self.port_closed = False
        """Whether Plex's port refused connections at the last look during an outage."""
        self.knocks = plex if isinstance(plex, Knocks) else None
        self.holding = False
        """Whether work was held at the last look (the limit restarts once per hold)."""
        self.stop: StopSignal | None = None
        self.call_seconds = 0.05
        """Moving average of the time between attempts coming back: sizes claims to about a
        second of work."""
        self.full_disk = storage.FullDisk(store, clock, self.owner)
        self.limit = initial_limit(config.max_in_flight, adaptive=config.adaptive_concurrency)
        threads = config.max_in_flight if isinstance(clock, SystemClock) else 0
        self.flights = Flights(self._attempt, clock, threads=threads if threads > 1 else 0)

    def run(self, stop: StopSignal, *, until_idle: bool) -> WorkerReport:
        """Work until *stop* is set (or, *until_idle*, until nothing can be worked now)."""
        started_at = self.clock.now()
        with contextlib.suppress(DiskFullError):  # the leases run out; the loop waits for space
            expire_leases_of_dead_local_workers(self.store, now=started_at)
        log.info("worker %s started on %s", self.owner, self.store.path)
        self.stop = stop
        try:
            while not stop.is_set():
                try:
                    self.full_disk.before_step()
                    going = self._step(until_idle=until_idle)
                except DiskFullError as full:
                    self.full_disk.met(full)  # nothing of the step was written: wait, try again
                    continue
                self.full_disk.went_through()
                if not going:
                    break
        except StopNow as again:
            released = self.full_disk.release()
            log.info(
                "received %s again: stopping now%s",
                again,
                ""
                if released is None
                else f"; {counted(released, 'job')} in hand given back uncharged",
            )
        except KeyboardInterrupt:
            self.full_disk.release()
            storage.record_stop(self.store)
            raise
        self.full_disk.stopping()
        storage.record_stop(self.store)
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
                self._restart_limit(now)
                self._probe_with_a_job(now)
                return True
            case Probe():
                self._restart_limit(now)
                self._probe()
                return True
            case Hold(until_at=until):
                self._restart_limit(now)
                self._log_outage_status(now, until)
                if self._knock(now, admission.breaker.outage):
                    return True  # Plex listens again: the probe is due now
                return self._idle(now, until_idle=until_idle)
            case Proceed():
                self.holding = False
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

    def _knock(self, now: float, outage: Outage | None) -> bool:
        """While work is held for an outage, see (every ``poll_interval``, without a request)
        whether Plex's port accepts connections; ``True`` when it refused them at the last
        look and accepts them now: the breaker then probes at once, instead of at the end of a
        cooldown that may have grown to minutes.
        """
        if self.knocks is None or outage is None or outage.cause is not OUTAGE:
            self.port_closed = False
            return False
        if not _due(self.last_knock_at, now, self.config.poll_interval):
            return False
        self.last_knock_at = now
        closed_before, self.port_closed = self.port_closed, not self.knocks.reachable()
        if not closed_before or self.port_closed:
            return False
        self._emit(decisions.report_reachable(self.store, now=now, config=self.config))
        log.info("%s accepts connections again: probing now", self.log.plex)
        return True

    def _probe(self) -> None:
        report = check_health(self.plex)
        self.plex_calls += 1
        self.probes += 1
        events = decisions.report_probe(
            self.store,
            report.health,
            now=self.clock.now(),
            config=self.config,
            detail=report.detail,
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
        called = self._attempt(batch[0])
        self.plex_calls += called.calls
        self.probes += 1
        attempt = Attempted(
            stored=batch[0], outcome=called.outcome, at=self.clock.now(), started_at=started
        )
        self._flush([attempt], deque(), claim_more=0, probe=True)

    def _work(self, batch: list[StoredJob]) -> None:
        """Work claimed jobs, sent in due order with up to the limit in flight, writing decisions
        in groups.

        A group is written after any failure (so the breaker and the job's retry are stored
        before the next call goes out), when the batch is used up, or after ``FLUSH_SECONDS``;
        the transaction that writes it renews the remaining leases and claims more work while
        the breaker lets it through. If the breaker holds, nothing more is sent: the calls in
        flight are waited for and written, and the rest given back. A crash loses at most the
        group's unwritten successes, which are redone: applying a job twice leaves Plex as
        applying it once.
        """
        try:
            self._send_and_write(deque(batch))
        except DiskFullError:
            self.flights.abandon()  # nothing of theirs can be written: redone once there is room
            raise

    def _send_and_write(self, queue: deque[StoredJob]) -> None:
        pending: list[Attempted] = []
        flushed_at = self.clock.now()
        flights = self.flights
        while queue or len(flights):
            stopping = self.stop is not None and self.stop.is_set()
            room = min(self.limit.slots, flights.capacity)
            while queue and not stopping and len(flights) < room:
                stored = self._still_held(queue.popleft())
                if stored is not None:
                    flights.send(stored)
            if not len(flights):
                break  # stopping, or the rest of the batch was dropped
            failed = False
            for landed in flights.collect():
                pending.append(self._landed(landed))
                failed = failed or isinstance(landed.called.outcome, Failed)
            now = self.clock.now()
            if (
                failed
                or not queue  # claim more now, while the calls still out keep Plex busy
                or len(pending) >= MAX_BATCH
                or not 0 <= now - flushed_at < FLUSH_SECONDS
                or stopping
            ):
                more = self._batch_size() if not queue and not stopping else 0
                if not self._flush(pending, queue, claim_more=more):
                    self._land_all(now)
                    return
                pending = []
                flushed_at = now
                self._housekeeping(now)
        self._flush(pending, queue, claim_more=0)
        decisions.release(self.store, list(queue))

    def _landed(self, landed: Landed) -> Attempted:
        """Learn from an attempt that came back (the limit, the pace), and make it one to write."""
        called = landed.called
        self.plex_calls += called.calls
        self._learn_call_time(landed.ended_at - landed.started_at, landed.in_flight)
        self._set_limit(
            next_limit(
                self.limit,
                observe(
                    called.reported,
                    latency_seconds=landed.ended_at - landed.started_at,
                    in_flight=landed.in_flight,
                ),
            ),
            landed.ended_at,
        )
        return Attempted(
            stored=landed.stored,
            outcome=called.outcome,
            at=landed.ended_at,
            started_at=landed.started_at,
        )

    def _land_all(self, now: float) -> None:
        """The breaker holds: wait for every call still in flight, and write what came of them
        (the breaker decides what each costs, as for any attempt).
        """
        self._restart_limit(now)
        while len(self.flights):
            landed = [self._landed(found) for found in self.flights.collect()]
            self._flush(landed, deque(), claim_more=0)

    def _restart_limit(self, now: float) -> None:
        """Work is held: the next calls go out one at a time (``core.limit``), once per hold."""
        if not self.holding:
            self.holding = True
            self._set_limit(next_limit(self.limit, Restarted()), now)

    def _set_limit(self, limit: Limit, now: float) -> None:
        if limit.slots != self.limit.slots:
            log.debug("concurrency limit: %s in flight", counted(limit.slots, "call"))
            if self.on_limit is not None:
                self.on_limit(now, limit.slots)
        self.limit = limit

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

    def _learn_call_time(self, seconds: float, in_flight: int) -> None:
        """Learn the pace: one attempt's *seconds*, shared by the attempts out beside it."""
        self.call_seconds += 0.2 * (max(seconds, 0.0) / in_flight - self.call_seconds)

    def _batch_size(self) -> int:
        """About ``FLUSH_SECONDS`` of work, judging by recent calls; at most ``MAX_BATCH``."""
        return max(1, min(MAX_BATCH, int(FLUSH_SECONDS / max(self.call_seconds, 1e-6))))

    def _attempt(self, stored: StoredJob) -> Called:
        """One job's calls (in a call thread when several are in flight): the edit, and the
        health call that settles a failure blaming Plex as a whole. Touches no store.
        """
        if stored.row_problem is not None:
            failed = Failed(ErrorClass.INVALID_PAYLOAD, stored.row_problem)
            return Called(reported=failed, outcome=failed, calls=0)
        match decode_payload(stored.payload):
            case Failure(reason):
                failed = Failed(ErrorClass.INVALID_PAYLOAD, reason)
                return Called(reported=failed, outcome=failed, calls=0)
            case Success(metadata):
                pass
        try:
            reported = self.plex.apply(metadata)
        except (
            Exception
        ) as exc:  # the loop must outlive a gateway's bug; the job still ends somewhere
            log.exception("the Plex gateway raised on job %d (%s)", stored.job.id, stored.job.key)
            reported = Failed(ErrorClass.TRANSIENT, f"unexpected {type(exc).__name__}")
        if not needs_confirmation(reported):
            return Called(reported=reported, outcome=reported, calls=1)
        report = check_health(self.plex)
        return Called(
            reported=reported, outcome=confirm(reported, report.health, report.detail), calls=2
        )

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
            self._sweep_dead_letters(now)
            self.last_sweep_at = now  # not before: a sweep the disk refused is tried again

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
