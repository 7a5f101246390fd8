"""A queue file damaged on disk: found as a worker starts, named with what to do, checked with
``plexsync db check`` and salvaged into a new file with ``plexsync db recover``.

The damage is done to real files the way disks and crashes do it: a page overwritten with
garbage in the middle of the file (a torn write), and a WAL that lost its tail after a
checkpoint had already copied it into the file (the machine died, the file system kept only part
of the WAL). These tests talk SQL only to produce that second state.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import random
import re
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

import shell
from core import Health, Outcome, PlexSyncConfig, Succeeded
from shell import FakeClock
from shell.api import close_store
from shell.payload import Metadata
from shell.store import DamagedError, Filters, Store, maintenance
from shell.store.database import RECOVER_ADVICE
from shell.store.maintenance import Stretch
from shell.worker import decisions
from shell.worker.decisions import Attempted
from shell.worker.presence import announce
from tests import cli_process
from tests.builders import make_config, metadata

PAGE = 4096
ITEMS = 600
DAY = 86_400.0


class Died(BaseException):
    """A worker's sudden end, in this process: nothing after it runs, as after a SIGKILL."""


class TakesEdits:
    """A healthy Plex that takes every edit; with *dies_at*, the worker dies as it sends that
    edit.
    """

    def __init__(self, dies_at: int = 0) -> None:
        self.dies_at = dies_at
        self.applied: list[str] = []

    def apply(self, metadata: Metadata) -> Outcome:
        self.applied.append(metadata.path)
        if len(self.applied) == self.dies_at:
            raise Died
        return Succeeded()

    def health(self) -> Health:
        return Health.UP


def queue_of(tmp_path: Path, items: int = ITEMS) -> PlexSyncConfig:
    """A queue of *items* jobs (ids 1 to *items*, "Item 0" ...), written to the file and closed."""
    config = make_config(db_path=str(tmp_path / "queue.db"))
    store = Store.open(config.db_path)
    try:
        jobs = [(f"scene:{n}", json.dumps(metadata(n, summary="s" * 300))) for n in range(items)]
        store.enqueue_many(jobs, now=0.0)
    finally:
        store.close()
    return config


def tear_page(path: str, marker: bytes) -> int:
    """Overwrite the page holding *marker* with garbage, as a torn write leaves it; its number."""
    data = bytearray(Path(path).read_bytes())
    offset = data.find(marker)
    assert offset >= 0, marker
    page = offset // PAGE
    data[page * PAGE : (page + 1) * PAGE] = random.Random(page).randbytes(PAGE)
    Path(path).write_bytes(bytes(data))
    return page


def digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def plexsync(*args: str, db_path: str) -> subprocess.CompletedProcess[str]:
    """``plexsync *args``, with Plex settings that lead nowhere (none of these may call Plex)."""
    return cli_process.plexsync(
        *args, db_path=db_path, plex_url="http://127.0.0.1:9", plex_token="unused-token"
    )


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one error line a failed command ends with (and no traceback)."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("plexsync: error: ")
    return last


@pytest.fixture
def torn(tmp_path: Path) -> PlexSyncConfig:
    """A queue of ``ITEMS`` jobs, one page of which (the one holding "Item 300") is garbage."""
    config = queue_of(tmp_path)
    tear_page(config.db_path, b'"title": "Item 300"')
    return config


