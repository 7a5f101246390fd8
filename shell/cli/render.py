"""How ``plexsync`` shows things: text tables and name/value rows for people, JSON for scripts,
instants as UTC ISO 8601 and durations as ``1h2m3s``.

The functions that build rows or lines are pure; only the ``print_*`` ones and ``progress``
write.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final, TextIO

from core import Schedule, counted, format_duration
from shell import dlq
from shell.api import Status
from shell.serialise import jsonable
from shell.store import DeadLetterEntry
from shell.times import iso

if TYPE_CHECKING:
    from shell.check import CheckReport
    from shell.simulate import SimulationResult
    from shell.worker import WorkerReport

Rows = list[tuple[str, str]]
"""Name/value rows, printed as two aligned columns."""


# ---------------------------------------------------------------------------- text
def run_line(report: WorkerReport) -> str:
    """What ``plexsync run`` did, in one line."""
    dead = ", ".join(f"{n} {r}" for r, n in sorted(report.dead_lettered.items())) or "none"
    return (
        f"done {report.done}, retried {report.retried}, dead-lettered {dead}, "
        f"Plex calls {report.plex_calls}, outages {report.outages}"
    )


def id_list(ids: Sequence[int]) -> str:
    """``1, 2, 3`` for a few ids, ``1-300`` for a run, the first ten and a count otherwise."""
    if len(ids) > 3 and list(ids) == list(range(ids[0], ids[0] + len(ids))):
        return f"{ids[0]}-{ids[-1]}"
    if len(ids) > 10:
        return ", ".join(map(str, ids[:10])) + f" and {len(ids) - 10} more"
    return ", ".join(map(str, ids))


def status_rows(current: Status, now: float) -> Rows:
    """The queue, the breaker and the DLQ at *now*."""
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
    if current.outage is not None:
        rows.append(("cause", current.outage.detail))
    if current.throttled_until_at is not None and current.throttled_until_at > now:
        rows.append(("throttled", f"for {format_duration(current.throttled_until_at - now)}"))
    by_reason = ", ".join(f"{r} {n}" for r, n in current.dead_lettered_by_reason.items() if n)
    rows.append(
        ("dead letters", f"{current.dead_lettered}" + (f" ({by_reason})" if by_reason else ""))
    )
    return rows


def _breaker_line(current: Status, now: float) -> str:
    outage = current.outage
    if outage is None:
        return current.breaker.value
    line = (
        f"{current.breaker.value} since {iso(outage.started_at)} "
        f"({format_duration(now - outage.started_at)}, {outage.cause.value}, "
        f"{outage.probes} probe{'s' if outage.probes != 1 else ''}"
    )
    if outage.next_probe_at is not None:
        wait = outage.next_probe_at - now
        line += "; next probe " + (f"in {format_duration(wait)}" if wait > 0 else "due")
    return line + ")"


def check_rows(report: CheckReport) -> Rows:
    """What ``plexsync check`` found: the server, the sections, each path, each problem."""
    rows: Rows = [("Plex", report.plex_url + (f": {report.server}" if report.server else ""))]
    if report.server is not None:
        rows.append(("token", "accepted"))
    rows += [
        ("section", f"{s.title!r} ({s.kind}): {', '.join(s.folders) or 'no folders'}")
        for s in report.sections
    ]
    for sample in report.paths:
        how = f"-> {sample.plex_path}" if sample.mapped else "(no path_mappings entry applies)"
        found = f": {sample.item}" if sample.item else ""
        rows.append(("path", f"{sample.host_path} {how}: {sample.verdict}{found}"))
    if report.sections and not report.paths:
        rows.append(("path", "none queued to look up: give --path HOST_PATH"))
    rows += [("problem", problem.what) for problem in report.problems]
    verdict = counted(len(report.problems), "problem") if report.problems else "no problems found"
    rows.append(("result", verdict))
    return rows


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


ENTRY_HEADER: Final = ("ID", "KEY", "REASON", "ERROR", "ATTEMPTS", "DEAD-LETTERED")
"""The columns of ``plexsync dlq list``."""


def entry_line(entry: DeadLetterEntry) -> tuple[str, ...]:
    """One dead letter as a row of ``plexsync dlq list``'s table (see ``ENTRY_HEADER``)."""
    return (
        str(entry.id),
        entry.key + (" (superseded)" if entry.superseded_at is not None else ""),
        entry.reason,
        entry.error_class,
        str(entry.attempts),
        iso(entry.dead_lettered_at),
    )


