"""The wall clock jumps a day, back or ahead, while the worker runs (design rule 17): the real
worker loop on real SQLite files, the fake clock stepped from inside the run, the simulated Plex.

The rules: nothing is held longer than its bound from now (a probe a cooldown away, a job the
longest wait plexsync schedules, a lease one lease); a jump charges and dead-letters no job; a
lease of a worker that is still running is not taken from it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from itertools import pairwise
from pathlib import Path
from typing import Any

from core import (
    BreakerKind,
    BreakerOpened,
    ErrorClass,
    Event,
    Failed,
    JobDeadLettered,
    JobSucceeded,
    Outcome,
    PlexSyncConfig,
    RetryScheduled,
)
from shell import FakeClock, Scenario, SimulatedPlex, Window, enqueue, run_worker, status
from shell.payload import Metadata
from shell.simulated_plex import Call
from shell.store import Store
from shell.worker import WorkerReport, decisions
from shell.worker.owner import new_owner
from tests.builders import TOKEN, db_config, make_config, metadata
from tests.cli_process import environment
from tests.fake_plex import FakePlex

HOUR = 3600.0
DAY = 24 * HOUR


class Drained:
    """Stop when the queue is empty."""

    def __init__(self, config: PlexSyncConfig) -> None:
        self.store = Store.open(config.db_path)

    def is_set(self) -> bool:
        return self.store.jobs.is_empty()


class JumpOnce:
    """An event listener that steps *clock* by *seconds* the first time *when* holds for an
    event: the jump lands inside the worker's run, between two of its steps.
    """

    def __init__(self, clock: FakeClock, seconds: float, when: type, *, after: int = 1) -> None:
        self.clock, self.seconds, self.when, self.after = clock, seconds, when, after
        self.seen = 0
        self.events: list[Event] = []
        self.landed_at: float | None = None
        """The instant the clock read just after the jump."""
        self.calls_before = 0

    def watch(self, plex: SimulatedPlex) -> JumpOnce:
        self.plex = plex
        return self

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        if self.landed_at is not None or not isinstance(event, self.when):
            return
        self.seen += 1
        if self.seen == self.after:
            self.calls_before = len(self.plex.calls)
            self.clock.advance(self.seconds)
            self.landed_at = self.clock.now()


class FailsFirst(SimulatedPlex):
    """A healthy simulated Plex on which each path's first *failures* calls fail transiently."""

    def __init__(self, clock: FakeClock, failures: int) -> None:
        super().__init__(Scenario(), clock)
        self.failures = failures
        self.tried: Counter[str] = Counter()

    def apply(self, metadata: Metadata) -> Outcome:
        self.tried[metadata.path] += 1
        if self.tried[metadata.path] <= self.failures:
            self.clock.sleep(self.scenario.call_seconds)
            return Failed(ErrorClass.TRANSIENT, "(500) internal server error (simulated)")
        return super().apply(metadata)


class TimesOutFirst(SimulatedPlex):
    """A healthy simulated Plex on which each path's first edit lands but its answer never
    comes (a read timeout): the edit may land late, so a later success is resent once the
    late-landing window has passed.
    """

    def apply(self, metadata: Metadata) -> Outcome:
        if any(c.path == metadata.path for c in self.calls):
            return super().apply(metadata)
        self.clock.sleep(self.scenario.call_seconds)
        self.items[metadata.path] = metadata
        outcome = Failed(ErrorClass.OUTAGE, "read timed out (simulated)", may_land=True)
        self.calls.append(
            Call(at=self.clock.now(), kind="apply", path=metadata.path, result="late")
        )
        return outcome


def queue(config: PlexSyncConfig, clock: FakeClock, count: int) -> None:
    for n in range(count):
        enqueue(config, key=f"scene:{n}", metadata=metadata(n), now=clock.now())


def work(
    config: PlexSyncConfig, clock: FakeClock, plex: SimulatedPlex, jump: JumpOnce
) -> WorkerReport:
    return run_worker(config, clock=clock, plex=plex, stop=Drained(config), on_event=jump)


def successes(plex: SimulatedPlex) -> Counter[str | None]:
    return Counter(c.path for c in plex.calls if c.kind == "apply" and c.result == "success")


