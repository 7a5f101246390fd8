"""A worker process for the crash test: the real ``run_worker`` with the real Plex gateway,
configured from ``PLEXSYNC_*`` variables, with its queue connection traced so that the test can
see every COMMIT and stop the process inside one.

``python -m tests.crash_worker trace [--hold-commit N | --hold-apply N]`` works the queue until
it is killed. Each COMMIT the worker's connection starts first writes ``commit <n> <kind>`` to
stdout, then proceeds. With ``--hold-commit``, the Nth writes ``hold <n> <kind>`` instead and
never proceeds: the process waits inside that COMMIT statement, its transaction written but not
committed, until it is killed. *kind* names what the transaction did (``claim``,
``record-done+claim``, ``reap+record-retry``, ...). With ``--hold-apply``, the Nth job handed to
the Plex gateway writes ``hold <n> <path>`` and waits before the gateway sends anything: its
claim is committed, and Plex has not heard of it.

``python -m tests.crash_worker drain [--within SECONDS]`` works until the queue is empty (exit 0)
or SECONDS have passed (exit 1), and prints the worker's report as JSON.

Nothing under ``shell/`` is changed for this: ``Store.open`` and ``PlexServerGateway.apply`` are
wrapped here, and the tracing is SQLite's own (``Connection.set_trace_callback`` runs as each
statement starts).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from typing import Final

from returns.result import Failure

from core import Outcome
from shell.payload import Metadata
from shell.plex import PlexServerGateway
from shell.settings import load_settings
from shell.store import Store
from shell.worker import run_worker
from tests.stops import drain_and_report

KINDS: Final = (
    ("INSERT INTO dead_letters", "dead-letter"),
    ("retention_swept_at", "dlq-sweep"),
    ("UPDATE jobs SET lease_expires_at", "expire-lease"),
    ("lease_expires_at <=", "reap"),
    ("name = 'done'", "record-done"),
    ("UPDATE jobs SET state = 'waiting', due_at", "record-retry"),
    ("UPDATE jobs SET state = 'waiting', lease_owner", "release"),
    ("UPDATE jobs SET state = 'running'", "claim"),
    ("UPDATE breaker", "breaker"),
)
"""A statement fragment, and what a transaction containing it does (in this order)."""


class CommitTracer:
    """The trace callback of the worker's connection: notes each transaction's statements and
    announces (or holds) its COMMIT on stdout.
    """

    def __init__(self, hold_at: int | None) -> None:
        self.hold_at = hold_at
        self.commits = 0
        self.statements: list[str] = []
        self.in_transaction = False

    def __call__(self, statement: str) -> None:
        if statement.startswith("BEGIN"):
            self.in_transaction, self.statements = True, []
        elif statement == "ROLLBACK":
            self.in_transaction = False
        elif statement == "COMMIT":
            self.in_transaction = False
            self.commits += 1
            holding = self.commits == self.hold_at
            word = "hold" if holding else "commit"
            os.write(sys.stdout.fileno(), f"{word} {self.commits} {self.kind()}\n".encode())
            if holding:
                threading.Event().wait()  # inside the COMMIT, before SQLite does any of it
        elif self.in_transaction:
            self.statements.append(statement)

    def kind(self) -> str:
        text = "\n".join(self.statements)
        return "+".join(name for fragment, name in KINDS if fragment in text) or "other"


def traced_stores(tracer: CommitTracer) -> None:
    """Make every ``Store.open`` in this process trace its connection with *tracer*."""
    opened = Store.open.__func__  # type: ignore[attr-defined]

    def open_traced(cls: type[Store], path: str, *, synchronous: str = "NORMAL") -> Store:
        store: Store = opened(cls, path, synchronous=synchronous)
        store._db.set_trace_callback(tracer)
        return store

    Store.open = classmethod(open_traced)  # type: ignore[method-assign,assignment]


def held_applies(hold_at: int) -> None:
    """Make the *hold_at*-th ``PlexServerGateway.apply`` in this process announce itself and wait
    (before any request) until the process is killed.
    """
    applying = PlexServerGateway.apply
    calls = 0

    def apply_or_hold(gateway: PlexServerGateway, metadata: Metadata) -> Outcome:
        nonlocal calls
        calls += 1
        if calls == hold_at:
            os.write(sys.stdout.fileno(), f"hold {calls} {metadata.path}\n".encode())
            threading.Event().wait()
        return applying(gateway, metadata)

    PlexServerGateway.apply = apply_or_hold  # type: ignore[method-assign,assignment]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="crash_worker")
    modes = parser.add_subparsers(dest="mode", required=True)
    trace = modes.add_parser("trace").add_mutually_exclusive_group()
    trace.add_argument("--hold-commit", type=int, default=None)
    trace.add_argument("--hold-apply", type=int, default=None)
    modes.add_parser("drain").add_argument("--within", type=float, default=30.0)
    args = parser.parse_args(argv)
    loaded = load_settings(None, os.environ)
    if isinstance(loaded, Failure):
        print(f"crash_worker: {loaded.failure()}", file=sys.stderr)
        return 2
    config = loaded.unwrap().config
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"%(asctime)s {os.getpid()} %(levelname)s %(message)s"))
    logging.getLogger("plexsync").addHandler(handler)
    logging.getLogger("plexsync").setLevel(logging.INFO)
    if args.mode == "trace":
        traced_stores(CommitTracer(args.hold_commit))
        if args.hold_apply is not None:
            held_applies(args.hold_apply)
        run_worker(config)  # until SIGKILL (or SIGTERM)
        return 0
    return drain_and_report(config, args.within)


if __name__ == "__main__":
    sys.exit(main())
