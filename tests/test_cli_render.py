"""What the command line shows, built in-process from values: rows, lines, ids, JSON, progress."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from core import BreakerKind, DeadLetterReason, ErrorClass, PauseCause, explain
from shell.api import OutageStatus, Status
from shell.cli import render
from shell.store import DeadLetterEntry
from tests.builders import T0, make_config

ISO_T0 = "2023-11-14T22:13:20Z"
"""``T0`` as the command line writes it."""


def make_status(**overrides: Any) -> Status:
    """An empty queue with a closed breaker; *overrides* replace single fields."""
    fields: dict[str, Any] = {
        "waiting": 0,
        "scheduled": 0,
        "running": 0,
        "done": 0,
        "dead_lettered": 0,
        "dead_lettered_by_reason": {r.value: 0 for r in DeadLetterReason},
        "oldest_waiting_age_seconds": None,
        "breaker": BreakerKind.CLOSED,
        "throttled_until_at": None,
        "outage": None,
    }
    fields.update(overrides)
    return Status(**fields)


def make_entry(**overrides: Any) -> DeadLetterEntry:
    """A dead letter of a permanent error at ``T0``; *overrides* replace single fields."""
    fields: dict[str, Any] = {
        "id": 7,
        "job_id": 3,
        "key": "scene:7",
        "reason": "permanent_error",
        "error_class": "permanent",
        "last_error": "",
        "attempts": 1,
        "enqueued_at": T0 - 60,
        "dead_lettered_at": T0,
        "superseded_at": None,
        "payload": '{"path": "/a.mkv"}',
        "history": (),
    }
    fields.update(overrides)
    return DeadLetterEntry(**fields)


@pytest.mark.parametrize(
    ("ids", "shown"),
    [
        ([5], "5"),
        ([1, 2, 3], "1, 2, 3"),
        ([4, 5, 6, 7], "4-7"),
        (list(range(1, 301)), "1-300"),
        (
            [1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23],
            "1, 3, 5, 7, 9, 11, 13, 15, 17, 19 and 2 more",
        ),
    ],
)
def test_id_list(ids: list[int], shown: str) -> None:
    """A few ids are listed, a run is a range, many others the first ten and a count."""
    assert render.id_list(ids) == shown


def test_status_rows_of_a_quiet_queue() -> None:
    """A closed breaker and no dead letters: no reasons, no throttle row."""
    rows = render.status_rows(make_status(waiting=2, oldest_waiting_age_seconds=250), now=T0)
    assert rows == [
        ("queue", "waiting 2, scheduled 0, running 0, done 0"),
        ("oldest job", "queued 4m10s ago"),
        ("breaker", "closed"),
        ("dead letters", "0"),
    ]


def test_status_rows_during_an_outage() -> None:
    """An open breaker says since when, why, how many probes and when the next one is."""
    outage = OutageStatus(
        cause=PauseCause.OUTAGE,
        detail="connection refused (ConnectionError)",
        started_at=T0 - 182,
        probes=6,
        next_probe_at=T0 + 100,
    )
    current = make_status(
        breaker=BreakerKind.OPEN,
        outage=outage,
        throttled_until_at=T0 + 30,
        dead_lettered=2,
        dead_lettered_by_reason={"permanent_error": 2, "not_found": 0},
    )
    rows = dict(render.status_rows(current, now=T0))
    assert rows["breaker"] == (
        f"open since {ISO_T0.replace('13:20', '10:18')} (3m2s, outage, 6 probes; "
        "next probe in 1m40s)"
    )
    assert rows["cause"] == "connection refused (ConnectionError)"
    assert rows["throttled"] == "for 30s"
    assert rows["dead letters"] == "2 (permanent_error 2)"


def test_a_probe_that_is_due_and_a_single_probe() -> None:
    """A next probe in the past reads ``due``; one probe is singular; no next probe, no clause."""
    due = OutageStatus(
        cause=PauseCause.AUTH, detail="401", started_at=T0, probes=1, next_probe_at=T0 - 1
    )
    rows = dict(render.status_rows(make_status(breaker=BreakerKind.HALF_OPEN, outage=due), T0))
    assert rows["breaker"] == f"half_open since {ISO_T0} (0s, auth, 1 probe; next probe due)"
    quiet = OutageStatus(
        cause=PauseCause.AUTH, detail="401", started_at=T0, probes=2, next_probe_at=None
    )
    rows = dict(render.status_rows(make_status(breaker=BreakerKind.OPEN, outage=quiet), T0))
    assert rows["breaker"] == f"open since {ISO_T0} (0s, auth, 2 probes)"


def test_a_past_throttle_is_not_shown() -> None:
    """A rate limit that has ended leaves no row."""
    rows = dict(render.status_rows(make_status(throttled_until_at=T0 - 5), now=T0))
    assert "throttled" not in rows


def test_dead_letter_line_and_rows() -> None:
    """The list's line marks a superseded entry; show's rows add when it was superseded."""
    entry = make_entry(superseded_at=T0 + 60)
    assert render.entry_line(entry) == (
        "7",
        "scene:7 (superseded)",
        "permanent_error",
        "permanent",
        "1",
        ISO_T0,
    )
    rows = dict(render.entry_rows(entry))
    assert rows["last error"] == "-"
    assert rows["superseded"] == f"{ISO_T0.replace('13:20', '14:20')} (a newer edit was queued)"
    assert "superseded" not in dict(render.entry_rows(make_entry()))
    assert len(render.entry_line(entry)) == len(render.ENTRY_HEADER)


@pytest.mark.parametrize(
    ("attempt", "line"),
    [
        ({}, "? -> ?"),
        (
            {"at": T0, "outcome": "permanent", "decision": "dead-letter", "reason": "x"},
            f"{ISO_T0} permanent -> dead-letter (x)",
        ),
        (
            {
                "at": T0,
                "outcome": "outage",
                "decision": "retry",
                "retry_at": T0 + 60,
                "charged": False,
                "message": "down",
            },
            (
                f"{ISO_T0} outage -> retry at {ISO_T0.replace('13:20', '14:20')} "
                "(no attempt charged) - down"
            ),
        ),
        ({"at": "garbage", "retry_at": "never", "message": ""}, "? -> ?"),
    ],
)
def test_attempt_line(attempt: dict[str, Any], line: str) -> None:
    """Each recorded part is shown; a missing or garbled part is left out or shown as ``?``."""
    assert render.attempt_line(attempt) == line


def test_print_json_writes_enums_by_value_and_tuples_as_lists(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Values, mappings and sequences of them come out as plain JSON."""
    render.print_json(
        {"breaker": BreakerKind.OPEN, "window": (1.5, 2), "causes": [PauseCause.AUTH]}
    )
    data = json.loads(capsys.readouterr().out)
    assert data == {"breaker": "open", "window": [1.5, 2], "causes": ["auth"]}


