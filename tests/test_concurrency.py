"""Several workers and several enqueuers on one database, with Plex going down in the middle.

Everything is real: three ``plexsync run`` processes (the command line, stopped with SIGTERM as
a service manager would stop it), three host processes enqueuing through the library API
(``tests/concurrent_enqueuer.py``), one SQLite file, and the fake Plex server in this process,
which real plexapi talks to over HTTP. The writers share keys and re-enqueue them with newer
payloads while the workers claim them, so coalescing, edits that arrive while their key is in
flight, and the breaker all race for real.

The fake holds every reply under ``/library`` for ``HOLD_SECONDS``, so a job spends most of its
time in a worker with its request in flight at the fake: two workers working one job (or one
item) at once show as two requests in flight on one ratingKey (``in_flight_max``). The writers
enqueue slower than the workers can work, so a newer edit of a key in flight finds idle workers
ready to take it at once: the race the claim must win. While the test waits, it also checks the
database's invariants on every look (``Invariants``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from core import Breaker, BreakerKind, Closed, PauseCause, PlexSyncConfig
from shell.store import Filters, Store
from tests import concurrent_enqueuer as plan
from tests.builders import TOKEN
from tests.fake_plex import FakePlex

ROOT = Path(__file__).resolve().parents[1]
PLEXSYNC = [sys.executable, "-m", "shell.cli"]
"""The command line of this source tree (the console script may belong to another checkout)."""
ENQUEUER = [sys.executable, "-m", "tests.concurrent_enqueuer"]
WORKERS = 3
"""Confirmed outage failures in a row that open the breaker (the default)."""
HOLD_SECONDS = 0.02
DOWN_AFTER_EDITS = 100
"""Plex goes down once this many edits have landed (about a second in; the writers go on)."""
PROBES_WHILE_DOWN = 2
"""Plex comes back once the breaker has started this many probes of the outage."""
PATIENCE = 60.0
"""Seconds any awaited condition may take before the test gives up (each takes about one)."""
STOP_PATIENCE = 20.0
"""Seconds the workers may take to stop after SIGTERM (they take a few milliseconds)."""


@pytest.fixture
def fake() -> Iterator[FakePlex]:
    with FakePlex(TOKEN) as server:
        server.add_section("Movies", locations=[plan.LIBRARY])
        for key in plan.all_keys():
            server.add_item(1, plan.path_of(key), title="raw", labels=["stale"])
        server.slow_first_byte(HOLD_SECONDS, path_prefix="/library")
        yield server


class Invariants:
    """Reads the shared database while the processes run, and checks what must hold at any
    instant (each look is one statement, so one consistent snapshot).
    """

    def __init__(self, db_path: str) -> None:
        self.store = Store.open(db_path)
        self.looks = 0

    def check(self) -> None:
        self.looks += 1
        assert self.store.problems() == []

    def jobs(self) -> int:
        return self.store.jobs.count()

    def breaker(self) -> Breaker:
        return self.store.breaker.load()

    def probes_of_open_outage(self) -> int:
        outage = self.breaker().outage
        return 0 if outage is None else outage.probes

    def await_condition(
        self, what: str, condition: Callable[[], bool], timeout: float = PATIENCE
    ) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.check()
            if condition():
                return
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout:g}s waiting for {what}")
            time.sleep(0.02)

    def close(self) -> None:
        self.store.close()


def spawn(args: list[str], env: dict[str, str], cwd: Path, name: str) -> subprocess.Popen[bytes]:
    """Start *args* with stdout and stderr in files (a full pipe could block it)."""
    with (cwd / f"{name}.out").open("wb") as out, (cwd / f"{name}.err").open("wb") as err:
        return subprocess.Popen(args, stdout=out, stderr=err, env=env, cwd=cwd)


def output(cwd: Path, name: str) -> tuple[str, str]:
    return (cwd / f"{name}.out").read_text(), (cwd / f"{name}.err").read_text()


def worker_env(fake: FakePlex, db_path: str) -> dict[str, str]:
    """Settings for ``plexsync run`` from the environment, every wait a fraction of a second."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLEXSYNC_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONFAULTHANDLER"] = "1"
    return env | {
        "PLEXSYNC_PLEX_URL": fake.url,
        "PLEXSYNC_PLEX_TOKEN": TOKEN,
        "PLEXSYNC_DB_PATH": db_path,
        # Generous timeouts: a loaded machine must not pass for a Plex outage.
        "PLEXSYNC_CONNECT_TIMEOUT_SECONDS": "1",
        "PLEXSYNC_READ_TIMEOUT_SECONDS": "5",
        "PLEXSYNC_HEALTH_TIMEOUT_SECONDS": "2",
        "PLEXSYNC_JOB_LEASE_SECONDS": "30",
        "PLEXSYNC_POLL_INTERVAL": "0.02",
        "PLEXSYNC_RETRY_WAIT_INITIAL_SECONDS": "0.05",
        "PLEXSYNC_RETRY_WAIT_MAX_SECONDS": "0.2",
        "PLEXSYNC_BREAKER_COOLDOWN_SECONDS": "0.2",
        "PLEXSYNC_BREAKER_MAX_COOLDOWN_SECONDS": "0.4",
    }


