"""Fixtures shared by the unit and integration tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from core import PlexSyncConfig
from tests.builders import make_config
from tests.cli_process import Cli


@pytest.fixture
def config() -> PlexSyncConfig:
    """The default config."""
    return make_config()


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    """``plexsync`` as a real process, in *tmp_path*, its queue there."""
    return Cli(tmp_path)
