"""The worker loop on real SQLite files, the fake clock and the simulated Plex (no mocks).

Each scenario is a few hours of Plex behaviour run in simulated time.
"""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

import shell
from core import (
    BreakerClosed,
    BreakerKind,
    BreakerOpened,
    ErrorClass,
    Event,
    Failed,
    Health,
    JobDeadLettered,
    Outcome,
    PauseCause,
    PlexSyncConfig,
    Succeeded,
)
from shell import FakeClock, Scenario, SimulatedPlex, Window
from shell.payload import Metadata
from shell.store import Filters, Store
from shell.worker import decisions
from tests.builders import db_config, metadata

HOUR = 3600.0


class Drained:
    """Stop when the queue is empty: lets run_worker play a whole scenario out."""

    def __init__(self, config: PlexSyncConfig) -> None:
        self.store = Store.open(config.db_path)

    def is_set(self) -> bool:
        return self.store.jobs.is_empty()


def simulate(
    config: PlexSyncConfig, plex: SimulatedPlex, clock: FakeClock, **kwargs: Any
) -> shell.WorkerReport:
    return shell.run_worker(config, clock=clock, plex=plex, stop=Drained(config), **kwargs)


def enqueue_items(config: PlexSyncConfig, count: int, clock: FakeClock) -> None:
    for n in range(count):
        shell.enqueue(config, key=f"scene:{n}", metadata=metadata(n), now=clock.now())


def test_six_hour_outage_with_a_thousand_jobs(tmp_path: Path) -> None:
    """Nothing is lost or dead-lettered; while Plex is down it sees only the calls that discover
    the outage, then the breaker's probes; every job is done after it returns.
    """
    config = db_config(tmp_path)
    clock = FakeClock()
    start = clock.now()
    plex = SimulatedPlex(Scenario(outages=[Window(60, 6 * HOUR)]), clock)
    enqueue_items(config, 1000, clock)
    clock.advance(60)  # the outage starts as the worker does
    report = simulate(config, plex, clock)

    assert report.done == 1000
    assert report.dead_lettered_total == 0
    assert len(plex.items) == 1000
    down = plex.calls_between(start + 60, start + 60 + 6 * HOUR)
    job_calls = [c for c in down if c.kind == "apply"]
    assert len(job_calls) == config.breaker_failure_threshold
    probes = [c for c in down if c.kind == "health"]
    # the threshold's confirming health checks, then one probe per cooldown (10 s doubling to 5 m)
    assert len(probes) <= config.breaker_failure_threshold + 6 * HOUR / 300 + 6
    assert report.outages == 1
    status = shell.status(config, now=clock.now())
    assert status.breaker is BreakerKind.CLOSED
    assert status.done == 1000
    [outage] = Store.open(config.db_path).breaker.outages()
    assert outage.ended_at is not None
    assert outage.ended_at - outage.started_at >= 6 * HOUR


def test_items_not_scanned_for_three_hours_all_succeed_after_the_scan(tmp_path: Path) -> None:
    """Not-found has its own, longer budget: a 3-hour scan dead-letters nothing."""
    config = db_config(tmp_path)
    clock = FakeClock()
    plex = SimulatedPlex(Scenario(scan_delay_seconds=3 * HOUR), clock)
    enqueue_items(config, 50, clock)
    report = simulate(config, plex, clock)
    assert report.done == 50
    assert report.dead_lettered_total == 0
    assert clock.now() - plex.start_at >= 3 * HOUR


class AlwaysFails:
    """A healthy Plex that refuses one kind of job call every time."""

    def __init__(self, outcome: Outcome) -> None:
        self.outcome = outcome
        self.applied = 0

    def apply(self, metadata: Metadata) -> Outcome:
        self.applied += 1
        return self.outcome

    def health(self) -> Health:
        return Health.UP


