"""Budget invariants of decide, and its totality."""

from __future__ import annotations

import math

import attrs
from hypothesis import given
from hypothesis import strategies as st

from core import (
    Breaker,
    DeadLetter,
    DeadLetterReason,
    Done,
    ErrorClass,
    Failed,
    Job,
    PlexSyncConfig,
    RetryAt,
    Succeeded,
    admit,
    backoff,
    decide,
    nominal_delay,
)
from core.breaker import Closed, Signal, observe
from core.validation import MAX_SECONDS
from property_tests.strategies import T0, configs, failures, instants, jitters, jobs, outcomes

E = ErrorClass


def fresh_job() -> Job:
    return Job(id=7, key="scene:7", first_enqueued_at=T0)


@given(configs(), st.lists(jitters, min_size=200, max_size=200))
def test_transient_job_is_attempted_exactly_one_plus_max_retries_times(
    config: PlexSyncConfig, samples: list[float]
) -> None:
    """A job that always fails transiently is retried max_retries times, then dead-lettered."""
    job, breaker, now, attempts = fresh_job(), Breaker(), T0, 0
    for jitter in samples:
        attempts += 1
        decision = decide(
            job, Failed(E.TRANSIENT), now=now, jitter=jitter, config=config, breaker=breaker
        )
        job, breaker = decision.job, decision.breaker
        if isinstance(decision.action, DeadLetter):
            assert decision.action.reason is DeadLetterReason.RETRIES_EXHAUSTED
            break
        assert isinstance(decision.action, RetryAt)
        now = decision.action.at
    assert attempts == 1 + config.max_retries


@given(configs(), st.lists(jitters, min_size=100, max_size=100))
def test_not_found_job_stays_within_its_limit_and_window(
    config: PlexSyncConfig, samples: list[float]
) -> None:
    """Retries never exceed not_found_max_retries, and none is scheduled past the window."""
    job, breaker, now, retries = fresh_job(), Breaker(), T0, 0
    for jitter in samples:
        decision = decide(
            job, Failed(E.NOT_FOUND), now=now, jitter=jitter, config=config, breaker=breaker
        )
        job, breaker = decision.job, decision.breaker
        if isinstance(decision.action, DeadLetter):
            assert decision.action.reason is DeadLetterReason.NOT_FOUND
            break
        assert isinstance(decision.action, RetryAt)
        retries += 1
        assert decision.action.at <= T0 + config.not_found_window_seconds
        now = decision.action.at
    else:
        raise AssertionError("a not-found job must be dead-lettered within 101 answers")
    assert retries <= config.not_found_max_retries


@given(configs(), st.lists(jitters, min_size=61, max_size=61))
def test_not_found_job_gets_exactly_its_retries_when_the_window_allows(
    config: PlexSyncConfig, samples: list[float]
) -> None:
    """Given room in the window, a job never found gets exactly not_found_max_retries retries."""
    config = attrs.evolve(config, not_found_window_seconds=MAX_SECONDS)
    job, breaker, now, answers = fresh_job(), Breaker(), T0, 0
    for jitter in samples:
        answers += 1
        decision = decide(
            job, Failed(E.NOT_FOUND), now=now, jitter=jitter, config=config, breaker=breaker
        )
        job, breaker = decision.job, decision.breaker
        if isinstance(decision.action, DeadLetter):
            break
        assert isinstance(decision.action, RetryAt)
        now = decision.action.at
    assert answers == 1 + config.not_found_max_retries


@given(configs(), st.lists(st.tuples(instants, jitters), min_size=11, max_size=11))
def test_crashing_job_is_taken_exactly_one_plus_max_crashes_times(
    config: PlexSyncConfig, steps: list[tuple[float, float]]
) -> None:
    """Always crashing: max_crashes immediate retries, then the DLQ; the breaker never hears."""
    job, breaker, taken = fresh_job(), Breaker(state=Closed(consecutive_failures=1)), 0
    for now, jitter in steps:
        taken += 1
        decision = decide(
            job, Failed(E.CRASHED), now=now, jitter=jitter, config=config, breaker=breaker
        )
        assert decision.breaker == breaker
        job = decision.job
        if isinstance(decision.action, DeadLetter):
            assert decision.action.reason is DeadLetterReason.CRASHED_REPEATEDLY
            break
        assert decision.action == RetryAt(now)
    assert taken == 1 + config.max_crashes


answering = st.sampled_from([E.TRANSIENT, E.NOT_FOUND, E.PERMANENT, E.RATE_LIMITED])


