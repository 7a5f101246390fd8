"""Builders for tests: a config with readable numbers, a job or breaker in any state."""

from __future__ import annotations

from typing import Any

from core import Breaker, Closed, Job, PlexSyncConfig
from core.breaker import Signal, observe

T0 = 1_700_000_000.0
"""A fixed instant for tests: the clock is a float stepped by hand."""

TOKEN = "s3cret-token-Zq9"
"""The Plex token tests use; secrets tests search for it everywhere."""


def make_config(**overrides: Any) -> PlexSyncConfig:
    """A valid config; *overrides* replace single fields."""
    fields: dict[str, Any] = {"plex_url": "http://127.0.0.1:32400", "plex_token": TOKEN}
    fields.update(overrides)
    return PlexSyncConfig(**fields)


def make_job(**overrides: Any) -> Job:
    """A job in any state: a fresh one unless *overrides* set its counters."""
    fields: dict[str, Any] = {"id": 1, "key": "scene:1", "first_enqueued_at": T0}
    fields.update(overrides)
    return Job(**fields)


def open_breaker(config: PlexSyncConfig, *, at: float = T0) -> Breaker:
    """A breaker that tripped at *at*."""
    closed = Breaker(state=Closed(consecutive_failures=config.breaker_failure_threshold - 1))
    opened, _ = observe(closed, Signal.TRIPPED, now=at, config=config)
    return opened


def db_config(directory: object, **overrides: Any) -> PlexSyncConfig:
    """A config whose queue lives in *directory* (a pytest tmp_path)."""
    return make_config(db_path=f"{directory}/plexsync.db", **overrides)


def metadata(n: int, **fields: Any) -> dict[str, Any]:
    """Metadata for item *n*: a path and a title, plus *fields*."""
    return {"path": f"/media/item-{n:05d}.mkv", "title": f"Item {n}", **fields}
