"""The concurrency limit (``core.limit``): whatever it observes, it stays in bounds, never grows
on an overload signal, shrinks when calls queue at the server, and grows back when they stop.

A small server model answers in ``service * max(1, in_flight / capacity)`` seconds: calls beyond
its capacity wait their turn, as on a Plex serving *capacity* requests at once.
"""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from core.limit import (
    LATENCY_SLACK_SECONDS,
    LATENCY_TOLERANCE,
    Completed,
    Limit,
    Observation,
    Overloaded,
    Restarted,
    initial_limit,
    next_limit,
)

maxima = st.integers(min_value=1, max_value=64)
latencies = st.floats(min_value=0.0, max_value=120.0, allow_nan=False)
completions = st.builds(
    Completed, latency_seconds=latencies, in_flight=st.integers(min_value=1, max_value=100)
)
observations = st.one_of(completions, st.just(Overloaded()), st.just(Restarted()))


@st.composite
def limits(draw: st.DrawFn) -> Limit:
    """Any limit a worker can reach: a start, then any observations."""
    current = initial_limit(draw(maxima), adaptive=draw(st.booleans()))
    for observation in draw(st.lists(observations, max_size=40)):
        current = next_limit(current, observation)
    return current


@given(limits(), st.lists(observations, max_size=200))
def test_the_limit_stays_between_one_and_the_maximum(
    current: Limit, seen: list[Observation]
) -> None:
    """Whatever is observed, the limit is at least one call and at most the configured maximum."""
    for observation in seen:
        current = next_limit(current, observation)
        assert 1 <= current.slots <= current.limit <= current.maximum
        assert current.limit < current.slots + 1


@given(limits())
def test_an_overload_signal_never_grows_the_limit(current: Limit) -> None:
    """After a 429, a 503 or a timeout the limit is no higher than before, and halved if it can
    be.
    """
    after = next_limit(current, Overloaded())
    assert after.limit <= current.limit
    if current.adaptive and current.limit >= 2:
        assert after.limit == current.limit / 2


@given(limits())
def test_a_restart_goes_one_call_at_a_time(current: Limit) -> None:
    """After work was held, the adaptive limit lets one call through at a time."""
    after = next_limit(current, Restarted())
    assert after.slots == (1 if current.adaptive else current.maximum)


@given(
    limits(), st.floats(min_value=0.001, max_value=10.0), st.integers(min_value=1, max_value=100)
)
def test_a_sample_well_above_the_baseline_shrinks_the_limit(
    current: Limit, baseline: float, in_flight: int
) -> None:
    """A call well over the baseline (it queued at the server) lowers a limit above one."""
    current = next_limit(
        next_limit(current, Restarted()), Completed(latency_seconds=baseline, in_flight=1)
    )
    slow = LATENCY_TOLERANCE * baseline + LATENCY_SLACK_SECONDS + baseline
    before = current
    for _ in range(3):  # grow it first where it can
        current = next_limit(current, Completed(latency_seconds=baseline, in_flight=100))
    after = next_limit(current, Completed(latency_seconds=slow, in_flight=in_flight))
    if current.adaptive:
        assert after.limit < current.limit or current.limit == 1
        assert after.limit <= current.limit
    else:
        assert after == current == before


@given(maxima, st.floats(min_value=0.001, max_value=1.0))
def test_answers_near_the_baseline_grow_the_limit_to_the_maximum(
    maximum: int, latency: float
) -> None:
    """While every slot is used and answers stay as fast as the baseline, the limit grows to the
    maximum.
    """
    current = initial_limit(maximum)
    for _ in range(maximum * maximum + 10):
        current = next_limit(current, Completed(latency_seconds=latency, in_flight=current.slots))
    assert current.slots == maximum


@given(limits(), st.floats(min_value=0.001, max_value=1.0))
def test_an_unused_limit_does_not_grow(current: Limit, latency: float) -> None:
    """A limit no call tested (fewer calls were out than it allows) does not grow."""
    current = next_limit(current, Completed(latency_seconds=latency, in_flight=1))
    if current.slots < 2:
        return
    after = next_limit(current, Completed(latency_seconds=latency, in_flight=current.slots - 1))
    assert after.limit <= current.limit


def serve(current: Limit, capacity: int, service: float, rounds: int) -> list[Limit]:
    """Run *rounds* rounds against a server of *capacity* taking *service* seconds a call: each
    round sends as many calls as the limit allows; the limit after each round.
    """
    seen = []
    for _ in range(rounds):
        in_flight = current.slots
        latency = service * max(1.0, in_flight / capacity)
        for _ in range(in_flight):
            current = next_limit(current, Completed(latency_seconds=latency, in_flight=in_flight))
        seen.append(current)
    return seen


@given(
    st.integers(min_value=2, max_value=16),
    st.integers(min_value=1, max_value=6),
    st.floats(min_value=0.02, max_value=1.0),
)
def test_the_limit_falls_when_the_server_slows_and_grows_back(
    maximum: int, capacity: int, service: float
) -> None:
    """Against a server that queues calls beyond its capacity, the limit settles where calls do
    not wait much; when the server drops to one call at a time it falls to at most two, and when
    capacity returns it grows back.
    """
    current = serve(initial_limit(maximum), capacity, service, 60)[-1]
    settled = serve(current, capacity, service, 20)
    ceiling = capacity * (LATENCY_TOLERANCE + LATENCY_SLACK_SECONDS / service) + 1
    assert all(limit.slots <= min(maximum, math.ceil(ceiling)) for limit in settled)
    assert settled[-1].slots >= min(maximum, capacity)

    squeezed = serve(settled[-1], 1, service, 30)
    assert all(limit.slots <= 2 for limit in squeezed[-10:])

    recovered = serve(squeezed[-1], capacity, service, 60)
    assert recovered[-1].slots >= min(maximum, capacity)


@given(maxima, st.lists(observations, max_size=50))
def test_a_fixed_limit_ignores_what_it_sees(maximum: int, seen: list[Observation]) -> None:
    """With the adaptive behaviour off, the limit is the maximum throughout."""
    current = initial_limit(maximum, adaptive=False)
    for observation in seen:
        current = next_limit(current, observation)
        assert current.slots == maximum
