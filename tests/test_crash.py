"""Crash safety: a real worker process (``tests/crash_worker.py``: the real ``run_worker``, the
real plexapi gateway, the fake Plex over HTTP) is killed with SIGKILL again and again and
restarted each time, while the host keeps sending newer edits. Some kills land while Plex applies
an edit (its reply held back by the fake), some inside a COMMIT (the driver stops the worker
there), some between a job's claim and its first request to Plex (the driver stops the gateway),
the rest at random. Afterwards nothing is lost, stuck, duplicated or corrupt, and every Plex item
holds its key's newest edit (docs/design.md, rules 1, 6 and 10).

The plan (which kill comes when, which keys get newer edits) comes from a seeded random; set
``CRASH_TEST_SEED`` to replay one. The seed is printed, and attached to any failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import select
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Self

import shell
from core import PlexSyncConfig
from shell.store import Filters, JobRow, Store
from tests.builders import TOKEN, make_config
from tests.cli_process import environment
from tests.fake_plex import FakePlex, Recorded

ROOT = Path(__file__).resolve().parent.parent
ITEMS = 300
KILLS = {"put": 8, "commit": 8, "claimed": 6, "random": 8}
"""Kills of each kind: while a PUT is in flight, inside a COMMIT, after a claim before any
request, at a random moment.
"""
EDIT_PATH = "/library/sections/1/all"
GENRES = ("Drama", "Crime", "Noir", "Comedy", "Horror", "Western")
WAIT = 20.0
"""Seconds any single wait may take before the test gives up (generous: a loaded machine)."""
SETTINGS: dict[str, Any] = {
    "connect_timeout_seconds": 0.5,
    "read_timeout_seconds": 2.0,
    "health_timeout_seconds": 0.5,
    "poll_interval": 0.05,
    "max_retries": 8,
    "retry_wait_initial_seconds": 0.05,
    "retry_wait_max_seconds": 0.2,
    "breaker_cooldown_seconds": 0.2,
    "breaker_max_cooldown_seconds": 0.4,
    "job_lease_seconds": 5.0,
    "max_crashes": 1000,  # a killed job is retried, never dead-lettered for crashing
    "max_in_flight": 4,  # the concurrent worker: kills land with several calls out
    "adaptive_concurrency": False,  # four from the first call, not after a ramp
}
PUT_REPLY_DELAY = 5 * SETTINGS["read_timeout_seconds"]
"""How long the fake holds back the reply to the PUT a "put" kill waits for."""


class WorkerProcess:
    """One ``tests.crash_worker`` process: its COMMIT lines read from stdout, its log appended
    to a file.
    """

    def __init__(self, env: dict[str, str], log: Path, *args: str) -> None:
        self.log = log
        self.started_at = time.time()
        with log.open("ab") as sink:  # the child has its own descriptor of the file
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.crash_worker", *args],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=sink,
            )
        self.pid = self.process.pid
        self._pending = b""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=WAIT)
        assert self.process.stdout is not None
        self.process.stdout.close()

    def read_until(self, word: str, number: int) -> str:
        """Read stdout lines until ``<word> <number> ...``; return that line's last field."""
        assert self.process.stdout is not None
        stream = self.process.stdout.fileno()
        deadline = time.monotonic() + WAIT
        while True:
            line, newline, rest = self._pending.partition(b"\n")
            if newline:
                self._pending = rest
                fields = line.decode().split()
                if fields[:2] == [word, str(number)]:
                    return fields[-1]
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"worker {self.pid} wrote no '{word} {number}' in {WAIT} s")
            readable, _, _ = select.select([stream], [], [], remaining)
            if readable:
                chunk = os.read(stream, 65536)
                if not chunk:
                    status = self.process.wait(timeout=WAIT)
                    raise AssertionError(
                        f"worker {self.pid} exited with {status} before '{word} {number}':\n"
                        + self.log.read_text(errors="replace")[-4000:]
                    )
                self._pending += chunk

    def kill(self) -> float:
        """SIGKILL the worker and reap it; returns when the signal was sent (``time.time()``)."""
        killed_at = time.time()
        self.process.send_signal(signal.SIGKILL)
        status = self.process.wait(timeout=WAIT)
        assert status == -signal.SIGKILL, f"worker {self.pid} ended with {status}, not SIGKILL"
        return killed_at


