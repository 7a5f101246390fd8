"""Fixtures shared by the unit and integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core import PlexSyncConfig
from tests.builders import TOKEN, make_config
from tests.cli_process import Cli
from tests.fake_plex import FakePlex
from tests.fake_stash import FakeStash
from tests.small_disk import SmallDisk, mounted
from tests.stash_plugin import STASH_KEY, InstalledPlugin


@pytest.fixture
def config() -> PlexSyncConfig:
    """The default config."""
    return make_config()


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    """``plexsync`` as a real process, in *tmp_path*, its queue there."""
    return Cli(tmp_path)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    """A small real filesystem (a size-limited tmpfs) to fill; the test skips if it cannot mount."""
    yield from mounted(tmp_path)


@pytest.fixture
def plex() -> Iterator[FakePlex]:
    """A fake Plex with one movie section, "Movies", at /media (tests that need another define
    their own).
    """
    with FakePlex(TOKEN) as server:
        server.add_section("Movies", locations=["/media"])
        yield server


@pytest.fixture
def stash() -> Iterator[FakeStash]:
    """A fake Stash with a login and an API key."""
    with FakeStash(username="admin", api_key=STASH_KEY) as server:
        yield server


@pytest.fixture
def plugin(tmp_path: Path, stash: FakeStash, plex: FakePlex) -> Iterator[InstalledPlugin]:
    """The Stash plugin installed for *stash* and *plex*; its detached workers stopped after."""
    with InstalledPlugin(tmp_path, stash, plex) as installed:
        yield installed
