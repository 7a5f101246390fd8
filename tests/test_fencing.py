"""Newest edit wins even when a worker stalls: a worker frozen past its lease (a paused VM, a
suspended laptop, SIGSTOP here) must not apply the old edits it still holds once it resumes.

Real processes: worker A claims a batch and is frozen; the leases run out; newer edits of the
same items arrive; worker B takes the jobs over and applies them; A resumes. Every item must end
with its newest edit, and A must say that it lost its leases.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import shell
from shell.store import Store
from tests.builders import TOKEN, make_config
from tests.fake_plex import FakePlex

ROOT = Path(__file__).resolve().parent.parent
ITEMS = 20
LEASE = 6.0


def _env(fake: FakePlex, db_path: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLEXSYNC_")}
    return env | {
        "PYTHONPATH": str(ROOT),
        "PLEXSYNC_PLEX_URL": fake.url,
        "PLEXSYNC_PLEX_TOKEN": TOKEN,
        "PLEXSYNC_DB_PATH": db_path,
        "PLEXSYNC_CONNECT_TIMEOUT_SECONDS": "0.5",
        "PLEXSYNC_READ_TIMEOUT_SECONDS": "1",
        "PLEXSYNC_HEALTH_TIMEOUT_SECONDS": "0.5",
        "PLEXSYNC_JOB_LEASE_SECONDS": str(LEASE),
        "PLEXSYNC_POLL_INTERVAL": "0.05",
    }


def _freeze_outside_a_write(worker: subprocess.Popen[bytes], db_path: str) -> None:
    """SIGSTOP *worker* at a moment it holds no write transaction: frozen inside one, it would
    keep the database locked, and the newer edits could not be queued (not what a stalled
    worker is about). Frozen at a bad moment, it is let go a moment and frozen again.
    """
    for _ in range(100):
        worker.send_signal(signal.SIGSTOP)
        _wait_for("the worker to stop", lambda: _state(worker.pid) == "T", timeout=5)
        probe = sqlite3.connect(db_path, timeout=0)
        try:
            probe.execute("BEGIN IMMEDIATE")  # takes the write lock only if nobody holds it
        except sqlite3.OperationalError:
            worker.send_signal(signal.SIGCONT)
            time.sleep(0.005)
            continue
        finally:
            probe.close()  # a transaction left open is rolled back
        return
    raise AssertionError("the worker held the database's write lock at every try")


def _state(pid: int) -> str:
    """The process's state letter from /proc (T: stopped)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rpartition(")")[2].split()[0]


def _wait_for(what: str, condition: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_a_worker_that_stalls_past_its_lease_does_not_apply_its_old_edits(
    tmp_path: Path,
) -> None:
    """Worker A, frozen holding a batch past its lease, resumes after worker B applied newer
    edits of the same items: A sends none of its old edits, says it lost its leases, and every
    item ends with its newest edit.
    """
    db_path = str(tmp_path / "q.db")
    with FakePlex(TOKEN) as fake:
        fake.add_section("Movies", locations=["/media"])
        keys = [fake.add_item(1, f"/media/m{n:02d}.mkv", title="raw") for n in range(ITEMS)]
        config = make_config(plex_url=fake.url, db_path=db_path)
        edit = [(f"k{n}", {"path": f"/media/m{n:02d}.mkv"}) for n in range(ITEMS)]
        shell.enqueue_many(config, [(k, {**m, "title": "old"}) for k, m in edit])
        fake.slow_first_byte(0.2, method="PUT")  # A is still inside its batch when frozen
        env = _env(fake, db_path)
        with (tmp_path / "a.err").open("wb") as err:
            a = subprocess.Popen([sys.executable, "-m", "shell.cli", "run"], env=env, stderr=err)
        try:
            _wait_for("A's third edit", lambda: len(fake.edits()) >= 3)
            _freeze_outside_a_write(a, db_path)
            frozen_at = time.time()
            sent_by_a = len(fake.edits())
            time.sleep(LEASE + 1)
            shell.enqueue_many(config, [(k, {**m, "title": "new"}) for k, m in edit])
            fake.clear_faults()
            b = subprocess.run(
                [sys.executable, "-m", "shell.cli", "run", "--until-idle"],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert b.returncode == 0, b.stderr
            applied_by_b = time.time()
            a.send_signal(signal.SIGCONT)
            time.sleep(2)  # A works through what it still holds, or fails to
            a.send_signal(signal.SIGTERM)
            a.wait(timeout=20)
        finally:
            if a.poll() is None:
                a.send_signal(signal.SIGCONT)
                a.kill()
                a.wait()
        titles = [fake.item(key).title for key in keys]
        old_after_b = [
            e for e in fake.edits() if e.at > applied_by_b and e.query.get("title.value") == "old"
        ]
    log = (tmp_path / "a.err").read_text()
    assert titles == ["new"] * ITEMS
    assert old_after_b == []
    assert "lost its lease" in log, log
    assert sent_by_a < ITEMS, "A had finished its batch before it was frozen"
    assert frozen_at < applied_by_b
    store = Store.open(db_path)
    try:
        assert store.jobs.is_empty()
        assert store.problems() == []
    finally:
        store.close()
