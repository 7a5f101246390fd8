"""Outcomes, and how a health check settles a failure that blames the whole server."""

from __future__ import annotations

import pytest

from core import ErrorClass, Failure, Health, Success, confirm, needs_confirmation

E = ErrorClass


@pytest.mark.parametrize(
    ("blamed", "health", "settled"),
    [
        (E.OUTAGE, Health.DOWN, E.OUTAGE),
        (E.OUTAGE, Health.UP, E.TRANSIENT),
        (E.OUTAGE, Health.UNAUTHORIZED, E.AUTH),
        (E.AUTH, Health.UNAUTHORIZED, E.AUTH),
        (E.AUTH, Health.UP, E.PERMANENT),
        (E.AUTH, Health.DOWN, E.OUTAGE),
    ],
)
def test_confirm(blamed: ErrorClass, health: Health, settled: ErrorClass) -> None:
    """Plex down is the breaker's business; Plex up means the job's own call failed."""
    failure = Failure(blamed, "(502) bad gateway")
    assert needs_confirmation(failure)
    result = confirm(failure, health)
    assert isinstance(result, Failure)
    assert result.error_class is settled
    if settled is blamed:
        assert result is failure
    else:
        assert result.message == f"(502) bad gateway (health check: Plex {health.value})"


@pytest.mark.parametrize(
    "outcome",
    [
        Success(),
        Failure(E.TRANSIENT),
        Failure(E.NOT_FOUND),
        Failure(E.PERMANENT),
        Failure(E.RATE_LIMITED, retry_after_at=5.0),
        Failure(E.INVALID_PAYLOAD),
        Failure(E.CRASHED),
    ],
)
def test_job_level_outcomes_need_no_health_check(outcome: Success | Failure) -> None:
    """Outcomes that do not blame the server pass through unchanged."""
    assert not needs_confirmation(outcome)
    assert confirm(outcome, Health.DOWN) is outcome


def test_only_rate_limiting_carries_a_retry_after() -> None:
    """A server hint on any other class is a classifier bug, refused at construction."""
    with pytest.raises(ValueError, match="transient cannot carry one"):
        Failure(E.TRANSIENT, retry_after_at=5.0)
