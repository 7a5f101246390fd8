"""The SQLite store: schema, coalescing, claiming in due order, leases, decisions, the breaker."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import threading
from collections.abc import Callable
from pathlib import Path

import attrs
import pytest

from core import (
    JOB_TRANSITIONS,
    Breaker,
    BreakerKind,
    Closed,
    Decision,
    ErrorClass,
    Failed,
    Health,
    JobSignal,
    JobState,
    Outage,
    PauseCause,
    PlexSyncConfig,
    Succeeded,
)
from shell import dlq
from shell.store import JOB_MOVES, SCHEMA_VERSION, Filters, Store, StoredJob, StoreError
from shell.store.schema import MIGRATIONS
from shell.worker import decisions
from shell.worker.decisions import Attempted
from tests.builders import T0, db_config


@pytest.fixture
def config(tmp_path: Path) -> PlexSyncConfig:
    return db_config(tmp_path)


@pytest.fixture
def store(config: PlexSyncConfig) -> Store:
    return Store.open(config.db_path)


def claim_one(store: Store, *, now: float, owner: str, config: PlexSyncConfig) -> StoredJob | None:
    """Claim a single job, as a worker whose batch size is one."""
    claimed = decisions.claim(store, now=now, owner=owner, config=config)
    return claimed[0] if claimed else None


def record_one(
    store: Store, job: StoredJob, outcome: Succeeded | Failed, *, now: float, config: PlexSyncConfig
) -> Decision:
    """Record one attempt on its own."""
    recorded = decisions.record(
        store, [Attempted(stored=job, outcome=outcome, at=now)], config=config
    )
    return recorded.decisions[0]


def payload(title: str) -> str:
    return json.dumps({"path": "/media/a.mkv", "title": title})


def test_new_database_is_private_versioned_and_in_wal_mode(config: PlexSyncConfig) -> None:
    """The file is created 0600, migrated to the current schema version, in WAL mode."""
    Store.open(config.db_path).close()
    assert stat.S_IMODE(os.stat(config.db_path).st_mode) == 0o600
    raw = sqlite3.connect(config.db_path)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_reopening_migrates_nothing_twice(config: PlexSyncConfig) -> None:
    """Opening an up-to-date database keeps its data."""
    store = Store.open(config.db_path)
    store.enqueue("k", payload("A"), now=T0)
    store.close()
    assert Store.open(config.db_path).jobs.count() == 1


def test_a_newer_schema_is_refused(config: PlexSyncConfig) -> None:
    """A database from a newer plexsync is not touched."""
    Store.open(config.db_path).close()
    raw = sqlite3.connect(config.db_path)
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.close()
    with pytest.raises(StoreError, match="newer than this plexsync understands"):
        Store.open(config.db_path)


def test_a_file_of_an_older_schema_is_migrated_keeping_its_jobs(config: PlexSyncConfig) -> None:
    """A queue written before scans were remembered (schema 2) gains the table, jobs intact."""
    raw = sqlite3.connect(config.db_path)
    for script in MIGRATIONS[:2]:
        raw.executescript(script)
    raw.execute(
        "INSERT INTO jobs (key, payload, state, due_at, enqueued_at, updated_at)"
        " VALUES ('k', '{}', 'waiting', 0, 0, 0)"
    )
    raw.execute("PRAGMA user_version = 2")
    raw.commit()
    raw.close()
    store = Store.open(config.db_path)
    assert store.jobs.count() == 1
    with store.transaction() as tx:
        assert tx.scans.claim("/media/new", now=T0, window_seconds=60)


def test_a_folder_is_claimed_for_a_scan_once_a_window(store: Store) -> None:
    """One claim per folder per window, across connections; other folders are apart; a claim
    stamped in the future (a clock stepped back) does not hold; a forgotten claim is free.
    """
    other = Store.open(store.path)

    def claim(on: Store, folder: str, at: float) -> bool:
        with on.transaction() as tx:
            return tx.scans.claim(folder, now=at, window_seconds=3600)

    assert claim(store, "/a", T0)
    assert not claim(other, "/a", T0 + 3599)
    assert claim(other, "/b", T0 + 10)
    assert claim(store, "/a", T0 + 3600)
    assert store.scans.requested_at("/a") == T0 + 3600
    assert claim(store, "/a", T0 + 100)  # the clock stepped back past the claim
    with store.transaction() as tx:
        tx.scans.forget("/a")
    assert claim(other, "/a", T0 + 101)
    assert claim(store, "/c", T0 + 7200)
    assert store.scans.requested_at("/b") is None  # too old to matter: forgotten by a claim
    other.close()


def test_a_file_that_is_not_sqlite_is_named_in_the_error(tmp_path: Path) -> None:
    """Garbage at the path gives one clear line naming the file."""
    path = tmp_path / "notes.txt"
    path.write_bytes(b"these are not the pages you are looking for" * 100)
    with pytest.raises(StoreError, match=rf"{path}: the file is not a SQLite database"):
        Store.open(str(path))


def test_a_missing_folder_is_named_in_the_error(tmp_path: Path) -> None:
    """A path in a folder that does not exist fails at open, naming the path."""
    with pytest.raises(StoreError, match=r"cannot open the queue database .*/nope/q\.db"):
        Store.open(str(tmp_path / "nope" / "q.db"))


def test_synchronous_must_be_known(config: PlexSyncConfig) -> None:
    """Only NORMAL and FULL are offered."""
    with pytest.raises(StoreError, match="synchronous must be NORMAL or FULL"):
        Store.open(config.db_path, synchronous="OFF")


def test_enqueue_coalesces_a_waiting_key(store: Store) -> None:
    """Newest edit wins: one waiting job per key, holding the last payload, due at once."""
    first = store.enqueue("scene:1", payload("A"), now=T0)
    second = store.enqueue("scene:1", payload("B"), now=T0 + 5)
    assert first == second
    rows = store.jobs.rows()
    assert [(r.payload, r.due_at, r.enqueued_at, r.updated_at) for r in rows] == [
        (payload("B"), T0, T0, T0 + 5)
    ]


def test_a_new_payload_gets_a_fresh_budget_and_is_due_at_once(
    store: Store, config: PlexSyncConfig
) -> None:
    """A job backing off after failures is reset by a changed edit, and made due now."""
    store.enqueue("scene:1", payload("A"), now=T0)
    job = claim_one(store, now=T0, owner="w", config=config)
    assert job is not None
    record_one(store, job, Failed(ErrorClass.TRANSIENT, "(500)"), now=T0, config=config)
    store.enqueue("scene:1", payload("B"), now=T0 + 1)
    [row] = store.jobs.rows()
    assert (row.transient_failures, row.due_at) == (0, T0 + 1)


def test_an_identical_payload_changes_nothing(store: Store, config: PlexSyncConfig) -> None:
    """Re-sending the same edit keeps the job's counters and schedule."""
    store.enqueue("scene:1", payload("A"), now=T0)
    job = claim_one(store, now=T0, owner="w", config=config)
    assert job is not None
    record_one(store, job, Failed(ErrorClass.TRANSIENT, "(500)"), now=T0, config=config)
    before = store.jobs.rows()
    store.enqueue("scene:1", payload("A"), now=T0 + 1)
    assert store.jobs.rows() == before


