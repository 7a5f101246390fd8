"""Garbage in, a clear error out, and nothing lost.

Hypothesis generates malformed metadata and config values; corrupted rows are written straight
into a real database; and the CLI meets files that are not SQLite or cannot be written.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import shell
from core import PlexSyncConfig
from shell import FakeClock, Scenario, SimulatedPlex, dlq
from shell.fields import KNOWN_KEYS, LIST_KEYS
from shell.payload import MAX_PATH, MAX_SUMMARY, MAX_TAG, MAX_TEXT
from shell.store import Store
from tests.builders import make_config, metadata

SCALARS = ("title", "studio", "tagline")


@pytest.fixture(scope="module")
def queue() -> Iterator[PlexSyncConfig]:
    """One database for every generated example: each must leave it empty."""
    with tempfile.TemporaryDirectory() as directory:
        yield make_config(db_path=os.path.join(directory, "fuzz.db"))


def wrong_types() -> st.SearchStrategy[object]:
    return st.one_of(
        st.integers(),
        st.floats(allow_nan=True),
        st.booleans(),
        st.binary(max_size=10),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    )


def control_text() -> st.SearchStrategy[str]:
    bad = st.sampled_from(["\x00", "\x01", "\x07", "\x1b", "\x7f", "\x0b", "\x0c"])
    return st.builds(lambda a, c, b: f"{a}{c}{b}", st.text(max_size=5), bad, st.text(max_size=5))


@st.composite
def malformed(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    """Valid metadata spoiled in exactly one way, and the key the error must name."""
    data: dict[str, Any] = metadata(draw(st.integers(0, 99)), genres=["Drama"], summary="ok")
    kind = draw(
        st.sampled_from(["unknown", "type", "huge", "control", "date", "tag", "path", "list-type"])
    )
    match kind:
        case "unknown":
            key = draw(st.text(min_size=1, max_size=12).filter(lambda k: k not in KNOWN_KEYS))
            data[key] = draw(st.text(max_size=5))
        case "type":
            key = draw(st.sampled_from(["path", *SCALARS, "summary"]))
            data[key] = draw(wrong_types() | st.lists(st.text(), max_size=2))
        case "huge":
            key, limit = draw(
                st.sampled_from([("path", MAX_PATH), ("title", MAX_TEXT), ("summary", MAX_SUMMARY)])
            )
            data[key] = "/" + "x" * (limit + draw(st.integers(0, 1000)))
        case "control":
            key = draw(st.sampled_from(["path", *SCALARS, "summary"]))
            data[key] = "/" + draw(control_text())
        case "date":
            key = "originally_available_at"
            data[key] = draw(
                st.one_of(
                    st.sampled_from(["2021-02-29", "2020-13-01", "0000-00-00", "2020-1-1"]),
                    st.text(max_size=12),
                    st.integers(),
                )
            )
        case "tag":
            key = draw(st.sampled_from(LIST_KEYS))
            data[key] = [
                "ok",
                draw(st.one_of(wrong_types(), control_text(), st.just("x" * (MAX_TAG + 1)))),
            ]
        case "path":
            key = "path"
            data[key] = draw(st.sampled_from(["", "   ", "relative/a.mkv", "a.mkv", "~/a.mkv"]))
        case _:
            key = draw(st.sampled_from(LIST_KEYS))
            data[key] = draw(st.one_of(st.text(max_size=5), st.integers(), st.none()))
            if data[key] is None:  # None leaves a field alone: spoil it another way
                data[key] = {"a": 1}
    return data, key


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(malformed())
def test_malformed_metadata_is_refused_naming_the_key(
    queue: PlexSyncConfig, spoiled: tuple[dict[str, Any], str]
) -> None:
    """Every malformed job raises ValueError that names the key at fault; nothing is stored."""
    data, key = spoiled
    with pytest.raises(ValueError, match=r"\S") as caught:
        shell.enqueue(queue, key="fuzz", metadata=data)
    message = str(caught.value)
    assert repr(key) in message, message
    assert shell.status(queue).waiting == 0


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(), st.text(max_size=50))
def test_any_text_key_or_value_is_stored_or_refused_never_crashes(
    queue: PlexSyncConfig, key: str, title: str
) -> None:
    """Arbitrary text either goes in (and comes back out unchanged) or is a ValueError."""
    try:
        job = shell.enqueue(queue, key=key, metadata={"path": "/a.mkv", "title": title})
    except ValueError:
        return
    store = Store.open(queue.db_path)
    try:
        [row] = [row for row in store.jobs.rows() if row.id == job]
        assert row.key == key
        assert isinstance(row.payload, str)
        assert json.loads(row.payload)["title"] == title
    finally:
        store.close()


_FIELDS = {field.name: field for field in attrs.fields(PlexSyncConfig)}


_BAD_BY_NAME: dict[str, list[object]] = {
    "plex_url": ["", "plex", "ftp://plex", "http://", 42, None],
    "plex_token": ["", "   ", "has space", 7, None],
    "plex_ca_bundle": ["", "   ", 7],
    "plex_verify_certificate": ["false", "yes", 1, 0, None],
    "adaptive_concurrency": ["false", "yes", 1, 0, None],
    "max_in_flight": [0, -1, 1.5, "3", True, None],
    "db_path": ["", "   ", 7, None],
    "sqlite_synchronous": ["off", "", "FAST", 1],
    "library_sections": [("",), (" ",), (1,)],
    "path_mappings": [("a=b",), (None,), ({"host": "/a"},)],
    "breaker_failure_threshold": [0, -1, 1.5, "3", None],
    "jitter_fraction": [-0.1, 1.01, float("nan"), "0.5", None],
    "read_back_fraction": [-0.1, 1.01, float("nan"), "0.5", None],
    "retry_backoff_base": [0.5, 0, -2, float("inf"), None],
}
_BAD_COUNTS: list[object] = [-1, -100, 1.5, "3", True, None]
_BAD_DURATIONS: list[object] = [0, -1.0, float("nan"), float("inf"), "5", None, True]


@st.composite
def bad_settings(draw: st.DrawFn) -> tuple[str, object]:
    """A setting and a value it must refuse."""
    name = draw(st.sampled_from(sorted(_FIELDS)))
    default = _FIELDS[name].default
    choices = _BAD_BY_NAME.get(name) or (
        _BAD_COUNTS if isinstance(default, int) else _BAD_DURATIONS
    )
    return name, draw(st.sampled_from(choices))


@settings(max_examples=300, deadline=None)
@given(bad_settings())
def test_malformed_settings_are_refused_naming_the_setting(bad: tuple[str, object]) -> None:
    """Every bad value stops the config being built, with a message starting with its name."""
    name, value = bad
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        make_config(**{name: value})


garbage_payloads = st.one_of(
    st.text(max_size=40),
    st.binary(max_size=40),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.sampled_from(
        [
            "{}",
            "[]",
            "null",
            '{"path": 7}',
            '{"path": "/a", "genres": "x"}',
            '{"path": "/a", "date": "2020-01-01"}',
            '{"path": "/a", "title": "\\u0000"}',
            "[" * 5000,
        ]
    ),
)


@settings(max_examples=25, deadline=None)
@given(st.lists(garbage_payloads, min_size=1, max_size=5))
def test_corrupted_rows_go_to_the_dlq_and_the_worker_goes_on(garbage: list[object]) -> None:
    """Rows spoiled behind plexsync's back are dead-lettered as invalid payloads; the good
    jobs around them are done.
    """
    with tempfile.TemporaryDirectory() as directory:
        config = make_config(db_path=os.path.join(directory, "q.db"))
        clock = FakeClock()
        jobs = [(f"good:{n}", metadata(n)) for n in range(3)]
        jobs += [(f"bad:{n}", metadata(100 + n)) for n in range(len(garbage))]
        shell.enqueue_many(config, jobs, now=clock.now())
        raw = sqlite3.connect(config.db_path)
        for n, payload in enumerate(garbage):
            raw.execute("UPDATE jobs SET payload = ? WHERE key = ?", (payload, f"bad:{n}"))
        raw.commit()
        raw.close()
        report = shell.run_worker(
            config, clock=clock, plex=SimulatedPlex(Scenario(), clock), until_idle=True
        )
        invalid = report.dead_lettered.get("invalid_payload", 0)
        assert report.done + invalid == len(jobs)
        assert report.done >= 3
        assert shell.status(config).waiting == 0
        store = Store.open(config.db_path)
        try:
            for entry in dlq.list_entries(store):  # every entry can be shown and exported
                json.dumps(dlq.as_json(entry))
        finally:
            store.close()


def plexsync(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("plexsync", path=os.path.dirname(sys.executable))
    command = [exe] if exe else [sys.executable, "-m", "shell.cli"]
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, env=env, check=False, timeout=60
    )


@contextlib.contextmanager
def unwritable(path: Path) -> Iterator[None]:
    """Make *path* read-only even for root (immutable), or skip where that cannot be done."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o444 if path.is_file() else 0o555)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    if (
        shutil.which("chattr") is None
        or subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False).returncode
    ):
        pytest.skip("cannot make a file read-only for root here (no chattr +i)")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


