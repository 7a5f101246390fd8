"""The queue's persistence: every SQL statement plexsync runs lives in this package.

* ``store.Store``: a connection, its tables and the unit of work (``transaction()``);
* ``jobs``, ``dead_letters``, ``breaker``, ``scans``, ``late_edits``: the statements of each
  table; ``images`` (what was uploaded to which Plex item) and ``notes`` (a host's own notes)
  likewise;
* ``records``: rows to values and back (``StoredJob``, attempt histories);
* ``schema``: the schema and its migrations; ``database``: opening the file, locks, errors.

Another store (in memory, another database) would implement the methods the worker, the Plex
gateway and the commands call on ``Store`` and its tables; nothing outside this package sees SQL.
"""

from __future__ import annotations

from shell.store.database import StoreError
from shell.store.dead_letters import DeadLetterEntry, Filters
from shell.store.jobs import Counts
from shell.store.records import HISTORY_LIMIT, JOB_MOVES, JobRow, StoredJob, parse_history
from shell.store.schema import SCHEMA_VERSION
from shell.store.store import Store

__all__ = [
    "HISTORY_LIMIT",
    "JOB_MOVES",
    "SCHEMA_VERSION",
    "Counts",
    "DeadLetterEntry",
    "Filters",
    "JobRow",
    "Store",
    "StoreError",
    "StoredJob",
    "parse_history",
]