def test_transient_failures_dead_letter_after_one_plus_max_retries_attempts(
    tmp_path: Path,
) -> None:
    """On a healthy Plex, a job failing every time is tried exactly 1 + max_retries times."""
    config = db_config(tmp_path, max_retries=4)
    plex = AlwaysFails(Failed(ErrorClass.TRANSIENT, "(500) internal error"))
    clock = FakeClock()
    shell.enqueue(config, key="k", metadata=metadata(1), now=clock.now())
    report = shell.run_worker(config, clock=clock, plex=plex, stop=Drained(config))
    assert plex.applied == 5
    assert report.dead_lettered == {"retries_exhausted": 1}
    [row] = Store.open(config.db_path).dead_letters.entries(Filters())
    assert row.attempts == 5
    assert [e["decision"] for e in row.history] == ["retry"] * 4 + ["dead-letter"]


def test_an_outage_that_is_really_the_jobs_fault_counts_against_it(tmp_path: Path) -> None:
    """A call failing as if Plex were down, while the health check says up, is the job's own
    failure: it spends the retry budget and ends in the DLQ.
    """
    config = db_config(tmp_path, max_retries=2)
    plex = AlwaysFails(Failed(ErrorClass.OUTAGE, "(502) bad gateway"))
    clock = FakeClock()
    shell.enqueue(config, key="k", metadata=metadata(1), now=clock.now())
    report = shell.run_worker(config, clock=clock, plex=plex, stop=Drained(config))
    assert plex.applied == 3
    assert report.dead_lettered == {"retries_exhausted": 1}
    assert report.outages == 0


def test_a_permanent_failure_is_dead_lettered_on_the_first_attempt(tmp_path: Path) -> None:
    """Plex refused the request: one attempt, then the DLQ with the reason."""
    config = db_config(tmp_path)
    plex = AlwaysFails(Failed(ErrorClass.PERMANENT, "(400) bad request"))
    clock = FakeClock()
    shell.enqueue(config, key="k", metadata=metadata(1), now=clock.now())
    report = shell.run_worker(config, clock=clock, plex=plex, until_idle=True)
    assert plex.applied == 1
    assert report.dead_lettered == {"permanent_error": 1}
    assert shell.status(config).dead_lettered_by_reason["permanent_error"] == 1


class FailsOnePath:
    """Healthy Plex; one path fails transiently every time, the rest succeed."""

    def __init__(self, clock: FakeClock, bad_path: str) -> None:
        self.clock, self.bad_path = clock, bad_path
        self.done_at: dict[str, float] = {}

    def apply(self, metadata: Metadata) -> Outcome:
        if metadata.path == self.bad_path:
            return Failed(ErrorClass.TRANSIENT, "(500)")
        self.done_at[metadata.path] = self.clock.now()
        return Succeeded()

    def health(self) -> Health:
        return Health.UP


def test_a_ready_job_is_never_held_up_by_one_backing_off(tmp_path: Path) -> None:
    """Jobs enqueued while another waits out its backoff run at once, not after it."""
    config = db_config(tmp_path)
    clock = FakeClock()
    plex = FailsOnePath(clock, metadata(0)["path"])
    shell.enqueue(config, key="bad", metadata=metadata(0), now=clock.now())
    shell.run_worker(config, clock=clock, plex=plex, until_idle=True)  # first failure
    enqueued_at = clock.now()
    for n in range(1, 6):
        shell.enqueue(config, key=f"good:{n}", metadata=metadata(n), now=enqueued_at)
    shell.run_worker(config, clock=clock, plex=plex, until_idle=True)
    assert len(plex.done_at) == 5
    assert all(at == enqueued_at for at in plex.done_at.values())
    assert shell.status(config, now=clock.now()).scheduled == 1