def test_an_edit_during_flight_waits_behind_it(store: Store, config: PlexSyncConfig) -> None:
    """A key in flight gets one waiting job, which is not claimable until the first finishes."""
    store.enqueue("scene:1", payload("A"), now=T0)
    running = claim_one(store, now=T0, owner="w1", config=config)
    assert running is not None
    store.enqueue("scene:1", payload("B"), now=T0 + 1)
    store.enqueue("scene:1", payload("C"), now=T0 + 2)
    assert claim_one(store, now=T0 + 3, owner="w2", config=config) is None
    assert store.jobs.next_due_at(now=T0 + 3, stepped_back_after=T0 + 10**5) is None
    record_one(store, running, Succeeded(), now=T0 + 4, config=config)
    nxt = claim_one(store, now=T0 + 5, owner="w2", config=config)
    assert nxt is not None
    assert json.loads(nxt.payload)["title"] == "C"


def test_a_retry_superseded_by_a_waiting_edit_is_dropped(
    store: Store, config: PlexSyncConfig
) -> None:
    """If the in-flight job must retry but a newer edit is waiting, only the newer one remains."""
    store.enqueue("scene:1", payload("A"), now=T0)
    running = claim_one(store, now=T0, owner="w", config=config)
    assert running is not None
    store.enqueue("scene:1", payload("B"), now=T0 + 1)
    record_one(store, running, Failed(ErrorClass.TRANSIENT, "(500)"), now=T0 + 2, config=config)
    assert [(r.payload, r.state) for r in store.jobs.rows()] == [(payload("B"), "waiting")]


