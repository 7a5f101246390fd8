"""``explain``: the retry schedule a config really produces, per error class.

It is computed by the same functions that decide retries (``delay_range`` is ``backoff`` at the
ends of its jitter range), so what ``plexsync explain`` prints is what the worker does.
"""

from __future__ import annotations

from typing import assert_never

import attrs
from attrs import frozen

from core.actions import DeadLetterReason
from core.backoff import RetryPolicy, delay_range, nominal_delay
from core.config import PlexSyncConfig
from core.durations import format_duration
from core.outcomes import ErrorClass
from core.words import counted


@frozen(kw_only=True)
class Step:
    """One retry: its delay after the previous attempt and the time since the first failure.

    Each is given as least / expected / greatest (a supremum: jitter never reaches its bound).
    For the breaker's schedules a step is a probe, and the delay is its cooldown.
    ``may_be_cut`` marks a not-found retry that a late-jittered schedule would push past the
    window (the job is then dead-lettered instead).
    """

    retry: int
    min_delay: float
    expected_delay: float
    max_delay: float
    min_elapsed: float
    expected_elapsed: float
    max_elapsed: float
    may_be_cut: bool = False


@frozen(kw_only=True)
class Schedule:
    """What follows a failure of one class.

    ``steps`` lists the retries. If ``repeats`` is true, retries go on for as long as the cause
    lasts, ``repeat_delay`` apart once the delays reach their cap, and the job is never
    dead-lettered; otherwise ``then`` is the dead-letter reason that follows the last step
    (immediately, if there are no steps).
    """

    error_class: ErrorClass
    summary: str
    costs_attempt: bool
    steps: tuple[Step, ...]
    repeats: bool
    then: DeadLetterReason | None
    window_seconds: float | None = None
    repeat_delay: float | None = None

    @property
    def whole_window(self) -> tuple[float, float, float] | None:
        """Least / expected / greatest time from the first failure to the last retry, or ``None``
        when the schedule repeats for as long as its cause lasts.
        """
        if self.repeats or not self.steps:
            return None
        last = self.steps[-1]
        greatest = last.max_elapsed
        if self.window_seconds is not None:
            greatest = min(greatest, self.window_seconds)
        return (last.min_elapsed, last.expected_elapsed, greatest)


def explain(config: PlexSyncConfig) -> tuple[Schedule, ...]:
    """The schedule of every error class under *config*, in ``ErrorClass`` order."""
    return tuple(_schedule(error_class, config) for error_class in ErrorClass)


def _schedule(error_class: ErrorClass, config: PlexSyncConfig) -> Schedule:
    match error_class:
        case ErrorClass.TRANSIENT:
            return Schedule(
                error_class=error_class,
                summary=(
                    f"retried {counted(config.max_retries, 'time')} on a healthy Plex "
                    f"(at most {counted(1 + config.max_retries, 'attempt')}), then dead-lettered"
                ),
                costs_attempt=True,
                steps=_steps(config.transient_policy, config.max_retries),
                repeats=False,
                then=DeadLetterReason.RETRIES_EXHAUSTED,
            )
        case ErrorClass.NOT_FOUND:
            window = config.not_found_window_seconds
            steps = tuple(
                step
                for step in _steps(config.not_found_policy, config.not_found_max_retries)
                if step.min_elapsed <= window
            )
            return Schedule(
                error_class=error_class,
                summary=(
                    f"retried up to {counted(config.not_found_max_retries, 'time')}, never later "
                    f"than {format_duration(window)} after the first not-found answer, "
                    "then dead-lettered"
                ),
                costs_attempt=True,
                steps=tuple(
                    attrs.evolve(step, may_be_cut=True) if step.max_elapsed > window else step
                    for step in steps
                ),
                repeats=False,
                then=DeadLetterReason.NOT_FOUND,
                window_seconds=window,
            )
        case ErrorClass.RATE_LIMITED:
            return Schedule(
                error_class=error_class,
                summary=(
                    "all work waits for the server's Retry-After (at most "
                    f"{format_duration(config.retry_after_max_seconds)}) or, without one, for the "
                    "delays below; costs no attempt, never dead-letters"
                ),
                costs_attempt=False,
                steps=_steps(config.transient_policy, _retries_to_cap(config.transient_policy)),
                repeats=True,
                then=None,
                repeat_delay=config.retry_wait_max_seconds,
            )
        case ErrorClass.OUTAGE | ErrorClass.AUTH | ErrorClass.MISCONFIGURED | ErrorClass.NOT_PLEX:
            return Schedule(
                error_class=error_class,
                summary=(
                    f"the breaker opens {_opens(error_class, config)} and holds all work; the "
                    f"steps are its probes ({_probe(error_class)} each); costs no attempt, "
                    "never dead-letters"
                ),
                costs_attempt=False,
                steps=_probe_steps(config),
                repeats=True,
                then=None,
                repeat_delay=config.breaker_max_cooldown_seconds,
            )
        case ErrorClass.CRASHED:
            return Schedule(
                error_class=error_class,
                summary=(
                    f"taken again as soon as the dead worker's lease "
                    f"({format_duration(config.job_lease_seconds)}) runs out; a crash counts "
                    f"when the worker held only this job; after {config.max_crashes}, "
                    "dead-lettered"
                ),
                costs_attempt=True,
                steps=_constant_steps(0.0, config.max_crashes),
                repeats=False,
                then=DeadLetterReason.CRASHED_REPEATEDLY,
            )
        case ErrorClass.PERMANENT | ErrorClass.INVALID_PAYLOAD:
            reason = (
                DeadLetterReason.PERMANENT_ERROR
                if error_class is ErrorClass.PERMANENT
                else DeadLetterReason.INVALID_PAYLOAD
            )
            return Schedule(
                error_class=error_class,
                summary="never retried: dead-lettered at once",
                costs_attempt=True,
                steps=(),
                repeats=False,
                then=reason,
            )
        case _:
            assert_never(error_class)


