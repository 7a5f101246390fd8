"""Logging as Stash reads it from a plugin's stderr: one line per message, byte 1, a level
letter, byte 2, then the text; every line of a long message prefixed; no line near 64 KiB.

Everything written passes through ``shell.redact`` first, so neither the Plex token nor the
Stash API key (both remembered as secrets) can reach Stash's log.
"""

from __future__ import annotations

import logging
import sys
from typing import Final, TextIO

from shell.redact import redact

MAX_LINE: Final = 16_000
"""Characters kept of one line; Stash stops reading stderr at a line of 64 KiB."""

LEVELS: Final = {"trace": "t", "debug": "d", "info": "i", "warning": "w", "error": "e"}


class StashLog:
    """Writes Stash log lines (and progress) to a stream, stderr by default."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr

    def write(self, level: str, message: str) -> None:
        """Log *message* at *level* (``info``, ``warning``, ...), each of its lines prefixed."""
        letter = LEVELS[level]
        for line in redact(message, limit=None).splitlines() or [""]:
            self.stream.write(f"\x01{letter}\x02{line[:MAX_LINE]}\n")
        self.stream.flush()

    def debug(self, message: str) -> None:
        """Log at debug level."""
        self.write("debug", message)

    def info(self, message: str) -> None:
        """Log at info level."""
        self.write("info", message)

    def warning(self, message: str) -> None:
        """Log at warning level."""
        self.write("warning", message)

    def error(self, message: str) -> None:
        """Log at error level."""
        self.write("error", message)

    def progress(self, fraction: float) -> None:
        """Set the task's progress bar (0 to 1)."""
        self.stream.write(f"\x01p\x02{min(max(fraction, 0.0), 1.0):.3f}\n")
        self.stream.flush()


class StashLogHandler(logging.Handler):
    """Sends plexsync's own log records (the worker's, the gateway's) to Stash's log."""

    def __init__(self, log: StashLog) -> None:
        super().__init__()
        self.log = log

    def emit(self, record: logging.LogRecord) -> None:
        """Write the record at the Stash level nearest its own."""
        if record.levelno >= logging.ERROR:
            level = "error"
        elif record.levelno >= logging.WARNING:
            level = "warning"
        elif record.levelno >= logging.INFO:
            level = "info"
        else:
            level = "debug"
        self.log.write(level, self.format(record))
