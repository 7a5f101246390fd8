"""The ``plexsync`` command line: everything an operator needs without opening the database.

Every command has ``--help``; every command that prints data has ``--json``. The exit statuses
are ``shell.cli.errors.Exit`` (the README's table is generated from it). A user's mistake never
prints a traceback: it is one ``plexsync: error: ...`` line, after the command's usage when the
command line itself was wrong.

The modules, from the top: ``parser`` (every command and option), ``commands`` (what each one
does), ``scenario`` (``simulate``'s scenario file and options), ``render`` (tables, rows, JSON and
times), ``inputs`` (jobs from flags or JSON, files named on the command line) and ``errors`` (the
exit statuses and ``CliError``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from shell.cli.errors import CliError, Exit, UsageError
from shell.cli.parser import build_parser
from shell.store import StoreError

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    command_parser = getattr(args, "command_parser", parser)
    if extras:  # said by the command's own parser, so its usage is the one printed
        command_parser.error(f"unrecognized arguments: {' '.join(extras)}")
    if args.command is None:
        parser.print_help(sys.stderr)
        return Exit.USAGE
    try:
        result: int = args.handler(args)
        sys.stdout.flush()  # a closed pipe shows here, not at exit where it cannot be caught
    except UsageError as exc:
        command_parser.print_usage(sys.stderr)
        print(f"plexsync: error: {exc}", file=sys.stderr)
        return Exit.USAGE
    except (CliError, StoreError) as exc:
        print(f"plexsync: error: {exc}", file=sys.stderr)
        return Exit.ERROR
    except KeyboardInterrupt:
        print("plexsync: interrupted", file=sys.stderr)
        return Exit.INTERRUPTED
    except BrokenPipeError:
        # Whatever read the output stopped (`plexsync explain | head -1`): stop quietly, as
        # other tools do, and point stdout at nothing so the exit's own flush cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return Exit.OUTPUT_CLOSED
    return result
