"""The host application's side: ``enqueue`` a job, read the queue's ``status``.

``run_worker`` (in ``shell.worker``) is the third call of the contract.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Mapping

from attrs import frozen
from returns.result import Failure, Success

from core import BreakerKind, DeadLetterReason, PauseCause, PlexSyncConfig
from shell.payload import Metadata, parse_metadata
from shell.settings import load_config
from shell.store import Store

_local = threading.local()


def open_store(config: PlexSyncConfig | None = None) -> Store:
    """The calling thread's connection to *config*'s database, opened once and reused.

    Connections are per thread and per process (a forked child opens its own). Without *config*,
    the settings are read as ``plexsync`` reads them (``shell.settings.load_config``).
    """
    config = load_config() if config is None else config
    stores: dict[str, Store] | None = getattr(_local, "stores", None)
    if stores is None or getattr(_local, "pid", None) != os.getpid():
        stores = _local.stores = {}
        _local.pid = os.getpid()
    path = os.path.abspath(config.db_path)
    store = stores.get(path)
    if store is None:
        store = stores[path] = Store.open(config.db_path, synchronous=config.sqlite_synchronous)
    return store


def close_store(config: PlexSyncConfig) -> None:
    """Close the calling thread's connection to *config*'s database, if it has one open."""
    stores: dict[str, Store] = getattr(_local, "stores", None) or {}
    store = stores.pop(os.path.abspath(config.db_path), None)
    if store is not None:
        store.close()


def enqueue(
    config: PlexSyncConfig | None = None,
    *,
    key: str,
    metadata: Mapping[str, object],
    now: float | None = None,
) -> int:
    """Queue *metadata* for the item the host knows as *key*; returns the job id.

    Newest edit wins: a job of the same key that is still waiting takes this payload (and a fresh
    retry budget, if the payload changed); if that key's job is in flight, this edit runs after
    it. Invalid metadata raises ``ValueError`` naming the key at fault, and nothing is stored. A
    database that cannot take the job raises ``StoreError`` in one line naming the file (on a
    full disk ``DiskFullError``, saying "disk full"): the job was not stored.
    """
    payload = _checked(key, metadata)
    at = time.time() if now is None else now
    return open_store(config).enqueue(key, payload, now=at)


def enqueue_many(
    config: PlexSyncConfig | None,
    jobs: Iterable[tuple[str, Mapping[str, object]]],
    *,
    now: float | None = None,
) -> list[int]:
    """``enqueue`` each (key, metadata), in order, in one transaction: all or nothing.

    Every job is checked first; the first bad one raises ``ValueError`` naming its position and
    key, and nothing is stored. So does a ``StoreError`` (a full disk: ``DiskFullError``): none
    of the jobs was stored. Returns the job ids in order.
    """
    payloads = []
    for position, (key, metadata) in enumerate(jobs):
        try:
            payloads.append((key, _checked(key, metadata)))
        except ValueError as exc:
            raise ValueError(f"jobs[{position}] ({key!r}): {exc}") from None
    at = time.time() if now is None else now
    return open_store(config).enqueue_many(payloads, now=at)


def _checked(key: object, metadata: Mapping[str, object]) -> str:
    """The payload to store for *metadata*, or ``ValueError`` naming what is wrong."""
    if not isinstance(key, str) or not key.strip():
        raise ValueError("key must be a non-empty string (the host's id for the item)")
    if len(key) > 1024:
        raise ValueError(f"key is {len(key)} characters long; at most 1024 are allowed")
    match parse_metadata(metadata):
        case Success(Metadata() as parsed):
            return parsed.to_json()
        case Failure(problem):
            raise ValueError(problem)
    raise AssertionError("unreachable")  # pragma: no cover - a Result is one of the two


@frozen(kw_only=True)
class OutageStatus:
    """The outage under way."""

    cause: PauseCause
    detail: str
    """The cause in plain words."""
    started_at: float
    probes: int
    next_probe_at: float | None


@frozen(kw_only=True)
class Status:
    """The queue at a glance."""

    waiting: int
    """Due now (or overdue) and not yet claimed."""
    scheduled: int
    """Waiting for a later instant: a retry's backoff, or a rate limit."""
    running: int
    done: int
    """Finished since the database was created."""
    dead_lettered: int
    dead_lettered_by_reason: Mapping[str, int]
    oldest_waiting_age_seconds: float | None
    """How long the oldest job not yet done has been queued."""
    breaker: BreakerKind
    throttled_until_at: float | None
    outage: OutageStatus | None


def status(config: PlexSyncConfig | None = None, *, now: float | None = None) -> Status:
    """Counts by state, the oldest job's age, the breaker and the current outage."""
    store = open_store(config)
    now = time.time() if now is None else now
    with store.reading():
        counts = store.jobs.counts(now=now)
        by_reason = store.dead_letters.count_by_reason()
        done = store.done_count()
        breaker = store.breaker.load()
    outage = None
    if breaker.outage is not None:
        outage = OutageStatus(
            cause=breaker.outage.cause,
            detail=breaker.outage.detail,
            started_at=breaker.outage.started_at,
            probes=breaker.outage.probes,
            next_probe_at=breaker.next_probe_at,
        )
    return Status(
        waiting=counts.waiting,
        scheduled=counts.scheduled,
        running=counts.running,
        done=done,
        dead_lettered=sum(by_reason.values()),
        dead_lettered_by_reason={r.value: by_reason.get(r.value, 0) for r in DeadLetterReason},
        oldest_waiting_age_seconds=(
            None if counts.oldest_enqueued_at is None else max(0.0, now - counts.oldest_enqueued_at)
        ),
        breaker=breaker.kind,
        throttled_until_at=breaker.throttled_until_at,
        outage=outage,
    )
