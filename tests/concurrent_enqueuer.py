"""One enqueuing process of ``tests/test_concurrency.py``: a host application writing edits.

``python -m tests.concurrent_enqueuer DB WRITER GO OUT`` waits until the file GO exists (so every
writer starts at once), enqueues its plan through the library API (``shell.enqueue`` and
``shell.enqueue_many``, in batches of one to ``BATCH`` with short pauses), then writes to OUT, as
JSON, the metadata it enqueued last for each key, how many jobs it enqueued in how many calls, and
when it started and finished.

The plan: each writer has keys of its own, edited ``VERSIONS`` times, and shares ``SHARED_KEYS``
keys with every other writer. A shared key gets ``SHARED_VERSIONS - 1`` edits unique to the
writer and then ``final_edit(key)``, the same for every writer, in a seeded random interleaving of
all keys. Whichever writer commits last for a shared key, that commit is its own last write for
the key: ``final_edit(key)``. So the newest edit of every key is known although the writers race.
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path
from typing import Any, Final

import shell
from core import PlexSyncConfig

WRITERS: Final = 3
OWN_KEYS: Final = 60
"""Keys only one writer edits, per writer."""
VERSIONS: Final = 3
"""Edits of each of its own keys by a writer."""
SHARED_KEYS: Final = 8
"""Keys every writer edits: few, so their edits often find their job in flight."""
SHARED_VERSIONS: Final = 12
"""Edits of each shared key by each writer, the last of them ``final_edit``."""
PAUSE_SECONDS: Final = 0.08
"""The longest pause between two enqueue calls of a writer."""
BATCH: Final = 3
"""The most jobs in one enqueue call."""
LIBRARY: Final = "/media"


def own_keys(writer: int) -> list[str]:
    """The keys only *writer* edits."""
    return [f"w{writer}:{n}" for n in range(OWN_KEYS)]


def shared_keys() -> list[str]:
    """The keys every writer edits."""
    return [f"shared:{n}" for n in range(SHARED_KEYS)]


def all_keys() -> list[str]:
    """Every key of the plan, one Plex item each."""
    return [key for writer in range(WRITERS) for key in own_keys(writer)] + shared_keys()


def path_of(key: str) -> str:
    """The media file of *key*'s item: one item per key, so no two keys share an item."""
    return f"{LIBRARY}/{key.replace(':', '/')}.mkv"


def edit(key: str, writer: int, number: int) -> dict[str, Any]:
    """An edit of *key* that only *writer* makes, as its *number*-th enqueue."""
    return {
        "path": path_of(key),
        "title": f"{key} by w{writer} #{number}",
        "summary": f"edit {number} of writer {writer}",
        "genres": [f"Genre {number % 4}"],
        "labels": ["plexsync", f"w{writer}"],
    }


def final_edit(key: str) -> dict[str, Any]:
    """Every writer's last edit of a shared key (an empty list makes the worker read the item
    before its PUT: two requests on the item).
    """
    return {
        "path": path_of(key),
        "title": f"{key} final",
        "summary": "the same last edit from every writer",
        "genres": ["Final"],
        "labels": [],
    }


def plan(writer: int) -> list[tuple[str, dict[str, Any]]]:
    """*writer*'s enqueues in order: each key's versions in turn, keys interleaved at random."""
    rng = random.Random(f"writer-{writer}")
    pending: dict[str, list[str | None]] = {key: [None] * VERSIONS for key in own_keys(writer)}
    for key in shared_keys():
        pending[key] = [None] * (SHARED_VERSIONS - 1) + ["final"]
    order: list[tuple[str, dict[str, Any]]] = []
    while pending:
        key = rng.choice(sorted(pending))
        kind = pending[key].pop(0)
        if not pending[key]:
            del pending[key]
        number = len(order) + 1
        order.append((key, final_edit(key) if kind == "final" else edit(key, writer, number)))
    return order


def main(argv: list[str]) -> int:
    """Enqueue *writer*'s plan once the go file exists; write its last edit per key."""
    db_path, writer_text, go, out = argv
    writer = int(writer_text)
    config = PlexSyncConfig(plex_url="http://127.0.0.1:9", plex_token="unused", db_path=db_path)
    deadline = time.monotonic() + 60
    while not Path(go).exists():
        if time.monotonic() > deadline:
            print("the go file never appeared", file=sys.stderr)
            return 1
        time.sleep(0.01)
    rng = random.Random(f"pace-{writer}")
    started_at = time.time()
    order = plan(writer)
    last: dict[str, dict[str, Any]] = {}
    calls = position = 0
    while position < len(order):
        batch = order[position : position + rng.randint(1, BATCH)]
        position += len(batch)
        if len(batch) == 1:
            [(key, metadata)] = batch
            shell.enqueue(config, key=key, metadata=metadata)
        else:
            shell.enqueue_many(config, batch)
        calls += 1
        last.update(batch)
        time.sleep(rng.uniform(0, PAUSE_SECONDS))
    record = {
        "enqueued": len(order),
        "calls": calls,
        "started_at": started_at,
        "finished_at": time.time(),
        "last": last,
    }
    Path(out).write_text(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
