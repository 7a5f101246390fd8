"""explain agrees with backoff: its bounds are the bounds backoff can reach."""

from __future__ import annotations

import math

from hypothesis import given

from core import ErrorClass, PlexSyncConfig, backoff, explain
from property_tests.strategies import configs, jitters


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