@contextlib.contextmanager
def reading(db_path: str) -> Iterator[sqlite3.Connection]:
    """A connection of the test's own, for reading the queue as it is on disk."""
    connection = sqlite3.connect(db_path, timeout=WAIT, isolation_level=None)
    try:
        yield connection
    finally:
        connection.close()


def rows_of(config: PlexSyncConfig) -> list[JobRow]:
    """The jobs as stored now."""
    store = Store.open(config.db_path)
    try:
        return store.jobs.rows()
    finally:
        store.close()


def running_owner(config: PlexSyncConfig, key: str) -> str | None:
    """Who holds the running job of *key*, if one runs."""
    owners = [
        row.lease_owner for row in rows_of(config) if row.key == key and row.state == "running"
    ]
    return owners[0] if owners else None


def snapshot(db_path: str) -> list[list[tuple[Any, ...]]]:
    """Every row of every table, read in one transaction."""
    with reading(db_path) as db:
        db.execute("BEGIN")
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        rows = [db.execute(f"SELECT * FROM {name} ORDER BY rowid").fetchall() for name in tables]
        db.execute("ROLLBACK")
    return rows


def edit_of(key_number: int, version: int, rng: random.Random) -> dict[str, Any]:
    """Version *version* of the metadata for item *key_number*: a title and a genre list."""
    genres = [] if rng.random() < 0.1 else rng.sample(GENRES, rng.randint(1, 3))
    return {
        "path": f"/media/m{key_number:03d}.mkv",
        "title": f"Title {key_number} v{version}",
        "genres": genres,
    }


class Host:
    """The host application's side: sends edits, remembers each key's newest one."""

    def __init__(self, config: PlexSyncConfig, rng: random.Random) -> None:
        self.config = config
        self.rng = rng
        self.newest: dict[str, dict[str, Any]] = {}
        self.versions: Counter[str] = Counter()
        self.newer_edits = 0

    def send(self, numbers: list[int]) -> None:
        jobs = []
        for n in numbers:
            key = f"scene:{n}"
            metadata = edit_of(n, self.versions[key], self.rng)
            self.versions[key] += 1
            self.newest[key] = metadata
            jobs.append((key, metadata))
        shell.enqueue_many(self.config, jobs)

    def send_newer(self, numbers: list[int]) -> None:
        self.newer_edits += len(numbers)
        self.send(numbers)

    @property
    def keys_edited_again(self) -> int:
        return sum(1 for count in self.versions.values() if count > 1)


def test_sigkill_at_any_moment_loses_nothing_and_the_newest_edit_wins(tmp_path: Path) -> None:
    """30 SIGKILLs, then a drain: nothing lost, stuck, duplicated or corrupt; newest edits win."""
    seed = int(os.environ.get("CRASH_TEST_SEED") or random.SystemRandom().randrange(2**32))
    rng = random.Random(seed)
    print(f"crash test seed {seed}")
    try:
        with FakePlex(TOKEN) as fake:
            _crash_and_check(fake, tmp_path, rng)
    except BaseException as failure:
        failure.add_note(f"crash test seed {seed}: rerun with CRASH_TEST_SEED={seed}")
        raise