def test_claims_follow_due_order_and_skip_jobs_not_yet_due(
    store: Store, config: PlexSyncConfig
) -> None:
    """The earliest due job comes first; a job due later is not claimed early."""
    for n, due in enumerate([T0 + 50, T0 + 10, T0 + 30]):
        store.enqueue(f"k{n}", payload(str(n)), now=due)
    order = []
    while (job := claim_one(store, now=T0 + 40, owner="w", config=config)) is not None:
        order.append(job.job.key)
    assert order == ["k1", "k2"]
    assert store.jobs.next_due_at(now=T0 + 40, stepped_back_after=T0 + 10**5) == T0 + 50


def test_claiming_uses_the_due_index(store: Store) -> None:
    """The claim query walks the partial due-time index; it never scans the table."""
    details = store.jobs.claim_plan()
    assert "USING INDEX jobs_due" in details
    assert "jobs_one_running_per_key" in details
    assert "SCAN w" not in details.replace("USING INDEX", "")


def test_success_removes_the_job_and_counts_it(store: Store, config: PlexSyncConfig) -> None:
    """A finished job leaves the hot table in the same transaction; the done counter grows."""
    store.enqueue("k", payload("A"), now=T0)
    job = claim_one(store, now=T0, owner="w", config=config)
    assert job is not None
    record_one(store, job, Succeeded(), now=T0 + 1, config=config)
    assert store.jobs.is_empty()
    assert store.done_count() == 1


def test_a_retry_is_one_update_with_history(store: Store, config: PlexSyncConfig) -> None:
    """The job goes back to waiting with its due time, counters, last error and history."""
    store.enqueue("k", payload("A"), now=T0)
    job = claim_one(store, now=T0, owner="w", config=config)
    assert job is not None
    record_one(store, job, Failed(ErrorClass.TRANSIENT, "(500) oops"), now=T0 + 1, config=config)
    [row] = store.jobs.rows()
    assert row.state == "waiting"
    assert row.due_at >= T0 + 1 + 10
    assert row.transient_failures == 1
    assert row.attempts == 1
    assert (row.last_error_class, row.last_error) == ("transient", "(500) oops")
    assert row.lease_owner is None
    [entry] = row.history
    assert entry["outcome"] == "transient"
    assert entry["decision"] == "retry"
    assert entry["charged"] is True


def test_a_dead_letter_carries_everything(store: Store, config: PlexSyncConfig) -> None:
    """Key, payload, reason, class, last error, attempts, history and both instants."""
    store.enqueue("k", payload("A"), now=T0)
    job = claim_one(store, now=T0, owner="w", config=config)
    assert job is not None
    record_one(store, job, Failed(ErrorClass.PERMANENT, "(400) bad"), now=T0 + 2, config=config)
    assert store.jobs.is_empty()
    [row] = store.dead_letters.entries(Filters())
    assert (row.key, row.payload, row.reason, row.error_class) == (
        "k",
        payload("A"),
        "permanent_error",
        "permanent",
    )
    assert (row.last_error, row.attempts) == ("(400) bad", 1)
    assert (row.enqueued_at, row.dead_lettered_at) == (T0, T0 + 2)
    assert row.history[0]["reason"] == "permanent_error"


def test_history_keeps_the_most_recent_attempts(store: Store, config: PlexSyncConfig) -> None:
    """A job deferred many times keeps a bounded history and an exact attempt count."""
    store.enqueue("k", payload("A"), now=T0)
    now = T0
    for _ in range(60):
        job = claim_one(store, now=now + 10**5, owner="w", config=config)
        assert job is not None
        now += 10**5
        record_one(store, job, Failed(ErrorClass.RATE_LIMITED, "(429)"), now=now, config=config)
    [row] = store.jobs.rows()
    assert row.attempts == 60
    assert len(row.history) == 50