def test_newest_edit_wins(tmp_path: Path) -> None:
    """Edits queued before a run collapse into the last; an edit made while the key is in
    flight runs after it. Plex ends with the newest edit either way.
    """
    config = db_config(tmp_path)
    clock = FakeClock()

    class EditsDuringFlight(SimulatedPlex):
        def apply(self, metadata: Metadata) -> Outcome:
            if metadata.get("title") == "second":  # a host edit lands while this call is in flight
                shell.enqueue(config, key="k", metadata=metadata_for("third"), now=clock.now())
            return super().apply(metadata)

    def metadata_for(title: str) -> dict[str, Any]:
        return {"path": "/media/k.mkv", "title": title}

    plex = EditsDuringFlight(Scenario(), clock)
    for title in ("first", "second"):
        shell.enqueue(config, key="k", metadata=metadata_for(title), now=clock.now())
    report = simulate(config, plex, clock)
    assert [c.path for c in plex.calls if c.kind == "apply"] == ["/media/k.mkv"] * 2
    assert plex.items["/media/k.mkv"].get("title") == "third"
    assert report.done == 2


def test_a_restart_during_an_outage_resumes_the_open_breaker(tmp_path: Path) -> None:
    """A new worker process finds the breaker open and waits for the probe, calling no job."""
    config = db_config(tmp_path)
    clock = FakeClock()
    plex = SimulatedPlex(Scenario(outages=[Window(0, 2 * HOUR)]), clock)
    enqueue_items(config, 20, clock)
    first = shell.run_worker(config, clock=clock, plex=plex, until_idle=True)
    assert first.outages == 1
    assert shell.status(config).breaker is BreakerKind.OPEN
    calls_before = len(plex.calls)

    clock.advance(30 * 60)  # the worker is restarted half an hour later
    second = simulate(config, plex, clock)
    later_job_calls = [
        c
        for c in plex.calls[calls_before:]
        if c.kind == "apply" and c.at < plex.start_at + 2 * HOUR
    ]
    assert later_job_calls == []
    assert second.outages == 0  # the same outage, not a new one
    assert second.done == 20
    assert len(Store.open(config.db_path).breaker.outages()) == 1


def test_a_lease_left_by_a_dead_worker_is_reclaimed(tmp_path: Path) -> None:
    """A job claimed by a worker that never came back is worked once its lease expires."""
    config = db_config(tmp_path)
    clock = FakeClock()
    shell.enqueue(config, key="k", metadata=metadata(1), now=clock.now())
    dead = Store.open(config.db_path)
    assert decisions.claim(dead, now=clock.now(), owner="elsewhere:1:dead", config=config)
    plex = SimulatedPlex(Scenario(), clock)
    report = shell.run_worker(config, clock=clock, plex=plex, until_idle=True)
    assert report.done == 0  # still leased
    clock.advance(config.job_lease_seconds)
    report = shell.run_worker(config, clock=clock, plex=plex, until_idle=True)
    assert report.done == 1
    assert plex.items[metadata(1)["path"]].get("title") == "Item 1"


def test_a_lease_of_a_dead_local_process_is_freed_at_start(tmp_path: Path) -> None:
    """A lease owned by a process of this host that no longer exists need not expire first."""
    config = db_config(tmp_path)
    clock = FakeClock()
    shell.enqueue(config, key="k", metadata=metadata(1), now=clock.now())
    owner = f"{socket.gethostname()}:{2**22 + 12345}:gone"  # above any real pid
    decisions.claim(Store.open(config.db_path), now=clock.now(), owner=owner, config=config)
    report = shell.run_worker(
        config, clock=clock, plex=SimulatedPlex(Scenario(), clock), until_idle=True
    )
    assert report.done == 1


def test_a_lease_of_an_earlier_process_with_this_pid_is_freed_at_start(tmp_path: Path) -> None:
    """A lease with this process's pid from an earlier incarnation (pid reused) is freed at once."""
    config = db_config(tmp_path)
    clock = FakeClock()
    shell.enqueue(config, key="k", metadata=metadata(1), now=clock.now())
    owner = f"{socket.gethostname()}:{os.getpid()}:earlier0:gone"  # a container restarted
    decisions.claim(Store.open(config.db_path), now=clock.now(), owner=owner, config=config)
    report = shell.run_worker(
        config, clock=clock, plex=SimulatedPlex(Scenario(), clock), until_idle=True
    )
    assert report.done == 1


