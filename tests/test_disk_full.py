"""A full disk, on a real small filesystem (a size-limited tmpfs mounted for each test).

The queue lives on it; the test fills the rest with a file, as another program filling the disk
would, and frees it again. Each test checks what the one who wrote learns (one line naming the
file), that nothing stored before is lost, and that work resumes once there is room.
"""

from __future__ import annotations

import json
import logging
import re

import pytest

import shell
from core import ErrorClass, Event, Failed, Health, JobSucceeded, Outcome, PlexSyncConfig, Succeeded
from shell import FakeClock
from shell.api import close_store, open_store
from shell.payload import Metadata
from shell.store import Filters, Store
from shell.worker import storage
from tests.builders import T0, make_config, metadata
from tests.cli_process import plexsync
from tests.small_disk import SmallDisk

DAY = 86_400.0


def disk_full_line(path: str) -> str:
    return rf"{re.escape(path)}: disk full: nothing was written \(free space on the disk"


class TakesEdits:
    """A healthy Plex that takes every edit; with *fills*, the disk fills as it takes edit
    number *at* (so the worker's next commit meets a full disk).
    """

    def __init__(self, fills: SmallDisk | None = None, at: int = 0) -> None:
        self.fills = fills
        self.at = at
        self.applied: list[str] = []

    def apply(self, metadata: Metadata) -> Outcome:
        self.applied.append(metadata.path)
        if self.fills is not None and len(self.applied) == self.at:
            self.fills.fill()
        return Succeeded()

    def health(self) -> Health:
        return Health.UP


class Refuses(TakesEdits):
    """A healthy Plex that refuses every edit (to fill the DLQ)."""

    def apply(self, metadata: Metadata) -> Outcome:
        return Failed(ErrorClass.PERMANENT, f"(400) bad request for {metadata.path}")


class FreesSpace(FakeClock):
    """The fake clock, which frees the disk during the worker's *waits*-th wait for space and
    notes what the queue held meanwhile (read on another connection).
    """

    def __init__(self, disk: SmallDisk, config: PlexSyncConfig, waits: int) -> None:
        super().__init__(start_at=T0)
        self.disk = disk
        self.config = config
        self.waits = waits
        self.full_waits = 0
        self.seen: list[tuple[int, int]] = []
        """(jobs, dead letters) at each wait for space."""

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        if seconds != storage.FULL_RETRY_SECONDS or not self.disk.filler.exists():
            return
        self.full_waits += 1
        reader = Store.open(self.config.db_path)
        try:
            self.seen.append((reader.jobs.count(), reader.dead_letters.count(Filters())))
        finally:
            reader.close()
        if self.full_waits == self.waits:
            self.disk.free()


def test_enqueue_on_a_full_disk_stores_nothing_and_says_so(small_disk: SmallDisk) -> None:
    """The caller gets ``DiskFullError``, one line naming the file and "disk full"; the job, or
    the whole batch, is not stored, the jobs stored before are intact, and enqueueing works
    again once there is space.
    """
    config = make_config(db_path=small_disk.path("queue.db"))
    try:
        before = shell.enqueue_many(config, [(f"scene:{n}", metadata(n)) for n in range(20)])
        small_disk.fill()
        with pytest.raises(shell.DiskFullError, match=disk_full_line(config.db_path)) as one:
            shell.enqueue(config, key="scene:new", metadata=metadata(100))
        assert "\n" not in str(one.value)
        with pytest.raises(shell.DiskFullError, match=disk_full_line(config.db_path)):
            shell.enqueue(config, key="scene:3", metadata=metadata(3, title="A newer edit"))
        batch = [(f"scene:batch-{n}", metadata(200 + n)) for n in range(50)]
        with pytest.raises(shell.DiskFullError, match=disk_full_line(config.db_path)):
            shell.enqueue_many(config, batch)

        store = open_store(config)
        rows = store.jobs.rows()
        assert [row.id for row in rows] == before
        assert [row.key for row in rows] == [f"scene:{n}" for n in range(20)]
        assert json.loads(rows[3].payload)["title"] == "Item 3"  # the edit was not stored
        assert store.damage() == []

        small_disk.free()
        after = shell.enqueue_many(config, batch)
        assert len(after) == 50
        assert store.jobs.count() == 70
        assert store.damage() == []
    finally:
        close_store(config)


def test_the_command_line_reports_a_full_disk_in_one_line(small_disk: SmallDisk) -> None:
    """``plexsync enqueue`` in a new process on a full disk (which cannot even open the queue's
    shared-memory file) exits 1 with one ``plexsync: error:`` line saying "disk full".
    """
    config = make_config(db_path=small_disk.path("queue.db"))
    shell.enqueue(config, key="scene:1", metadata=metadata(1))
    close_store(config)
    small_disk.fill()
    result = plexsync("enqueue", "--key", "scene:2", "--path", "/m/2.mkv", db_path=config.db_path)
    assert result.returncode == 1, result
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert re.fullmatch(
        rf"plexsync: error: cannot use the queue database {disk_full_line(config.db_path)}.*",
        line,
    ), line
    small_disk.free()
    store = Store.open(config.db_path)
    try:
        assert [row.key for row in store.jobs.rows()] == ["scene:1"]
    finally:
        store.close()