def test_an_expired_lease_is_taken_back_and_counted_as_a_crash(
    store: Store, config: PlexSyncConfig
) -> None:
    """A worker that died leaves a lease; once it expires the next claim takes the job back."""
    store.enqueue("k", payload("A"), now=T0)
    assert claim_one(store, now=T0, owner="dead", config=config) is not None
    assert decisions.reap(store, now=T0 + 10, config=config) == ()
    assert claim_one(store, now=T0 + 10, owner="w", config=config) is None
    [decision] = decisions.reap(store, now=T0 + config.job_lease_seconds, config=config)
    assert decision.job.crashes == 1
    job = claim_one(store, now=T0 + config.job_lease_seconds, owner="w", config=config)
    assert job is not None
    assert job.job.crashes == 1
    assert job.lease_owner == "w"


def test_reaping_a_dead_workers_lease_leaves_a_live_workers_job_alone(
    store: Store, config: PlexSyncConfig
) -> None:
    """Only a lease that ran out is taken back: a live worker's job, claimed later and still
    within its lease, stays its own while the dead worker's is reaped.
    """
    store.enqueue("dead-key", payload("A"), now=T0)
    assert claim_one(store, now=T0, owner="dead", config=config) is not None
    store.enqueue("live-key", payload("B"), now=T0 + 100)
    assert claim_one(store, now=T0 + 100, owner="live", config=config) is not None
    [decision] = decisions.reap(store, now=T0 + config.job_lease_seconds, config=config)
    assert decision.job.key == "dead-key"
    assert [job.job.key for job in store.jobs.held_by("live")] == ["live-key"]


def test_one_reap_takes_back_every_dead_workers_jobs(store: Store, config: PlexSyncConfig) -> None:
    """A worker that died holding two jobs cannot say which killed it: both wait again
    uncharged and suspect; a worker still alive gets its jobs back uncharged; a worker that died
    holding one is charged a crash. One reap does all three.
    """
    for keys, owner in [(["k0", "k1"], "pair"), (["k2"], "alive"), (["k3"], "single")]:
        for key in keys:
            store.enqueue(key, payload(key), now=T0)
        held = decisions.claim(store, now=T0, owner=owner, config=config, limit=len(keys))
        assert [job.job.key for job in held] == keys
    later = T0 + config.job_lease_seconds
    [decision] = decisions.reap(store, now=later, config=config, alive=lambda o: o == "alive")
    assert decision.job.key == "k3"
    assert decision.job.crashes == 1
    rows = {row.key: row for row in store.jobs.rows()}
    assert [key for key, row in rows.items() if row.state == "waiting"] == ["k0", "k1", "k2", "k3"]
    assert [key for key, row in rows.items() if row.suspect] == ["k0", "k1"]
    assert all(row.attempts == 0 for key, row in rows.items() if key != "k3")


def test_a_job_that_keeps_killing_workers_is_dead_lettered(store: Store) -> None:
    """After max_crashes expired leases, the next one sends the job to the DLQ."""
    config = db_config(Path(store.path).parent, max_crashes=2)
    store.enqueue("k", payload("A"), now=T0)
    now = T0
    for _ in range(3):
        assert claim_one(store, now=now, owner="dying", config=config) is not None
        now += config.job_lease_seconds
        decisions.reap(store, now=now, config=config)
    [row] = store.dead_letters.entries(Filters())
    assert (row.reason, row.error_class, row.attempts) == ("crashed_repeatedly", "crashed", 3)


def test_a_late_result_after_losing_the_lease_changes_nothing(
    store: Store, config: PlexSyncConfig
) -> None:
    """A worker whose lease was taken over cannot finish or reschedule the job any more, and
    learns that it lost it: its decision is reported lost, not written.
    """
    store.enqueue("k", payload("A"), now=T0)
    slow = claim_one(store, now=T0, owner="slow", config=config)
    assert slow is not None
    decisions.reap(store, now=T0 + config.job_lease_seconds, config=config)
    fast = claim_one(store, now=T0 + config.job_lease_seconds, owner="fast", config=config)
    assert fast is not None
    for outcome in (Failed(ErrorClass.PERMANENT, "(400)"), Failed(ErrorClass.TRANSIENT, "(500)")):
        attempt = Attempted(stored=slow, outcome=outcome, at=T0 + 400)
        recorded = decisions.record(store, [attempt], config=config)
        assert (recorded.decisions, recorded.unwritten) == ((), (slow,))
    assert [row.lease_owner for row in store.jobs.rows()] == ["fast"]
    assert store.dead_letters.count(Filters()) == 0