def test_a_payload_that_no_longer_decodes_is_dead_lettered_and_the_worker_goes_on(
    tmp_path: Path,
) -> None:
    """A corrupted row goes to the DLQ as an invalid payload; the jobs after it still run."""
    config = db_config(tmp_path)
    clock = FakeClock()
    enqueue_items(config, 3, clock)
    raw = sqlite3.connect(config.db_path)
    raw.execute("UPDATE jobs SET payload = '{\"path\": 7' WHERE key = 'scene:0'")
    raw.execute('UPDATE jobs SET payload = \'{"path": "/x", "bogus": 1}\' WHERE key = \'scene:1\'')
    raw.commit()
    plex = SimulatedPlex(Scenario(), clock)
    report = shell.run_worker(config, clock=clock, plex=plex, until_idle=True)
    assert report.dead_lettered == {"invalid_payload": 2}
    assert report.done == 1
    reasons = Store.open(config.db_path).dead_letters.entries(Filters())
    assert {r.key for r in reasons} == {"scene:0", "scene:1"}
    assert any("unknown metadata key 'bogus'" in r.last_error for r in reasons)


def test_a_gateway_that_raises_does_not_kill_the_worker(tmp_path: Path) -> None:
    """An unexpected exception is logged and becomes a transient failure of that job."""
    config = db_config(tmp_path, max_retries=1)

    class Buggy:
        def apply(self, metadata: Metadata) -> Outcome:
            if metadata.get("title") == "Item 0":
                raise KeyError("oops")
            return Succeeded()

        def health(self) -> Health:
            return Health.UP

    clock = FakeClock()
    enqueue_items(config, 2, clock)
    report = shell.run_worker(config, clock=clock, plex=Buggy(), stop=Drained(config))
    assert report.done == 1
    assert report.dead_lettered == {"retries_exhausted": 1}
    [row] = Store.open(config.db_path).dead_letters.entries(Filters())
    assert row.last_error == "unexpected KeyError"


def test_auth_failure_pauses_everything_and_dead_letters_nothing(tmp_path: Path) -> None:
    """A rejected token holds all work until a probe succeeds; no attempt is charged."""
    config = db_config(tmp_path)
    clock = FakeClock()
    plex = SimulatedPlex(Scenario(token_rejected=[Window(0, HOUR)]), clock)
    enqueue_items(config, 10, clock)
    events: list[Event] = []
    report = simulate(config, plex, clock, on_event=events.append)
    assert report.done == 10
    assert report.dead_lettered_total == 0
    job_calls = plex.calls_between(plex.start_at, plex.start_at + HOUR, kind="apply")
    assert len(job_calls) == 1
    opened = [e for e in events if isinstance(e, BreakerOpened)]
    assert [e.cause.value for e in opened] == ["auth"]
    assert any(isinstance(e, BreakerClosed) for e in events)


def test_rate_limits_are_waited_out_without_cost(tmp_path: Path) -> None:
    """With 30 calls a minute allowed, 200 jobs finish, none charged or dead-lettered."""
    config = db_config(tmp_path)
    clock = FakeClock()
    plex = SimulatedPlex(Scenario(rate_limit_per_minute=30), clock)
    enqueue_items(config, 200, clock)
    report = simulate(config, plex, clock)
    assert report.done == 200
    assert report.dead_lettered_total == 0
    limited = [c for c in plex.calls if c.result == "rate_limited"]
    # one 429 per minute: the worker then waits for the minute to end instead of hammering
    assert 0 < len(limited) <= 10
    assert clock.now() - plex.start_at < 10 * 60


