"""The concurrency limit's rule, case by case (``core.limit``; the properties are in
property_tests/test_limit_properties.py).
"""

from __future__ import annotations

import math

import pytest

from core import ErrorClass, Failed, Succeeded
from core.limit import (
    BASELINE_DRIFT,
    LATENCY_SLACK_SECONDS,
    LATENCY_TOLERANCE,
    Completed,
    Limit,
    Overloaded,
    Restarted,
    initial_limit,
    next_limit,
    observe,
)


def answered(latency: float, in_flight: int) -> Completed:
    return Completed(latency_seconds=latency, in_flight=in_flight)


def test_a_worker_starts_with_one_call_at_a_time() -> None:
    """The adaptive limit starts at one call; a fixed one at the maximum."""
    assert initial_limit(8).slots == 1
    assert initial_limit(8, adaptive=False).slots == 8


def test_slow_start_adds_a_call_per_answer_up_to_its_level() -> None:
    """Below the slow-start level each answer adds a call; above it, a call per round."""
    limit = Limit(maximum=16, limit=2.0, slow_start_below=3.0, baseline_seconds=0.02)
    limit = next_limit(limit, answered(0.02, 2))
    assert limit.limit == 3.0
    limit = next_limit(limit, answered(0.02, 3))
    assert limit.limit == pytest.approx(3 + 1 / 3)


def test_growth_stops_at_the_maximum() -> None:
    """The limit never passes the configured maximum."""
    limit = Limit(maximum=4, limit=4.0, baseline_seconds=0.02)
    assert next_limit(limit, answered(0.02, 4)).limit == 4.0


def test_an_untested_limit_does_not_grow() -> None:
    """With fewer calls out than the limit allows, an answer does not raise it."""
    limit = Limit(maximum=16, limit=4.0, baseline_seconds=0.02)
    assert next_limit(limit, answered(0.02, 3)).limit == 4.0


def test_a_slow_answer_shrinks_by_the_gradient_over_a_round() -> None:
    """A round of answers at twice the tolerated latency halves the limit, no more."""
    limit = Limit(maximum=16, limit=8.0, baseline_seconds=0.1)
    tolerated = LATENCY_TOLERANCE * 0.1 + LATENCY_SLACK_SECONDS
    for _ in range(8):
        limit = next_limit(limit, answered(tolerated * 4, 8))
    assert limit.limit == pytest.approx(4.0)
    assert limit.slow_start_below == limit.limit


def test_an_overload_halves_the_limit_and_ends_slow_start() -> None:
    """A 429, 503 or timeout halves the limit (not below one); it then grows a call per round."""
    limit = next_limit(Limit(maximum=16, limit=9.0), Overloaded())
    assert (limit.limit, limit.slow_start_below) == (4.5, 4.5)
    assert next_limit(Limit(maximum=16, limit=1.5), Overloaded()).limit == 1.0


def test_a_restart_goes_back_to_one_call_and_forgets_the_baseline() -> None:
    """After work was held, one call at a time, and the server's pace is learnt again."""
    limit = next_limit(Limit(maximum=16, limit=9.0, baseline_seconds=0.02), Restarted())
    assert (limit.limit, limit.baseline_seconds) == (1.0, None)


def test_the_baseline_is_the_fastest_answer_and_rises_only_on_calls_made_alone() -> None:
    """A faster answer sets the baseline; a slower one raises it a little, and only when it was
    the only call out (others beside it may have queued it).
    """
    limit = next_limit(initial_limit(8), answered(0.05, 1))
    assert limit.baseline_seconds == 0.05
    assert next_limit(limit, answered(0.04, 1)).baseline_seconds == 0.04
    assert next_limit(limit, answered(0.06, 2)).baseline_seconds == 0.05
    raised = next_limit(limit, answered(0.06, 1)).baseline_seconds
    assert raised == pytest.approx(0.05 + 0.01 * BASELINE_DRIFT)


def test_a_fixed_limit_ignores_everything() -> None:
    """With the adaptive behaviour off, nothing moves the limit."""
    fixed = initial_limit(6, adaptive=False)
    for seen in (Overloaded(), Restarted(), answered(9.0, 6)):
        assert next_limit(fixed, seen) == fixed


@pytest.mark.parametrize(
    ("outcome", "overload"),
    [
        (Succeeded(), False),
        (Failed(ErrorClass.NOT_FOUND), False),
        (Failed(ErrorClass.TRANSIENT), False),
        (Failed(ErrorClass.TRANSIENT, may_land=True), True),
        (Failed(ErrorClass.OUTAGE), True),
        (Failed(ErrorClass.RATE_LIMITED), True),
    ],
)
def test_what_an_outcome_says_about_the_server(outcome: object, overload: bool) -> None:
    """Outages, rate limits and timeouts are overload signals; any other answer is a sample."""
    seen = observe(outcome, latency_seconds=0.02, in_flight=2)  # type: ignore[arg-type]
    assert isinstance(seen, Overloaded) is overload


@pytest.mark.parametrize(
    "build",
    [
        lambda: Limit(maximum=4, limit=5.0),
        lambda: Limit(maximum=4, limit=0.5),
        lambda: Limit(maximum=4, limit=math.nan),
        lambda: Limit(maximum=0),
    ],
)
def test_a_limit_out_of_bounds_cannot_be_built(build: object) -> None:
    """Below one, above the maximum, or not a number: refused."""
    with pytest.raises(ValueError, match=r"limit|maximum"):
        build()  # type: ignore[operator]


def test_an_answer_exactly_as_slow_as_tolerated_still_counts_as_fast() -> None:
    """Only an answer slower than the tolerance shrinks the limit; one exactly at it grows it."""
    limit = Limit(maximum=8, limit=4.0, slow_start_below=1.0, baseline_seconds=0.02)
    tolerated = LATENCY_TOLERANCE * 0.02 + LATENCY_SLACK_SECONDS
    assert next_limit(limit, answered(tolerated, 4)).limit == 4.25


def test_a_slow_answer_can_bring_two_calls_down_to_one() -> None:
    """Shrinking stops at one call, not above it."""
    limit = Limit(maximum=8, limit=2.0, slow_start_below=1.0, baseline_seconds=0.02)
    assert next_limit(limit, answered(10.0, 1)).limit == 1.0


def test_a_slow_call_made_alone_moves_the_baseline_even_as_it_shrinks_the_limit() -> None:
    """The baseline learnt from a slow lone call is kept with the smaller limit."""
    limit = Limit(maximum=8, limit=4.0, slow_start_below=1.0, baseline_seconds=0.02)
    shrunk = next_limit(limit, answered(1.0, 1))
    assert shrunk.limit < 4.0
    assert shrunk.baseline_seconds == pytest.approx(0.02 + (1.0 - 0.02) * BASELINE_DRIFT)


def test_an_answer_is_observed_as_it_came() -> None:
    """A latency and a number of calls out are kept as they were (only nonsense is clamped)."""
    assert observe(Succeeded(), latency_seconds=0.02, in_flight=1) == answered(0.02, 1)
    assert observe(Succeeded(), latency_seconds=-1.0, in_flight=0) == answered(0.0, 1)


def test_a_fixed_limit_says_it_is_not_adaptive() -> None:
    """With the adaptive behaviour off, the limit says so, and stays at the maximum."""
    fixed = initial_limit(4, adaptive=False)
    assert fixed.adaptive is False
    assert next_limit(fixed, answered(10.0, 4)) == fixed
