"""What each ``plexsync`` command does: load the settings, act, and print text or ``--json``.

Each handler takes the parsed arguments and returns the exit status; a mistake or failure is a
``CliError`` (or the store's ``StoreError``), which ``main`` prints as one line.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from typing import Final

from returns.result import Failure, Success

from core import PlexSyncConfig, explain
from shell import dlq
from shell.api import enqueue_many, open_store, status
from shell.cli import render
from shell.cli.errors import EXIT_OK, CliError
from shell.cli.inputs import job_from_flags, jobs_from_json
from shell.cli.scenario import simulation_spec
from shell.settings import Settings, describe, load_settings

_PLACEHOLDERS: Final = {"plex_url": "http://plex.invalid:32400", "plex_token": "unset"}


def _settings(args: argparse.Namespace, *, placeholders: bool = False) -> Settings:
    """The effective settings; with *placeholders*, a missing URL or token is tolerated (for
    commands that never talk to Plex).
    """
    defaults = _PLACEHOLDERS if placeholders else {}
    settings: Settings
    match load_settings(args.config, os.environ, defaults=defaults):
        case Failure(message):
            raise CliError(message)
        case Success(settings):
            pass
    return settings


def _local_config(args: argparse.Namespace) -> PlexSyncConfig:
    """Settings for commands that only touch the database."""
    return _settings(args, placeholders=True).config


def run_command(args: argparse.Namespace) -> int:
    """``plexsync run``: work the queue."""
    from shell.worker import run_worker  # noqa: PLC0415 - keeps `plexsync --help` quick

    config = _settings(args).config
    _log_to_stderr(logging.DEBUG if args.verbose else logging.INFO)
    report = run_worker(config, until_idle=args.until_idle)
    if args.json:
        render.print_json(report)
    else:
        print(render.run_line(report))
    return EXIT_OK


def enqueue_command(args: argparse.Namespace) -> int:
    """``plexsync enqueue``: queue jobs from flags or JSON, all or none."""
    config = _local_config(args)
    jobs = jobs_from_json(args.from_json) if args.from_json else [job_from_flags(args)]
    try:
        ids = enqueue_many(config, jobs)  # all or nothing: a bad job stores none of them
    except ValueError as exc:
        message = str(exc) if args.from_json else str(exc).split(": ", 1)[1]
        raise CliError(message) from None
    if args.json:
        render.print_json({"job_ids": ids})
    else:
        print(f"queued {len(ids)} job{'s' if len(ids) != 1 else ''}: {render.id_list(ids)}")
    return EXIT_OK


def status_command(args: argparse.Namespace) -> int:
    """``plexsync status``: the queue, the breaker and the DLQ."""
    config = _local_config(args)
    now = time.time()
    current = status(config, now=now)
    if args.json:
        render.print_json(current)
    else:
        render.print_rows(render.status_rows(current, now))
    return EXIT_OK


def config_command(args: argparse.Namespace) -> int:
    """``plexsync config``: every setting and where it came from."""
    described = describe(_settings(args))
    if args.json:
        render.print_json(described)
    else:
        render.print_rows(
            [(name, f"{info['value']}  [{info['source']}]") for name, info in described.items()]
        )
    return EXIT_OK


def explain_command(args: argparse.Namespace) -> int:
    """``plexsync explain``: the retry schedule of each error class."""
    schedules = explain(_settings(args, placeholders=True).config)
    if args.json:
        render.print_json([render.schedule_json(s) for s in schedules])
    else:
        print(render.render_schedules(schedules))
    return EXIT_OK


def dlq_list_command(args: argparse.Namespace) -> int:
    """``plexsync dlq list``: one line per dead letter, newest first."""
    store = open_store(_local_config(args))
    entries = dlq.list_entries(
        store,
        reason=args.reason,
        since_at=_since(args.since),
        key=args.key,
        limit=args.limit,
    )
    if args.json:
        render.print_json([render.entry_summary(e) for e in entries])
    elif not entries:
        print("the dead letter queue is empty" if not _any_filter(args) else "no matching entries")
    else:
        render.print_table(render.ENTRY_HEADER, [render.entry_line(e) for e in entries])
    return EXIT_OK


def dlq_show_command(args: argparse.Namespace) -> int:
    """``plexsync dlq show ID``: one dead letter with its payload and history."""
    entry = dlq.get_entry(open_store(_local_config(args)), args.id)
    if entry is None:
        raise CliError(f"no dead letter with id {args.id} (see plexsync dlq list)")
    data = dlq.as_json(entry)
    if args.json:
        render.print_json(data)
        return EXIT_OK
    render.print_rows(render.entry_rows(entry))
    print("payload:")
    print(json.dumps(data["payload"], indent=2, ensure_ascii=False))
    print("history:")
    for attempt in entry.history:
        print("  " + render.attempt_line(attempt))
    return EXIT_OK


def dlq_retry_command(args: argparse.Namespace) -> int:
    """``plexsync dlq retry``: queue dead letters again, skipping superseded ones."""
    if bool(args.ids) == bool(args.all):
        raise CliError("give dead letter ids, or --all (with --reason / --since to narrow it)")
    if args.ids and (args.reason or args.since):
        raise CliError("--reason and --since narrow --all; they do not combine with ids")
    store = open_store(_local_config(args))
    chosen = dlq.snapshot(store, ids=args.ids, reason=args.reason, since_at=_since(args.since))
    progress = render.progress("re-driving", sys.stderr) if len(chosen) > 20 else None
    report = dlq.redrive(store, chosen, now=time.time(), dry_run=args.dry_run, on_progress=progress)
    if args.json:
        render.print_json(
            {
                "dry_run": report.dry_run,
                "redriven": list(report.redriven),
                "skipped": [{"id": s.entry_id, "why": s.why} for s in report.skipped],
                "attempts_reset": True,
            }
        )
        return EXIT_OK
    verb = "would re-drive" if report.dry_run else "re-drove"
    print(f"{verb} {len(report.redriven)} of {len(chosen)} (attempt counts start again at 0)")
    reasons: dict[str, list[int]] = {}
    for skipped in report.skipped:
        reasons.setdefault(skipped.why, []).append(skipped.entry_id)
    for why, ids in reasons.items():
        shown = ", ".join(map(str, ids[:10])) + (" ..." if len(ids) > 10 else "")
        print(f"skipped {len(ids)}: {why} ({shown})")
    return EXIT_OK


def dlq_purge_command(args: argparse.Namespace) -> int:
    """``plexsync dlq purge``: delete dead letters by age, or all of them."""
    store = open_store(_local_config(args))
    older_than_at = None if args.all else time.time() - args.older_than
    count = dlq.purge(store, older_than_at=older_than_at, dry_run=args.dry_run)
    if args.json:
        render.print_json({"dry_run": args.dry_run, "purged": count})
    else:
        print(f"{'would purge' if args.dry_run else 'purged'} {count} dead letters")
    return EXIT_OK


def dlq_export_command(args: argparse.Namespace) -> int:
    """``plexsync dlq export``: every dead letter in full, as JSON."""
    entries = dlq.list_entries(open_store(_local_config(args)), reason=args.reason)
    render.print_json([dlq.as_json(e) for e in entries])
    return EXIT_OK


def simulate_command(args: argparse.Namespace) -> int:
    """``plexsync simulate``: the worker through a scenario on a fake clock."""
    from shell.plot import PlotUnavailable, check_available, plot_timeline  # noqa: PLC0415
    from shell.simulate import simulate  # noqa: PLC0415

    if args.plot:
        try:
            check_available()
        except PlotUnavailable as exc:
            raise CliError(str(exc)) from None

    spec, overrides = simulation_spec(args)
    progress = render.progress("jobs left", sys.stderr, total=spec.jobs)
    try:
        result = simulate(spec, overrides=overrides, progress=progress)
    except ValueError as exc:
        raise CliError(f"scenario config: {exc}") from None
    if args.plot:
        plot_timeline(result, args.plot)
    if args.json:
        summary = result.summary()
        if args.plot:
            summary["plot"] = args.plot
        render.print_json(summary)
    else:
        render.print_rows(render.simulation_rows(result, args.plot))
    return EXIT_OK


def _since(seconds: float | None) -> float | None:
    return None if seconds is None else time.time() - seconds


def _any_filter(args: argparse.Namespace) -> bool:
    return any(getattr(args, name, None) for name in ("reason", "since", "key"))


def _log_to_stderr(level: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%Y-%m-%dT%H:%M:%S")
    )
    logger = logging.getLogger("plexsync")
    logger.addHandler(handler)
    logger.setLevel(level)
