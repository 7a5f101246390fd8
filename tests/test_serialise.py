"""The one converter for JSON output: enums by value, sequences as lists, numbers as they are."""

from __future__ import annotations

import json
import math
from collections import Counter

from core import BreakerKind, DeadLetterReason, PathMapping, PauseCause, explain
from shell.serialise import jsonable
from shell.worker import WorkerReport
from tests.builders import T0, make_config


def test_enums_become_their_values() -> None:
    """An enum anywhere, alone or inside a container, is written as its value."""
    assert jsonable(BreakerKind.HALF_OPEN) == "half_open"
    assert jsonable({"why": [DeadLetterReason.NOT_FOUND]}) == {"why": ["not_found"]}


def test_tuples_become_lists_however_deep() -> None:
    """Tuples, nested or not, are lists; so the output reads the same as JSON parsed back."""
    assert jsonable((1, (2, (3,)))) == [1, [2, [3]]]
    assert jsonable({"a": ()}) == {"a": []}


def test_numbers_strings_and_none_stay_as_they_are() -> None:
    """Floats are not rounded, ints not made floats, and ``None`` is ``None``."""
    value = {"f": 0.1 + 0.2, "i": 3, "s": "x", "n": None, "t": True}
    assert jsonable(value) == value
    assert type(jsonable(3)) is int
    assert math.isnan(jsonable(math.nan))


def test_attrs_values_become_dicts_of_their_fields_in_order() -> None:
    """A frozen value is a dict in field order; its mappings (even a Counter) are dicts."""
    report = WorkerReport(
        done=2,
        retried=1,
        dead_lettered=Counter(not_found=1),
        plex_calls=4,
        probes=0,
        outages=0,
        started_at=T0,
        stopped_at=T0 + 1.5,
        held=PauseCause.AUTH,
    )
    data = jsonable(report)
    assert data == {
        "done": 2,
        "retried": 1,
        "dead_lettered": {"not_found": 1},
        "plex_calls": 4,
        "probes": 0,
        "outages": 0,
        "started_at": T0,
        "stopped_at": T0 + 1.5,
        "lost": 0,
        "held": "auth",
    }
    assert type(data["dead_lettered"]) is dict
    assert json.loads(json.dumps(data)) == data


def test_a_schedule_is_plain_json_all_the_way_down() -> None:
    """A schedule (enums, a tuple of steps) survives a JSON round trip unchanged."""
    data = jsonable(explain(make_config())[0])
    assert data["error_class"] == "transient"
    assert isinstance(data["steps"], list)
    assert json.loads(json.dumps(data)) == data


def test_the_shared_converter_has_no_form_of_its_own_for_a_path_mapping() -> None:
    """Only settings write a mapping as ``host=plex``; everywhere else it is its fields."""
    assert jsonable(PathMapping("/a", "/b")) == {"host_prefix": "/a", "plex_prefix": "/b"}