def test_the_worker_waits_out_a_full_disk_and_resumes(
    small_disk: SmallDisk, caplog: pytest.LogCaptureFixture
) -> None:
    """A commit that meets a full disk writes nothing and is not taken as written: the worker
    holds all work, says so at once and every 5 minutes, tries again every 30 s, gives back its
    jobs uncharged and works them again once there is room. Every job ends done once, counted
    once; nothing is dead-lettered or lost; the file is sound.
    """
    config = make_config(db_path=small_disk.path("queue.db"), poll_interval=1.0)
    shell.enqueue_many(config, [(f"scene:{n}", metadata(n)) for n in range(10)], now=T0)
    close_store(config)
    plex = TakesEdits(fills=small_disk, at=3)
    clock = FreesSpace(small_disk, config, waits=12)  # six minutes
    events: list[Event] = []
    with caplog.at_level(logging.INFO, logger="plexsync"):
        report = shell.run_worker(
            config, clock=clock, plex=plex, on_event=events.append, until_idle=True
        )

    assert clock.full_waits == 12
    assert clock.seen == [(10, 0)] * 12  # every job still queued (held) while the disk was full
    assert report.done == 10
    assert sum(isinstance(event, JobSucceeded) for event in events) == 10
    assert report.dead_lettered_total == 0
    assert report.lost == 0
    assert sorted(set(plex.applied)) == sorted(metadata(n)["path"] for n in range(10))
    assert len(plex.applied) > 10  # the edits whose results were not written were redone
    store = Store.open(config.db_path)
    try:
        assert store.jobs.count() == 0
        assert store.done_count() == 10
        assert store.dead_letters.count(Filters()) == 0
        assert store.damage() == []
        assert store.problems() == []
    finally:
        store.close()

    messages = [r.getMessage() for r in caplog.records if r.name == "plexsync.worker"]
    full = [m for m in messages if "disk full" in m]
    assert len(full) == 1, messages
    assert re.match(disk_full_line(config.db_path), full[0])
    assert "holding all work (no job goes to Plex) and trying again every 30s" in full[0]
    assert any("gave back 10 jobs in hand, uncharged" in m for m in messages), messages
    still = [m for m in messages if "still full" in m]
    assert still == [
        f"{config.db_path}: the disk is still full after 5m; trying again every 30s"
    ], messages
    assert f"{config.db_path} can be written again after 6m: resuming work" in messages


def test_a_retention_sweep_on_a_full_disk_waits_and_keeps_every_dead_letter(
    small_disk: SmallDisk, caplog: pytest.LogCaptureFixture
) -> None:
    """Deleting old dead letters is a write too: on a full disk it deletes nothing, the worker
    waits, and the sweep runs once there is room.
    """
    config = make_config(db_path=small_disk.path("queue.db"), dlq_retention_days=1.0)
    shell.enqueue_many(config, [(f"scene:{n}", metadata(n)) for n in range(3)], now=T0)
    close_store(config)
    shell.run_worker(config, clock=FakeClock(start_at=T0), plex=Refuses(), until_idle=True)
    # A host holds the queue open, as on a running system (a process opening it anew on a full
    # disk cannot: the command-line test shows what it says).
    host = Store.open(config.db_path)
    try:
        small_disk.fill()
        clock = FreesSpace(small_disk, config, waits=2)
        clock.advance(2 * DAY)
        with caplog.at_level(logging.INFO, logger="plexsync"):
            shell.run_worker(config, clock=clock, plex=TakesEdits(), until_idle=True)
        assert clock.seen == [(0, 3), (0, 3)]
        assert host.dead_letters.count(Filters()) == 0
        assert host.damage() == []
    finally:
        host.close()
    messages = [r.getMessage() for r in caplog.records if r.name == "plexsync.worker"]
    assert sum("disk full" in m for m in messages) == 1, messages
    assert "removed 3 dead letters older than 1 days" in messages


def test_a_worker_stopped_while_the_disk_is_full_stops_cleanly(
    small_disk: SmallDisk, caplog: pytest.LogCaptureFixture
) -> None:
    """Asked to stop during the wait, the worker returns its report; the jobs it could not give
    back are named in a warning and taken back by the next worker once there is room, uncharged.
    """
    config = make_config(db_path=small_disk.path("queue.db"))
    shell.enqueue_many(config, [(f"scene:{n}", metadata(n)) for n in range(4)], now=T0)
    close_store(config)

    class StopsWhenFull:
        def is_set(self) -> bool:
            return small_disk.filler.exists() and clock.now() > T0 + storage.FULL_RETRY_SECONDS

    clock = FakeClock(start_at=T0)
    with caplog.at_level(logging.INFO, logger="plexsync"):
        report = shell.run_worker(
            config, clock=clock, plex=TakesEdits(fills=small_disk, at=2), stop=StopsWhenFull()
        )
    assert report.done == 0
    messages = [r.getMessage() for r in caplog.records if r.name == "plexsync.worker"]
    assert any("4 jobs in hand stay claimed until the lease runs out" in m for m in messages)

    small_disk.free()
    later = FakeClock(start_at=T0 + config.job_lease_seconds + 1)
    report = shell.run_worker(config, clock=later, plex=TakesEdits(), until_idle=True)
    assert report.done == 4
    store = Store.open(config.db_path)
    try:
        assert store.dead_letters.count(Filters()) == 0
        assert store.jobs.count() == 0
    finally:
        store.close()