def test_until_idle_returns_leaving_later_work_queued(tmp_path: Path) -> None:
    """Drain mode works what is due now and returns; retries due later stay queued."""
    config = db_config(tmp_path)
    clock = FakeClock()
    plex = SimulatedPlex(Scenario(transient_rate=1.0), clock)
    enqueue_items(config, 3, clock)
    report = shell.run_worker(config, clock=clock, plex=plex, until_idle=True)
    assert report.retried == 3
    status = shell.status(config, now=clock.now())
    assert (status.waiting, status.scheduled) == (0, 3)


def test_stop_event_from_another_thread(tmp_path: Path) -> None:
    """A threading.Event set elsewhere stops a worker sleeping on the system clock promptly."""
    config = db_config(tmp_path, poll_interval=60)
    stop = threading.Event()
    clock = FakeClock()
    result: list[shell.WorkerReport] = []
    thread = threading.Thread(
        target=lambda: result.append(
            shell.run_worker(config, stop=stop, plex=SimulatedPlex(Scenario(), clock))
        )
    )
    thread.start()
    shell.enqueue(config, key="k", metadata=metadata(1))
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert len(result) == 1


def test_events_reach_the_host(tmp_path: Path) -> None:
    """on_event receives the core's facts: here a dead-lettering with its reason."""
    config = db_config(tmp_path)
    events: list[Event] = []
    clock = FakeClock()
    shell.enqueue(config, key="k", metadata=metadata(1), now=clock.now())
    shell.run_worker(
        config,
        clock=clock,
        plex=AlwaysFails(Failed(ErrorClass.PERMANENT, "(400)")),
        until_idle=True,
        on_event=events.append,
    )
    [dead] = [e for e in events if isinstance(e, JobDeadLettered)]
    assert dead.key == "k"
    assert dead.reason.value == "permanent_error"


