"""The ``plexsync`` argument parser: every command and option, and the handler each one runs.

The ``enqueue`` options come from the metadata fields table (``shell.fields``), so a new field is
a new option without an edit here.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
import textwrap
from typing import Any, Final, NoReturn

import core
from core import DeadLetterReason, parse_duration
from shell.cli import commands
from shell.cli.building import add_command, add_group
from shell.cli.db import add_db
from shell.cli.errors import Exit
from shell.cli.stash import add_stash
from shell.fields import FIELDS, LIST_KEYS, Kind

REASONS: Final = tuple(reason.value for reason in DeadLetterReason)


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors in the same one-line form as every other error, and a guess
    at what was meant when a command or choice is mistyped.
    """

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(Exit.USAGE, f"plexsync: error: {message}{self._did_you_mean(message)}\n")

    def _did_you_mean(self, message: str) -> str:
        given = _INVALID_CHOICE.search(message)
        if given is None:
            return ""
        choices = [str(c) for a in self._actions if a.choices is not None for c in a.choices]
        close = difflib.get_close_matches(given.group(1), choices, n=1)
        return f" (did you mean {close[0]}?)" if close else ""


_INVALID_CHOICE: Final = re.compile(r"invalid choice: '?([^' ]+)'?")

_EXIT_STATUSES: Final = ", ".join(
    f"{int(code)} {code.name.lower().replace('_', ' ')}" for code in Exit
)
_EPILOG: Final = f"""\
Settings come from the first settings file found: --config PATH, $PLEXSYNC_CONFIG,
./plexsync.toml, the user's config folder (~/.config/plexsync/plexsync.toml on Linux), then
/etc/plexsync/plexsync.toml; PLEXSYNC_<SETTING> variables win over the file.

{textwrap.fill(f"exit status: {_EXIT_STATUSES} (the README says what each means)", 95)}

example:
  plexsync check --path /data/scenes/a.mkv"""


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: each command's parser carries its handler as ``handler`` and
    itself as ``command_parser`` (for the usage printed with a usage error).
    """
    parser = _Parser(
        prog="plexsync",
        description="Keep Plex metadata in step with a host application, through a durable queue.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"plexsync {core.__version__}")
    parser.add_argument(
        "--config", metavar="PATH", help="settings file (default: the first one found, see below)"
    )
    subcommands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    run = add_command(
        subcommands,
        "run",
        commands.run_command,
        "work the queue (until Ctrl-C, or --until-idle)",
        example="plexsync run --until-idle || echo 'work is held: see plexsync status'",
    )
    run.add_argument(
        "--until-idle",
        action="store_true",
        help="return once nothing can be worked right now; exit 3, 4 or 5 if work is held",
    )
    run.add_argument("-v", "--verbose", action="store_true", help="log every job (DEBUG)")

    _add_enqueue(subcommands)
    _add_check(subcommands)
    add_command(
        subcommands,
        "status",
        commands.status_command,
        "the queue, the breaker and the DLQ at a glance",
        example="plexsync status --json",
    )
    add_command(
        subcommands,
        "config",
        commands.config_command,
        "the effective settings (the token masked)",
        example="PLEXSYNC_MAX_RETRIES=4 plexsync config",
    )
    add_command(
        subcommands,
        "explain",
        commands.explain_command,
        "the retry schedule of each error class",
        example="plexsync explain --config plexsync.toml",
    )

    _add_dlq(subcommands)
    _add_simulate(subcommands)
    add_stash(subcommands)
    add_db(subcommands)
    return parser


def _add_enqueue(subcommands: Any) -> None:  # noqa: ANN401 - argparse's subparsers action
    add = add_command(
        subcommands,
        "enqueue",
        commands.enqueue_command,
        "queue metadata for an item",
        example="plexsync enqueue --key scene:42 --path /data/scenes/a.mkv --title A --genre Drama",
    )
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


def _add_check(subcommands: Any) -> None:  # noqa: ANN401
    check = add_command(
        subcommands,
        "check",
        commands.check_command,
        "connect to Plex as configured, list the sections in use and look up sample paths",
        example="plexsync check --path /data/scenes/a.mkv --path /data/scenes/b.mkv",
    )
    check.add_argument(
        "--path",
        dest="paths",
        action="append",
        default=[],
        metavar="HOST_PATH",
        help="a file as the host sees it: show how it maps and whether Plex has it (repeatable; "
        "default: the newest queued jobs)",
    )
    check.add_argument(
        "--samples",
        type=_positive_int,
        default=5,
        metavar="N",
        help="without --path, how many of the newest queued jobs to look up (default 5)",
    )


def _add_dlq(subcommands: Any) -> None:  # noqa: ANN401
    dlq_commands = add_group(
        subcommands,
        "dlq",
        "review, re-drive and purge the dead letter queue",
        description="Review, re-drive and purge the dead letter queue.",
        example="plexsync dlq list --reason not_found",
    )
    listing = add_command(
        dlq_commands,
        "list",
        commands.dlq_list_command,
        "one line per dead letter, newest first",
        example="plexsync dlq list --since 2h --limit 20",
    )
    _filters(listing, key=True)
    listing.add_argument("--limit", type=_positive_int, metavar="N", help="show at most N entries")
    show = add_command(
        dlq_commands,
        "show",
        commands.dlq_show_command,
        "one dead letter in full",
        example="plexsync dlq show 1",
    )
    show.add_argument("id", type=_positive_int, help="the entry's id (see plexsync dlq list)")
    retry = add_command(
        dlq_commands,
        "retry",
        commands.dlq_retry_command,
        "queue dead letters again",
        example="plexsync dlq retry --all --reason retries_exhausted --dry-run",
    )
    retry.add_argument(
        "ids", nargs="*", type=_positive_int, metavar="ID", help="the entries to re-drive"
    )
    retry.add_argument("--all", action="store_true", help="every entry matching the filters")
    _filters(retry, key=False)
    retry.add_argument("--dry-run", action="store_true", help="say what would happen, do nothing")
    purge = add_command(
        dlq_commands,
        "purge",
        commands.dlq_purge_command,
        "delete dead letters",
        example="plexsync dlq purge --older-than 30d --dry-run",
    )
    which = purge.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--older-than",
        type=_duration,
        metavar="DURATION",
        help="entries dead-lettered longer ago than this, e.g. 30d",
    )
    which.add_argument("--all", action="store_true", help="every entry")
    purge.add_argument("--dry-run", action="store_true", help="count, delete nothing")
    export = add_command(
        dlq_commands,
        "export",
        commands.dlq_export_command,
        "every dead letter as JSON",
        example="plexsync dlq export --reason not_found > not-found.json",
        data=False,
    )
    export.add_argument("--reason", choices=REASONS, help="only entries with this reason")


def _add_simulate(subcommands: Any) -> None:  # noqa: ANN401
    sim = add_command(
        subcommands,
        "simulate",
        commands.simulate_command,
        "run the worker through a scenario on a fake clock",
        example="plexsync simulate --jobs 10000 --outage 6h --plot timeline.png",
    )
    sim.add_argument("--scenario", metavar="FILE.toml", help="read the scenario from a file")
    sim.add_argument(
        "--jobs", type=_positive_int, metavar="N", help="jobs queued at the start (default 1000)"
    )
    sim.add_argument(
        "--outage", type=_duration, metavar="DURATION", help="Plex is down this long, e.g. 6h"
    )
    sim.add_argument(
        "--outage-start",
        type=_duration,
        metavar="DURATION",
        help="when the outage begins (default: once about a quarter of the jobs are done)",
    )
    sim.add_argument(
        "--scan-delay",
        type=_duration,
        metavar="DURATION",
        help="Plex does not know the files until this long after the start, e.g. 3h",
    )
    sim.add_argument(
        "--transient-rate",
        type=_fraction,
        metavar="FRACTION",
        help="the share of job calls failing with a 500 on a healthy Plex, e.g. 0.05",
    )
    sim.add_argument(
        "--permanent-rate",
        type=_fraction,
        metavar="FRACTION",
        help="the share of files Plex always refuses (a 400), e.g. 0.01",
    )
    sim.add_argument(
        "--rate-limit",
        type=_positive_int,
        nargs="?",
        const=60,
        metavar="PER_MINUTE",
        help="Plex answers 429 above this many calls a minute (default 60)",
    )
    sim.add_argument(
        "--seed", type=int, help="another seed gives other failures, at the same rates"
    )
    sim.add_argument("--plot", metavar="FILE.png", help="draw the timeline (needs plexsync[plot])")


def _filters(parser: argparse.ArgumentParser, *, key: bool) -> None:
    parser.add_argument("--reason", choices=REASONS, help="only entries with this reason")
    parser.add_argument(
        "--since", type=_duration, metavar="DURATION", help="dead-lettered within, e.g. 2h"
    )
    if key:
        parser.add_argument("--key", help="only entries of this key")


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
