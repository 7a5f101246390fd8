"""``plexsync db backup`` while a real worker process works the queue against the fake Plex.

Every backup is taken by its own ``plexsync db backup`` process while ``plexsync run`` finishes
jobs (each finish deletes the job and counts it done, in one transaction). A backup must open,
pass ``integrity_check``, and hold one moment of the queue: every job enqueued is, in it, either
still queued or counted done (a copy torn across a commit would lose or double one).
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import shell
from shell.store import Filters, Store, maintenance
from tests.builders import TOKEN, make_config
from tests.cli_process import PLEXSYNC, ROOT, environment, plexsync
from tests.fake_plex import FakePlex

LIBRARY = "/media/library"
ITEMS = 300
PATIENCE = 60.0


def path_of(n: int) -> str:
    return f"{LIBRARY}/item-{n:04d}.mkv"


@pytest.fixture
def fake() -> Iterator[FakePlex]:
    with FakePlex(TOKEN) as server:
        server.add_section("Movies", locations=[LIBRARY])
        for n in range(ITEMS):
            server.add_item(1, path_of(n), title="raw")
        # Each job takes some 10 ms: the backups land while the worker is half-way.
        server.slow_first_byte(0.01, path_prefix="/library")
        yield server


def test_backups_taken_while_a_worker_runs_are_each_one_consistent_moment(
    tmp_path: Path, fake: FakePlex
) -> None:
    """Each backup opens, passes integrity_check and the cross-table rules, and in each one
    every job enqueued is either queued or counted done; the worker is not disturbed.
    """
    db_path = str(tmp_path / "queue.db")
    config = make_config(db_path=db_path)
    shell.enqueue_many(
        config, [(f"scene:{n}", {"path": path_of(n), "title": f"T{n}"}) for n in range(ITEMS)]
    )
    shell.api.close_store(config)
    with (tmp_path / "worker.err").open("wb") as err:
        worker = subprocess.Popen(
            [*PLEXSYNC, "run", "--json"],
            stdout=subprocess.PIPE,
            stderr=err,
            env=environment(
                db_path,
                plex_url=fake.url,
                plex_token=TOKEN,
                poll_interval="0.05",
                read_timeout_seconds="5",
                max_in_flight="1",  # one job at a time, so the backups land half-way
            ),
            cwd=ROOT,
        )
    reader = Store.open(db_path)
    backups: list[dict[str, int]] = []
    try:
        deadline = time.monotonic() + PATIENCE
        while reader.done_count() == 0:
            assert worker.poll() is None, (tmp_path / "worker.err").read_text()
            assert time.monotonic() < deadline, "the worker did not start working"
            time.sleep(0.01)
        while reader.done_count() < ITEMS:
            assert time.monotonic() < deadline, "the worker did not finish"
            target = str(tmp_path / f"backup-{len(backups)}.db")
            taken = plexsync("db", "backup", target, "--json", db_path=db_path)
            assert taken.returncode == 0, taken.stderr
            said = json.loads(taken.stdout)
            checked = maintenance.check(target)
            assert (checked.damage, checked.problems) == ((), ()), target
            copy = Store.open(target)
            try:
                moment = {
                    "queued": copy.jobs.count(),
                    "done": copy.done_count(),
                    "dead": copy.dead_letters.count(Filters()),
                }
            finally:
                copy.close()
            assert (said["jobs"], said["done"]) == (moment["queued"], moment["done"])
            assert moment["queued"] + moment["done"] + moment["dead"] == ITEMS, moment
            backups.append(moment)
        worker.send_signal(signal.SIGTERM)
        out, _ = worker.communicate(timeout=PATIENCE)
    finally:
        reader.close()
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert worker.returncode == 0, (tmp_path / "worker.err").read_text()
    assert json.loads(out)["done"] == ITEMS
    assert "Traceback" not in (tmp_path / "worker.err").read_text()
    mid_way = [b for b in backups if 0 < b["done"] < ITEMS]
    assert len(mid_way) >= 2, backups
    assert [b["done"] for b in backups] == sorted(b["done"] for b in backups)
    assert len({edit.rating_keys for edit in fake.edits()}) == ITEMS  # every item edited
    print(f"\n{len(backups)} backups while the worker ran: done {[b['done'] for b in backups]}")


def test_a_backup_is_private_self_contained_and_replaces_only_a_backup(tmp_path: Path) -> None:
    """The copy is mode 0600 and one file (no -wal beside it); naming the queue itself or a file
    that is not SQLite is refused in one line; an earlier backup is replaced.
    """
    db_path = str(tmp_path / "queue.db")
    config = make_config(db_path=db_path)
    shell.enqueue(config, key="scene:1", metadata={"path": "/m/1.mkv"})
    target = tmp_path / "copy.db"
    first = plexsync("db", "backup", str(target), db_path=db_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith(f"backed up {db_path} to {target}: 1 jobs, 0 dead letters")
    assert first.stdout.endswith("the copy passes integrity_check\n")
    assert oct(target.stat().st_mode & 0o777) == "0o600"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("copy")) == ["copy.db"]

    shell.enqueue(config, key="scene:2", metadata={"path": "/m/2.mkv"})
    shell.api.close_store(config)
    again = plexsync("db", "backup", str(target), "--json", db_path=db_path)
    assert json.loads(again.stdout)["jobs"] == 2

    for name, message in [
        (db_path, f"{db_path} is the queue database itself: name another file"),
        (db_path + "-wal", f"{db_path}-wal is the queue database itself: name another file"),
    ]:
        refused = plexsync("db", "backup", name, db_path=db_path)
        assert (refused.returncode, refused.stderr) == (1, f"plexsync: error: {message}\n")
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database")
    refused = plexsync("db", "backup", str(notes), db_path=db_path)
    assert refused.returncode == 1
    assert refused.stderr == (
        f"plexsync: error: {notes} exists and is not a SQLite file: name another file (a backup "
        "replaces only an earlier backup)\n"
    )
    assert notes.read_text() == "not a database"


@pytest.mark.parametrize("command", [["db"], ["db", "check"], ["db", "recover"], ["db", "backup"]])
def test_every_db_command_has_help_with_an_example(tmp_path: Path, command: list[str]) -> None:
    """``--help`` exits 0 and shows an example of the command as it is typed."""
    result = plexsync(*command, "--help", db_path=str(tmp_path / "queue.db"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: plexsync {' '.join(command)}")
    assert "example" in result.stdout
    assert f"\n  plexsync {' '.join(command)}" in result.stdout