def test_a_clock_stepped_back_a_day_while_the_breaker_is_open_probes_within_a_cooldown(
    tmp_path: Path,
) -> None:
    """Plex is down; the breaker opens; the clock steps back a day. The next call to Plex comes
    at most the longest cooldown later, and so does every call after it, not a day later; the
    outage is one outage, ended when Plex answers again; every job is done, none charged.
    """
    config = db_config(tmp_path)
    clock = FakeClock()
    # down from two days before the start until an hour after it: still down after the jump
    plex = SimulatedPlex(Scenario(outages=[Window(-2 * DAY, 2 * DAY + HOUR)]), clock)
    queue(config, clock, 20)
    jump = JumpOnce(clock, -DAY, BreakerOpened).watch(plex)
    report = work(config, clock, plex, jump)

    assert jump.landed_at is not None
    after = plex.calls[jump.calls_before :]
    instants = [jump.landed_at, *(c.at for c in after)]
    gaps = [later - earlier for earlier, later in pairwise(instants)]
    bound = config.breaker_max_cooldown_seconds + 2 * plex.scenario.call_seconds
    assert max(gaps) <= bound, f"a call waited {max(gaps):.0f} s after the clock stepped back"
    assert report.done == 20
    assert report.dead_lettered_total == 0
    assert not [e for e in jump.events if isinstance(e, RetryScheduled) and e.charged]
    [outage] = Store.open(config.db_path).breaker.outages()
    assert outage.ended_at is not None


def test_jobs_scheduled_before_a_clock_stepped_back_a_day_run_within_the_longest_wait(
    tmp_path: Path,
) -> None:
    """Every job fails twice, then succeeds; once all have a retry scheduled the clock steps back
    a day. Each is retried no later than ``longest_wait_seconds`` after the jump (not a day
    later), is tried exactly three times (the jump charges nothing) and is done once.
    """
    config = db_config(tmp_path, failing_edits_threshold=100)  # not a sick Plex: the jobs fail
    clock = FakeClock()
    plex = FailsFirst(clock, failures=2)
    queue(config, clock, 20)
    jump = JumpOnce(clock, -DAY, RetryScheduled, after=20).watch(plex)
    report = work(config, clock, plex, jump)

    assert jump.landed_at is not None
    done_at = max(e.at for e in jump.events if isinstance(e, JobSucceeded))
    assert done_at - jump.landed_at <= 2 * config.longest_wait_seconds
    assert report.done == 20
    assert report.dead_lettered_total == 0
    assert set(plex.tried.values()) == {3}
    assert set(successes(plex).values()) == {1}


def test_an_edit_that_may_land_late_is_resent_once_after_a_clock_stepped_back_a_day(
    tmp_path: Path,
) -> None:
    """An edit times out (it may still land); its retry is scheduled, and the clock steps back a
    day. The retry succeeds and is resent once, a late-landing window later, as without the
    jump, not every window until the clock has caught up with the day (the soak found this).
    """
    config = db_config(tmp_path)
    clock = FakeClock()
    plex = TimesOutFirst(Scenario(), clock)
    queue(config, clock, 1)
    jump = JumpOnce(clock, -DAY, RetryScheduled).watch(plex)
    report = work(config, clock, plex, jump)

    assert jump.landed_at is not None
    assert report.done == 1
    assert [c.result for c in plex.calls if c.kind == "apply"] == ["late", "success", "success"]
    assert plex.calls[-1].at - jump.landed_at <= 2 * config.late_edit_window_seconds


def test_a_clock_stepped_ahead_a_day_charges_and_dead_letters_nothing(tmp_path: Path) -> None:
    """Plex is down and Plex's scan is late; the breaker opens and the clock jumps a day ahead
    with jobs claimed and retries scheduled. No job is charged or dead-lettered for it: the
    breaker probes at once, each job succeeds exactly once.
    """
    config = db_config(tmp_path, max_crashes=0)
    clock = FakeClock()
    scenario = Scenario(outages=[Window(30, HOUR)], scan_delay_seconds=2 * HOUR)
    plex = SimulatedPlex(scenario, clock)
    queue(config, clock, 50)
    jump = JumpOnce(clock, DAY, BreakerOpened).watch(plex)
    report = work(config, clock, plex, jump)

    assert jump.landed_at is not None
    assert plex.calls[jump.calls_before].at - jump.landed_at <= 1.0  # the probe comes at once
    assert report.done == 50
    assert report.dead_lettered_total == 0
    assert not [e for e in jump.events if isinstance(e, JobDeadLettered)]
    assert set(successes(plex).values()) == {1}