def entry_rows(entry: DeadLetterEntry) -> Rows:
    """One dead letter's fields, for ``plexsync dlq show`` (its payload and history follow)."""
    rows = [
        ("id", str(entry.id)),
        ("key", entry.key),
        ("reason", entry.reason),
        ("error class", entry.error_class),
        ("last error", entry.last_error or "-"),
        ("attempts", str(entry.attempts)),
        ("first enqueued", iso(entry.enqueued_at)),
        ("dead-lettered", iso(entry.dead_lettered_at)),
    ]
    if entry.superseded_at is not None:
        rows.append(("superseded", f"{iso(entry.superseded_at)} (a newer edit was queued)"))
    return rows


def attempt_line(attempt: dict[str, Any]) -> str:
    """One attempt of a dead letter's history; tolerant of records missing any part."""
    at = attempt.get("at")
    when = iso(at) if isinstance(at, int | float) else "?"
    parts = [when, str(attempt.get("outcome", "")), "->", str(attempt.get("decision", "?"))]
    if "retry_at" in attempt and isinstance(attempt["retry_at"], int | float):
        parts.append(f"at {iso(attempt['retry_at'])}")
        if attempt.get("charged") is False:
            parts.append("(no attempt charged)")
    if "reason" in attempt:
        parts.append(f"({attempt['reason']})")
    if attempt.get("message"):
        parts.append(f"- {attempt['message']}")
    return " ".join(p for p in parts if p)


def simulation_rows(result: SimulationResult, plot: str | None) -> Rows:
    """What ``plexsync simulate`` found, and where it drew the timeline (if it did)."""
    spec = result.spec
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
                    f"{counted(result.calls_during_outage, 'call')} "
                    f"({counted(result.job_calls_during_outage, 'job call')} that found it down, "
                    "the rest probes and health checks)"
                ),
            )
        )
        recovery = result.recovery_to_empty_seconds
        rows.append(
            (
                "recovery",
                "none: the queue was empty before the outage began"
                if recovery is None
                else f"queue empty {format_duration(recovery)} after Plex came back",
            )
        )
    rows.append(
        (
            "time",
            (
                f"{format_duration(result.simulated_seconds)} simulated in "
                f"{result.wall_seconds:.2f} s of wall time"
            ),
        )
    )
    if plot:
        rows.append(("plot", plot))
    return rows


# ---------------------------------------------------------------------------- JSON
def schedule_json(schedule: Schedule) -> dict[str, Any]:
    """A schedule with its whole window (a property, so not among its fields)."""
    data: dict[str, Any] = jsonable(schedule)
    data["whole_window"] = jsonable(schedule.whole_window)
    return data


def entry_summary(entry: DeadLetterEntry) -> dict[str, Any]:
    """A dead letter without its payload and history, for ``plexsync dlq list --json``."""
    data = dlq.as_json(entry)
    del data["payload"], data["history"]
    return data


# ---------------------------------------------------------------------------- writing
def print_json(data: object) -> None:
    """*data* (attrs values, enums, mappings, sequences: see ``shell.serialise``) as indented JSON
    on stdout.
    """
    print(json.dumps(jsonable(data), indent=2, ensure_ascii=False))


def print_rows(rows: Sequence[tuple[str, str]]) -> None:
    """Name/value rows, the values aligned."""
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


def print_table(header: Sequence[str], lines: Sequence[Sequence[str]]) -> None:
    """A table with a header row, each column as wide as its widest cell."""
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
    for row in [header, *lines]:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


class Progress:
    """A progress line on a terminal, rewritten in place; ``end()`` clears it, so that what is
    printed next starts on a line of its own.
    """

    def __init__(self, label: str, stream: TextIO, *, total: int | None) -> None:
        self.label = label
        self.stream = stream
        self.total = total
        self.shown = False

    def __call__(self, done: int, of: int | None = None) -> None:
        """Show *done* (of *of*, or of the total given at the start)."""
        if of is not None:
            count = f"{done}/{of}"
        else:
            count = f"{done}" + (f" of {self.total}" if self.total else "")
        self.stream.write(f"\r{self.label}: {count}   ")
        self.stream.flush()
        self.shown = True

    def end(self) -> None:
        """Clear the line, if anything was shown on it."""
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False


def progress(label: str, stream: TextIO, *, total: int | None = None) -> Progress | None:
    """A progress line on a terminal; nothing when output is not a terminal."""
    return Progress(label, stream, total=total) if stream.isatty() else None
