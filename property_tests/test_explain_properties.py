"""explain agrees with backoff: its bounds are the bounds backoff can reach."""

from __future__ import annotations

import math

from hypothesis import given

from core import (
    Breaker,
    DeadLetter,
    DeadLetterReason,
    Decision,
    ErrorClass,
    Failed,
    Job,
    PlexSyncConfig,
    RetryAt,
    backoff,
    decide,
    explain,
)
from property_tests.strategies import T0, configs, jitters


@given(configs(), jitters)
def test_explain_brackets_every_delay_backoff_can_return(
    config: PlexSyncConfig, jitter: float
) -> None:
    """For every listed retry: min == backoff(no jitter) <= backoff(any jitter) < max, and max is
    the least upper bound (backoff gets arbitrarily close to it).
    """
    policies = {
        ErrorClass.TRANSIENT: config.transient_policy,
        ErrorClass.NOT_FOUND: config.not_found_policy,
        ErrorClass.RATE_LIMITED: config.transient_policy,
    }
    for schedule in explain(config):
        policy = policies.get(schedule.error_class)
        if policy is None:
            continue
        for step in schedule.steps:
            delay = backoff(step.retry, jitter, policy)
            assert step.min_delay == backoff(step.retry, 0.0, policy)
            assert step.min_delay <= delay <= step.max_delay
            nearly_one = math.nextafter(1.0, 0.0)
            assert math.isclose(
                backoff(step.retry, nearly_one, policy), step.max_delay, rel_tol=1e-9
            )


@given(configs())
def test_elapsed_times_add_up_the_delays_and_retries_count_from_one(config: PlexSyncConfig) -> None:
    """Retries count from 1, and each elapsed column is the running sum of its delay column."""
    for schedule in explain(config):
        totals = (0.0, 0.0, 0.0)
        for number, step in enumerate(schedule.steps, start=1):
            assert step.retry == number
            delays = (step.min_delay, step.expected_delay, step.max_delay)
            assert delays[0] <= delays[1] <= delays[2]
            totals = (totals[0] + delays[0], totals[1] + delays[1], totals[2] + delays[2])
            elapsed = (step.min_elapsed, step.expected_elapsed, step.max_elapsed)
            assert all(
                math.isclose(e, t, rel_tol=1e-9) for e, t in zip(elapsed, totals, strict=True)
            )


def _first_decision(error_class: ErrorClass, config: PlexSyncConfig) -> Decision:
    job = Job(id=1, key="scene:1", first_enqueued_at=T0)
    return decide(job, Failed(error_class), now=T0, jitter=0.0, config=config, breaker=Breaker())


def _dead_letter_reason(error_class: ErrorClass, config: PlexSyncConfig) -> DeadLetterReason:
    job, breaker, now = Job(id=1, key="scene:1", first_enqueued_at=T0), Breaker(), T0
    while True:
        decision = decide(
            job, Failed(error_class), now=now, jitter=0.0, config=config, breaker=breaker
        )
        if isinstance(decision.action, DeadLetter):
            return decision.action.reason
        assert isinstance(decision.action, RetryAt)
        job, breaker, now = decision.job, decision.breaker, decision.action.at


@given(configs())
def test_explain_states_the_budget_decide_keeps(config: PlexSyncConfig) -> None:
    """Explain agrees with decide on who pays, what repeats, the DLQ reason and the first delay."""
    for schedule in explain(config):
        decision = _first_decision(schedule.error_class, config)
        action = decision.action
        charged = isinstance(action, DeadLetter) or (isinstance(action, RetryAt) and action.charged)
        assert schedule.costs_attempt is charged
        assert schedule.repeats is (not charged)
        if charged:
            assert schedule.then is _dead_letter_reason(schedule.error_class, config)
        else:
            assert schedule.then is None
        below_threshold = (
            schedule.error_class is ErrorClass.OUTAGE and config.breaker_failure_threshold > 1
        )  # the job retries at once: the breaker is not open yet, so there is no probe to wait for
        if schedule.steps and not below_threshold:
            assert action == RetryAt(T0 + schedule.steps[0].min_delay, charged=charged)
