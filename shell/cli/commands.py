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

from returns.result import Failure, Success

from core import PlexSyncConfig, counted, explain
from shell import dlq
from shell.api import enqueue_many, open_store, status
from shell.cli import render
from shell.cli.errors import HELD, CliError, Exit, UsageError
from shell.cli.inputs import job_from_flags, jobs_from_json
from shell.cli.scenario import simulation_spec
from shell.settings import OFFLINE_DEFAULTS, Settings, describe, load_settings
from shell.times import iso


def _settings(args: argparse.Namespace, *, placeholders: bool = False) -> Settings:
    """The effective settings; with *placeholders*, a missing URL or token is tolerated (for
    commands that never talk to Plex).
    """
    defaults = OFFLINE_DEFAULTS if placeholders else {}
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


def _existing_queue(args: argparse.Namespace) -> PlexSyncConfig:
    """Settings for commands that only read or tidy the queue: its database must exist already
    (opening one would create it, and an empty queue would hide a wrong ``db_path``).
    """
    config = _local_config(args)
    if not os.path.exists(config.db_path):
        raise CliError(
            f"no queue database at {config.db_path}: check db_path (nothing has been queued "
            "there yet; plexsync enqueue or the worker would create it)"
        )
    return config


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
    # A worker stopped by a signal did what was asked of it. One asked to do the work there is
    # now says by its status whether work was left held, and why (for cron and systemd).
    if args.until_idle and report.held is not None:
        return HELD[report.held]
    return Exit.OK


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
        print(f"queued {counted(len(ids), 'job')}: {render.id_list(ids)}")
    return Exit.OK


def check_command(args: argparse.Namespace) -> int:
    """``plexsync check``: connect as configured, list the sections in use, look up paths."""
    from shell.check import check, sample_paths  # noqa: PLC0415 - imports plexapi: only if used

    config = _settings(args).config
    paths = list(args.paths)
    if not paths and os.path.exists(config.db_path):
        paths = sample_paths(open_store(config), args.samples)
    report = check(config, paths)
    if args.json:
        render.print_json(report)
    else:
        render.print_rows(render.check_rows(report))
    if report.held_by is not None:
        return HELD[report.held_by]
    return Exit.ERROR if report.problems else Exit.OK


def status_command(args: argparse.Namespace) -> int:
    """``plexsync status``: the queue, the breaker and the DLQ."""
    config = _existing_queue(args)
    now = time.time()
    current = status(config, now=now)
    if args.json:
        render.print_json(current)
    else:
        render.print_rows(render.status_rows(current, now))
    return Exit.OK


def config_command(args: argparse.Namespace) -> int:
    """``plexsync config``: every setting and where it came from."""
    described = describe(_settings(args))
    if args.json:
        render.print_json(described)
    else:
        render.print_rows(
            [(name, f"{info['value']}  [{info['source']}]") for name, info in described.items()]
        )
    return Exit.OK


def explain_command(args: argparse.Namespace) -> int:
    """``plexsync explain``: the retry schedule of each error class."""
    schedules = explain(_settings(args, placeholders=True).config)
    if args.json:
        render.print_json([render.schedule_json(s) for s in schedules])
    else:
        print(render.render_schedules(schedules))
    return Exit.OK


def dlq_list_command(args: argparse.Namespace) -> int:
    """``plexsync dlq list``: one line per dead letter, newest first."""
    store = open_store(_existing_queue(args))
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
    return Exit.OK


def dlq_show_command(args: argparse.Namespace) -> int:
    """``plexsync dlq show ID``: one dead letter with its payload and history."""
    entry = dlq.get_entry(open_store(_existing_queue(args)), args.id)
    if entry is None:
        raise CliError(f"no dead letter with id {args.id} (see plexsync dlq list)")
    data = dlq.as_json(entry)
    if args.json:
        render.print_json(data)
        return Exit.OK
    render.print_rows(render.entry_rows(entry))
    print("payload:")
    print(json.dumps(data["payload"], indent=2, ensure_ascii=False))
    print("history:")
    for attempt in entry.history:
        print("  " + render.attempt_line(attempt))
    return Exit.OK