def test_print_json_writes_attrs_values_as_their_fields(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An attrs value (here the status, with an outage) comes out as its fields, nested."""
    outage = OutageStatus(
        cause=PauseCause.OUTAGE, detail="refused", started_at=T0, probes=2, next_probe_at=None
    )
    render.print_json(make_status(breaker=BreakerKind.OPEN, outage=outage))
    data = json.loads(capsys.readouterr().out)
    assert list(data)[:3] == ["waiting", "scheduled", "running"]
    assert data["breaker"] == "open"
    assert data["outage"] == {
        "cause": "outage",
        "detail": "refused",
        "started_at": T0,
        "probes": 2,
        "next_probe_at": None,
    }


def test_schedule_json_carries_the_whole_window() -> None:
    """A schedule's JSON has its fields (enums by value) and the whole window."""
    schedule = explain(make_config(max_retries=2))[0]
    data = render.schedule_json(schedule)
    assert data["error_class"] == ErrorClass.TRANSIENT.value
    assert data["then"] == "retries_exhausted"
    assert list(data["whole_window"]) == list(schedule.whole_window or ())
    assert [step["retry"] for step in data["steps"]] == [1, 2]
    json.dumps(data)


def test_entry_summary_leaves_out_payload_and_history() -> None:
    """The list's JSON is the entry without its payload and history."""
    summary = render.entry_summary(make_entry())
    assert "payload" not in summary
    assert "history" not in summary
    assert summary["key"] == "scene:7"


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_progress_only_on_a_terminal() -> None:
    """On a terminal the line is rewritten in place; elsewhere there is no progress at all."""
    assert render.progress("jobs left", io.StringIO()) is None
    stream = Terminal()
    show = render.progress("jobs left", stream, total=10)
    assert show is not None
    show(3)
    show(2, 5)
    assert stream.getvalue() == "\rjobs left: 3 of 10   \rjobs left: 2/5   "