@given(configs(), jobs(), answering.flatmap(failures), instants, jitters, st.integers(1, 9))
def test_any_answer_from_plex_restarts_the_outage_count(
    config: PlexSyncConfig, job: Job, failure: Failed, now: float, jitter: float, count: int
) -> None:
    """A job-level error proves Plex is up: a closed breaker forgets its outage failures."""
    breaker = Breaker(state=Closed(consecutive_failures=count))
    decision = decide(job, failure, now=now, jitter=jitter, config=config, breaker=breaker)
    assert isinstance(decision.breaker.state, Closed)
    assert decision.breaker.state.consecutive_failures == 0


@given(configs(), jobs(), failures(E.RATE_LIMITED), instants, jitters)
def test_rate_limited_job_waits_the_bounded_hint_under_its_backoff_plus_jitter(
    config: PlexSyncConfig, job: Job, failure: Failed, now: float, jitter: float
) -> None:
    """Rule 6: the bounded hint floors the backoff; work holds till then; the job adds jitter."""
    hint, policy = failure.retry_after_at, config.transient_policy
    floor = 0.0 if hint is None else min(max(hint - now, 0.0), config.retry_after_max_seconds)
    deferrals = job.rate_limited_deferrals + 1
    decision = decide(job, failure, now=now, jitter=jitter, config=config, breaker=Breaker())
    retry_at = now + backoff(deferrals, jitter, policy, floor=floor)
    assert decision.action == RetryAt(retry_at, charged=False)
    held_until = now + max(nominal_delay(deferrals, policy), floor)
    assert decision.breaker.throttled_until_at == held_until


@given(configs(), jobs(), instants, jitters)
def test_permanent_never_retries(
    config: PlexSyncConfig, job: Job, now: float, jitter: float
) -> None:
    """Whatever the job's history, a permanent error dead-letters at once."""
    decision = decide(
        job, Failed(E.PERMANENT), now=now, jitter=jitter, config=config, breaker=Breaker()
    )
    assert decision.action == DeadLetter(DeadLetterReason.PERMANENT_ERROR)


deferring = st.sampled_from([E.OUTAGE, E.RATE_LIMITED, E.AUTH]).flatmap(failures)


@given(
    configs(),
    jobs(),
    st.lists(st.tuples(deferring, jitters, st.floats(min_value=-1e4, max_value=1e5)), max_size=300),
)
def test_outages_and_rate_limits_never_charge_or_dead_letter(
    config: PlexSyncConfig, job: Job, steps: list[tuple[Failed, float, float]]
) -> None:
    """No sequence of outage, auth or rate-limited outcomes, of any length and with any clock
    (even one stepping backwards), changes the charged attempts or dead-letters the job.
    """
    charged, breaker, now = job.charged_attempts, Breaker(), T0
    for failure, jitter, step in steps:
        now += step
        decision = decide(job, failure, now=now, jitter=jitter, config=config, breaker=breaker)
        assert isinstance(decision.action, RetryAt)
        assert decision.action.charged is False
        assert decision.job.charged_attempts == charged
        job, breaker = decision.job, decision.breaker


@given(configs(), jobs(), outcomes, instants, jitters, st.sampled_from(["closed", "open", "half"]))
def test_decide_is_total(
    config: PlexSyncConfig,
    job: Job,
    outcome: Succeeded | Failed,
    now: float,
    jitter: float,
    breaker_kind: str,
) -> None:
    """Any valid input gives a valid decision: a known action, never before now, never NaN."""
    breaker = _breaker(breaker_kind, config, now)
    decision = decide(job, outcome, now=now, jitter=jitter, config=config, breaker=breaker)
    match decision.action:
        case Done():
            assert isinstance(outcome, Succeeded)
        case RetryAt(at=at):
            assert math.isfinite(at)
            assert at >= now
        case DeadLetter(reason=reason):
            assert isinstance(reason, DeadLetterReason)
    assert decision.job.id == job.id
    assert decision.job.charged_attempts >= job.charged_attempts
    assert decision.events  # every decision reports at least what happened to the job


def _breaker(kind: str, config: PlexSyncConfig, now: float) -> Breaker:
    if kind == "closed":
        return Breaker()
    opened, _ = observe(Breaker(), Signal.REJECTED, now=now - 1, config=config)
    if kind == "open":
        return opened
    assert opened.next_probe_at is not None
    return admit(opened, now=opened.next_probe_at, config=config).breaker
