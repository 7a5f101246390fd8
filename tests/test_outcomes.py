"""Outcomes, and how a health check settles a failure that blames the whole server."""

from __future__ import annotations

import pytest

from core import ErrorClass, Failed, Health, Succeeded, confirm, needs_confirmation

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
        (E.OUTAGE, Health.UNTRUSTED, E.CERTIFICATE),
        (E.AUTH, Health.UNTRUSTED, E.CERTIFICATE),
        (E.NOT_PLEX, Health.UNTRUSTED, E.CERTIFICATE),
    ],
)
def test_confirm(blamed: ErrorClass, health: Health, settled: ErrorClass) -> None:
    """Plex down is the breaker's business; Plex up means the job's own call failed."""
    failure = Failed(blamed, "(502) bad gateway")
    assert needs_confirmation(failure)
    result = confirm(failure, health)
    assert isinstance(result, Failed)
    assert result.error_class is settled
    if settled is blamed:
        assert result is failure
    else:
        assert result.message.startswith("(502) bad gateway (health check: ")


def test_a_health_check_that_found_more_than_its_answer_says_gives_its_words() -> None:
    """A health call that met a certificate that does not verify settles the failure as a
    certificate failure, in the words the health call found (what failed, what fixes it).
    """
    words = "name mismatch: the certificate is for plex.example, not 10.0.0.2; set plex_url ..."
    result = confirm(Failed(E.OUTAGE, "connection reset"), Health.UNTRUSTED, words)
    assert result == Failed(E.CERTIFICATE, f"connection reset (health check: {words})")
    assert not needs_confirmation(Failed(E.CERTIFICATE, words))  # believed at once


@pytest.mark.parametrize(
    "outcome",
    [
        Succeeded(),
        Failed(E.TRANSIENT),
        Failed(E.NOT_FOUND),
        Failed(E.PERMANENT),
        Failed(E.RATE_LIMITED, retry_after_at=5.0),
        Failed(E.INVALID_PAYLOAD),
        Failed(E.CRASHED),
    ],
)
def test_job_level_outcomes_need_no_health_check(outcome: Succeeded | Failed) -> None:
    """Outcomes that do not blame the server pass through unchanged."""
    assert not needs_confirmation(outcome)
    assert confirm(outcome, Health.DOWN) is outcome


def test_only_rate_limiting_carries_a_retry_after() -> None:
    """A server hint on any other class is a classifier bug, refused at construction."""
    with pytest.raises(ValueError, match="transient cannot carry one"):
        Failed(E.TRANSIENT, retry_after_at=5.0)


def test_a_health_check_without_words_is_named_by_its_answer() -> None:
    """With no words from the health call, the settled failure says what the answer was."""
    settled = confirm(Failed(E.OUTAGE, "connection refused"), Health.UP)
    assert settled == Failed(E.TRANSIENT, "connection refused (health check: Plex up)")
