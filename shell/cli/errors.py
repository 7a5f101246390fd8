"""How a ``plexsync`` command ends: its exit status, and an error reported in one line.

``Exit`` and ``MEANING`` are the one list of exit statuses: the README's table is generated from
them (``python -m shell.docgen``), so the code and the docs cannot disagree.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Final

from core import PauseCause


class Exit(enum.IntEnum):
    """Every exit status of ``plexsync`` (see ``MEANING``)."""

    OK = 0
    ERROR = 1
    USAGE = 2
    PLEX_UNAVAILABLE = 3
    TOKEN_REJECTED = 4
    MISCONFIGURED = 5
    INTERRUPTED = 130
    OUTPUT_CLOSED = 141


MEANING: Final[Mapping[Exit, str]] = {
    Exit.OK: "success; `check` found nothing wrong",
    Exit.ERROR: (
        "a mistake or a failure, said in one `plexsync: error: ...` line (a bad setting, an "
        "unknown dead letter id, a database that cannot be used); `check` found a problem with "
        "a sample path"
    ),
    Exit.USAGE: "a command line that cannot be understood; the command's usage is printed",
    Exit.PLEX_UNAVAILABLE: (
        "`run --until-idle` left work held because Plex is unavailable; `check` could not reach it"
    ),
    Exit.TOKEN_REJECTED: "the same, because Plex rejects the token (`plex_token`)",
    Exit.MISCONFIGURED: (
        "the same, because Plex cannot be used as configured: `plex_url` is not Plex, a "
        "`library_sections` name is wrong, or (`check`) a path is outside every library folder"
    ),
    Exit.INTERRUPTED: "stopped by Ctrl-C (`run` stops on SIGINT or SIGTERM and exits 0)",
    Exit.OUTPUT_CLOSED: "whatever read the output stopped reading (`| head`): stopped quietly",
}
"""What each exit status means, as the README's table says it."""

HELD: Final[Mapping[PauseCause, Exit]] = {
    PauseCause.OUTAGE: Exit.PLEX_UNAVAILABLE,
    PauseCause.AUTH: Exit.TOKEN_REJECTED,
    PauseCause.MISCONFIGURED: Exit.MISCONFIGURED,
}
"""The exit status of a run that stopped with work held, by what held it."""


class CliError(Exception):
    """A mistake or failure to report in one line, without a traceback."""


class UsageError(CliError):
    """A command line whose parts do not fit together: reported with the command's usage."""