def test_a_lease_is_fenced_by_its_generation_not_only_its_owner(
    store: Store, config: PlexSyncConfig
) -> None:
    """The same worker claiming a job again (after the reaper took it back) holds a newer lease:
    a write naming the old claim changes nothing, even though the owner is the same.
    """
    store.enqueue("k", payload("A"), now=T0)
    old = claim_one(store, now=T0, owner="w", config=config)
    assert old is not None
    decisions.reap(store, now=T0 + config.job_lease_seconds, config=config)
    new = claim_one(store, now=T0 + config.job_lease_seconds, owner="w", config=config)
    assert new is not None
    assert new.lease_generation == old.lease_generation + 1
    assert decisions.renew(store, [old], now=T0 + 301, config=config) == []
    [renewed] = decisions.renew(store, [new], now=T0 + 301, config=config)
    assert renewed.lease_expires_at == T0 + 301 + config.job_lease_seconds
    recorded = decisions.record(
        store, [Attempted(stored=old, outcome=Succeeded(), at=T0 + 302)], config=config
    )
    assert (recorded.decisions, recorded.unwritten) == ((), (old,))
    assert store.done_count() == 0
    assert [row.state for row in store.jobs.rows()] == ["running"]


def test_job_ids_are_never_handed_out_twice(store: Store, config: PlexSyncConfig) -> None:
    """Once the queue and the DLQ are empty, the next job and the next dead letter still get
    new ids: an id a host or a log line saw never names another job.
    """
    first = store.enqueue("k1", payload("A"), now=T0)
    job = claim_one(store, now=T0, owner="w", config=config)
    assert job is not None
    record_one(store, job, Failed(ErrorClass.PERMANENT, "(400)"), now=T0, config=config)
    [entry] = store.dead_letters.ids(Filters())
    dlq.purge(store)
    assert store.jobs.is_empty()
    second = store.enqueue("k2", payload("B"), now=T0)
    job = claim_one(store, now=T0, owner="w", config=config)
    assert job is not None
    record_one(store, job, Failed(ErrorClass.PERMANENT, "(400)"), now=T0, config=config)
    [later_entry] = store.dead_letters.ids(Filters())
    assert second > first
    assert later_entry > entry


def test_breaker_and_outage_survive_reopening(store: Store, config: PlexSyncConfig) -> None:
    """The breaker is stored with the jobs: a new connection sees it open, with one outage."""
    store.enqueue("k", payload("A"), now=T0)
    for n in range(config.breaker_failure_threshold):
        job = claim_one(store, now=T0 + n, owner="w", config=config)
        assert job is not None
        record_one(store, job, Failed(ErrorClass.OUTAGE, "refused"), now=T0 + n, config=config)
    store.close()
    reopened = Store.open(config.db_path)
    breaker = reopened.breaker.load()
    assert breaker.kind is BreakerKind.OPEN
    assert breaker.outage is not None
    assert len(reopened.breaker.outages()) == 1


def test_one_outage_is_one_row_however_many_probes(store: Store, config: PlexSyncConfig) -> None:
    """Failed probes update the outage's row; the successful one closes it with its end."""
    store.enqueue("k", payload("A"), now=T0)
    for _ in range(config.breaker_failure_threshold):
        job = claim_one(store, now=T0, owner="w", config=config)
        assert job is not None
        record_one(store, job, Failed(ErrorClass.OUTAGE, "refused"), now=T0, config=config)
    now = T0
    for health in (Health.DOWN, Health.DOWN, Health.UP):
        probe_at = store.breaker.load().next_probe_at
        assert probe_at is not None
        now = probe_at
        assert decisions.ask(store, now=now, config=config).breaker.kind is BreakerKind.HALF_OPEN
        decisions.report_probe(store, health, now=now, config=config)
    assert store.breaker.load() == Breaker(state=Closed(closed_at=now))
    assert store.breaker.outages() == [
        Outage(cause=PauseCause.OUTAGE, started_at=T0, ended_at=now, probes=3, detail="refused")
    ]


