"""Fixtures shared by the unit and integration tests."""

from __future__ import annotations

import pytest

from core import PlexSyncConfig
from tests.builders import make_config


@pytest.fixture
def config() -> PlexSyncConfig:
    """The default config."""
    return make_config()