def test_outage_status_is_logged_every_few_minutes_not_every_poll(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A 2-hour outage logs its start, its end and a status line about every 5 minutes."""
    config = db_config(tmp_path)
    clock = FakeClock()
    plex = SimulatedPlex(Scenario(outages=[Window(0, 2 * HOUR)]), clock)
    enqueue_items(config, 5, clock)
    with caplog.at_level(logging.INFO, logger="plexsync"):
        simulate(config, plex, clock)
    messages = [r.getMessage() for r in caplog.records]
    plex_at = f"Plex at {config.plex_url}"
    assert sum("holding all work" in m for m in messages) == 1
    assert sum(m.startswith(f"{plex_at} is back after") for m in messages) == 1
    status_lines = [m for m in messages if m.startswith(f"{plex_at} is unavailable for")]
    assert 2 * HOUR / 300 - 2 <= len(status_lines) <= 2 * HOUR / 300 + 2
    assert (
        "connection refused (simulated outage); 5 jobs waiting; next probe in" in (status_lines[0])
    )


def test_retention_runs_from_the_worker_and_logs_what_it_removed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Dead letters older than dlq_retention_days are removed by the worker, with a log line."""
    config = db_config(tmp_path, dlq_retention_days=1)
    clock = FakeClock()
    shell.enqueue(config, key="k", metadata=metadata(1), now=clock.now())
    shell.run_worker(
        config, clock=clock, plex=AlwaysFails(Failed(ErrorClass.PERMANENT)), until_idle=True
    )
    assert shell.status(config).dead_lettered == 1
    clock.advance(2 * 86400)
    with caplog.at_level(logging.INFO, logger="plexsync"):
        shell.run_worker(config, clock=clock, plex=AlwaysFails(Succeeded()), until_idle=True)
    assert shell.status(config).dead_lettered == 0
    assert "removed 1 dead letter older than 1 days" in caplog.text


def test_status_of_a_new_queue(tmp_path: Path) -> None:
    """An empty queue: zero counts, no oldest job, breaker closed, no outage."""
    status = shell.status(db_config(tmp_path))
    assert (status.waiting, status.scheduled, status.running, status.done) == (0, 0, 0, 0)
    assert status.oldest_waiting_age_seconds is None
    assert status.breaker is BreakerKind.CLOSED
    assert status.outage is None


def test_enqueue_refuses_bad_metadata_and_stores_nothing(tmp_path: Path) -> None:
    """A clear ValueError naming the key; the database gains no row."""
    config = db_config(tmp_path)
    with pytest.raises(ValueError, match="unknown metadata key 'rating'"):
        shell.enqueue(config, key="k", metadata={"path": "/a.mkv", "rating": 5})
    with pytest.raises(ValueError, match="key must be a non-empty string"):
        shell.enqueue(config, key=" ", metadata={"path": "/a.mkv"})
    with pytest.raises(ValueError, match="key is 2000 characters long"):
        shell.enqueue(config, key="k" * 2000, metadata={"path": "/a.mkv"})
    assert shell.status(config).waiting == 0


def test_enqueue_many_is_all_or_nothing(tmp_path: Path) -> None:
    """One bad job in a batch stores none of it, and the error says which job."""
    config = db_config(tmp_path)
    batch = [("a", metadata(1)), ("b", {"path": "/b.mkv", "genres": "x"}), ("c", metadata(3))]
    with pytest.raises(ValueError, match=r"jobs\[1\] \('b'\): metadata\['genres'\] must be a list"):
        shell.enqueue_many(config, batch)
    assert shell.status(config).waiting == 0
    assert shell.enqueue_many(config, [("a", metadata(1)), ("c", metadata(3))]) == [1, 2]


def test_the_obvious_use_of_a_fake_clock_works(tmp_path: Path) -> None:
    """A host enqueues (stamped with the real time), then runs the worker on a new fake clock:
    the clock starts where the wall clock is when the worker first reads it, so the job is due.
    """
    config = db_config(tmp_path)
    shell.enqueue(config, key="k", metadata=metadata(1))
    clock = shell.FakeClock()
    report = shell.run_worker(
        config, clock=clock, plex=SimulatedPlex(Scenario(), clock), until_idle=True
    )
    assert report.done == 1


def test_run_worker_without_arguments_reads_the_settings_as_plexsync_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``shell.run_worker()`` finds plexsync.toml in the current folder and PLEXSYNC_* variables;
    ``enqueue`` and ``status`` do the same. A bad setting is one ValueError line naming it.
    """
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("PLEXSYNC_")]:
        monkeypatch.delenv(name)
    (tmp_path / "plexsync.toml").write_text(
        'plex_url = "http://127.0.0.1:9"\ndb_path = "from-toml.db"\n', encoding="utf-8"
    )
    monkeypatch.setenv("PLEXSYNC_PLEX_TOKEN", "from-the-environment")
    shell.enqueue(key="k", metadata=metadata(1))
    clock = shell.FakeClock()
    report = shell.run_worker(clock=clock, plex=SimulatedPlex(Scenario(), clock), until_idle=True)
    assert report.done == 1
    assert shell.status().done == 1
    assert (tmp_path / "from-toml.db").exists()
    monkeypatch.setenv("PLEXSYNC_MAX_RETRIES", "many")
    with pytest.raises(ValueError, match=r"^PLEXSYNC_MAX_RETRIES: max_retries") as raised:
        shell.run_worker(until_idle=True)
    assert "\n" not in str(raised.value)


def test_the_report_says_what_holds_work_when_the_worker_stops(tmp_path: Path) -> None:
    """A worker that stops while Plex rejects the token reports it (cron and systemd can tell);
    one that stops with nothing held reports nothing.
    """
    config = db_config(tmp_path)
    clock = FakeClock()
    plex = SimulatedPlex(Scenario(token_rejected=[Window(0, HOUR)]), clock)
    enqueue_items(config, 2, clock)
    held = shell.run_worker(config, clock=clock, plex=plex, until_idle=True)
    assert held.held is PauseCause.AUTH
    clock.advance(HOUR)
    free = shell.run_worker(config, clock=clock, plex=plex, until_idle=True)
    assert (free.held, free.done) == (None, 2)