@pytest.mark.parametrize("command", [["status"], ["dlq", "list"], ["run", "--until-idle"]])
def test_a_file_that_is_not_sqlite_is_one_line_naming_it(
    tmp_path: Path, command: list[str]
) -> None:
    """Any command on garbage at db_path: exit 1, one line naming the file, no traceback."""
    path = tmp_path / "queue.db"
    path.write_bytes(os.urandom(4096))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLEXSYNC_")}
    env |= {"PLEXSYNC_DB_PATH": str(path), "PLEXSYNC_PLEX_URL": "http://127.0.0.1:9"}
    env["PLEXSYNC_PLEX_TOKEN"] = "t"
    result = plexsync(env, *command)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        f"plexsync: error: cannot use the queue database {path}: the file is not a SQLite database"
    )


def test_a_read_only_database_is_one_line_naming_it(tmp_path: Path) -> None:
    """Reading still works; writing stops with one line naming the file, and nothing changes."""
    path = tmp_path / "queue.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLEXSYNC_")}
    env["PLEXSYNC_DB_PATH"] = str(path)
    assert plexsync(env, "enqueue", "--key", "a", "--path", "/a.mkv").returncode == 0
    before = path.read_bytes()
    with unwritable(path):
        assert plexsync(env, "status").returncode == 0
        result = plexsync(env, "enqueue", "--key", "b", "--path", "/b.mkv")
        assert result.returncode == 1
        assert "Traceback" not in result.stderr
        assert result.stderr.strip() == (
            f"plexsync: error: {path}: the file (or its folder) is not writable"
        )
    assert path.read_bytes() == before
