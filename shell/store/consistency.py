"""What must hold across the tables at every instant, checked in one consistent read.

A test reads it while several processes race; an operator will read it when a file is suspect.
Each problem is one line saying which rule a row breaks.
"""

from __future__ import annotations

import sqlite3

from shell.store.records import RUNNING


def problems(db: sqlite3.Connection) -> list[str]:
    """The rules the database breaks now (none, normally), read in one snapshot."""
    found: list[str] = []
    db.execute("BEGIN")  # a read transaction: every SELECT below sees the same snapshot
    try:
        breaker = db.execute("SELECT kind, outage_id FROM breaker WHERE id = 1").fetchone()
        open_outages = [
            int(row[0])
            for row in db.execute("SELECT id FROM outages WHERE ended_at IS NULL ORDER BY id")
        ]
        bad_outages = db.execute(
            "SELECT count(*) FROM outages WHERE ended_at < started_at OR probes < 0"
        ).fetchone()[0]
        doubly_running = [
            str(row[0])
            for row in db.execute(
                f"SELECT key FROM jobs WHERE state = '{RUNNING}' GROUP BY key HAVING count(*) > 1"
            )
        ]
    finally:
        db.execute("COMMIT")
    if len(open_outages) > 1:
        found.append(f"{len(open_outages)} outages are open at once: {open_outages}")
    if bad_outages:
        found.append(f"{bad_outages} outage records end before they start or count < 0 probes")
    if doubly_running:
        found.append(f"keys running twice at once: {doubly_running}")
    if breaker is None:
        found.append("the breaker row is missing")
    elif breaker["kind"] == "closed" and (breaker["outage_id"] is not None or open_outages):
        found.append("the breaker is closed but an outage is open")
    elif breaker["kind"] != "closed" and breaker["outage_id"] not in open_outages[-1:]:
        found.append(
            f"the {breaker['kind']} breaker names outage {breaker['outage_id']}, "
            f"not the open one ({open_outages})"
        )
    return found
