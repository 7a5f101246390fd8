"""Fixtures shared by the unit and integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core import PlexSyncConfig
from tests.builders import make_config
from tests.cli_process import Cli
from tests.small_disk import SmallDisk, mounted


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
