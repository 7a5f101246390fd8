"""explain: the schedule each error class gets, computed by the functions that decide it."""

from __future__ import annotations

import pytest

from core import (
    DeadLetterReason,
    ErrorClass,
    PlexSyncConfig,
    Schedule,
    backoff,
    explain,
)
from tests.builders import make_config


def schedule_of(error_class: ErrorClass, config: PlexSyncConfig) -> Schedule:
    return next(s for s in explain(config) if s.error_class is error_class)


def test_every_error_class_is_explained(config: PlexSyncConfig) -> None:
    """One schedule per class, in the enum's order."""
    assert [s.error_class for s in explain(config)] == list(ErrorClass)


def test_transient_schedule_matches_backoff(config: PlexSyncConfig) -> None:
    """max_retries steps; least = backoff without jitter; the elapsed times add up."""
    schedule = schedule_of(ErrorClass.TRANSIENT, config)
    assert len(schedule.steps) == config.max_retries
    assert schedule.then is DeadLetterReason.RETRIES_EXHAUSTED
    policy = config.transient_policy
    total = 0.0
    for step in schedule.steps:
        assert step.min_delay == backoff(step.retry, 0.0, policy)
        assert step.expected_delay == backoff(step.retry, 0.5, policy)
        assert step.max_delay == pytest.approx(step.min_delay * (1 + config.jitter_fraction))
        total += step.min_delay
        assert step.min_elapsed == pytest.approx(total)
    assert schedule.whole_window == (
        schedule.steps[-1].min_elapsed,
        schedule.steps[-1].expected_elapsed,
        schedule.steps[-1].max_elapsed,
    )


def test_default_not_found_budget_outlasts_a_six_hour_scan(config: PlexSyncConfig) -> None:
    """Even with the least delays, the last not-found retry comes more than 6 hours in."""
    schedule = schedule_of(ErrorClass.NOT_FOUND, config)
    assert schedule.steps[-1].min_elapsed > 6 * 3600
    assert schedule.whole_window is not None
    assert schedule.whole_window[2] <= config.not_found_window_seconds


def test_not_found_steps_stop_at_the_window() -> None:
    """Retries that cannot fit in the window are not listed; those that may not are marked."""
    config = make_config(
        not_found_wait_initial_seconds=100,
        not_found_wait_max_seconds=100,
        not_found_window_seconds=450,
        not_found_max_retries=10,
        jitter_fraction=0.2,
    )
    steps = schedule_of(ErrorClass.NOT_FOUND, config).steps
    assert [s.retry for s in steps] == [1, 2, 3, 4]
    assert [s.may_be_cut for s in steps] == [False, False, False, True]


@pytest.mark.parametrize("error_class", [ErrorClass.OUTAGE, ErrorClass.AUTH])
def test_breaker_schedules_are_probe_cooldowns(
    error_class: ErrorClass, config: PlexSyncConfig
) -> None:
    """Outage and auth list the probe cooldowns up to their cap and repeat; no attempt is spent."""
    schedule = schedule_of(error_class, config)
    assert [s.min_delay for s in schedule.steps] == [10, 20, 40, 80, 160, 300]
    assert schedule.repeats
    assert not schedule.costs_attempt
    assert schedule.then is None
    assert schedule.whole_window is None


def test_rate_limited_repeats_the_capped_backoff(config: PlexSyncConfig) -> None:
    """Without a server hint, the transient backoff up to its cap, then the cap for ever."""
    schedule = schedule_of(ErrorClass.RATE_LIMITED, config)
    assert schedule.steps[-1].min_delay == config.retry_wait_max_seconds
    assert schedule.steps[-2].min_delay < config.retry_wait_max_seconds
    assert schedule.repeats


@pytest.mark.parametrize(
    ("error_class", "reason"),
    [
        (ErrorClass.PERMANENT, DeadLetterReason.PERMANENT_ERROR),
        (ErrorClass.INVALID_PAYLOAD, DeadLetterReason.INVALID_PAYLOAD),
    ],
)
def test_never_retried_classes(
    error_class: ErrorClass, reason: DeadLetterReason, config: PlexSyncConfig
) -> None:
    """Permanent and invalid payloads have no steps: dead-lettered at once."""
    schedule = schedule_of(error_class, config)
    assert schedule.steps == ()
    assert schedule.then is reason
    assert schedule.whole_window is None


def test_crashes_are_retried_max_crashes_times(config: PlexSyncConfig) -> None:
    """A crash is retried as soon as the lease runs out, max_crashes times."""
    schedule = schedule_of(ErrorClass.CRASHED, config)
    assert len(schedule.steps) == config.max_crashes
    assert schedule.then is DeadLetterReason.CRASHED_REPEATEDLY


def test_a_delay_that_never_grows_still_gives_a_finite_table() -> None:
    """A growth base of 1 never reaches a higher cap: the table stops at a fixed length."""
    config = make_config(retry_backoff_base=1, retry_wait_max_seconds=10_000)
    schedule = schedule_of(ErrorClass.RATE_LIMITED, config)
    assert len(schedule.steps) == 30
    assert schedule.repeat_delay == 10_000


def test_probe_table_stops_for_a_tiny_first_cooldown() -> None:
    """Doubling from a tiny cooldown to a huge cap is listed up to the fixed length."""
    config = make_config(breaker_cooldown_seconds=0.001, breaker_max_cooldown_seconds=10**7)
    assert len(schedule_of(ErrorClass.OUTAGE, config).steps) == 30


def test_the_outage_summary_says_when_the_breaker_opens() -> None:
    """One confirmed failure by default; a higher threshold is named in the summary."""
    by_class = {s.error_class: s for s in explain(make_config())}
    assert (
        "once a failed call is confirmed by a failed health call"
        in by_class[ErrorClass.OUTAGE].summary
    )
    raised = {s.error_class: s for s in explain(make_config(breaker_failure_threshold=3))}
    assert "after 3 outage failures in a row" in raised[ErrorClass.OUTAGE].summary
    assert "(one real job each)" in by_class[ErrorClass.MISCONFIGURED].summary
    assert "(one health call each)" in by_class[ErrorClass.AUTH].summary


def test_a_breaker_that_waits_for_several_failures_says_how_many() -> None:
    """With a threshold above one, the outage summary counts the failures that open it."""
    outage = schedule_of(ErrorClass.OUTAGE, make_config(breaker_failure_threshold=3))
    assert outage.summary.startswith(
        "the breaker opens after 3 outage failures in a row, each confirmed by a failed health call"
    )