def test_a_worker_checks_the_file_at_start_after_an_unclean_stop_or_a_day(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``quick_check`` runs when a worker starts on a file never checked, after a worker died,
    or a day after the last check; a start after a clean stop the same day skips it.
    """
    config = queue_of(tmp_path, items=6)
    clock = FakeClock()

    def start(plex: TakesEdits | None = None) -> list[str]:
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="plexsync"):
            shell.run_worker(config, clock=clock, plex=plex or TakesEdits(), until_idle=True)
        return [r.getMessage() for r in caplog.records if "quick_check" in r.getMessage()]

    [first] = start()
    assert re.fullmatch(
        rf"{re.escape(config.db_path)} passed quick_check in \d+\.\d\ds \(not checked in the "
        r"last day\)",
        first,
    )
    assert start() == []  # a clean stop, the same day

    shell.enqueue_many(
        config, [(f"scene:again-{n}", metadata(n)) for n in range(3)], now=clock.now()
    )
    close_store(config)
    with pytest.raises(Died):
        start(TakesEdits(dies_at=2))
    [after_death] = start()
    assert after_death.endswith("(the last worker did not stop cleanly)")
    assert start() == []

    clock.advance(DAY + 1)
    [a_day_later] = start()
    assert a_day_later.endswith("(not checked in the last day)")


def test_a_torn_page_stops_the_worker_at_start_saying_what_to_do(
    torn: PlexSyncConfig,
) -> None:
    """``plexsync run`` on a file with a garbage page exits 1 before any work, with one line
    that names the file, what ``quick_check`` found and ``plexsync db recover``.
    """
    result = plexsync("run", "--until-idle", db_path=torn.db_path)
    line = error_line(result)
    assert line.startswith(f"plexsync: error: {torn.db_path}: the file is damaged (quick_check: ")
    assert line.endswith(f"; {RECOVER_ADVICE}")
    assert "started" not in result.stderr  # it stopped before working


def test_a_read_that_meets_damage_names_the_file_and_what_to_do(torn: PlexSyncConfig) -> None:
    """Damage SQLite meets in use (a worker not checking at start) is a ``DamagedError`` in one
    line that names the file and ``plexsync db recover``.
    """
    store = Store.open(torn.db_path)
    try:
        with pytest.raises(DamagedError) as raised, store.reading():
            store.jobs.rows()
    finally:
        store.close()
    assert str(raised.value) == (
        f"{torn.db_path}: the file is damaged (database disk image is malformed); {RECOVER_ADVICE}"
    )


def test_db_check_finds_a_torn_page_and_recover_salvages_every_other_row(
    torn: PlexSyncConfig,
) -> None:
    """``db check`` exits 1 naming the damage; ``db recover`` puts a sound file in its place with
    every row it could read, keeps the damaged one untouched beside it, says which ids were
    lost, and the queue works on (ids are not handed out again).
    """
    path = torn.db_path
    found = plexsync("db", "check", db_path=path)
    assert error_line(found) == f"plexsync: error: {path} is damaged: {RECOVER_ADVICE}"
    assert re.match(rf"{re.escape(path)}: integrity_check found \d+ problems?:\n  ", found.stdout)
    checked = json.loads(plexsync("db", "check", "--quick", "--json", db_path=path).stdout)
    assert (checked["ok"], checked["check"]) == (False, "quick_check")
    assert checked["damage"]

    before = digest(path)
    recovered = plexsync("db", "recover", "--json", db_path=path)
    assert recovered.returncode == 0, recovered.stderr
    report = json.loads(recovered.stdout)
    [jobs] = [t for t in report["tables"] if t["table"] == "jobs"]
    [lost] = jobs["unreadable"]
    assert lost["first"] <= 301 <= lost["last"]  # "Item 300" is job 301
    assert jobs["lost_at_most"] == lost["last"] - lost["first"] + 1
    assert jobs["salvaged"] + jobs["lost_at_most"] == ITEMS
    assert jobs["refused"] == 0
    assert (report["damage"], report["problems"]) == ([], [])
    assert re.fullmatch(rf"{re.escape(path)}\.damaged-\d{{8}}T\d{{6}}Z", report["kept_as"])
    assert digest(report["kept_as"]) == before
    assert sorted(os.listdir(Path(path).parent)) == sorted(
        ["queue.db", Path(report["kept_as"]).name]
    )

    sound = plexsync("db", "check", db_path=path)
    assert sound.returncode == 0, sound.stderr
    assert sound.stdout.startswith(f"{path}: ok (integrity_check in ")
    assert f"{jobs['salvaged']} jobs, 0 dead letters)" in sound.stdout

    store = Store.open(path)
    try:
        ids = [row.id for row in store.jobs.rows()]
        assert ids == [n for n in range(1, ITEMS + 1) if not lost["first"] <= n <= lost["last"]]
    finally:
        store.close()
    try:
        [new_id] = shell.enqueue_many(torn, [("scene:new", metadata(1000))])
    finally:
        close_store(torn)
    assert new_id == ITEMS + 1
    report_of_run = shell.run_worker(torn, clock=FakeClock(), plex=TakesEdits(), until_idle=True)
    assert report_of_run.done == jobs["salvaged"] + 1


def test_db_recover_text_and_a_sound_file(torn: PlexSyncConfig, tmp_path: Path) -> None:
    """The text report says how many rows were salvaged and lost and where the old file went; a
    sound file has nothing to recover and is left alone.
    """
    recovered = plexsync("db", "recover", db_path=torn.db_path)
    assert recovered.returncode == 0, recovered.stderr
    lines = recovered.stdout.splitlines()
    assert re.fullmatch(
        rf"recovered {re.escape(torn.db_path)}: \d+ jobs and 0 dead letters salvaged, up to \d+ "
        "rows lost",
        lines[0],
    )
    assert lines[1].startswith(f"the damaged file is kept as {torn.db_path}.damaged-")
    assert lines[2].split() == ["TABLE", "SALVAGED", "LOST", "UNREADABLE", "IDS"]
    assert any(re.fullmatch(r"jobs +\d+ +<= \d+ +\d+-\d+", line) for line in lines[3:]), lines
    assert lines[-1] == "jobs lost are edits no longer queued: send those items again from the host"

    again = plexsync("db", "recover", db_path=torn.db_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout == f"nothing to recover: {torn.db_path} passes integrity_check\n"
    assert len([name for name in os.listdir(tmp_path) if ".damaged-" in name]) == 1


def test_a_file_whose_first_page_is_garbage_cannot_be_salvaged_and_says_so(
    tmp_path: Path,
) -> None:
    """With its first page (the header and the schema) gone, nothing can be read: ``db check``
    and ``db recover`` say so in one line each, and the file is left as it is.
    """
    config = queue_of(tmp_path)
    tear_page(config.db_path, b"SQLite format 3")
    before = digest(config.db_path)
    checked = plexsync("db", "check", db_path=config.db_path)
    assert error_line(checked) == (
        f"plexsync: error: {config.db_path}: the file is not a SQLite database"
    )
    recovered = plexsync("db", "recover", db_path=config.db_path)
    assert error_line(recovered) == (
        f"plexsync: error: cannot salvage anything from {config.db_path}: SQLite cannot read "
        "even its schema (file is not a database); the sqlite3 shell's .recover command, where "
        "installed, may still get rows out"
    )
    assert digest(config.db_path) == before


def test_a_row_whose_values_the_schema_refuses_is_counted_and_not_copied(
    tmp_path: Path,
) -> None:
    """A garbled value (a job's state no longer one the schema allows) reads, but the new file
    refuses it: that row is counted as lost, every other row is salvaged, and the file that
    results is sound. ``quick_check`` misses this kind of damage; ``integrity_check`` finds it.
    """
    config = queue_of(tmp_path)
    data = bytearray(Path(config.db_path).read_bytes())
    state = data.find(b"waiting", data.find(b'"title": "Item 300"'))
    data[state : state + 7] = b"waitinX"
    Path(config.db_path).write_bytes(bytes(data))
    assert maintenance.check(config.db_path, quick=True).damage == ()
    assert maintenance.check(config.db_path).damage != ()

    report = maintenance.recover(config.db_path, now=time.time())
    [jobs] = [t for t in report.tables if t.table == "jobs"]
    assert (jobs.salvaged, jobs.refused, jobs.unreadable) == (ITEMS - 1, 1, ())
    assert jobs.lost_at_most == 1
    assert (report.damage, report.problems) == ((), ())


def test_a_torn_last_page_is_lost_up_to_the_last_id_handed_out(tmp_path: Path) -> None:
    """A stretch that runs to the end of a table ends at the last id the table handed out; no
    id in it is handed out again.
    """
    config = queue_of(tmp_path)
    tear_page(config.db_path, f'"title": "Item {ITEMS - 1}"'.encode())
    report = maintenance.recover(config.db_path, now=time.time())
    [jobs] = [t for t in report.tables if t.table == "jobs"]
    [stretch] = jobs.unreadable
    assert stretch.last == ITEMS
    assert jobs.salvaged == stretch.first - 1
    store = Store.open(config.db_path)
    try:
        assert store.enqueue("scene:new", json.dumps(metadata(1000)), now=0.0) == ITEMS + 1
    finally:
        store.close()


def test_a_table_whose_root_page_is_lost_counts_its_loss_from_the_first_id(
    tmp_path: Path,
) -> None:
    """With a table's root page unreadable, every row of it is lost, and the count says so
    plainly: ids 1 to the last handed out, not from SQLite's least possible rowid.
    """
    config = queue_of(tmp_path, items=5)
    with contextlib.closing(sqlite3.connect(config.db_path)) as db:
        [(root,)] = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'jobs'")
    data = bytearray(Path(config.db_path).read_bytes())
    data[(root - 1) * PAGE : root * PAGE] = bytes(PAGE)
    Path(config.db_path).write_bytes(bytes(data))
    report = maintenance.recover(config.db_path, now=time.time())
    [jobs] = [t for t in report.tables if t.table == "jobs"]
    assert (jobs.salvaged, jobs.unreadable, jobs.lost_at_most) == (
        0,
        (Stretch(first=1, last=5),),
        5,
    )


def test_db_recover_refuses_while_a_worker_runs(torn: PlexSyncConfig) -> None:
    """Swapping the file under a running worker would lose its writes: ``db recover`` refuses."""
    with announce(torn.db_path):
        result = plexsync("db", "recover", db_path=torn.db_path)
    assert error_line(result) == (
        f"plexsync: error: a worker is running on {torn.db_path}: stop it (and the host) first"
    )


def test_a_truncated_wal_is_found_at_start_and_recovered(tmp_path: Path) -> None:
    """A worker died; a checkpoint had copied the WAL into the file, and the disk then kept only
    part of the WAL. The next worker's start finds the damage; ``db recover`` salvages a sound
    file and keeps the damaged one untouched.
    """
    config = queue_of(tmp_path, items=2000)
    host = Store.open(config.db_path)  # the host keeps the queue open: the WAL is not folded away
    try:
        host._db.execute("PRAGMA wal_autocheckpoint = 0")
        host.enqueue_many(
            [(f"scene:late-{n}", json.dumps(metadata(n, summary="s" * 300))) for n in range(300)],
            now=1.0,
        )
        wal = config.db_path + "-wal"
        kept_wal = os.path.getsize(wal)  # the WAL up to the host's last commit
        worker = Store.open(config.db_path)  # a worker starts, finishes 1200 jobs, then dies
        try:
            worker._db.execute("PRAGMA wal_autocheckpoint = 0")
            with worker.transaction() as tx:  # as a worker's start marks the file
                tx.runs.started(alone=True, checked_at=time.time())
            for _ in range(1200 // 60):
                claimed = decisions.claim(
                    worker, now=2.0, owner="host:1:dead:w", config=config, limit=60
                )
                attempts = [Attempted(stored=job, outcome=Succeeded(), at=2.0) for job in claimed]
                decisions.record(worker, attempts, config=config)
        finally:
            worker.close()
        host._db.execute("PRAGMA wal_checkpoint(PASSIVE)")  # every frame copied into the file
        crashed = tmp_path / "after-the-crash"
        crashed.mkdir()
        shutil.copy(config.db_path, crashed / "queue.db")
        shutil.copy(wal, crashed / "queue.db-wal")
    finally:
        host.close()
    path = str(crashed / "queue.db")
    os.truncate(path + "-wal", kept_wal)

    damaged = (digest(path), digest(path + "-wal"))
    started = plexsync("run", "--until-idle", db_path=path)
    assert error_line(started).startswith(
        f"plexsync: error: {path}: the file is damaged (quick_check: "
    )
    assert (digest(path), digest(path + "-wal")) == damaged  # the check only read
    recovered = plexsync("db", "recover", "--json", db_path=path)
    assert recovered.returncode == 0, recovered.stderr
    report: dict[str, Any] = json.loads(recovered.stdout)
    assert (report["damage"], report["problems"]) == ([], [])
    kept = report["kept_as"]
    assert (digest(kept), digest(kept + "-wal")) == damaged  # kept as it was
    [jobs] = [t for t in report["tables"] if t["table"] == "jobs"]
    assert jobs["salvaged"] > 0
    assert plexsync("db", "check", db_path=path).returncode == 0
    store = Store.open(path)
    try:
        assert store.jobs.count() == jobs["salvaged"]
        assert store.dead_letters.count(Filters()) == 0
    finally:
        store.close()
