"""The ``plexsync`` command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

import attrs

import core
from core import PlexSyncConfig, Schedule, explain, format_duration


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    result: int = args.handler(args)
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="plexsync",
        description="Keep Plex metadata in step with a host application, through a durable queue.",
    )
    parser.add_argument("--version", action="version", version=f"plexsync {core.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    explain_cmd = commands.add_parser(
        "explain",
        help="print the retry schedule of each error class",
        description="Print, for each error class, the delay before each retry (least / expected "
        "/ greatest) and the time since the first failure.",
    )
    explain_cmd.add_argument("--json", action="store_true", help="print JSON")
    explain_cmd.set_defaults(handler=_explain)
    return parser


def _explain(args: argparse.Namespace) -> int:
    # The schedule does not depend on where Plex is; defaults need a URL and token all the same.
    config = PlexSyncConfig(plex_url="http://plex.invalid:32400", plex_token="unused")  # noqa: S106
    schedules = explain(config)
    if args.json:
        print(json.dumps([_schedule_json(s) for s in schedules], indent=2))
    else:
        print(render_schedules(schedules))
    return 0


def _schedule_json(schedule: Schedule) -> dict[str, Any]:
    data = attrs.asdict(schedule, value_serializer=_enum_value)
    data["steps"] = [attrs.asdict(step) for step in schedule.steps]
    data["whole_window"] = schedule.whole_window
    return data


def _enum_value(instance: object, attribute: object, value: object) -> object:
    del instance, attribute
    return getattr(value, "value", value)


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
            lines.append(f"  then: every {every} (plus jitter) for as long as the cause lasts")
        elif schedule.then is not None:
            lines.append(f"  then: dead-letter ({schedule.then.value})")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


if __name__ == "__main__":
    sys.exit(main())
