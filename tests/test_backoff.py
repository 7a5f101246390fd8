"""backoff: nominal exponential delays, capped; jitter and server floors only ever add."""

from __future__ import annotations

import sys

import pytest

from core import RetryPolicy, backoff, delay_range, jitter_sample, nominal_delay
from core.validation import MAX_SECONDS, MIN_SECONDS

POLICY = RetryPolicy(wait_initial=10, wait_max=100, wait_exp_base=2, jitter_fraction=0.2)


@pytest.mark.parametrize(
    ("attempt", "nominal"),
    [(1, 10), (2, 20), (3, 40), (4, 80), (5, 100), (6, 100), (10_000, 100)],
)
def test_nominal_delay_doubles_up_to_the_cap(attempt: int, nominal: float) -> None:
    """``wait_initial * base ** (attempt - 1)``, capped at ``wait_max``, even for huge attempts."""
    assert nominal_delay(attempt, POLICY) == nominal


def test_base_one_is_a_constant_delay() -> None:
    """A growth base of 1 gives the initial delay every time."""
    flat = RetryPolicy(wait_initial=5, wait_max=50, wait_exp_base=1, jitter_fraction=0)
    assert [nominal_delay(n, flat) for n in (1, 2, 50)] == [5, 5, 5]


def test_attempts_are_one_based() -> None:
    """Attempt 0 is a caller's bug, reported as such."""
    with pytest.raises(ValueError, match="1-based"):
        nominal_delay(0, POLICY)


@pytest.mark.parametrize(
    ("attempt", "jitter", "floor", "delay"),
    [
        (1, 0.0, 0.0, 10.0),  # no jitter: exactly the nominal delay
        (1, 0.5, 0.0, 11.0),  # jitter adds half of the 20 % bound
        (3, 0.25, 0.0, 42.0),
        (9, 0.5, 0.0, 110.0),  # capped, then jittered
        (1, 0.0, 55.0, 55.0),  # a server floor above the nominal delay wins
        (1, 0.5, 55.0, 56.0),  # ... and jitter adds on top of it, never below
        (4, 0.0, 5.0, 80.0),  # a floor below the nominal delay changes nothing
    ],
)
def test_backoff(attempt: int, jitter: float, floor: float, delay: float) -> None:
    """``max(nominal, floor) + jitter * fraction * nominal``."""
    assert backoff(attempt, jitter, POLICY, floor=floor) == pytest.approx(delay)


@pytest.mark.parametrize("jitter", [-0.01, 1.0, 2.0])
def test_jitter_outside_its_range_is_refused(jitter: float) -> None:
    """A jitter sample must lie in [0, 1)."""
    with pytest.raises(ValueError, match="jitter"):
        backoff(1, jitter, POLICY)


def test_delay_range_brackets_backoff() -> None:
    """delay_range gives backoff at no jitter, at mean jitter, and its supremum."""
    assert delay_range(2, POLICY) == (20.0, 22.0, 24.0)
    assert backoff(2, 0.999999, POLICY) < delay_range(2, POLICY)[2]


def test_jitter_sample_is_reproducible_and_spread() -> None:
    """The same (job, attempt) gives the same sample; different ones differ and fill [0, 1)."""
    assert jitter_sample(42, 3) == jitter_sample(42, 3)
    samples = [jitter_sample(job, attempt) for job in range(200) for attempt in range(1, 6)]
    assert all(0 <= s < 1 for s in samples)
    assert len(set(samples)) == len(samples)
    assert 0.45 < sum(samples) / len(samples) < 0.55
    assert min(samples) < 0.01
    assert max(samples) > 0.99


SUB_SECOND = RetryPolicy(wait_initial=0.1, wait_max=0.5, wait_exp_base=2, jitter_fraction=0.2)


def test_sub_second_delays_follow_the_same_schedule() -> None:
    """A policy in fractions of a second starts at wait_initial and doubles to its cap too."""
    assert [nominal_delay(n, SUB_SECOND) for n in (1, 2, 3, 4)] == [0.1, 0.2, 0.4, 0.5]
    assert delay_range(1, SUB_SECOND) == pytest.approx((0.1, 0.11, 0.12), abs=1e-12)


def test_a_growth_base_past_the_float_range_reaches_the_cap() -> None:
    """Any growth base and any attempt reach the cap instead of overflowing a float."""
    huge = RetryPolicy(wait_initial=0.001, wait_max=1000, wait_exp_base=1e180, jitter_fraction=0)
    # base ** 2 is past the largest float: the cap must come from comparing exponents
    assert [nominal_delay(n, huge) for n in (1, 2, 3, 10_000)] == [0.001] + [1000] * 3
    largest = RetryPolicy(
        wait_initial=1, wait_max=1000, wait_exp_base=sys.float_info.max, jitter_fraction=1
    )
    assert [nominal_delay(n, largest) for n in (1, 2, 10**9)] == [1, 1000, 1000]


def test_the_widest_policy_validation_accepts_stays_within_floats() -> None:
    """From a millisecond to 100 years by the largest base: the cap, never an OverflowError."""
    wide = RetryPolicy(
        wait_initial=MIN_SECONDS,
        wait_max=MAX_SECONDS,
        wait_exp_base=sys.float_info.max,
        jitter_fraction=1,
    )
    assert [nominal_delay(n, wide) for n in (1, 2, 3, 10**9)] == [MIN_SECONDS] + [MAX_SECONDS] * 3
    assert delay_range(2, wide) == (MAX_SECONDS, 1.5 * MAX_SECONDS, 2 * MAX_SECONDS)


def test_a_start_and_cap_a_float_range_apart_are_refused_naming_the_field() -> None:
    """wait_max / wait_initial past the float range once overflowed: such durations are refused."""
    with pytest.raises(ValueError, match=r"^wait_initial must be between 0.001 and "):
        RetryPolicy(wait_initial=1e-300, wait_max=1e3, wait_exp_base=2, jitter_fraction=0)
    with pytest.raises(ValueError, match=r"^wait_max must be between 0.001 and "):
        RetryPolicy(wait_initial=1, wait_max=1e300, wait_exp_base=2, jitter_fraction=0)


def _splitmix64_output(n: int) -> float:
    """The n-th output of splitmix64 seeded with 0 (published reference values), as a sample."""
    reference = {1: 0xE220A8397B1DCDAF, 2: 0x6E789E6AA1B965F4, 3: 0x06C45D188009454F}
    return (reference[n] >> 11) / float(1 << 53)


def test_jitter_sample_is_splitmix64() -> None:
    """Job n at attempt 0 gives splitmix64's n-th output: the documented generator, no other."""
    assert [jitter_sample(n, 0) for n in (1, 2, 3)] == [_splitmix64_output(n) for n in (1, 2, 3)]


@pytest.mark.parametrize(
    ("job_id", "attempt", "sample"),
    [
        (0, 1, 0.5079605879681605),
        (42, 3, 0.32002727291481914),
        (7, 12, 0.6806956012301171),
        (2**62, 10_000, 0.5336822627512859),
    ],
)
def test_jitter_samples_never_change(job_id: int, attempt: int, sample: float) -> None:
    """A schedule stored by one version replays the same under the next: samples are fixed."""
    assert jitter_sample(job_id, attempt) == sample