def stop_workers(workers: dict[str, subprocess.Popen[bytes]], cwd: Path) -> None:
    """SIGTERM every worker, as a service manager would, and wait for them to stop.

    A worker that does not stop in time gets SIGABRT, so that faulthandler (``PYTHONFAULTHANDLER``
    is set) writes where it hangs to its stderr, which the failure then shows.
    """
    for worker in workers.values():
        worker.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_PATIENCE
    hung = []
    for name, worker in workers.items():
        try:
            worker.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            worker.send_signal(signal.SIGABRT)
            worker.wait(timeout=PATIENCE)
            hung.append(f"{name}:\n{output(cwd, name)[1]}")
    if hung:
        pytest.fail(f"did not stop within {STOP_PATIENCE:g}s of SIGTERM: " + "\n".join(hung))


def test_workers_and_writers_race_through_an_outage(tmp_path: Path, fake: FakePlex) -> None:
    """No job is worked twice at once, no lock error escapes, every job ends done with the newest
    edit of its key in Plex, and the one outage is one consistent record.
    """
    db_path = str(tmp_path / "queue.db")
    env = worker_env(fake, db_path)
    go = tmp_path / "go"
    # Nothing creates the database beforehand: the first processes race to create it.
    workers = {
        f"worker{n}": spawn([*PLEXSYNC, "run", "--json"], env, tmp_path, f"worker{n}")
        for n in range(WORKERS)
    }
    writers = {
        f"writer{n}": spawn(
            [*ENQUEUER, db_path, str(n), str(go), str(tmp_path / f"writer{n}.json")],
            env,
            tmp_path,
            f"writer{n}",
        )
        for n in range(plan.WRITERS)
    }
    processes = workers | writers
    db: Invariants | None = None
    try:
        deadline = time.monotonic() + PATIENCE
        while not all("started" in output(tmp_path, name)[1] for name in workers):
            assert time.monotonic() < deadline, "the workers did not start"
            assert all(p.poll() is None for p in workers.values()), "a worker ended early"
            time.sleep(0.02)
        go.touch()  # the writers start together, every worker already polling
        db = Invariants(db_path)
        db.await_condition(
            f"{DOWN_AFTER_EDITS} edits with jobs still queued",
            lambda: len(fake.edits()) >= DOWN_AFTER_EDITS and db.jobs() > 0,
        )
        down_at = time.time()
        fake.go_down()
        down_done_at = time.time()
        db.await_condition(
            "the breaker to open", lambda: db.breaker().kind is not BreakerKind.CLOSED
        )
        db.await_condition(
            f"{PROBES_WHILE_DOWN} probes",
            lambda: db.probes_of_open_outage() >= PROBES_WHILE_DOWN,
        )
        up_at = time.time()
        fake.come_up()
        db.await_condition("the breaker to close", lambda: db.breaker().kind is BreakerKind.CLOSED)
        db.await_condition(
            "every writer to finish", lambda: all(p.poll() is not None for p in writers.values())
        )
        db.await_condition("the queue to drain", lambda: db.jobs() == 0)
        stop_workers(workers, tmp_path)
        for process in writers.values():
            process.wait(timeout=PATIENCE)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
        if db is not None:
            db.close()
    looks = db.looks

    # Every process ended well and told its user nothing alarming.
    for name, process in processes.items():
        stdout, stderr = output(tmp_path, name)
        assert process.returncode == 0, (name, stdout, stderr)
        assert "locked" not in stderr.lower(), (name, stderr)
        assert "Traceback" not in stderr, (name, stderr)
    assert all(output(tmp_path, name)[1] == "" for name in writers)
    reports = [json.loads(output(tmp_path, name)[0]) for name in workers]
    written = [json.loads((tmp_path / f"{name}.json").read_text()) for name in writers]
    final = Invariants(db_path)
    try:
        final.check()
        jobs_left = final.jobs()
        dead_letters = final.store.dead_letters.count(Filters())
        done_counted = final.store.done_count()
        breaker = final.breaker()
        outages = final.store.breaker.outages()
    finally:
        final.close()

    # Every job ended done: nothing queued, nothing dead-lettered.
    assert (jobs_left, dead_letters) == (0, 0)
    assert all(report["dead_lettered"] == {} for report in reports)
    done = sum(report["done"] for report in reports)
    assert done == done_counted

    # Each item holds the newest edit of its key (every writer agrees on it for shared keys).
    newest: dict[str, dict[str, Any]] = {}
    for n, record in enumerate(written):
        assert record["enqueued"] == len(plan.plan(n))
        for key, metadata in record["last"].items():
            assert newest.setdefault(key, metadata) == metadata, key
    assert sorted(newest) == sorted(plan.all_keys())
    for key, metadata in newest.items():
        item = fake.item_by_path(plan.path_of(key))
        assert item is not None
        assert (item.title, item.values["summary"]) == (metadata["title"], metadata["summary"]), key
        assert (item.tags["genres"], item.tags["labels"]) == (
            metadata["genres"],
            metadata["labels"],
        ), key

    # No item ever had two requests in flight at once: no job was worked by two workers together.
    assert fake.in_flight_max == 1
    # Nor twice in turn: an edit only one writer made is sent once, or twice if the reply to the
    # first was lost when Plex went down (at most max_in_flight in flight per worker then).
    edits = fake.edits()
    first_sent: dict[str, float] = {}
    for edit in edits:
        first_sent.setdefault(edit.query["title.value"], edit.at)
    sent = Counter(edit.query["title.value"] for edit in edits)
    repeated = {title: n for title, n in sent.items() if n > 1 and " by w" in title}
    in_flight = PlexSyncConfig(plex_url=fake.url, plex_token="t").max_in_flight
    assert len(repeated) <= WORKERS * in_flight, repeated
    assert all(n == 2 and first_sent[title] <= down_done_at for title, n in repeated.items())

    # The breaker is closed and clean again; the outage is one record spanning the real one.
    # One record by design, although one confirmed outage failure opens the breaker (the
    # default): failures reported while it is open are ignored, failed probes extend the record,
    # and the outage failures that arrive after it closed come from calls begun before that
    # (one per worker whose job call was under way), which cannot reopen it.
    assert len(outages) == 1, outages
    [outage] = outages
    assert breaker == Breaker(state=Closed(closed_at=outage.ended_at))
    assert outage.cause is PauseCause.OUTAGE
    assert outage.ended_at is not None
    assert down_at <= outage.started_at <= up_at <= outage.ended_at
    assert outage.probes >= PROBES_WHILE_DOWN
    # Only the worker that tripped the breaker saw the outage begin; every probe the breaker
    # admitted was sent exactly once, by one worker.
    assert sum(report["outages"] for report in reports) == 1
    assert sum(report["probes"] for report in reports) == outage.probes

    span = max(r["finished_at"] for r in written) - min(r["started_at"] for r in written)
    lasted = outage.ended_at - outage.started_at
    print(
        f"\nenqueued {sum(r['enqueued'] for r in written)} jobs in"
        f" {sum(r['calls'] for r in written)} calls over {span:.1f}s;"
        f" {done} jobs done, {len(edits)} edits ({len(repeated)} repeated),"
        f" in_flight_max {fake.in_flight_max}; outage of {lasted:.2f}s"
        f" from {outage.started_at - down_at:.2f}s after go_down, {outage.probes} probes"
        f" {[r['probes'] for r in reports]}; writers done"
        f" {max(r['finished_at'] for r in written) - up_at:+.1f}s after come_up;"
        f" retried {[r['retried'] for r in reports]}; {looks} invariant looks"
    )