def test_a_clock_stepped_back_a_day_takes_no_lease_from_a_worker_that_may_be_alive(
    tmp_path: Path,
) -> None:
    """A worker on another host holds a job; the clock steps back a day, so its lease seems to
    run a day longer. The worker here neither takes the job nor counts a crash: the lease is cut
    to one lease from now. Had that worker died, its job is worked one lease later.
    """
    config = db_config(tmp_path, max_crashes=0)
    clock = FakeClock()
    enqueue(config, key="k", metadata=metadata(1), now=clock.now())
    store = Store.open(config.db_path)
    assert decisions.claim(store, now=clock.now(), owner="elsewhere:1:x:y", config=config)
    clock.advance(-DAY)
    plex = SimulatedPlex(Scenario(), clock)
    first = run_worker(config, clock=clock, plex=plex, until_idle=True)

    assert first.done == 0
    assert first.dead_lettered_total == 0
    [row] = store.jobs.rows()
    assert row.lease_owner == "elsewhere:1:x:y"
    assert row.crashes == 0
    assert row.lease_expires_at is not None
    assert row.lease_expires_at <= clock.now() + config.job_lease_seconds
    assert plex.calls == []

    clock.advance(config.job_lease_seconds)  # that worker did die: its crash is counted now
    second = run_worker(db_config(tmp_path), clock=clock, plex=plex, until_idle=True)
    assert second.done == 1
    assert successes(plex) == Counter({metadata(1)["path"]: 1})


def test_a_clock_stepped_ahead_a_day_charges_no_crash_to_a_live_local_worker(
    tmp_path: Path,
) -> None:
    """A worker of this very process holds a job; the clock jumps a day ahead, so its lease has
    run out. Another worker takes the job back uncharged (its holder is alive: it did not
    crash), even with ``max_crashes`` 0, and does it once.
    """
    config = db_config(tmp_path, max_crashes=0)
    clock = FakeClock()
    enqueue(config, key="k", metadata=metadata(1), now=clock.now())
    store = Store.open(config.db_path)
    decisions.claim(store, now=clock.now(), owner=new_owner(), config=config)
    clock.advance(DAY)
    events: list[Event] = []
    plex = SimulatedPlex(Scenario(), clock)
    report = run_worker(config, clock=clock, plex=plex, until_idle=True, on_event=events.append)

    assert report.done == 1
    assert report.dead_lettered_total == 0
    assert not [e for e in events if isinstance(e, RetryScheduled)]
    assert set(successes(plex).values()) == {1}


ROOT = Path(__file__).resolve().parent.parent
WAIT = 60.0
"""Seconds of real time the worker process is given (generous: a loaded machine); a breaker
held for the length of the jump would take a day."""
PROCESS_SETTINGS: dict[str, Any] = {
    "connect_timeout_seconds": 0.5,
    "read_timeout_seconds": 2.0,
    "health_timeout_seconds": 0.5,
    "poll_interval": 0.05,
    "breaker_cooldown_seconds": 0.2,
    "breaker_max_cooldown_seconds": 0.4,
    "job_lease_seconds": 5.0,
}


def test_a_worker_process_whose_clock_steps_back_a_day_during_an_outage_finishes_at_once(
    tmp_path: Path,
) -> None:
    """A real worker process, over real HTTP to the fake Plex: Plex goes down, the breaker opens,
    the process's wall clock steps back a day, Plex comes back. The worker probes within its
    cooldown and finishes every job, none charged or dead-lettered, instead of holding work a
    day; the outage is one record, ended.
    """
    with FakePlex(TOKEN) as fake:
        fake.add_section("Movies", locations=["/media"])
        for n in range(20):
            fake.add_item(1, metadata(n)["path"], title=f"raw {n}")
        fields = {"plex_url": fake.url, "db_path": str(tmp_path / "queue.db"), **PROCESS_SETTINGS}
        config = make_config(plex_token=TOKEN, **fields)
        env = environment(
            config.db_path,
            plex_token=TOKEN,
            **{k: str(v) for k, v in fields.items() if k != "db_path"},
        )
        offset = tmp_path / "offset"
        fake.go_down()
        for n in range(20):
            enqueue(config, key=f"scene:{n}", metadata=metadata(n))
        command = [sys.executable, "-m", "tests.jumping_worker", str(offset), "--within", str(WAIT)]
        with subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        ) as worker:
            try:
                deadline = time.monotonic() + WAIT
                while status(config).breaker is not BreakerKind.OPEN:
                    assert time.monotonic() < deadline, "the breaker never opened"
                    time.sleep(0.05)
                offset.write_text(str(-DAY))
                time.sleep(0.2)  # the worker reads the stepped clock before Plex comes back
                fake.come_up()
                out, err = worker.communicate(timeout=WAIT + 10)
            finally:
                if worker.poll() is None:
                    worker.kill()
        assert worker.returncode == 0, err[-3000:]
        report = json.loads(out)
        assert report["done"] == 20
        assert report["dead_lettered"] == {}
        [outage] = Store.open(config.db_path).breaker.outages()
        assert outage.ended_at is not None
        assert all(fake.item_by_path(metadata(n)["path"]).title == f"Item {n}" for n in range(20))
