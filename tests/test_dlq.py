"""Re-driving the DLQ: a snapshot, idempotent, never over a newer edit, history kept."""

from __future__ import annotations

import json
from pathlib import Path

import shell
from shell import FakeClock, dlq
from shell.store import Store
from tests.builders import db_config, metadata
from tests.test_cli import Refuses


def fill(config: object, clock: FakeClock, count: int) -> None:
    for n in range(count):
        shell.enqueue(config, key=f"k{n}", metadata=metadata(n), now=clock.now())  # type: ignore[arg-type]
    shell.run_worker(config, clock=clock, plex=Refuses(), until_idle=True)  # type: ignore[arg-type]


def test_redrive_acts_on_its_snapshot(tmp_path: Path) -> None:
    """Jobs that fail again while a re-drive runs land in new entries it does not pick up."""
    config = db_config(tmp_path)
    clock = FakeClock()
    fill(config, clock, 3)
    store = Store.open(config.db_path)
    chosen = dlq.snapshot(store)
    assert chosen == [1, 2, 3]

    def a_worker_runs_meanwhile(done: int, total: int) -> None:
        del done, total
        shell.run_worker(config, clock=clock, plex=Refuses(), until_idle=True)

    report = dlq.redrive(store, chosen, now=clock.now(), on_progress=a_worker_runs_meanwhile)
    assert report.redriven == (1, 2, 3)
    assert [e.id for e in dlq.list_entries(store)] == [6, 5, 4]


def test_a_redriven_job_keeps_its_history_and_gets_a_fresh_budget(tmp_path: Path) -> None:
    """The new job starts with zero attempts and carries the old history plus the re-drive."""
    config = db_config(tmp_path)
    clock = FakeClock()
    fill(config, clock, 1)
    store = Store.open(config.db_path)
    dlq.redrive(store, [1], now=clock.now())
    [row] = store.jobs.rows()
    assert (row.attempts, row.transient_failures, row.due_at) == (0, 0, clock.now())
    history = row.history
    assert [h.get("decision") for h in history] == ["dead-letter", "re-driven"]
    assert history[-1]["from"] == 1


def test_an_entry_written_while_a_newer_edit_waits_is_superseded_at_once(tmp_path: Path) -> None:
    """A job that dead-letters while a newer edit of its key waits never gets re-driven over it."""
    config = db_config(tmp_path)
    clock = FakeClock()

    class EditArrivesMidCall(Refuses):
        def apply(self, md):  # type: ignore[no-untyped-def]
            if md.get("title") == "Item 0":
                shell.enqueue(
                    config, key="k0", metadata=metadata(0, title="newer"), now=clock.now()
                )
            return super().apply(md)

    shell.enqueue(config, key="k0", metadata=metadata(0), now=clock.now())
    shell.run_worker(config, clock=clock, plex=EditArrivesMidCall(), until_idle=True)
    store = Store.open(config.db_path)
    [old, newer] = sorted(dlq.list_entries(store), key=lambda e: e.id)
    assert old.superseded_at is not None
    assert newer.superseded_at is None
    report = dlq.redrive(store, dlq.snapshot(store), now=clock.now())
    assert report.redriven == (newer.id,)
    [row] = store.jobs.rows()
    assert isinstance(row.payload, str)
    assert json.loads(row.payload)["title"] == "newer"


def test_purge_by_age(tmp_path: Path) -> None:
    """Only entries older than the cut-off go."""
    config = db_config(tmp_path)
    clock = FakeClock()
    fill(config, clock, 2)
    store = Store.open(config.db_path)
    assert dlq.purge(store, older_than_at=clock.now() - 60) == 0
    assert dlq.purge(store, older_than_at=clock.now() + 60, dry_run=True) == 2
    assert dlq.purge(store, older_than_at=clock.now() + 60) == 2