def _opens(error_class: ErrorClass, config: PlexSyncConfig) -> str:
    """When the breaker opens for a failure of *error_class*."""
    match error_class:
        case ErrorClass.OUTAGE if config.breaker_failure_threshold > 1:
            return (
                f"after {config.breaker_failure_threshold} outage failures in a row, each "
                "confirmed by a failed health call"
            )
        case ErrorClass.OUTAGE:
            return "once a failed call is confirmed by a failed health call"
        case ErrorClass.NOT_PLEX:
            return "once a health call confirms that plex_url is not a Plex server"
        case _:
            return "at once"


def _probe(error_class: ErrorClass) -> str:
    """What the breaker's probe is for a failure of *error_class*."""
    is_settings = error_class in {ErrorClass.MISCONFIGURED, ErrorClass.NOT_PLEX}
    return "one real job" if is_settings else "one health call"


def _steps(policy: RetryPolicy, retries: int) -> tuple[Step, ...]:
    steps: list[Step] = []
    elapsed = (0.0, 0.0, 0.0)
    for retry in range(1, retries + 1):
        delays = delay_range(retry, policy)
        elapsed = (elapsed[0] + delays[0], elapsed[1] + delays[1], elapsed[2] + delays[2])
        steps.append(_step(retry, delays, elapsed))
    return tuple(steps)


def _constant_steps(delay: float, count: int) -> tuple[Step, ...]:
    return tuple(
        _step(n, (delay, delay, delay), (n * delay, n * delay, n * delay))
        for n in range(1, count + 1)
    )


def _probe_steps(config: PlexSyncConfig) -> tuple[Step, ...]:
    """The breaker's cooldowns: no jitter (there is one probe, not a herd), doubling to the cap."""
    steps: list[Step] = []
    cooldown, elapsed = config.breaker_cooldown_seconds, 0.0
    while True:
        elapsed += cooldown
        steps.append(_step(len(steps) + 1, (cooldown, cooldown, cooldown), (elapsed,) * 3))
        if cooldown >= config.breaker_max_cooldown_seconds or len(steps) == _MAX_LISTED:
            return tuple(steps)
        cooldown = min(2 * cooldown, config.breaker_max_cooldown_seconds)


_MAX_LISTED = 30
"""Schedules that last for as long as their cause are listed up to their cap, or this many rows."""


def _retries_to_cap(policy: RetryPolicy) -> int:
    """How many retries it takes the nominal delay to reach its cap (so the table can stop)."""
    retry = 1
    while retry < _MAX_LISTED and nominal_delay(retry, policy) < policy.wait_max:
        retry += 1
    return retry


def _step(
    retry: int, delays: tuple[float, float, float], elapsed: tuple[float, float, float]
) -> Step:
    return Step(
        retry=retry,
        min_delay=delays[0],
        expected_delay=delays[1],
        max_delay=delays[2],
        min_elapsed=elapsed[0],
        expected_elapsed=elapsed[1],
        max_elapsed=elapsed[2],
    )
