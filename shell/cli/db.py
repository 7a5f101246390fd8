"""``plexsync db``: the queue file itself: ``check`` it, ``recover`` a damaged one, ``backup``.

What each does to the file is ``shell.store.maintenance``'s; here are the options, the words and
the exit statuses (1 when the file is damaged or breaks a rule, after the findings are printed).
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
import time
from typing import Any, Final

from returns.result import Failure, Success

from core import counted
from shell.cli import render
from shell.cli.building import add_command, add_group
from shell.cli.errors import CliError, Exit
from shell.settings import load_settings
from shell.store import StoreError, maintenance
from shell.store.database import RECOVER_ADVICE
from shell.worker.presence import worker_running

_PLACEHOLDERS: Final = {"plex_url": "http://plex.invalid:32400", "plex_token": "unset"}
"""The db commands never talk to Plex: its settings may be missing."""
_SHOWN: Final = 10
"""Problems listed before the rest are counted."""


def add_db(subcommands: Any) -> None:  # noqa: ANN401 - argparse's subparsers action
    """Add ``plexsync db ...`` to the command line."""
    commands = add_group(
        subcommands,
        "db",
        "check, recover or back up the queue database file",
        description=textwrap.fill(
            "Look after the queue database file: check it, salvage a damaged one into a new "
            "file, or copy it while workers run.",
            width=79,
        ),
        example="plexsync db check",
    )
    check = add_command(
        commands,
        "check",
        check_command,
        "check the file with SQLite's integrity_check and the rules across its tables "
        "(read-only; safe while workers run); exit status 1 if anything is wrong",
        example="plexsync db check --quick",
    )
    check.add_argument(
        "--quick",
        action="store_true",
        help="quick_check: reads every page but does not match indexes against their tables",
    )
    add_command(
        commands,
        "recover",
        recover_command,
        "salvage what can be read from a damaged file into a new file in its place; the "
        "damaged file is kept beside it, renamed with the time (stop the worker and the host "
        "first)",
        example="plexsync db recover",
    )
    backup = add_command(
        commands,
        "backup",
        backup_command,
        "copy the file as one consistent snapshot with SQLite's online backup, while workers "
        "run; the copy is one self-contained file, checked with integrity_check",
        example="plexsync db backup /backups/plexsync.db",
    )
    backup.add_argument(
        "file", metavar="FILE", help="where to write the copy (a SQLite file there is replaced)"
    )


def check_command(args: argparse.Namespace) -> int:
    """``plexsync db check``."""
    path = _db_path(args)
    report = maintenance.check(path, quick=args.quick)
    kind = "quick_check" if report.quick else "integrity_check"
    if args.json:
        render.print_json(
            {
                "path": path,
                "ok": report.ok,
                "check": kind,
                "damage": list(report.damage),
                "problems": list(report.problems),
                "jobs": report.jobs,
                "dead_letters": report.dead_letters,
                "seconds": round(report.seconds, 3),
            }
        )
    elif report.ok:
        print(
            f"{path}: ok ({kind} in {report.seconds:.2f}s; {report.jobs} jobs, "
            f"{report.dead_letters} dead letters)"
        )
    else:
        found = report.damage or report.problems
        print(f"{path}: {kind} found {len(found)} problem{'' if len(found) == 1 else 's'}:")
        for line in found[:_SHOWN]:
            print(f"  {line}")
        if len(found) > _SHOWN:
            print(f"  ... and {len(found) - _SHOWN} more")
    if report.damage:
        return _fail(f"{path} is damaged: {RECOVER_ADVICE}")
    if report.problems:
        return _fail(f"{path} breaks {len(report.problems)} rule(s) across its tables (above)")
    return Exit.OK


def recover_command(args: argparse.Namespace) -> int:
    """``plexsync db recover``."""
    path = _db_path(args)
    if worker_running(path):
        raise CliError(f"a worker is running on {path}: stop it (and the host) first")
    try:
        sound = maintenance.check(path).ok
    except StoreError:
        sound = False  # unreadable: recover says what can and cannot be done
    if sound:
        if args.json:
            render.print_json({"path": path, "recovered": False, "kept_as": None, "tables": []})
        else:
            print(f"nothing to recover: {path} passes integrity_check")
        return Exit.OK
    report = maintenance.recover(path, now=time.time())
    tables = [t for t in report.tables if t.salvaged or t.refused or t.unreadable]
    if args.json:
        render.print_json(
            {
                "path": path,
                "recovered": True,
                "kept_as": report.kept_as,
                "tables": [
                    {
                        "table": t.table,
                        "salvaged": t.salvaged,
                        "refused": t.refused,
                        "lost_at_most": t.lost_at_most,
                        "unreadable": [{"first": s.first, "last": s.last} for s in t.unreadable],
                    }
                    for t in tables
                ],
                "damage": list(report.damage),
                "problems": list(report.problems),
            }
        )
    else:
        counts = {t.table: t for t in report.tables}
        losses = [t.lost_at_most for t in report.tables]
        most = sum(filter(None, losses))
        lost = (
            "an unknown number of rows lost"
            if None in losses
            else f"up to {counted(most, 'row')} lost"
            if most
            else "no row lost"
        )
        print(
            f"recovered {path}: {counted(counts['jobs'].salvaged, 'job')} and "
            f"{counted(counts['dead_letters'].salvaged, 'dead letter')} salvaged, {lost}"
        )
        print(f"the damaged file is kept as {report.kept_as}")
        render.print_table(
            ("TABLE", "SALVAGED", "LOST", "UNREADABLE IDS"),
            [
                (t.table, str(t.salvaged), _lost(t.lost_at_most), _stretches(t.unreadable))
                for t in tables
            ],
        )
        if counts["jobs"].lost_at_most != 0:
            print("jobs lost are edits no longer queued: send those items again from the host")
        for line in (*report.damage, *report.problems):
            print(f"  {line}")
    if report.damage or report.problems:
        return _fail(f"the recovered file {path} still has problems (above)")
    return Exit.OK


def backup_command(args: argparse.Namespace) -> int:
    """``plexsync db backup FILE``."""
    path = _db_path(args)
    report = maintenance.backup(path, args.file)
    if args.json:
        render.print_json(
            {
                "path": path,
                "backup": report.target,
                "pages": report.pages,
                "jobs": report.jobs,
                "dead_letters": report.dead_letters,
                "done": report.done,
                "seconds": round(report.seconds, 3),
            }
        )
    else:
        print(
            f"backed up {path} to {report.target}: {report.jobs} jobs, {report.dead_letters} "
            f"dead letters, {report.done} done ({report.pages} pages in {report.seconds:.2f}s); "
            "the copy passes integrity_check"
        )
    return Exit.OK


def _db_path(args: argparse.Namespace) -> str:
    """The queue database the settings name (the Plex settings are not needed)."""
    match load_settings(args.config, os.environ, defaults=_PLACEHOLDERS):
        case Failure(message):
            raise CliError(message)
        case Success(settings):
            return str(settings.config.db_path)
    raise AssertionError("unreachable")  # pragma: no cover - a Result is one of the two


def _lost(count: int | None) -> str:
    return "?" if count is None else str(count) if count == 0 else f"<= {count}"


def _stretches(stretches: tuple[maintenance.Stretch, ...]) -> str:
    return ", ".join(
        f"{s.first}-{'end' if s.last is None else s.last}" if s.last != s.first else str(s.first)
        for s in stretches
    )


def _fail(message: str) -> int:
    print(f"plexsync: error: {message}", file=sys.stderr)
    return Exit.ERROR