def test_retention_keeps_a_dead_letter_exactly_as_old_as_the_setting(
    store: Store, config: PlexSyncConfig
) -> None:
    """Dead letters older than dlq_retention_days go, by the second; one exactly that old stays."""
    limit = config.dlq_retention_days * 86400
    for n, age in enumerate([limit + 1, limit]):
        store.enqueue(f"k{n}", payload(str(n)), now=T0)
        job = claim_one(store, now=T0, owner="w", config=config)
        assert job is not None
        record_one(store, job, Failed(ErrorClass.PERMANENT, "x"), now=T0 - age, config=config)
    assert decisions.sweep_dead_letters(store, now=T0, config=config) == 1
    assert [entry.key for entry in store.dead_letters.entries(Filters())] == ["k1"]


def test_retention_sweeps_at_most_once_an_hour(store: Store, config: PlexSyncConfig) -> None:
    """Old dead letters go; a second sweep within the hour does nothing."""
    day = 86400.0
    for n, age_days in enumerate([40, 31, 29]):
        store.enqueue(f"k{n}", payload(str(n)), now=T0)
        job = claim_one(store, now=T0, owner="w", config=config)
        assert job is not None
        record_one(
            store, job, Failed(ErrorClass.PERMANENT, "x"), now=T0 - age_days * day, config=config
        )
    assert decisions.sweep_dead_letters(store, now=T0, config=config) == 2
    assert [entry.key for entry in store.dead_letters.entries(Filters())] == ["k2"]
    assert decisions.sweep_dead_letters(store, now=T0 + 1800, config=config) is None
    assert decisions.sweep_dead_letters(store, now=T0 + 3600, config=config) == 0


def test_expire_lease_frees_a_dead_owners_jobs_at_once(
    store: Store, config: PlexSyncConfig
) -> None:
    """A worker known to be gone need not wait for its lease to run out."""
    store.enqueue("k", payload("A"), now=T0)
    assert claim_one(store, now=T0, owner="gone", config=config) is not None
    with store.transaction():
        assert store.jobs.expire_leases("gone", now=T0 + 1) == 1
    decisions.reap(store, now=T0 + 1, config=config)
    job = claim_one(store, now=T0 + 1, owner="w", config=config)
    assert job is not None
    assert job.job.crashes == 1


def test_an_inconsistent_row_is_flagged_not_fatal(store: Store, config: PlexSyncConfig) -> None:
    """A row whose counters break the core's invariants is claimable and flagged as invalid."""
    store.enqueue("k", payload("A"), now=T0)
    raw = sqlite3.connect(config.db_path)
    raw.execute("UPDATE jobs SET not_found_failures = 3")
    raw.commit()
    job = claim_one(store, now=T0, owner="w", config=config)
    assert job is not None
    assert job.row_problem is not None
    assert "not_found_since_at" in job.row_problem


def test_recording_renews_leases_and_claims_more_in_the_same_transaction(
    store: Store, config: PlexSyncConfig
) -> None:
    """One commit per group: decisions in order, the rest of the batch kept, then more claimed."""
    for n in range(4):
        store.enqueue(f"k{n}", payload(str(n)), now=T0)
    batch = decisions.claim(store, now=T0, owner="w", config=config, limit=2)
    assert [j.job.key for j in batch] == ["k0", "k1"]
    first = decisions.record(
        store,
        [Attempted(stored=batch[0], outcome=Succeeded(), at=T0 + 1)],
        config=config,
        remaining=batch[1:],
    )
    assert (first.held, [j.job.key for j in first.next_jobs]) == (False, ["k1"])
    [lease] = [row.lease_expires_at for row in store.jobs.rows() if row.key == "k1"]
    assert lease == T0 + 1 + config.job_lease_seconds
    second = decisions.record(
        store,
        [Attempted(stored=batch[1], outcome=Succeeded(), at=T0 + 2)],
        config=config,
        claim_more=5,
    )
    assert [j.job.key for j in second.next_jobs] == ["k2", "k3"]
    assert {j.lease_owner for j in second.next_jobs} == {"w"}