def dlq_retry_command(args: argparse.Namespace) -> int:
    """``plexsync dlq retry``: queue dead letters again, skipping superseded ones."""
    if bool(args.ids) == bool(args.all):
        raise UsageError("give dead letter ids, or --all (with --reason / --since to narrow it)")
    if args.ids and (args.reason or args.since):
        raise UsageError("--reason and --since narrow --all; they do not combine with ids")
    store = open_store(_existing_queue(args))
    chosen = dlq.snapshot(store, ids=args.ids, reason=args.reason, since_at=_since(args.since))
    progress = render.progress("re-driving", sys.stderr) if len(chosen) > 20 else None
    try:
        report = dlq.redrive(
            store, chosen, now=time.time(), dry_run=args.dry_run, on_progress=progress
        )
    finally:
        if progress is not None:
            progress.end()
    if args.json:
        render.print_json(
            {
                "dry_run": report.dry_run,
                "redriven": list(report.redriven),
                "skipped": [{"id": s.entry_id, "why": s.why} for s in report.skipped],
                "attempts_reset": True,
            }
        )
    else:
        verb = "would re-drive" if report.dry_run else "re-drove"
        print(f"{verb} {len(report.redriven)} of {len(chosen)} (attempt counts start again at 0)")
        reasons: dict[str, list[int]] = {}
        for skipped in report.skipped:
            reasons.setdefault(skipped.why, []).append(skipped.entry_id)
        for why, ids in reasons.items():
            shown = ", ".join(map(str, ids[:10])) + (" ..." if len(ids) > 10 else "")
            print(f"skipped {len(ids)}: {why} ({shown})")
    unknown = [s.entry_id for s in report.skipped if s.why == dlq.NEVER_EXISTED]
    if unknown:  # a mistyped id is a mistake; one already re-driven is an idempotent repeat
        raise CliError(
            f"no dead letter ever had the id {render.id_list(unknown)} (see plexsync dlq list)"
        )
    return Exit.OK


def dlq_purge_command(args: argparse.Namespace) -> int:
    """``plexsync dlq purge``: delete dead letters by age, or all of them."""
    store = open_store(_existing_queue(args))
    older_than_at = None if args.all else time.time() - args.older_than
    count = dlq.purge(store, older_than_at=older_than_at, dry_run=args.dry_run)
    if args.json:
        render.print_json({"dry_run": args.dry_run, "purged": count})
    else:
        print(f"{'would purge' if args.dry_run else 'purged'} {counted(count, 'dead letter')}")
    return Exit.OK


def dlq_export_command(args: argparse.Namespace) -> int:
    """``plexsync dlq export``: every dead letter in full, as JSON."""
    entries = dlq.list_entries(open_store(_existing_queue(args)), reason=args.reason)
    render.print_json([dlq.as_json(e) for e in entries])
    return Exit.OK


def simulate_command(args: argparse.Namespace) -> int:
    """``plexsync simulate``: the worker through a scenario on a fake clock."""
    from shell.plot import PlotUnavailable, check_target, plot_timeline  # noqa: PLC0415
    from shell.simulate import simulate  # noqa: PLC0415

    spec, overrides = simulation_spec(args)
    if args.plot:
        try:
            check_target(args.plot)  # now, not after a long simulation
        except PlotUnavailable as exc:
            raise CliError(str(exc)) from None
    progress = render.progress("jobs left", sys.stderr, total=spec.jobs)
    try:
        result = simulate(spec, overrides=overrides, progress=progress)
    except ValueError as exc:
        raise CliError(f"scenario config: {exc}") from None
    finally:
        if progress is not None:
            progress.end()
    for warning in result.warnings:
        print(f"plexsync: warning: {warning}", file=sys.stderr)
    if args.plot:
        try:
            plot_timeline(result, args.plot)
        except OSError as exc:
            raise CliError(f"cannot write {args.plot}: {exc.strerror}") from None
    if args.json:
        summary = result.summary()
        if args.plot:
            summary["plot"] = args.plot
        render.print_json(summary)
    else:
        render.print_rows(render.simulation_rows(result, args.plot))
    return Exit.OK


def _since(seconds: float | None) -> float | None:
    return None if seconds is None else time.time() - seconds


def _any_filter(args: argparse.Namespace) -> bool:
    return any(getattr(args, name, None) for name in ("reason", "since", "key"))


class _LogFormatter(logging.Formatter):
    """Log lines that start with the instant in UTC, marked as such: ``2026-11-29T14:03:07Z``."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 - logging's name
        del datefmt
        return iso(record.created)


def _log_to_stderr(level: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_LogFormatter("%(asctime)s %(levelname)-7s %(message)s"))
    logger = logging.getLogger("plexsync")
    logger.addHandler(handler)
    logger.setLevel(level)
