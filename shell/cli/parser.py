"""The ``plexsync`` argument parser: every command and option, and the handler each one runs.

The ``enqueue`` options come from the metadata fields table (``shell.fields``), so a new field is
a new option without an edit here.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any, Final, NoReturn

import core
from core import DeadLetterReason, parse_duration
from shell.cli import commands
from shell.cli.db import add_db
from shell.cli.errors import EXIT_USAGE
from shell.cli.stash import add_stash
from shell.fields import FIELDS, LIST_KEYS, Kind

REASONS: Final = tuple(reason.value for reason in DeadLetterReason)


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors in the same one-line form as every other error."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"plexsync: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: each command's parser carries its handler as ``handler``."""
    parser = _Parser(
        prog="plexsync",
        description="Keep Plex metadata in step with a host application, through a durable queue.",
        epilog="Settings come from plexsync.toml (or --config) and PLEXSYNC_<SETTING> variables.",
    )
    parser.add_argument("--version", action="version", version=f"plexsync {core.__version__}")
    parser.add_argument(
        "--config", metavar="PATH", help="settings file (default: ./plexsync.toml if present)"
    )
    subcommands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    run = _command(
        subcommands, "run", commands.run_command, "work the queue (until Ctrl-C, or --until-idle)"
    )
    run.add_argument(
        "--until-idle", action="store_true", help="return once nothing can be worked right now"
    )
    run.add_argument("-v", "--verbose", action="store_true", help="log every job (DEBUG)")

    _add_enqueue(subcommands)
    _command(
        subcommands,
        "status",
        commands.status_command,
        "the queue, the breaker and the DLQ at a glance",
    )
    _command(
        subcommands,
        "config",
        commands.config_command,
        "the effective settings (the token masked)",
    )
    _command(
        subcommands, "explain", commands.explain_command, "the retry schedule of each error class"
    )

    _add_dlq(subcommands)
    _add_simulate(subcommands)
    add_stash(subcommands)
    add_db(subcommands)
    return parser


def _add_enqueue(subcommands: Any) -> None:  # noqa: ANN401 - argparse's subparsers action
    add = _command(subcommands, "enqueue", commands.enqueue_command, "queue metadata for an item")
    add.add_argument("--key", help="the host's id for the item, e.g. scene:42")
    add.add_argument("--path", help="the media file's full path (as the host sees it)")
    for field in FIELDS:
        if field.is_list:
            add.add_argument(
                field.flag, dest=field.key, action="append", metavar="NAME", help=field.help
            )
        else:
            add.add_argument(
                field.flag,
                dest=field.key,
                metavar=field.kind.value.upper(),
                type=float if field.kind is Kind.RATING else str,
                help=field.help,
            )
    add.add_argument(
        "--clear",
        action="append",
        choices=LIST_KEYS,
        default=[],
        help="set this list to empty in Plex (repeatable)",
    )
    add.add_argument(
        "--from-json",
        metavar="FILE",
        help="read jobs from a JSON file ('-' for stdin): one object or a list, each with "
        "'key' and the metadata keys",
    )


def _add_dlq(subcommands: Any) -> None:  # noqa: ANN401
    dead = subcommands.add_parser("dlq", help="review, re-drive and purge the dead letter queue")
    dead.set_defaults(handler=lambda _args: _usage(dead))
    dlq_commands = dead.add_subparsers(dest="dlq_command", metavar="COMMAND", parser_class=_Parser)
    listing = _command(
        dlq_commands, "list", commands.dlq_list_command, "one line per dead letter, newest first"
    )
    _filters(listing, key=True)
    listing.add_argument("--limit", type=_positive_int, metavar="N")
    show = _command(dlq_commands, "show", commands.dlq_show_command, "one dead letter in full")
    show.add_argument("id", type=_positive_int)
    retry = _command(
        dlq_commands, "retry", commands.dlq_retry_command, "queue dead letters again", data=True
    )
    retry.add_argument("ids", nargs="*", type=_positive_int, metavar="ID")
    retry.add_argument("--all", action="store_true", help="every entry matching the filters")
    _filters(retry, key=False)
    retry.add_argument("--dry-run", action="store_true", help="say what would happen, do nothing")
    purge = _command(
        dlq_commands, "purge", commands.dlq_purge_command, "delete dead letters", data=True
    )
    which = purge.add_mutually_exclusive_group(required=True)
    which.add_argument("--older-than", type=_duration, metavar="DURATION")
    which.add_argument("--all", action="store_true")
    purge.add_argument("--dry-run", action="store_true", help="count, delete nothing")
    export = _command(
        dlq_commands, "export", commands.dlq_export_command, "every dead letter as JSON", data=False
    )
    export.add_argument("--reason", choices=REASONS)


def _add_simulate(subcommands: Any) -> None:  # noqa: ANN401
    sim = _command(
        subcommands,
        "simulate",
        commands.simulate_command,
        "run the worker through a scenario on a fake clock",
    )
    sim.add_argument("--scenario", metavar="FILE.toml", help="read the scenario from a file")
    sim.add_argument("--jobs", type=_positive_int, metavar="N")
    sim.add_argument("--outage", type=_duration, metavar="DURATION", help="e.g. 6h")
    sim.add_argument("--outage-start", type=_duration, metavar="DURATION", help="default 1m")
    sim.add_argument("--scan-delay", type=_duration, metavar="DURATION")
    sim.add_argument("--transient-rate", type=_fraction, metavar="FRACTION")
    sim.add_argument("--permanent-rate", type=_fraction, metavar="FRACTION")
    sim.add_argument(
        "--rate-limit",
        type=_positive_int,
        nargs="?",
        const=60,
        metavar="PER_MINUTE",
        help="Plex answers 429 above this many calls a minute (default 60)",
    )
    sim.add_argument("--seed", type=int)
    sim.add_argument("--plot", metavar="FILE.png", help="draw the timeline (needs plexsync[plot])")


def _command(
    subcommands: Any,  # noqa: ANN401 - argparse's subparsers action has no public type
    name: str,
    handler: Callable[[argparse.Namespace], int],
    summary: str,
    *,
    data: bool = True,
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subcommands.add_parser(
        name, help=summary, description=summary
    )
    parser.set_defaults(handler=handler)
    # Also accepted after the command (``plexsync run --config x.toml``), as people type it.
    parser.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help="settings file")
    if data:
        parser.add_argument("--json", action="store_true", help="print JSON")
    return parser


def _filters(parser: argparse.ArgumentParser, *, key: bool) -> None:
    parser.add_argument("--reason", choices=REASONS)
    parser.add_argument(
        "--since", type=_duration, metavar="DURATION", help="dead-lettered within, e.g. 2h"
    )
    if key:
        parser.add_argument("--key")


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return int(text)


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}")
    return value


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_USAGE
