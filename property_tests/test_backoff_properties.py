"""Backoff invariants: delays inside their bounds, floors respected, nominal never decreasing."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from core import PlexSyncConfig, backoff, delay_range, nominal_delay
from property_tests.strategies import attempts, configs, jitters


@given(configs(), attempts, jitters)
def test_delay_lies_between_nominal_and_jittered_cap(
    config: PlexSyncConfig, attempt: int, jitter: float
) -> None:
    """Without a floor: nominal <= delay <= wait_max * (1 + jitter_fraction)."""
    for policy in (config.transient_policy, config.not_found_policy):
        delay = backoff(attempt, jitter, policy)
        assert nominal_delay(attempt, policy) <= delay
        assert delay <= policy.wait_max * (1 + policy.jitter_fraction) * (1 + 1e-12)


@given(configs(), attempts, jitters, st.floats(min_value=0, max_value=1e7))
def test_delay_never_below_a_server_floor(
    config: PlexSyncConfig, attempt: int, jitter: float, floor: float
) -> None:
    """A floor raises the delay; jitter adds on top of it, at most jitter_fraction of nominal."""
    policy = config.transient_policy
    delay = backoff(attempt, jitter, policy, floor=floor)
    nominal = nominal_delay(attempt, policy)
    assert delay >= floor
    assert delay >= nominal
    assert delay <= max(nominal, floor) + policy.jitter_fraction * nominal * (1 + 1e-12)


@given(configs(), attempts)
def test_nominal_delays_never_decrease(config: PlexSyncConfig, attempt: int) -> None:
    """The nominal delay after attempt n+1 is at least the one after attempt n."""
    for policy in (config.transient_policy, config.not_found_policy):
        assert nominal_delay(attempt + 1, policy) >= nominal_delay(attempt, policy)


@given(configs(), attempts)
def test_first_delay_is_the_initial_one_and_each_next_grows_by_the_base(
    config: PlexSyncConfig, attempt: int
) -> None:
    """Attempt 1 waits wait_initial exactly; each next delay is base times the last, capped."""
    for policy in (config.transient_policy, config.not_found_policy):
        assert nominal_delay(1, policy) == policy.wait_initial
        grown = min(policy.wait_max, policy.wait_exp_base * nominal_delay(attempt, policy))
        assert math.isclose(nominal_delay(attempt + 1, policy), grown, rel_tol=1e-9)


@given(configs(), attempts)
def test_delay_range_is_backoff_at_no_mean_and_full_jitter(
    config: PlexSyncConfig, attempt: int
) -> None:
    """delay_range gives backoff without a floor at jitter 0 and 0.5, and the supremum at 1."""
    policy = config.transient_policy
    least, expected, greatest = delay_range(attempt, policy)
    assert least == backoff(attempt, 0.0, policy)
    assert expected == backoff(attempt, 0.5, policy)
    supremum = nominal_delay(attempt, policy) * (1 + policy.jitter_fraction)
    assert math.isclose(greatest, supremum, rel_tol=1e-12)
