"""Plex failing edits as a whole, told apart from one item that always fails (core rules: the
breaker's rule 1, decide's rule 3).

A small scheduler drives the pure core as a worker would: it asks the breaker (``admit``), sends
a job (as a probe when the breaker asks for one, reported with ``on_job_probe``), and stores what
``decide`` answers. Time is a float; every call takes a moment.
"""

from __future__ import annotations

from hypothesis import assume, given
from hypothesis import strategies as st

from core import (
    Breaker,
    DeadLetter,
    Done,
    ErrorClass,
    Failed,
    Hold,
    Job,
    Outcome,
    PauseCause,
    PlexSyncConfig,
    Probe,
    ProbeKind,
    RetryAt,
    Succeeded,
    admit,
    decide,
    jitter_sample,
    on_job_probe,
    on_probe,
)
from core.outcomes import Health
from property_tests.strategies import T0, configs

CALL_SECONDS = 0.05
"""How long one Plex call takes in the model."""


def run(
    config: PlexSyncConfig,
    jobs: int,
    answer: object,
    *,
    until: float,
) -> tuple[dict[int, Job], dict[int, Job], list[PauseCause]]:
    """Work *jobs* jobs until all are done or dead, or *until*; *answer(job, now)* is Plex's
    answer to an edit. Returns the jobs done and dead-lettered, and the causes the breaker
    opened for.
    """
    waiting = {n: (Job(id=n, key=f"k{n}", first_enqueued_at=T0), T0) for n in range(1, jobs + 1)}
    done: dict[int, Job] = {}
    dead: dict[int, Job] = {}
    opened: list[PauseCause] = []
    breaker, now = Breaker(), T0
    while waiting and now < until:
        admission = admit(breaker, now=now, config=config)
        breaker = admission.breaker
        match admission.permission:
            case Hold(until_at=held):
                now = held
                continue
            case Probe(kind=ProbeKind.HEALTH):
                breaker, _ = on_probe(breaker, Health.UP, now=now, config=config)
                now += CALL_SECONDS
                continue
        due = [(at, n) for n, (_, at) in waiting.items() if at <= now]
        if not due:
            now = min(at for _, at in waiting.values())
            continue
        _, n = min(due)
        job = waiting[n][0]
        now += CALL_SECONDS
        outcome: Outcome = answer(job, now)  # type: ignore[operator]
        if isinstance(admission.permission, Probe):
            breaker, _ = on_job_probe(breaker, outcome, now=now, config=config)
        decision = decide(
            job,
            outcome,
            now=now,
            jitter=jitter_sample(job.id, job.deliveries),
            config=config,
            breaker=breaker,
        )
        if breaker.outage is None and decision.breaker.outage is not None:
            opened.append(decision.breaker.outage.cause)
        breaker = decision.breaker
        match decision.action:
            case Done():
                done[n] = decision.job
                del waiting[n]
            case DeadLetter():
                dead[n] = decision.job
                del waiting[n]
            case RetryAt(at=at):
                waiting[n] = (decision.job, at)
    return done, dead, opened


STORM_PROBES = 200
"""The longest storm drawn lasts this many of the breaker's longest waits (or 12 hours): enough
probe cycles to reach every wait the breaker has, without the model's steps growing past what a
test run can afford when the waits are short."""


@given(
    configs(),
    st.integers(min_value=0, max_value=30),
    st.floats(min_value=0, max_value=1),
)
def test_a_storm_of_failed_edits_across_different_items_dead_letters_nothing(
    config: PlexSyncConfig, extra_jobs: int, storm_share: float
) -> None:
    """Every edit fails (a 500) for a storm of any length, on a backlog of at least
    failing_edits_threshold different items: each job pays for at most one failed edit (those
    before Plex's failure was recognised), so none is dead-lettered if its budget allows one
    retry, and all are done once the storm is over.
    """
    assume(config.max_retries >= 1)
    jobs = config.failing_edits_threshold + extra_jobs
    longest = min(12 * 3600, STORM_PROBES * config.breaker_max_cooldown_seconds)
    storm_until = T0 + storm_share * longest

    def plex(job: Job, now: float) -> Outcome:
        del job
        return Failed(ErrorClass.TRANSIENT, "(500)") if now < storm_until else Succeeded()

    done, dead, opened = run(config, jobs, plex, until=storm_until + 10**7)
    assert dead == {}
    assert len(done) == jobs
    assert all(job.transient_failures <= 1 for job in done.values())
    assert set(opened) <= {PauseCause.FAILING_EDITS}


@given(configs(), st.integers(min_value=1, max_value=30), st.integers(min_value=0, max_value=5))
def test_one_item_that_always_fails_among_items_that_succeed_is_dead_lettered_on_its_budget(
    config: PlexSyncConfig, others: int, poison_index: int
) -> None:
    """One job whose edit always fails, the others succeeding: it is dead-lettered after
    exactly max_retries retries, the breaker never holds work for it, and the others are done.
    """
    poison = 1 + poison_index % (others + 1)

    def plex(job: Job, now: float) -> Outcome:
        del now
        return Failed(ErrorClass.TRANSIENT, "(500)") if job.id == poison else Succeeded()

    done, dead, opened = run(config, others + 1, plex, until=T0 + 10**9)
    assert list(dead) == [poison]
    assert dead[poison].transient_failures == config.max_retries + 1
    assert len(done) == others
    assert opened == []
