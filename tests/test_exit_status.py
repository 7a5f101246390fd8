"""``plexsync run --until-idle`` tells cron and systemd, by its exit status, whether work was left
held and why; its log lines carry their instants with a zone. Real processes, real plexapi over
real HTTP to the fake Plex, or to a port where nothing listens.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import pytest

from core import PauseCause
from shell.cli.errors import HELD, MEANING, Exit
from tests.builders import TOKEN
from tests.cli_process import Cli
from tests.fake_plex import FakePlex

LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (DEBUG|INFO|WARNING|ERROR) +\S")
"""A log line: the instant in UTC, marked Z, then the level."""


@pytest.fixture
def fake() -> Iterator[FakePlex]:
    with FakePlex(TOKEN) as server:
        server.add_section("Movies", locations=["/media"])
        server.add_item(1, "/media/a.mkv", title="A")
        yield server


def run_until_idle(cli: Cli, url: str, **settings: str) -> tuple[int, str]:
    """Queue one job, run until idle; the exit status and what was logged."""
    env = {"PLEXSYNC_PLEX_URL": url, "PLEXSYNC_PLEX_TOKEN": TOKEN}
    env |= {f"PLEXSYNC_{name.upper()}": value for name, value in settings.items()}
    assert cli("enqueue", "--key", "k", "--path", "/media/a.mkv", "--title", "T").returncode == 0
    result = cli("run", "--until-idle", env=env)
    assert "Traceback" not in result.stderr
    return result.returncode, result.stderr


def test_work_done_exits_zero(cli: Cli, fake: FakePlex) -> None:
    """Nothing held: exit 0."""
    status, _ = run_until_idle(cli, fake.url)
    assert status == Exit.OK
    assert fake.item(1000).title == "T"


def test_plex_down_exits_three(cli: Cli) -> None:
    """Nobody at the URL: work is held as an outage, exit 3, and the log says why."""
    with socket.socket() as probe:  # bound, not listening: refused, and no one else's meanwhile
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        status, log = run_until_idle(cli, f"http://127.0.0.1:{port}")
    assert status == Exit.PLEX_UNAVAILABLE
    assert f"Plex at http://127.0.0.1:{port} is unavailable: connection refused" in log


def test_a_rejected_token_exits_four(cli: Cli, fake: FakePlex) -> None:
    """Plex refuses the token: exit 4."""
    status, log = run_until_idle(cli, fake.url, plex_token="wrong-token")
    assert status == Exit.TOKEN_REJECTED
    assert "rejects the token (check plex_token)" in log


def test_settings_that_cannot_work_exit_five(cli: Cli, fake: FakePlex) -> None:
    """A library section Plex does not have: exit 5."""
    status, log = run_until_idle(cli, fake.url, library_sections="Films")
    assert status == Exit.MISCONFIGURED
    assert "check library_sections" in log


def test_log_lines_carry_their_instant_with_a_zone(cli: Cli, fake: FakePlex) -> None:
    """Every log line starts with a UTC instant marked Z: never a time without a zone."""
    _, log = run_until_idle(cli, fake.url, plex_token="wrong-token")
    lines = log.splitlines()
    assert lines
    for line in lines:
        assert LOG_LINE.match(line), line


def test_every_exit_status_is_explained_and_every_hold_has_one() -> None:
    """The table the README is generated from covers every status; whatever holds work when
    `run --until-idle` stops has a status that is not success (a cause a person fixes the same
    way shares one: settings or certificate; Plex down or failing edits).
    """
    assert set(MEANING) == set(Exit)
    assert set(HELD) == set(PauseCause)
    assert Exit.OK not in HELD.values()
