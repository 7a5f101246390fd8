"""How a ``plexsync`` command ends: the exit statuses, and the error reported in one line."""

from __future__ import annotations

from typing import Final

EXIT_OK: Final = 0
EXIT_ERROR: Final = 1
"""A mistake or a failure, reported in one ``plexsync: error: ...`` line."""
EXIT_USAGE: Final = 2
"""A command line argparse refused, or a command given without its subcommand."""
EXIT_INTERRUPTED: Final = 130


class CliError(Exception):
    """A mistake or failure to report in one line, without a traceback."""
