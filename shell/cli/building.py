"""How a command is added to ``plexsync``'s parser: one way for every command and every group of
commands (``dlq``, ``db``, ``stash``), so that each has the same help layout (a summary, then one
example), accepts ``--config`` after its name, and reports a usage error with its own usage.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Callable
from typing import Any

from shell.cli.errors import Exit


def add_command(
    subcommands: Any,  # noqa: ANN401 - argparse's subparsers action has no public type
    name: str,
    handler: Callable[[argparse.Namespace], int],
    summary: str,
    *,
    example: str,
    data: bool = True,
) -> argparse.ArgumentParser:
    """Add the command *name*, run by *handler*; *data* commands can print JSON (``--json``)."""
    parser: argparse.ArgumentParser = subcommands.add_parser(
        name,
        help=summary,
        description=textwrap.fill(summary[0].upper() + summary[1:] + ".", width=79),
        epilog=f"example:\n  {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(handler=handler, command_parser=parser)
    # Also accepted after the command (``plexsync run --config x.toml``), as people type it.
    parser.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help="settings file")
    if data:
        parser.add_argument("--json", action="store_true", help="print JSON")
    return parser


def add_group(
    subcommands: Any,  # noqa: ANN401 - argparse's subparsers action has no public type
    name: str,
    summary: str,
    *,
    description: str,
    example: str,
) -> Any:  # noqa: ANN401 - argparse's subparsers action again
    """Add the group *name* (``plexsync NAME COMMAND``); returns what its commands are added to.
    The group alone prints its help and exits with the usage status.
    """
    group: argparse.ArgumentParser = subcommands.add_parser(
        name,
        help=summary,
        description=description,
        epilog=f"example:\n  {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    group.set_defaults(handler=lambda _args: usage(group), command_parser=group)
    # The same parser class as plexsync's own commands: one-line errors, "did you mean".
    return group.add_subparsers(dest=f"{name}_command", metavar="COMMAND", parser_class=type(group))


def usage(parser: argparse.ArgumentParser) -> int:
    """Print *parser*'s help where errors go: the command line named no command to run."""
    parser.print_help(sys.stderr)
    return Exit.USAGE
