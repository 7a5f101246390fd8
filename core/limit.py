"""How many Plex calls may be in flight at once: a limit that finds what the server can take.

A pure function (``next_limit``) gives the next limit from the current one and one observation,
the way TCP's congestion window follows acknowledgements and losses:

* **An overload signal** (a 429, a 503, a gateway error, a timeout, a refused connection: what
  ``observe`` reads as ``Overloaded``) halves the limit at once, and the half becomes the level
  above which it only grows slowly. It never grows on one.
* **A latency sample** well above the baseline (more than ``LATENCY_TOLERANCE`` times the fastest
  call seen lately, and ``LATENCY_SLACK_SECONDS`` more) means calls are queueing at the server:
  the limit shrinks towards where answers would be fast again (Gradient's rule: by the ratio of
  the tolerated latency to the sample, at most by half, over one round of answers). A sample
  near the baseline lets it grow: by one call per answer below the slow-start level (doubling
  every round trip), by one call per round trip above it. It grows only while every slot was in
  use when the call went out (a limit nobody tests is not earned).
* **A restart** (work was held: an outage, a rejected token, a 429's wait) drops the limit to one
  call at a time and forgets the baseline; it grows back from there as answers come in.

The limit is a float so that growth by a fraction of a call per answer adds up; ``slots`` is what
the worker uses, its floor. It never leaves ``[1, maximum]``; with the adaptive behaviour off, the
worker uses the maximum throughout (``initial_limit(maximum, adaptive=False)``).
"""

from __future__ import annotations

import math
from typing import Final, assert_never

from attrs import evolve, field, frozen

from core import validation as check
from core.outcomes import ErrorClass, Failed, Outcome

LATENCY_TOLERANCE: Final = 1.3
"""A call slower than this many times the baseline was queued at the server: shrink."""
MOST_DECREASE: Final = 0.5
"""The smallest share of the limit a round of slow answers keeps."""
OVERLOAD_DECREASE: Final = 0.5
"""The share of the limit kept after an overload signal."""
LATENCY_SLACK_SECONDS: Final = 0.002
"""A sample this much above the tolerated latency still counts as near the baseline: timer noise
on a fast local server is not queueing."""
BASELINE_DRIFT: Final = 0.05
"""How far a call made alone moves the baseline towards its latency when slower (a share of the
difference): a server that became slower for good is the new normal after a few dozen calls.
Calls made beside others never raise it: they may have queued behind each other."""

OVERLOAD_CLASSES: Final = frozenset({ErrorClass.OUTAGE, ErrorClass.RATE_LIMITED})
"""Failures (as the call reports them, before any health check) that say the server is overloaded
or away, rather than that one job failed."""


@frozen(kw_only=True)
class Completed:
    """A call answered after *latency_seconds*, with *in_flight* calls out (this one included)
    when it was sent.
    """

    latency_seconds: float = field(validator=check.number)
    in_flight: int = field(validator=check.at_least_one)


@frozen
class Overloaded:
    """A call met an overload signal: 429, 503, a gateway error, a timeout, a refused connection."""


@frozen
class Restarted:
    """Work was held (an outage, a rejected token, a rate limit's wait) and goes on again."""


Observation = Completed | Overloaded | Restarted


def _limit_value(_instance: object, _attribute: object, value: float) -> None:
    if not (math.isfinite(value) and value >= 1):
        raise ValueError(f"the limit must be a finite number >= 1, got {value!r}")


@frozen(kw_only=True)
class Limit:
    """The concurrency limit and what it has learnt about the server."""

    maximum: int = field(validator=check.at_least_one)
    """The configured ceiling (``max_in_flight``)."""
    limit: float = field(default=1.0, validator=_limit_value)
    """Calls that may be in flight; ``slots`` is its floor."""
    slow_start_below: float = field(default=math.inf)
    """Below this the limit doubles every round trip; above it, it grows by one per round trip."""
    baseline_seconds: float | None = None
    """The fastest recent answer: what a call costs when nothing queues."""
    adaptive: bool = True
    """``False``: the limit is the maximum, whatever is observed."""

    def __attrs_post_init__(self) -> None:
        if self.limit > self.maximum:
            raise ValueError(f"the limit ({self.limit}) must be <= the maximum ({self.maximum})")

    @property
    def slots(self) -> int:
        """How many calls may be in flight now."""
        return math.floor(self.limit)


def initial_limit(maximum: int, *, adaptive: bool = True) -> Limit:
    """The limit a worker starts with: one call at a time (slow start), or *maximum* when the
    adaptive behaviour is off.
    """
    if not adaptive:
        return Limit(maximum=maximum, limit=float(maximum), adaptive=False)
    return Limit(maximum=maximum)


def observe(outcome: Outcome, *, latency_seconds: float, in_flight: int) -> Observation:
    """What an attempt's *outcome* (as the call reported it, before any health check) says about
    the server: an overload signal, or a latency sample.
    """
    if isinstance(outcome, Failed) and (
        outcome.error_class in OVERLOAD_CLASSES or outcome.may_land
    ):
        return Overloaded()
    return Completed(latency_seconds=max(latency_seconds, 0.0), in_flight=max(in_flight, 1))


def next_limit(current: Limit, observation: Observation) -> Limit:
    """The limit after *observation* (see the module for the rule)."""
    if not current.adaptive:
        return current
    match observation:
        case Overloaded():
            lowered = max(1.0, current.limit * OVERLOAD_DECREASE)
            return evolve(current, limit=lowered, slow_start_below=lowered)
        case Restarted():
            return evolve(current, limit=1.0, baseline_seconds=None)
        case Completed(latency_seconds=latency, in_flight=in_flight):
            return _after_answer(current, latency, in_flight)
        case _:
            assert_never(observation)


def _after_answer(current: Limit, latency: float, in_flight: int) -> Limit:
    baseline = current.baseline_seconds
    if baseline is None or latency < baseline:
        baseline = latency
    elif in_flight == 1:  # a call alone queued behind none of ours: the server's own pace
        baseline += (latency - baseline) * BASELINE_DRIFT
    tolerated = LATENCY_TOLERANCE * baseline + LATENCY_SLACK_SECONDS
    if latency > tolerated:
        # Shrink towards the limit at which answers would be tolerably fast again: a whole
        # round of such answers (one per call in flight) multiplies it by the gradient.
        gradient = max(MOST_DECREASE, tolerated / latency)
        lowered = max(1.0, current.limit * gradient ** (1 / in_flight))
        return evolve(
            current,
            limit=lowered,
            slow_start_below=min(current.slow_start_below, lowered),
            baseline_seconds=baseline,
        )
    if in_flight < current.slots:  # the limit was not in use: it has not been tested
        return evolve(current, baseline_seconds=baseline)
    step = 1.0 if current.limit < current.slow_start_below else 1.0 / current.limit
    grown = min(float(current.maximum), current.limit + step)
    return evolve(current, limit=grown, baseline_seconds=baseline)
