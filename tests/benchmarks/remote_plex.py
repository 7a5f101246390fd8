"""The fake Plex in a process of its own, for the concurrency benchmarks: a real Plex does not
share the worker's interpreter lock, so neither may the fake that stands for it.

The parent steers it over a pipe: its capacity, an outage, and what it saw.
"""

from __future__ import annotations

import multiprocessing
import threading
from multiprocessing.connection import Connection
from typing import Any, Self

from tests.fake_plex import FakePlex
from tests.fake_plex.capacity import Served

TOKEN = "bench-token"


def _serve(connection: Connection, items: int) -> None:
    with FakePlex(TOKEN) as fake:
        fake.add_section("Movies", locations=["/media"])
        for n in range(items):
            fake.add_item(1, f"/media/m{n}.mkv", title=f"raw {n}")
        connection.send(fake.url)
        while True:
            command, *args = connection.recv()
            answer: Any = None
            if command == "limit":
                fake.capacity.limit(args[0], args[1], refuse=args[2])
            elif command == "edits":
                answer = len(fake.edits())
            elif command == "served":
                answer = [(s.arrived_at, s.finished_at, s.refused) for s in fake.capacity.served()]
            elif command == "down":
                fake.go_down()
            elif command == "up":
                fake.come_up()
            elif command == "stop":
                connection.send(None)
                return
            connection.send(answer)


class RemotePlex:
    """A `FakePlex` with one movie section of *items* items (/media/m{n}.mkv, ratingKey
    1000 + n), in a child process. Use it as a context manager.
    """

    def __init__(self, items: int) -> None:
        self._connection, child = multiprocessing.get_context("spawn").Pipe()
        self._process = multiprocessing.get_context("spawn").Process(
            target=_serve, args=(child, items), daemon=True
        )
        self._process.start()
        self._lock = threading.Lock()
        self.url: str = self._connection.recv()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self._ask("stop")
        self._process.join(timeout=10)

    def _ask(self, *command: object) -> Any:
        with self._lock:
            self._connection.send(command)
            return self._connection.recv()

    def limit(self, serving: int, seconds: float, *, refuse: bool = False) -> None:
        """See `Capacity.limit`."""
        self._ask("limit", serving, seconds, refuse)

    def edits(self) -> int:
        """Edits applied so far."""
        return int(self._ask("edits"))

    def served(self) -> list[Served]:
        """See `Capacity.served`."""
        return [Served(*row) for row in self._ask("served")]

    def go_down(self) -> None:
        """Refuse connections, cut open ones."""
        self._ask("down")

    def come_up(self) -> None:
        """Listen again."""
        self._ask("up")
