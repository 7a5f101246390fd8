"""The ``breaker`` row and the ``outages`` table.

The breaker is one row, changed in the same transactions as the jobs it guards, so a restarted
worker resumes where the last one stopped. An outage is one row of ``outages`` from the breaker
opening to it closing, however many probes it took.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import assert_never

from core import (
    Breaker,
    BreakerClosed,
    BreakerKind,
    BreakerState,
    Closed,
    Event,
    HalfOpen,
    Open,
    Outage,
    PauseCause,
)


class BreakerRow:
    """Statements on the breaker and its outages, over one connection."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        # The row rarely changes: the value built from it is kept while it reads the same.
        self._cache: tuple[tuple[object, ...], Breaker, int | None] | None = None

    def load(self) -> Breaker:
        """The breaker as stored."""
        row = self._db.execute(
            "SELECT b.*, o.cause, o.started_at, o.probes, o.detail FROM breaker AS b"
            " LEFT JOIN outages AS o ON o.id = b.outage_id WHERE b.id = 1"
        ).fetchone()
        cached = self._cache
        if cached is not None and cached[0] == tuple(row):
            return cached[1]
        breaker = Breaker(state=_state(row), throttled_until_at=row["throttled_until_at"])
        self._cache = (tuple(row), breaker, row["outage_id"])
        return breaker

    def save(self, before: Breaker, after: Breaker, events: Sequence[Event]) -> None:
        """Store *after* in place of *before* (as just loaded), with the outage records the
        move starts, extends or ends.
        """
        if after == before:
            return
        self.load()  # the outage under way, as stored now
        assert self._cache is not None  # noqa: S101 - load() just filled it
        outage_id = self._cache[2]
        for event in events:
            if isinstance(event, BreakerClosed) and outage_id is not None:
                self._db.execute(
                    "UPDATE outages SET ended_at = ?, probes = ?, cause = ?, detail = ?"
                    " WHERE id = ?",
                    (
                        event.outage.ended_at,
                        event.outage.probes,
                        event.outage.cause.value,
                        event.outage.detail,
                        outage_id,
                    ),
                )
        if after.outage is None:
            outage_id = None
        elif before.outage is not None and before.outage.started_at == after.outage.started_at:
            self._db.execute(
                "UPDATE outages SET probes = ?, cause = ?, detail = ? WHERE id = ?",
                (after.outage.probes, after.outage.cause.value, after.outage.detail, outage_id),
            )
        else:
            outage_id = self._db.execute(
                "INSERT INTO outages (cause, started_at, probes, detail) VALUES (?, ?, ?, ?)",
                (
                    after.outage.cause.value,
                    after.outage.started_at,
                    after.outage.probes,
                    after.outage.detail,
                ),
            ).lastrowid
        self._db.execute(
            "UPDATE breaker SET kind = ?, consecutive_failures = ?, closed_at = ?,"
            " failing_jobs = ?, cooldown_seconds = ?, probe_at = ?, throttled_until_at = ?,"
            " outage_id = ? WHERE id = 1",
            (after.kind.value, *_columns(after.state), after.throttled_until_at, outage_id),
        )

    def outages(self) -> list[Outage]:
        """Every outage recorded, oldest first (the one under way has no end)."""
        rows = self._db.execute(
            "SELECT cause, started_at, probes, ended_at, detail FROM outages ORDER BY id"
        ).fetchall()
        return [
            Outage(
                cause=PauseCause(row["cause"]),
                started_at=row["started_at"],
                probes=row["probes"],
                ended_at=row["ended_at"],
                detail=row["detail"],
            )
            for row in rows
        ]


def _job_ids(text: object) -> tuple[int, ...]:
    """The stored list of job ids; anything else (a damaged column) reads as none."""
    try:
        ids = json.loads(text) if isinstance(text, str) else []
    except json.JSONDecodeError:
        return ()
    return tuple(i for i in ids if isinstance(i, int)) if isinstance(ids, list) else ()


def _state(row: sqlite3.Row) -> BreakerState:
    kind = BreakerKind(row["kind"])
    if kind is BreakerKind.CLOSED:
        return Closed(
            consecutive_failures=row["consecutive_failures"],
            closed_at=row["closed_at"],
            failing_jobs=_job_ids(row["failing_jobs"]),
        )
    outage = Outage(
        cause=PauseCause(row["cause"]),
        started_at=row["started_at"],
        probes=row["probes"],
        detail=row["detail"],
    )
    if kind is BreakerKind.OPEN:
        return Open(
            outage=outage, cooldown_seconds=row["cooldown_seconds"], probe_at=row["probe_at"]
        )
    return HalfOpen(
        outage=outage,
        cooldown_seconds=row["cooldown_seconds"],
        probe_lease_until_at=row["probe_at"],
    )


def _columns(state: BreakerState) -> tuple[int, float | None, str, float, float | None]:
    """``consecutive_failures``, ``closed_at``, ``failing_jobs``, ``cooldown_seconds`` and
    ``probe_at``, as the row keeps them.
    """
    match state:
        case Closed(consecutive_failures=failures, closed_at=closed_at, failing_jobs=jobs):
            return (failures, closed_at, json.dumps(list(jobs)), 0.0, None)
        case Open(cooldown_seconds=cooldown, probe_at=at):
            return (0, None, "[]", cooldown, at)
        case HalfOpen(cooldown_seconds=cooldown, probe_lease_until_at=at):
            return (0, None, "[]", cooldown, at)
        case _:
            assert_never(state)
