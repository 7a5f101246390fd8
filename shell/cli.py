"""The ``plexsync`` command line: everything an operator needs without opening the database.

Every command has ``--help``; every command that prints data has ``--json``. Exit status: 0 on
success, 1 with a one-line ``plexsync: error: ...`` for a mistake or a failure (bad settings, an
unknown DLQ id, an unusable database), 2 for a usage error, 130 when interrupted. A user's mistake
never prints a traceback.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, Final, NoReturn, TextIO

import attrs
from returns.result import Failure

import core
from core import (
    DeadLetterReason,
    PlexSyncConfig,
    Schedule,
    explain,
    format_duration,
    parse_duration,
)
from shell import dlq
from shell.api import Status, enqueue_many, open_store, status
from shell.fields import FIELDS, LIST_KEYS
from shell.settings import Settings, describe, load_settings
from shell.store import DeadLetterEntry, StoreError

EXIT_OK: Final = 0
EXIT_ERROR: Final = 1
EXIT_USAGE: Final = 2
EXIT_INTERRUPTED: Final = 130

REASONS: Final = tuple(reason.value for reason in DeadLetterReason)


class CliError(Exception):
    """A mistake or failure to report in one line, without a traceback."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _parser()
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


# ---------------------------------------------------------------------------- the parser
class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors in the same one-line form as every other error."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"plexsync: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="plexsync",
        description="Keep Plex metadata in step with a host application, through a durable queue.",
        epilog="Settings come from plexsync.toml (or --config) and PLEXSYNC_<SETTING> variables.",
    )
    parser.add_argument("--version", action="version", version=f"plexsync {core.__version__}")
    parser.add_argument(
        "--config", metavar="PATH", help="settings file (default: ./plexsync.toml if present)"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    run = _command(commands, "run", _run, "work the queue (until Ctrl-C, or --until-idle)")
    run.add_argument(
        "--until-idle", action="store_true", help="return once nothing can be worked right now"
    )
    run.add_argument("-v", "--verbose", action="store_true", help="log every job (DEBUG)")

    _add_enqueue(commands)
    _command(commands, "status", _status, "the queue, the breaker and the DLQ at a glance")
    _command(commands, "config", _config, "the effective settings (the token masked)")
    _command(commands, "explain", _explain, "the retry schedule of each error class")

    _add_dlq(commands)
    _add_simulate(commands)
    return parser


def _add_enqueue(commands: Any) -> None:  # noqa: ANN401 - argparse's subparsers action
    add = _command(commands, "enqueue", _enqueue, "queue metadata for an item")
    add.add_argument("--key", help="the host's id for the item, e.g. scene:42")
    add.add_argument("--path", help="the media file's full path (as the host sees it)")
    for field in FIELDS:
        if field.is_list:
            add.add_argument(
                field.flag, dest=field.key, action="append", metavar="NAME", help=field.help
            )
        else:
            add.add_argument(
                field.flag, dest=field.key, metavar=field.kind.value.upper(), help=field.help
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


def _add_dlq(commands: Any) -> None:  # noqa: ANN401
    dead = commands.add_parser("dlq", help="review, re-drive and purge the dead letter queue")
    dead.set_defaults(handler=lambda _args: _usage(dead))
    dlq_commands = dead.add_subparsers(dest="dlq_command", metavar="COMMAND", parser_class=_Parser)
    listing = _command(dlq_commands, "list", _dlq_list, "one line per dead letter, newest first")
    _filters(listing, key=True)
    listing.add_argument("--limit", type=_positive_int, metavar="N")
    show = _command(dlq_commands, "show", _dlq_show, "one dead letter in full")
    show.add_argument("id", type=_positive_int)
    retry = _command(dlq_commands, "retry", _dlq_retry, "queue dead letters again", data=True)
    retry.add_argument("ids", nargs="*", type=_positive_int, metavar="ID")
    retry.add_argument("--all", action="store_true", help="every entry matching the filters")
    _filters(retry, key=False)
    retry.add_argument("--dry-run", action="store_true", help="say what would happen, do nothing")
    purge = _command(dlq_commands, "purge", _dlq_purge, "delete dead letters", data=True)
    which = purge.add_mutually_exclusive_group(required=True)
    which.add_argument("--older-than", type=_duration, metavar="DURATION")
    which.add_argument("--all", action="store_true")
    purge.add_argument("--dry-run", action="store_true", help="count, delete nothing")
    export = _command(dlq_commands, "export", _dlq_export, "every dead letter as JSON", data=False)
    export.add_argument("--reason", choices=REASONS)


def _add_simulate(commands: Any) -> None:  # noqa: ANN401
    sim = _command(
        commands, "simulate", _simulate, "run the worker through a scenario on a fake clock"
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
    commands: Any,  # noqa: ANN401 - argparse's subparsers action has no public type
    name: str,
    handler: Callable[[argparse.Namespace], int],
    summary: str,
    *,
    data: bool = True,
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(name, help=summary, description=summary)
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


# ---------------------------------------------------------------------------- settings
_PLACEHOLDERS: Final = {"plex_url": "http://plex.invalid:32400", "plex_token": "unset"}


def _settings(args: argparse.Namespace, *, placeholders: bool = False) -> Settings:
    """The effective settings; with *placeholders*, a missing URL or token is tolerated (for
    commands that never talk to Plex).
    """
    defaults = _PLACEHOLDERS if placeholders else {}
    loaded = load_settings(args.config, os.environ, defaults=defaults)
    if isinstance(loaded, Failure):
        raise CliError(loaded.failure())
    return loaded.unwrap()


def _local_config(args: argparse.Namespace) -> PlexSyncConfig:
    """Settings for commands that only touch the database."""
    return _settings(args, placeholders=True).config


# ---------------------------------------------------------------------------- commands
def _run(args: argparse.Namespace) -> int:
    from shell.worker import run_worker  # noqa: PLC0415 - keeps `plexsync --help` quick

    config = _settings(args).config
    _log_to_stderr(logging.DEBUG if args.verbose else logging.INFO)
    report = run_worker(config, until_idle=args.until_idle)
    data = attrs.asdict(report)
    if args.json:
        _print_json(data)
    else:
        dead = ", ".join(f"{n} {r}" for r, n in sorted(report.dead_lettered.items())) or "none"
        print(
            f"done {report.done}, retried {report.retried}, dead-lettered {dead}, "
            f"Plex calls {report.plex_calls}, outages {report.outages}"
        )
    return EXIT_OK


def _enqueue(args: argparse.Namespace) -> int:
    config = _local_config(args)
    jobs = _jobs_from_json(args.from_json) if args.from_json else [_job_from_flags(args)]
    try:
        ids = enqueue_many(config, jobs)  # all or nothing: a bad job stores none of them
    except ValueError as exc:
        message = str(exc) if args.from_json else str(exc).split(": ", 1)[1]
        raise CliError(message) from None
    if args.json:
        _print_json({"job_ids": ids})
    else:
        print(f"queued {len(ids)} job{'s' if len(ids) != 1 else ''}: {_id_list(ids)}")
    return EXIT_OK


def _id_list(ids: Sequence[int]) -> str:
    """``1, 2, 3`` for a few ids, ``1-300`` for a run, the first ten and a count otherwise."""
    if len(ids) > 3 and list(ids) == list(range(ids[0], ids[0] + len(ids))):
        return f"{ids[0]}-{ids[-1]}"
    if len(ids) > 10:
        return ", ".join(map(str, ids[:10])) + f" and {len(ids) - 10} more"
    return ", ".join(map(str, ids))


def _job_from_flags(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    if not args.key or not args.path:
        raise CliError("enqueue needs --key and --path (or --from-json FILE)")
    metadata: dict[str, Any] = {"path": args.path}
    for field in FIELDS:
        value = getattr(args, field.key)
        if value is not None:
            metadata[field.key] = value
    for name in args.clear:
        metadata[name] = []
    return args.key, metadata


def _jobs_from_json(source: str) -> list[tuple[str, dict[str, Any]]]:
    try:
        text = sys.stdin.read() if source == "-" else _read_text(source)
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"{source}: not valid JSON: {exc}") from None
    items = data if isinstance(data, list) else [data]
    jobs = []
    for number, item in enumerate(items, start=1):
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise CliError(f"{source}: job {number} must be an object with a string 'key'")
        metadata = {name: value for name, value in item.items() if name != "key"}
        jobs.append((item["key"], metadata))
    return jobs


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from None


def _status(args: argparse.Namespace) -> int:
    config = _local_config(args)
    now = time.time()
    current = status(config, now=now)
    if args.json:
        _print_json(_jsonable(attrs.asdict(current)))
        return EXIT_OK
    oldest = current.oldest_waiting_age_seconds
    rows = [
        (
            "queue",
            (
                f"waiting {current.waiting}, scheduled {current.scheduled}, "
                f"running {current.running}, done {current.done}"
            ),
        ),
        ("oldest job", "none" if oldest is None else f"queued {format_duration(oldest)} ago"),
        ("breaker", _breaker_line(current, now)),
    ]
    if current.throttled_until_at is not None and current.throttled_until_at > now:
        rows.append(("throttled", f"for {format_duration(current.throttled_until_at - now)}"))
    by_reason = ", ".join(f"{r} {n}" for r, n in current.dead_lettered_by_reason.items() if n)
    rows.append(
        ("dead letters", f"{current.dead_lettered}" + (f" ({by_reason})" if by_reason else ""))
    )
    _print_rows(rows)
    return EXIT_OK


def _breaker_line(current: Status, now: float) -> str:
    outage = current.outage
    if outage is None:
        return current.breaker.value
    line = (
        f"{current.breaker.value} since {_iso(outage.started_at)} "
        f"({format_duration(now - outage.started_at)}, {outage.cause.value}, "
        f"{outage.probes} probe{'s' if outage.probes != 1 else ''}"
    )
    if outage.next_probe_at is not None:
        wait = outage.next_probe_at - now
        line += "; next probe " + (f"in {format_duration(wait)}" if wait > 0 else "due")
    return line + ")"


def _config(args: argparse.Namespace) -> int:
    described = describe(_settings(args))
    if args.json:
        _print_json(described)
    else:
        _print_rows(
            [(name, f"{info['value']}  [{info['source']}]") for name, info in described.items()]
        )
    return EXIT_OK


def _explain(args: argparse.Namespace) -> int:
    schedules = explain(_settings(args, placeholders=True).config)
    if args.json:
        _print_json([_schedule_json(s) for s in schedules])
    else:
        print(render_schedules(schedules))
    return EXIT_OK


def _dlq_list(args: argparse.Namespace) -> int:
    store = open_store(_local_config(args))
    entries = dlq.list_entries(
        store,
        reason=args.reason,
        since_at=_since(args.since),
        key=args.key,
        limit=args.limit,
    )
    if args.json:
        _print_json([_summary(e) for e in entries])
        return EXIT_OK
    if not entries:
        print("the dead letter queue is empty" if not _any_filter(args) else "no matching entries")
        return EXIT_OK
    header = ("ID", "KEY", "REASON", "ERROR", "ATTEMPTS", "DEAD-LETTERED")
    lines = [
        (
            str(e.id),
            e.key + (" (superseded)" if e.superseded_at is not None else ""),
            e.reason,
            e.error_class,
            str(e.attempts),
            _iso(e.dead_lettered_at),
        )
        for e in entries
    ]
    _print_table(header, lines)
    return EXIT_OK


def _dlq_show(args: argparse.Namespace) -> int:
    entry = dlq.get_entry(open_store(_local_config(args)), args.id)
    if entry is None:
        raise CliError(f"no dead letter with id {args.id} (see plexsync dlq list)")
    data = dlq.as_json(entry)
    if args.json:
        _print_json(data)
        return EXIT_OK
    rows = [
        ("id", str(entry.id)),
        ("key", entry.key),
        ("reason", entry.reason),
        ("error class", entry.error_class),
        ("last error", entry.last_error or "-"),
        ("attempts", str(entry.attempts)),
        ("first enqueued", _iso(entry.enqueued_at)),
        ("dead-lettered", _iso(entry.dead_lettered_at)),
    ]
    if entry.superseded_at is not None:
        rows.append(("superseded", f"{_iso(entry.superseded_at)} (a newer edit was queued)"))
    _print_rows(rows)
    print("payload:")
    print(json.dumps(data["payload"], indent=2, ensure_ascii=False))
    print("history:")
    for attempt in entry.history:
        print("  " + _attempt_line(attempt))
    return EXIT_OK


def _attempt_line(attempt: dict[str, Any]) -> str:
    at = attempt.get("at")
    when = _iso(at) if isinstance(at, int | float) else "?"
    parts = [when, str(attempt.get("outcome", "")), "->", str(attempt.get("decision", "?"))]
    if "retry_at" in attempt and isinstance(attempt["retry_at"], int | float):
        parts.append(f"at {_iso(attempt['retry_at'])}")
        if attempt.get("charged") is False:
            parts.append("(no attempt charged)")
    if "reason" in attempt:
        parts.append(f"({attempt['reason']})")
    if attempt.get("message"):
        parts.append(f"- {attempt['message']}")
    return " ".join(p for p in parts if p)


def _dlq_retry(args: argparse.Namespace) -> int:
    if bool(args.ids) == bool(args.all):
        raise CliError("give dead letter ids, or --all (with --reason / --since to narrow it)")
    if args.ids and (args.reason or args.since):
        raise CliError("--reason and --since narrow --all; they do not combine with ids")
    store = open_store(_local_config(args))
    chosen = dlq.snapshot(store, ids=args.ids, reason=args.reason, since_at=_since(args.since))
    progress = _progress("re-driving", sys.stderr) if len(chosen) > 20 else None
    report = dlq.redrive(store, chosen, now=time.time(), dry_run=args.dry_run, on_progress=progress)
    if args.json:
        _print_json(
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


def _dlq_purge(args: argparse.Namespace) -> int:
    store = open_store(_local_config(args))
    older_than_at = None if args.all else time.time() - args.older_than
    count = dlq.purge(store, older_than_at=older_than_at, dry_run=args.dry_run)
    if args.json:
        _print_json({"dry_run": args.dry_run, "purged": count})
    else:
        print(f"{'would purge' if args.dry_run else 'purged'} {count} dead letters")
    return EXIT_OK


def _dlq_export(args: argparse.Namespace) -> int:
    entries = dlq.list_entries(open_store(_local_config(args)), reason=args.reason)
    _print_json([dlq.as_json(e) for e in entries])
    return EXIT_OK


def _simulate(args: argparse.Namespace) -> int:
    from shell.plot import PlotUnavailable, check_available, plot_timeline  # noqa: PLC0415
    from shell.simulate import simulate  # noqa: PLC0415

    if args.plot:
        try:
            check_available()
        except PlotUnavailable as exc:
            raise CliError(str(exc)) from None

    spec, overrides = _simulation_spec(args)
    progress = _progress("jobs left", sys.stderr, total=spec.jobs)
    try:
        result = simulate(spec, overrides=overrides, progress=progress)
    except ValueError as exc:
        raise CliError(f"scenario config: {exc}") from None
    summary = result.summary()
    if args.plot:
        plot_timeline(result, args.plot)
        summary["plot"] = args.plot
    if args.json:
        _print_json(summary)
        return EXIT_OK
    dead = ", ".join(f"{r} {n}" for r, n in sorted(result.dead_lettered.items())) or "none"
    rows = [
        ("jobs", f"{spec.jobs}: {result.done} done, dead-lettered {dead}"),
        ("Plex calls", f"{result.plex_calls} in all"),
    ]
    if spec.outage_seconds:
        rows.append(
            (
                "during outage",
                (
                    f"{result.calls_during_outage} calls ({result.job_calls_during_outage} job "
                    "calls that found it down, the rest probes and health checks)"
                ),
            )
        )
        recovery = result.recovery_to_empty_seconds or 0.0
        rows.append(("recovery", f"queue empty {format_duration(recovery)} after Plex came back"))
    rows.append(
        (
            "time",
            (
                f"{format_duration(result.simulated_seconds)} simulated in "
                f"{result.wall_seconds:.2f} s of wall time"
            ),
        )
    )
    if args.plot:
        rows.append(("plot", args.plot))
    _print_rows(rows)
    return EXIT_OK


_SCENARIO_KEYS: Final = {
    "jobs": "jobs",
    "outage": "outage_seconds",
    "outage_start": "outage_start_seconds",
    "scan_delay": "scan_delay_seconds",
    "transient_rate": "transient_rate",
    "permanent_rate": "permanent_rate",
    "rate_limit": "rate_limit_per_minute",
    "seed": "seed",
}
"""Scenario keys (file keys and option names alike) -> SimulationSpec fields."""


def _simulation_spec(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """The scenario file's spec and config overrides, with the options on top."""
    from shell.simulate import SimulationSpec  # noqa: PLC0415

    fields, overrides = _scenario(args.scenario) if args.scenario else ({}, {})
    for option, name in _SCENARIO_KEYS.items():
        value = getattr(args, option)
        if value is not None:
            fields[name] = value
    try:
        return SimulationSpec(**fields), overrides
    except (TypeError, ValueError) as exc:
        raise CliError(f"scenario: {exc}") from None


def _scenario(path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A scenario file: spec keys at the top (durations as text or seconds), config overrides in
    a ``[config]`` table.
    """
    import tomllib  # noqa: PLC0415

    try:
        data = tomllib.loads(_read_text(path))
    except tomllib.TOMLDecodeError as exc:
        raise CliError(f"{path}: not valid TOML: {exc}") from None
    overrides = data.pop("config", {})
    names = _SCENARIO_KEYS
    spec: dict[str, Any] = {}
    for key, given in data.items():
        if key not in names:
            raise CliError(f"{path}: unknown scenario key {key!r} (known: {', '.join(names)})")
        value = given
        if names[key].endswith("_seconds") and isinstance(given, str):
            try:
                value = parse_duration(given)
            except ValueError as exc:
                raise CliError(f"{path}: {key}: {exc}") from None
        spec[names[key]] = value
    return spec, overrides


# ---------------------------------------------------------------------------- output
def render_schedules(schedules: Sequence[Schedule]) -> str:
    """The schedules as the text tables ``plexsync explain`` prints."""
    blocks = []
    for schedule in schedules:
        lines = [f"{schedule.error_class.value}: {schedule.summary}"]
        if schedule.steps:
            lines.append(
                f"  {'#':>5}  {'delay min / expected / max':>28}"
                f"  {'since first failure min / expected / max':>42}"
            )
            for step in schedule.steps:
                delay = " / ".join(
                    format_duration(s)
                    for s in (step.min_delay, step.expected_delay, step.max_delay)
                )
                elapsed = " / ".join(
                    format_duration(s)
                    for s in (step.min_elapsed, step.expected_elapsed, step.max_elapsed)
                )
                cut = "  (may pass the window: dead-lettered)" if step.may_be_cut else ""
                lines.append(f"  {step.retry:>5}  {delay:>28}  {elapsed:>42}{cut}")
        if schedule.whole_window is not None:
            window = " / ".join(format_duration(s) for s in schedule.whole_window)
            lines.append(f"  whole window: {window}")
        if schedule.repeat_delay is not None:
            every = format_duration(schedule.repeat_delay)
            last = schedule.steps[-1]
            jitter = " (plus jitter)" if last.max_delay > last.min_delay else ""
            lines.append(f"  then: every {every}{jitter} for as long as the cause lasts")
        elif schedule.then is not None:
            lines.append(f"  then: dead-letter ({schedule.then.value})")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _schedule_json(schedule: Schedule) -> dict[str, Any]:
    data: dict[str, Any] = _jsonable(attrs.asdict(schedule))
    data["whole_window"] = schedule.whole_window
    return data


def _summary(entry: DeadLetterEntry) -> dict[str, Any]:
    data = dlq.as_json(entry)
    del data["payload"], data["history"]
    return data


def _jsonable(value: Any) -> Any:  # noqa: ANN401
    """Enums by value, mappings and sequences recursively: ready for ``json.dumps``."""
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return getattr(value, "value", value)


def _print_json(data: object) -> None:
    print(json.dumps(_jsonable(data), indent=2, ensure_ascii=False))


def _print_rows(rows: Sequence[tuple[str, str]]) -> None:
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


def _print_table(header: Sequence[str], lines: Sequence[Sequence[str]]) -> None:
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
    for row in [header, *lines]:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def _iso(at: float) -> str:
    return dt.datetime.fromtimestamp(at, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _since(seconds: float | None) -> float | None:
    return None if seconds is None else time.time() - seconds


def _any_filter(args: argparse.Namespace) -> bool:
    return any(getattr(args, name, None) for name in ("reason", "since", "key"))


def _progress(
    label: str, stream: TextIO, *, total: int | None = None
) -> Callable[..., None] | None:
    """A progress line on a terminal; nothing when output is not a terminal."""
    if not stream.isatty():
        return None

    def show(done: int, of: int | None = None) -> None:
        count = f"{done}/{of}" if of is not None else f"{done}" + (f" of {total}" if total else "")
        stream.write(f"\r{label}: {count}   ")
        stream.flush()

    return show


def _log_to_stderr(level: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%Y-%m-%dT%H:%M:%S")
    )
    logger = logging.getLogger("plexsync")
    logger.addHandler(handler)
    logger.setLevel(level)


if __name__ == "__main__":
    sys.exit(main())
