"""How long to wait before the next attempt: a total, pure function of its inputs.

Jitter is a sample in [0, 1) passed in by the caller; it only ever *adds* to the nominal delay (at
most ``jitter_fraction`` of it), so no retry comes sooner than the schedule ``plexsync explain``
prints, and never sooner than a server's hint. ``jitter_sample`` derives the sample from the job id
and the attempt number, so every schedule can be recomputed from what the database holds.
"""

from __future__ import annotations

import math

from attrs import field, frozen

from core import validation as check


@frozen(kw_only=True)
class RetryPolicy:
    """Exponential backoff, capped: ``min(wait_max, wait_initial * wait_exp_base ** (n - 1))``.

    All durations are seconds.
    """

    wait_initial: float = field(validator=check.duration)
    wait_max: float = field(validator=check.duration)
    wait_exp_base: float = field(validator=check.growth)
    jitter_fraction: float = field(validator=check.fraction)

    def __attrs_post_init__(self) -> None:
        if self.wait_max < self.wait_initial:
            raise ValueError(
                f"wait_max ({self.wait_max}) must be >= wait_initial ({self.wait_initial})"
            )


def nominal_delay(attempt: int, policy: RetryPolicy) -> float:
    """Seconds to wait after failed *attempt* (1-based), before jitter; never decreasing."""
    if attempt < 1:
        raise ValueError(f"attempt is 1-based, got {attempt}")
    # Compare in log space: a large attempt number must reach the cap, not overflow a float.
    headroom = math.log(policy.wait_max / policy.wait_initial)
    if (attempt - 1) * math.log(policy.wait_exp_base) >= headroom:
        return policy.wait_max
    return min(policy.wait_max, policy.wait_initial * policy.wait_exp_base ** (attempt - 1))


def backoff(attempt: int, jitter: float, policy: RetryPolicy, *, floor: float = 0.0) -> float:
    """Seconds to wait after failed *attempt* (1-based).

    The delay is ``max(nominal, floor) + jitter * jitter_fraction * nominal``: *floor* (a server's
    Retry-After, in seconds from now) raises the delay, and jitter only ever adds on top of it.
    *jitter* must lie in [0, 1).
    """
    if not 0 <= jitter < 1:
        raise ValueError(f"jitter must lie in [0, 1), got {jitter!r}")
    return _jittered(attempt, jitter, policy, floor)


def delay_range(attempt: int, policy: RetryPolicy) -> tuple[float, float, float]:
    """The least, expected and greatest delay ``backoff`` gives after *attempt* without a floor.

    The greatest is a supremum (jitter never reaches 1); the expected one assumes uniform jitter.
    """
    return (
        _jittered(attempt, 0.0, policy, 0.0),
        _jittered(attempt, 0.5, policy, 0.0),
        _jittered(attempt, 1.0, policy, 0.0),
    )


def _jittered(attempt: int, jitter: float, policy: RetryPolicy, floor: float) -> float:
    nominal = nominal_delay(attempt, policy)
    return max(nominal, floor) + jitter * policy.jitter_fraction * nominal


_MASK64 = (1 << 64) - 1


def jitter_sample(job_id: int, attempt: int) -> float:
    """A sample in [0, 1) fixed by (*job_id*, *attempt*): splitmix64, so schedules can be replayed.

    Different jobs failing together get different delays, which spreads their retries.
    """
    x = (job_id * 0x9E3779B97F4A7C15 + attempt * 0xD1B54A32D192ED03) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    x ^= x >> 31
    return (x >> 11) / float(1 << 53)