def test_a_group_of_decisions_sees_the_breaker_move_in_order(
    store: Store, config: PlexSyncConfig
) -> None:
    """Each decision meets the breaker the previous one left; once it holds work, the rest of
    the batch is given back untouched and nothing more is claimed.
    """
    config = attrs.evolve(config, breaker_failure_threshold=3)
    for n in range(5):
        store.enqueue(f"k{n}", payload(str(n)), now=T0)
    batch = decisions.claim(store, now=T0, owner="w", config=config, limit=5)
    outage = Failed(ErrorClass.OUTAGE, "refused")
    recorded = decisions.record(
        store,
        [Attempted(stored=job, outcome=outage, at=T0) for job in batch[:3]],
        config=config,
        remaining=batch[3:],
        claim_more=5,
    )
    kinds = [d.breaker.kind for d in recorded.decisions]
    assert kinds == [BreakerKind.CLOSED, BreakerKind.CLOSED, BreakerKind.OPEN]
    assert recorded.held
    assert recorded.next_jobs == ()
    rows = sorted((r.key, r.state, r.outage_deferrals) for r in store.jobs.rows())
    assert rows[3:] == [("k3", "waiting", 0), ("k4", "waiting", 0)]
    assert len(store.breaker.outages()) == 1


def test_a_worker_that_dies_holding_several_jobs_charges_none(
    store: Store, config: PlexSyncConfig
) -> None:
    """Its jobs wait again uncharged but suspect; a suspect is then claimed alone, so a crash
    can be pinned on the job that causes it.
    """
    for n in range(3):
        store.enqueue(f"k{n}", payload(str(n)), now=T0)
    assert len(decisions.claim(store, now=T0, owner="dead", config=config, limit=3)) == 3
    assert decisions.reap(store, now=T0 + config.job_lease_seconds, config=config) == ()
    assert {(r.state, r.crashes, r.suspect) for r in store.jobs.rows()} == {("waiting", 0, 1)}
    later = T0 + config.job_lease_seconds
    alone = decisions.claim(store, now=later, owner="w", config=config, limit=3)
    assert [j.job.key for j in alone] == ["k0"]
    [decision] = decisions.reap(store, now=later + config.job_lease_seconds, config=config)
    assert decision.job.crashes == 1


def test_a_released_job_waits_again_uncharged(store: Store, config: PlexSyncConfig) -> None:
    """A stopping worker gives back a claimed job untouched: same due time, no crash counted."""
    store.enqueue("k", payload("A"), now=T0)
    job = claim_one(store, now=T0 + 5, owner="w", config=config)
    assert job is not None
    decisions.release(store, [job])
    [row] = store.jobs.rows()
    assert (row.state, row.due_at, row.crashes, row.lease_owner) == ("waiting", T0, 0, None)


def test_enqueue_many_is_one_transaction_with_newest_edit_wins(store: Store) -> None:
    """A batch keeps its order; a key repeated in it ends with its last payload."""
    ids = store.enqueue_many(
        [("a", payload("1")), ("b", payload("2")), ("a", payload("3"))], now=T0
    )
    assert ids == [1, 2, 1]
    rows = [(r.key, r.payload) for r in store.jobs.rows()]
    assert rows == [("a", payload("3")), ("b", payload("2"))]


def test_many_connections_opening_a_new_database_at_once(tmp_path: Path) -> None:
    """Creating, switching to WAL and migrating take turns: nobody sees "database is locked"."""
    errors: list[BaseException] = []
    for attempt in range(40):  # the race is narrow: many fresh files make it show
        path = str(tmp_path / f"fresh-{attempt}.db")
        start = threading.Barrier(6)

        def open_it(path: str = path, start: threading.Barrier = start) -> None:
            start.wait()
            try:
                Store.open(path).close()
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=open_it) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []


def test_every_move_of_a_jobs_life_has_the_store_method_that_makes_it() -> None:
    """``core.JOB_TRANSITIONS`` and the store agree: each move a job can make is made by one
    named method of the store, and the store makes no move the table does not list.
    """
    assert set(JOB_MOVES) == set(JOB_TRANSITIONS)
    assert JOB_MOVES[JobState.RUNNING, JobSignal.SUCCEEDED] == "Jobs.finish"
    assert JOB_MOVES[JobState.RUNNING, JobSignal.DEAD_LETTERED] == "Store.bury"


