"""Backoff invariants: delays inside their bounds, floors respected, nominal never decreasing."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from core import PlexSyncConfig, backoff, nominal_delay
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