def _crash_and_check(fake: FakePlex, tmp_path: Path, rng: random.Random) -> None:
    fake.add_section("Movies", locations=["/media"])
    rating_keys = {
        f"scene:{n}": fake.add_item(1, f"/media/m{n:03d}.mkv", title=f"raw {n}", genres=["Old"])
        for n in range(ITEMS)
    }
    key_of = {rating_key: key for key, rating_key in rating_keys.items()}
    key_by_path = {f"/media/m{n:03d}.mkv": f"scene:{n}" for n in range(ITEMS)}
    fields = {"plex_url": fake.url, "db_path": str(tmp_path / "queue.db"), **SETTINGS}
    config = make_config(plex_token=TOKEN, **fields)
    env = environment(
        config.db_path, plex_token=TOKEN, **{k: str(v) for k, v in fields.items() if k != "db_path"}
    )
    log = tmp_path / "workers.log"
    host = Host(config, rng)
    host.send(list(range(ITEMS)))

    plan = [kind for kind, count in KILLS.items() for _ in range(count)]
    rng.shuffle(plan)
    put_kills: list[str] = []
    commit_kills: Counter[str] = Counter()
    claimed_kills: list[str] = []
    random_kills = 0
    topped_up = 0
    beside: list[int] = []
    """For each kill during a PUT, how many other PUTs of the same worker were in flight."""
    for kind in plan:
        due = sum(row.state == "waiting" for row in rows_of(config))
        # Every kind of kill needs work in hand. A worker writes up to a batch (64) of decisions
        # in one commit, and the kills below wait for up to 4 commits: keep a deep backlog.
        if due < 260:
            host.send_newer(rng.sample(range(ITEMS), 280))
            topped_up += 1
        hold = {
            "commit": ["--hold-commit", str(rng.randint(1, 4))],
            "claimed": ["--hold-apply", str(rng.randint(1, 10))],
        }.get(kind, [])
        with WorkerProcess(env, log, "trace", *hold) as worker:
            if kind == "put":
                worker.read_until("commit", rng.randint(1, 4))
                # Work enough for every slot, so that the kill lands among several calls.
                host.send_newer(rng.sample(range(ITEMS), 4))
                armed_at = time.time()
                fake.slow_first_byte(PUT_REPLY_DELAY, path_prefix=EDIT_PATH, method="PUT")
                put = fake.wait_in_flight(
                    method="PUT", path_prefix=EDIT_PATH, since=armed_at, timeout=WAIT
                )
                beside.append(_others_in_flight(fake, armed_at))
                killed_at = worker.kill()
                fake.clear_faults()
                key = key_of[put.rating_keys[0]]
                put_kills.append(_proven_put_kill(fake, config, put, key, worker.pid, killed_at))
                if len(put_kills) % 2:  # an edit while its job is held; else the PUT is repeated
                    host.send_newer([int(key.partition(":")[2])])
            elif kind == "commit":
                what = worker.read_until("hold", int(hold[1]))
                during = snapshot(config.db_path)
                worker.kill()
                # The transaction held at COMMIT left nothing behind: the kill came before it.
                assert snapshot(config.db_path) == during, f"held {what} took effect"
                commit_kills[what] += 1
            elif kind == "claimed":
                path = worker.read_until("hold", int(hold[1]))
                worker.kill()
                key = key_by_path[path]
                claimed_kills.append(_proven_claimed_kill(fake, config, key, rating_keys, worker))
                host.send_newer([int(key.partition(":")[2])])  # an edit while its job is held
            else:
                worker.read_until("commit", rng.randint(1, 4))
                running = [row.key for row in rows_of(config) if row.state == "running"]
                if running:  # an edit of the key in hand, while the worker works on it
                    host.send_newer([int(k.partition(":")[2]) for k in running])
                time.sleep(rng.uniform(0.0, 0.03))  # the random moment of this kill
                worker.kill()
                random_kills += 1
        host.send_newer(rng.sample(range(ITEMS), 2))  # between restarts

    drained = subprocess.run(
        [sys.executable, "-m", "tests.crash_worker", "drain", "--within", str(3 * WAIT)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=4 * WAIT,
    )
    report = {
        name: value
        for name, value in json.loads(drained.stdout or "{}").items()
        if name in {"done", "retried", "dead_lettered"}
    }
    applied = [(r.rating_keys, r.query.get("title.value")) for r in fake.edits()]
    repeated = len(applied) - len(set(applied))
    summary = (
        f"{len(plan)} kills: {len(put_kills)} during a PUT, {sum(commit_kills.values())} inside a"
        f" COMMIT ({', '.join(f'{k} {n}' for k, n in sorted(commit_kills.items()))}),"
        f" {len(claimed_kills)} after a claim before any request, {random_kills} at random;"
        f" other PUTs in flight at each PUT kill: {beside};"
        f" {host.newer_edits} newer edits of {host.keys_edited_again} keys"
        f" ({host.keys_edited_again / ITEMS:.0%}, {topped_up} top-ups); {len(applied)} PUTs"
        f" applied, {repeated} of them repeats of an applied edit; the drain: {report}"
    )
    print(summary)
    assert drained.returncode == 0, f"{summary}\n{drained.stderr[-4000:]}"
    assert repeated > 0, f"no edit was repeated: rule 10 went untested; {summary}"
    # How many other edits were out at each PUT kill is reported, not required: a worker just
    # started, or probing after the previous kill's timeout, has one call out, and which of the
    # two a kill meets depends on the seed; the kills at random moments and inside COMMITs meet
    # the worker with whatever it has out.
    _check_final_state(fake, config, host, rating_keys, summary)


def _others_in_flight(fake: FakePlex, since: float) -> int:
    """How many more PUTs reach the fake while the first is held (up to 3, waiting briefly: the
    kill must still come well within the read timeout): the worker keeps several calls in
    flight, and the kill lands among them.
    """
    deadline = time.monotonic() + 0.3
    while True:
        held = [r for r in fake.in_flight(method="PUT") if r.at >= since]
        if len(held) >= 1 + 3 or time.monotonic() > deadline:
            return len(held) - 1
        time.sleep(0.01)


def _proven_put_kill(
    fake: FakePlex, config: PlexSyncConfig, put: Recorded, key: str, pid: int, killed_at: float
) -> str:
    """Check that the kill landed while *put* was in flight: Plex had applied the edit, the
    worker had not heard back (the fake holds the reply for PUT_REPLY_DELAY, and it is still
    unsent) nor given up (the kill came within the read timeout), and its job was still claimed
    by the dead worker.
    """
    replied = not any(r is put for r in fake.in_flight(method="PUT"))
    applied = any(r is put for r in fake.edits(put.rating_keys[0]))
    waited = killed_at - put.at
    owner = running_owner(config, key)
    proof = (
        f"PUT for {key}, killed {waited:.3f} s after it arrived:"
        f" replied={replied}, applied={applied}, owner={owner}"
    )
    assert not replied, proof
    assert applied, proof
    assert waited < config.read_timeout_seconds, proof
    assert owner is not None, proof
    assert f":{pid}:" in owner, proof
    return key


def _proven_claimed_kill(
    fake: FakePlex,
    config: PlexSyncConfig,
    key: str,
    rating_keys: dict[str, int],
    worker: WorkerProcess,
) -> str:
    """Check that the kill landed after the job was claimed and before Plex heard of it: the
    job is still claimed by the dead worker, and no edit of its item arrived from that worker.
    """
    sent = [r for r in fake.edits(rating_keys[key]) if r.at >= worker.started_at]
    owner = running_owner(config, key)
    proof = f"held job {key}: edits sent {sent}, owner {owner}"
    assert sent == [], proof
    assert owner is not None, proof
    assert f":{worker.pid}:" in owner, proof
    return key


def _check_final_state(
    fake: FakePlex,
    config: PlexSyncConfig,
    host: Host,
    rating_keys: dict[str, int],
    summary: str,
) -> None:
    store = Store.open(config.db_path)
    try:
        assert store.damage() == [], summary
        left = [(r.id, r.key, r.state, r.crashes) for r in store.jobs.rows()]
        dead = [
            (e.key, e.job_id, e.reason, e.superseded_at, e.payload)
            for e in store.dead_letters.entries(Filters())
        ]
    finally:
        store.close()
    assert left == [], f"jobs lost in the queue: {left}; {summary}"
    live = Counter(key for key, _, _, superseded, _ in dead if superseded is None)
    assert [k for k, n in live.items() if n > 1] == [], f"duplicate dead letters; {summary}"
    per_job = Counter(job_id for _, job_id, _, _, _ in dead)
    assert [j for j, n in per_job.items() if n > 1] == [], f"a job dead-lettered twice; {summary}"
    live_payloads = {
        key: json.loads(payload) for key, _, _, superseded, payload in dead if superseded is None
    }
    wrong = []
    for key, want in sorted(host.newest.items()):
        wanted = {"title": want["title"], "genres": want["genres"]}
        item = fake.item(rating_keys[key])
        done = {"title": item.title, "genres": item.tags["genres"]} == wanted
        in_dlq = key in live_payloads and all(
            live_payloads[key].get(name) == value for name, value in wanted.items()
        )
        if not (done or in_dlq):  # each key is done, or dead-lettered with its newest edit
            wrong.append((key, item.title, item.tags["genres"], wanted))
    assert wrong == [], f"{len(wrong)} keys without their newest edit: {wrong[:5]}; {summary}"
    # Nothing here should dead-letter at all: no permanent faults, crashes never count out.
    assert dead == [], f"dead-lettered: {[(k, r) for k, _, r, _, _ in dead]}; {summary}"


def test_a_kill_with_several_edits_in_flight_loses_none_and_the_newest_edit_wins(
    tmp_path: Path,
) -> None:
    """A worker keeping four edits out at once is killed while Plex holds all four replies
    (each edit applied, none acknowledged); newer edits of two of those items arrive. The next
    worker does every job again or anew: nothing is lost or dead-lettered, each item ends with
    its newest edit, and the queue passes its own checks. The randomised test above meets
    several calls out only when its kills happen to; this one always does.
    """
    db_path = str(tmp_path / "q.db")
    with FakePlex(TOKEN) as fake:
        fake.add_section("Movies", locations=["/media"])
        keys = [fake.add_item(1, f"/media/m{n}.mkv", title="raw") for n in range(8)]
        config = make_config(plex_url=fake.url, db_path=db_path)
        shell.enqueue_many(
            config, [(f"k{n}", {"path": f"/media/m{n}.mkv", "title": "first"}) for n in range(8)]
        )
        fake.slow_first_byte(60, method="PUT")  # applied at once, acknowledged never
        env = environment(
            db_path,
            plex_url=fake.url,
            plex_token=TOKEN,
            max_in_flight="4",
            adaptive_concurrency="false",  # four out from the start
            read_timeout_seconds="30",
            job_lease_seconds="40",
            poll_interval="0.05",
        )
        worker = subprocess.Popen(
            [sys.executable, "-m", "shell.cli", "run"], env=env, stderr=subprocess.DEVNULL
        )
        try:
            deadline = time.monotonic() + WAIT
            while len(fake.in_flight(method="PUT")) < 4:
                assert worker.poll() is None, "the worker stopped"
                assert time.monotonic() < deadline, "four edits were never out at once"
                time.sleep(0.01)
            out = {r.rating_keys[0] for r in fake.in_flight(method="PUT")}
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=WAIT)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        assert len(out) == 4
        fake.clear_faults()
        newer = sorted(out)[:2]
        shell.enqueue_many(
            config,
            [
                (f"k{keys.index(k)}", {"path": f"/media/m{keys.index(k)}.mkv", "title": "second"})
                for k in newer
            ],
        )
        drained = subprocess.run(
            [sys.executable, "-m", "shell.cli", "run", "--until-idle", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=4 * WAIT,
            check=False,
        )
        assert drained.returncode == 0, drained.stderr
        titles = {key: fake.item(key).title for key in keys}
        sent_twice = {k for k in out if len(fake.edits(k)) >= 2}
    assert json.loads(drained.stdout)["dead_lettered"] == {}
    assert titles == {key: "second" if key in newer else "first" for key in keys}
    assert sent_twice == out  # what was out at the kill was sent again (or newer), not assumed
    store = Store.open(db_path)
    try:
        assert store.jobs.is_empty()
        assert store.dead_letters.count(Filters()) == 0
        assert store.done_count() == 8  # the two killed jobs gave way to their newer edits
        assert store.problems() == []
    finally:
        store.close()
