"""A worker process whose wall clock jumps when the test says so: the real ``run_worker`` with
the real Plex gateway (configured from ``PLEXSYNC_*`` variables), reading time from the system
clock plus an offset the test writes into a file (seconds, e.g. ``-86400``) while it runs.

``python -m tests.jumping_worker OFFSET_FILE --within SECONDS`` works until the queue is empty
(exit 0) or SECONDS of real time have passed (exit 1), and prints the worker's report as JSON.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from returns.result import Failure

from shell.clock import SystemClock
from shell.settings import load_settings
from tests.stops import drain_and_report


class SteppedSystemClock(SystemClock):
    """The system clock, stepped by the offset in *path* (read again at most every 50 ms)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.offset = 0.0
        self.read_at = 0.0

    def now(self) -> float:
        if time.monotonic() - self.read_at > 0.05:
            self.read_at = time.monotonic()
            text = self.path.read_text() if self.path.exists() else ""
            self.offset = float(text) if text.strip() else 0.0
        return time.time() + self.offset


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jumping_worker")
    parser.add_argument("offset_file", type=Path)
    parser.add_argument("--within", type=float, default=30.0)
    args = parser.parse_args(argv)
    loaded = load_settings(None, os.environ)
    if isinstance(loaded, Failure):
        print(f"jumping_worker: {loaded.failure()}", file=sys.stderr)
        return 2
    config = loaded.unwrap().config
    return drain_and_report(config, args.within, clock=SteppedSystemClock(args.offset_file))


if __name__ == "__main__":
    sys.exit(main())