def test_each_move_leaves_the_job_in_the_state_the_table_names(
    store: Store, config: PlexSyncConfig
) -> None:
    """Walk one job through every move of ``JOB_TRANSITIONS`` with the methods that make them,
    and read where it is before and after each: in ``jobs`` (waiting, running), in
    ``dead_letters`` (dead), or nowhere (done, purged).
    """
    held: list[StoredJob] = []
    made: set[tuple[JobState | None, JobSignal]] = set()

    def state() -> JobState | None:
        states = {JobState(row.state) for row in store.jobs.rows()}
        if store.dead_letters.count(Filters()):
            states.add(JobState.DEAD)
        assert len(states) <= 1
        return next(iter(states), None)

    def move(source: JobState | None, signal: JobSignal, make: Callable[[], object]) -> None:
        assert state() is source
        make()
        target = JOB_TRANSITIONS[source, signal]
        assert state() is (None if target is JobState.DONE else target), (source, signal)
        made.add((source, signal))

    def claim() -> None:
        held[:] = decisions.claim(store, now=T0 + 3600, owner="w", config=config)

    def attempt(outcome: Succeeded | Failed) -> Callable[[], object]:
        return lambda: record_one(store, held[0], outcome, now=T0, config=config)

    waiting, running, dead = JobState.WAITING, JobState.RUNNING, JobState.DEAD
    move(None, JobSignal.ENQUEUED, lambda: store.enqueue("k", payload("A"), now=T0))
    move(waiting, JobSignal.COALESCED, lambda: store.enqueue("k", payload("B"), now=T0))
    move(waiting, JobSignal.CLAIMED, claim)
    move(running, JobSignal.RELEASED, lambda: decisions.release(store, held))
    move(waiting, JobSignal.CLAIMED, claim)
    move(running, JobSignal.RETRY_SCHEDULED, attempt(Failed(ErrorClass.TRANSIENT, "(500)")))
    move(waiting, JobSignal.CLAIMED, claim)
    move(running, JobSignal.DEAD_LETTERED, attempt(Failed(ErrorClass.PERMANENT, "(400)")))
    move(dead, JobSignal.REDRIVEN, lambda: dlq.redrive(store, dlq.snapshot(store), now=T0))
    move(waiting, JobSignal.CLAIMED, claim)
    move(running, JobSignal.SUCCEEDED, attempt(Succeeded()))
    store.enqueue("k", payload("C"), now=T0)
    claim()
    attempt(Failed(ErrorClass.PERMANENT, "(400)"))()
    move(dead, JobSignal.PURGED, lambda: dlq.purge(store))
    assert made == set(JOB_TRANSITIONS)


def test_an_older_database_keeps_its_ids_and_never_reuses_one_a_dead_letter_names(
    tmp_path: Path,
) -> None:
    """Migrating a version-2 file keeps every job and dead letter as it was, and the next job
    gets an id past every id a job or a dead letter ever had.
    """
    path = str(tmp_path / "v2.db")
    raw = sqlite3.connect(path, isolation_level=None)
    for script in MIGRATIONS[:2]:
        for statement in (s.strip() for s in script.split(";")):
            if statement:
                raw.execute(statement)
    raw.execute("PRAGMA user_version = 2")
    raw.execute(
        "INSERT INTO jobs (id, key, payload, state, due_at, enqueued_at, updated_at)"
        " VALUES (5, 'k5', '{\"path\": \"/a.mkv\"}', 'waiting', 1, 1, 1)"
    )
    raw.execute(
        "INSERT INTO dead_letters (id, job_id, key, payload, reason, error_class, last_error,"
        " attempts, history, enqueued_at, dead_lettered_at)"
        " VALUES (3, 9, 'k9', '{}', 'permanent_error', 'permanent', 'x', 1, '[]', 1, 1)"
    )
    raw.close()
    store = Store.open(path)
    assert [(row.id, row.key, row.lease_generation) for row in store.jobs.rows()] == [(5, "k5", 0)]
    assert [(e.id, e.job_id) for e in store.dead_letters.entries(Filters())] == [(3, 9)]
    assert store.enqueue("new", payload("A"), now=T0) == 10
