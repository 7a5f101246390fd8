"""The ``plexsync`` command line: everything an operator needs without opening the database.

Every command has ``--help``; every command that prints data has ``--json``. Exit status: 0 on
success, 1 with a one-line ``plexsync: error: ...`` for a mistake or a failure (bad settings, an
unknown DLQ id, an unusable database), 2 for a usage error, 130 when interrupted. A user's mistake
never prints a traceback.

The modules, from the top: ``parser`` (every command and option), ``commands`` (what each one
does), ``scenario`` (``simulate``'s scenario file and options), ``render`` (tables, rows, JSON and
times), ``inputs`` (jobs from flags or JSON, files named on the command line) and ``errors`` (the
exit statuses and ``CliError``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from shell.cli.errors import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_USAGE, CliError
from shell.cli.parser import build_parser
from shell.store import StoreError

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        result: int = args.handler(args)
    except (CliError, StoreError) as exc:
        print(f"plexsync: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("plexsync: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return result
