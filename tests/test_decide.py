"""decide: one rule per error class, each with the budget, the breaker and the events it implies."""

from __future__ import annotations

import attrs
import pytest

from core import (
    Breaker,
    BreakerKind,
    BreakerOpened,
    Closed,
    DeadLetter,
    DeadLetterReason,
    Decision,
    Done,
    ErrorClass,
    Failed,
    Job,
    JobDeadLettered,
    JobSucceeded,
    PauseCause,
    PlexSyncConfig,
    ResendScheduled,
    RetryAt,
    RetryScheduled,
    Succeeded,
    Throttled,
    backoff,
    decide,
)
from core.breaker import throttle
from tests.builders import T0, make_config, make_job, open_breaker

E = ErrorClass
R = DeadLetterReason


def run(
    job: Job,
    outcome: Succeeded | Failed,
    config: PlexSyncConfig,
    *,
    now: float = T0,
    jitter: float = 0.0,
    breaker: Breaker | None = None,
    started_at: float | None = None,
) -> Decision:
    return decide(
        job,
        outcome,
        now=now,
        jitter=jitter,
        config=config,
        breaker=breaker or Breaker(),
        started_at=started_at,
    )


def test_success_is_done(config: PlexSyncConfig) -> None:
    """A success finishes the job and resets the breaker's failure count."""
    decision = run(
        make_job(), Succeeded(), config, breaker=Breaker(state=Closed(consecutive_failures=2))
    )
    assert decision.action == Done()
    assert decision.breaker == Breaker()
    assert decision.events == (JobSucceeded(at=T0, job_id=1, key="scene:1"),)


def test_permanent_is_dead_lettered_at_once(config: PlexSyncConfig) -> None:
    """Plex refused the request: no retry, whatever the budget left."""
    decision = run(make_job(), Failed(E.PERMANENT, "(400) bad request"), config)
    assert decision.action == DeadLetter(R.PERMANENT_ERROR)
    assert decision.events == (
        JobDeadLettered(
            at=T0,
            job_id=1,
            key="scene:1",
            reason=R.PERMANENT_ERROR,
            error_class=E.PERMANENT,
            message="(400) bad request",
        ),
    )


def test_invalid_payload_is_dead_lettered_and_tells_the_breaker_nothing(
    config: PlexSyncConfig,
) -> None:
    """Plex was never called, so the breaker's failure count stays where it was."""
    breaker = Breaker(state=Closed(consecutive_failures=2))
    decision = run(make_job(), Failed(E.INVALID_PAYLOAD), config, breaker=breaker)
    assert decision.action == DeadLetter(R.INVALID_PAYLOAD)
    assert decision.breaker == breaker


def test_transient_retries_max_retries_times_then_dead_letters() -> None:
    """With max_retries=3 a job is attempted 4 times; the delays follow backoff."""
    config = make_config(max_retries=3)
    job, now, actions = make_job(), T0, []
    for _ in range(4):
        decision = run(job, Failed(E.TRANSIENT, "(500)"), config, now=now, jitter=0.5)
        actions.append(decision.action)
        job = decision.job
        if isinstance(decision.action, RetryAt):
            now = decision.action.at
    policy = config.transient_policy
    assert actions == [
        RetryAt(T0 + backoff(1, 0.5, policy)),
        RetryAt(T0 + backoff(1, 0.5, policy) + backoff(2, 0.5, policy)),
        RetryAt(T0 + sum(backoff(n, 0.5, policy) for n in (1, 2, 3))),
        DeadLetter(R.RETRIES_EXHAUSTED),
    ]
    assert job.transient_failures == 4


def test_zero_retries_means_one_attempt() -> None:
    """max_retries=0: the first transient failure dead-letters."""
    decision = run(make_job(), Failed(E.TRANSIENT), make_config(max_retries=0))
    assert decision.action == DeadLetter(R.RETRIES_EXHAUSTED)


def test_transient_events_say_the_attempt_was_charged(config: PlexSyncConfig) -> None:
    """The retry event names the class, the instant and that the attempt counted."""
    decision = run(make_job(), Failed(E.TRANSIENT), config)
    assert decision.events == (
        RetryScheduled(
            at=T0, job_id=1, key="scene:1", error_class=E.TRANSIENT, retry_at=T0 + 10, charged=True
        ),
    )


def test_not_found_uses_its_own_longer_budget(config: PlexSyncConfig) -> None:
    """The first not-found answer starts the window and waits the not-found delay."""
    decision = run(make_job(), Failed(E.NOT_FOUND), config)
    assert decision.action == RetryAt(T0 + 60)
    assert decision.job.not_found_failures == 1
    assert decision.job.not_found_since_at == T0
    assert decision.job.transient_failures == 0


def test_not_found_dead_letters_after_its_limit() -> None:
    """The (limit + 1)-th not-found answer dead-letters (window or not); the limit-th retries."""
    config = make_config(not_found_max_retries=2, not_found_window_seconds=10**6)
    job = make_job(not_found_failures=2, not_found_since_at=T0)
    decision = run(job, Failed(E.NOT_FOUND), config, now=T0 + 200)
    assert decision.action == DeadLetter(R.NOT_FOUND)
    job = make_job(not_found_failures=1, not_found_since_at=T0)
    decision = run(job, Failed(E.NOT_FOUND), config, now=T0 + 200)
    assert decision.action == RetryAt(T0 + 200 + 120)


def test_not_found_never_retries_past_its_window() -> None:
    """A retry that would land after the window dead-letters instead: none past the deadline."""
    config = make_config(
        not_found_wait_initial_seconds=60,
        not_found_wait_max_seconds=60,
        not_found_window_seconds=1000,
        not_found_max_retries=100,
    )
    job = make_job(not_found_failures=5, not_found_since_at=T0)
    assert run(job, Failed(E.NOT_FOUND), config, now=T0 + 940).action == RetryAt(T0 + 1000)
    assert run(job, Failed(E.NOT_FOUND), config, now=T0 + 941).action == DeadLetter(R.NOT_FOUND)


def test_outage_below_threshold_costs_nothing_and_counts_for_the_breaker(
    config: PlexSyncConfig,
) -> None:
    """The job retries at once, uncharged; the breaker counts one consecutive failure."""
    config = attrs.evolve(config, breaker_failure_threshold=3)
    decision = run(make_job(transient_failures=2), Failed(E.OUTAGE), config)
    assert decision.action == RetryAt(T0, charged=False)
    assert decision.job.charged_attempts == 2
    assert decision.job.outage_deferrals == 1
    assert decision.breaker == Breaker(state=Closed(consecutive_failures=1))


def test_outage_reaching_threshold_opens_and_parks_the_job_until_the_probe(
    config: PlexSyncConfig,
) -> None:
    """The job waits for the breaker: it is due when the first probe is."""
    breaker = Breaker(state=Closed(consecutive_failures=config.breaker_failure_threshold - 1))
    decision = run(make_job(), Failed(E.OUTAGE), config, breaker=breaker)
    assert decision.breaker.kind is BreakerKind.OPEN
    assert decision.action == RetryAt(T0 + 10, charged=False)
    assert isinstance(decision.events[0], BreakerOpened)
    assert isinstance(decision.events[1], RetryScheduled)
    assert decision.events[1].charged is False


def test_outage_while_already_open_waits_for_the_probe(config: PlexSyncConfig) -> None:
    """Another worker's call failing after the breaker opened just joins the wait."""
    breaker = open_breaker(config, at=T0 - 4)
    decision = run(make_job(), Failed(E.OUTAGE), config, breaker=breaker)
    assert decision.breaker == breaker
    assert decision.action == RetryAt(T0 + 6, charged=False)


def test_auth_opens_at_once_and_dead_letters_nothing(config: PlexSyncConfig) -> None:
    """A rejected token holds all work; the job is not charged."""
    decision = run(make_job(), Failed(E.AUTH, "(401) unauthorized"), config)
    assert decision.breaker.kind is BreakerKind.OPEN
    assert decision.action == RetryAt(T0 + 10, charged=False)
    assert decision.job.charged_attempts == 0


def test_rate_limited_waits_for_retry_after_and_throttles_everyone(config: PlexSyncConfig) -> None:
    """Retry-After is a floor for this job and a hold on all work; no attempt is charged."""
    hint = T0 + 120
    decision = run(make_job(), Failed(E.RATE_LIMITED, retry_after_at=hint), config, jitter=0.5)
    assert isinstance(decision.action, RetryAt)
    assert decision.action.charged is False
    assert decision.action.at == pytest.approx(hint + 0.5 * 0.2 * 10, abs=1e-6)  # not relative:
    # an epoch instant times approx's default 1e-6 is half an hour of slack
    assert decision.breaker.throttled_until_at == hint
    assert Throttled(at=T0, until_at=hint) in decision.events
    assert decision.job.charged_attempts == 0
    assert decision.job.rate_limited_deferrals == 1


def test_rate_limited_without_a_hint_backs_off_and_grows(config: PlexSyncConfig) -> None:
    """Repeated 429s without Retry-After wait the transient backoff, growing each time."""
    job = make_job(rate_limited_deferrals=3)
    decision = run(job, Failed(E.RATE_LIMITED), config)
    assert decision.action == RetryAt(T0 + 80, charged=False)
    assert decision.breaker.throttled_until_at == T0 + 80


@pytest.mark.parametrize("hint", [None, T0 - 500])
def test_rate_limit_without_a_future_hint_waits_the_backoff_however_short(
    hint: float | None,
) -> None:
    """No Retry-After, or one already past, adds no wait: a sub-second backoff stays sub-second."""
    config = make_config(retry_wait_initial_seconds=0.25, retry_wait_max_seconds=0.5)
    decision = run(make_job(), Failed(E.RATE_LIMITED, retry_after_at=hint), config, jitter=0.5)
    assert decision.action == RetryAt(T0 + (0.25 + 0.5 * 0.2 * 0.25), charged=False)
    assert decision.breaker.throttled_until_at == T0 + 0.25


def test_rate_limit_jitter_adds_on_top_of_the_server_hint(config: PlexSyncConfig) -> None:
    """The job retries after Retry-After plus its jitter, so a herd does not return at once."""
    hint = T0 + 600
    early = run(make_job(), Failed(E.RATE_LIMITED, retry_after_at=hint), config, jitter=0.0)
    late = run(make_job(), Failed(E.RATE_LIMITED, retry_after_at=hint), config, jitter=0.9)
    assert early.action == RetryAt(hint, charged=False)
    assert late.action == RetryAt(T0 + (600 + 0.9 * 0.2 * 10), charged=False)
    assert late.breaker.throttled_until_at == hint


@pytest.mark.parametrize(
    ("hint", "held_until"),
    [
        (T0 - 500, T0 + 10),  # a past instant counts as now: the nominal delay wins
        (T0 + 10**9, T0 + 3600),  # an absurd one is bounded by retry_after_max_seconds
    ],
)
def test_rate_limit_hints_are_bounded(
    hint: float, held_until: float, config: PlexSyncConfig
) -> None:
    """Retry-After is trusted within reason: never before now, never beyond the configured max."""
    decision = run(make_job(), Failed(E.RATE_LIMITED, retry_after_at=hint), config)
    assert decision.breaker.throttled_until_at == held_until
    assert decision.action == RetryAt(held_until, charged=False)


def test_rate_limited_job_never_runs_before_an_existing_longer_throttle(
    config: PlexSyncConfig,
) -> None:
    """If another job already throttled all work for longer, this one waits for that too."""
    breaker = Breaker(throttled_until_at=T0 + 900)
    decision = run(make_job(), Failed(E.RATE_LIMITED), config, breaker=breaker)
    assert decision.action == RetryAt(T0 + 900, charged=False)


def test_crash_retries_at_once_then_dead_letters() -> None:
    """A job whose worker keeps dying goes to the DLQ after max_crashes + 1 expired leases."""
    config = make_config(max_crashes=2)
    assert run(make_job(crashes=1), Failed(E.CRASHED), config).action == RetryAt(T0)
    assert run(make_job(crashes=2), Failed(E.CRASHED), config).action == DeadLetter(
        R.CRASHED_REPEATEDLY
    )


def test_crash_counts_against_the_job_and_tells_the_breaker_nothing(
    config: PlexSyncConfig,
) -> None:
    """The crash is counted on the job; the breaker is stored as it was, with no event."""
    breaker = Breaker(state=Closed(consecutive_failures=2))
    decision = run(make_job(crashes=1), Failed(E.CRASHED), config, breaker=breaker)
    assert decision.job.crashes == 2
    assert decision.breaker == breaker
    assert [type(event) for event in decision.events] == [RetryScheduled]


def test_permanent_error_proves_plex_answers(config: PlexSyncConfig) -> None:
    """A refusal is an answer from a live Plex: the breaker's outage count restarts."""
    decision = run(
        make_job(),
        Failed(E.PERMANENT),
        config,
        breaker=Breaker(state=Closed(consecutive_failures=2)),
    )
    assert decision.breaker == Breaker()


def test_an_outcome_of_no_known_kind_is_refused(config: PlexSyncConfig) -> None:
    """Nothing decide cannot read passes silently: a foreign outcome or class raises, naming it."""
    with pytest.raises(AssertionError, match="'bogus'"):
        run(make_job(), "bogus", config)  # type: ignore[arg-type]
    with pytest.raises(AssertionError, match="'bogus'"):
        run(make_job(), Failed("bogus"), config)  # type: ignore[arg-type]


@pytest.mark.parametrize("jitter", [-0.5, 1.0])
def test_jitter_outside_its_range_is_refused(jitter: float, config: PlexSyncConfig) -> None:
    """Decide checks its chance input up front, whatever the outcome."""
    with pytest.raises(ValueError, match="jitter"):
        run(make_job(), Succeeded(), config, jitter=jitter)


def test_impossible_jobs_cannot_be_built() -> None:
    """A not-found count without its start instant (or the reverse) is refused."""
    with pytest.raises(ValueError, match=r"^not_found_since_at is set exactly when"):
        make_job(not_found_failures=1)
    with pytest.raises(ValueError, match="not_found_since_at"):
        make_job(not_found_since_at=T0)


@pytest.mark.parametrize("error_class", [E.MISCONFIGURED, E.NOT_PLEX])
def test_settings_that_cannot_work_hold_everything_and_charge_nothing(
    error_class: E, config: PlexSyncConfig
) -> None:
    """A wrong section, or plex_url answering as something else: the breaker opens at once with
    the cause in words, and the job waits for the probe, uncharged.
    """
    words = "Plex has no library section 'Films'"
    decision = run(make_job(transient_failures=1), Failed(error_class, words), config)
    assert decision.action == RetryAt(T0 + 10, charged=False)
    assert decision.job.charged_attempts == 1
    assert decision.breaker.outage is not None
    assert (decision.breaker.outage.cause, decision.breaker.outage.detail) == (
        PauseCause.MISCONFIGURED,
        words,
    )


def test_a_certificate_that_does_not_verify_holds_everything_and_charges_nothing(
    config: PlexSyncConfig,
) -> None:
    """A certificate failure is no outage to count up to a threshold, and no job's fault: the
    breaker opens at once with the words, and the job waits for the probe, uncharged.
    """
    words = "unknown issuer: the certificate is issued by 'Proxy CA', ...; set plex_ca_bundle"
    decision = run(make_job(), Failed(E.CERTIFICATE, words), config)
    assert decision.action == RetryAt(T0 + 10, charged=False)
    assert decision.job.charged_attempts == 0
    assert decision.breaker.outage is not None
    assert (decision.breaker.outage.cause, decision.breaker.outage.detail) == (
        PauseCause.CERTIFICATE,
        words,
    )


def test_an_outage_failure_of_a_call_begun_before_plex_came_back_reopens_nothing(
    config: PlexSyncConfig,
) -> None:
    """The breaker closed at T0; a call that began before that and failed as an outage is a late
    report: nothing opens, and the job is simply due again, uncharged.
    """
    closed = Breaker(state=Closed(closed_at=T0))
    late = run(make_job(), Failed(E.OUTAGE), config, breaker=closed, started_at=T0 - 1)
    assert late.breaker == closed
    assert late.action == RetryAt(T0, charged=False)
    fresh = run(make_job(), Failed(E.OUTAGE), config, breaker=closed, started_at=T0)
    assert fresh.breaker.kind is BreakerKind.OPEN


def test_an_edit_that_may_still_land_keeps_the_keys_next_success_from_being_final(
    config: PlexSyncConfig,
) -> None:
    """Rule 8: after an edit whose answer never came, a success within the window is sent once
    more when the window ends (uncharged); a success after it is done.
    """
    window = config.late_edit_window_seconds
    timed_out = Failed(E.OUTAGE, "timed out", may_land=True)
    failed = run(make_job(), timed_out, config, now=T0)
    assert failed.job.late_edit_until_at == T0 + window
    later = run(failed.job, timed_out, config, now=T0 + 5)
    assert later.job.late_edit_until_at == T0 + 5 + window
    early = run(failed.job, Succeeded(), config, now=T0 + 20)
    assert early.action == RetryAt(T0 + window, charged=False)
    assert early.events[-1] == ResendScheduled(
        at=T0 + 20, job_id=1, key="scene:1", resend_at=T0 + window
    )
    assert run(failed.job, Succeeded(), config, now=T0 + window).action == Done()
    assert run(make_job(), Failed(E.OUTAGE), config).job.late_edit_until_at is None


def test_a_late_window_stretched_by_a_clock_stepped_back_is_cut_in_the_job_it_keeps(
    config: PlexSyncConfig,
) -> None:
    """A success inside a late-landing window that reaches a day ahead (the clock stepped back)
    waits one window from now, and the job kept says so: resent once, not once a window.
    """
    window = config.late_edit_window_seconds
    job = make_job(late_edit_until_at=T0 + 86_400)
    decision = run(job, Succeeded(), config, now=T0)
    assert decision.action == RetryAt(T0 + window, charged=False)
    assert decision.job.late_edit_until_at == T0 + window


def test_a_success_held_for_a_late_edit_keeps_its_job_and_tells_the_breaker(
    config: PlexSyncConfig,
) -> None:
    """The success sent once more later is still a success: the job is kept as it is (to be
    claimed again), and the breaker hears that Plex answered (an outage ends).
    """
    job = make_job(late_edit_until_at=T0 + 100)
    decision = run(job, Succeeded(), config, now=T0 + 20, breaker=open_breaker(config))
    assert decision.action == RetryAt(T0 + 100, charged=False)
    assert decision.job == job
    assert decision.breaker.kind is BreakerKind.CLOSED


def test_a_success_of_a_call_sent_before_the_outage_leaves_the_breaker_open(
    config: PlexSyncConfig,
) -> None:
    """The job is done, and the outage another worker saw goes on: the call was sent before it
    began (its start is passed on to the breaker).
    """
    opened = open_breaker(config)  # its outage began at T0
    decision = run(make_job(), Succeeded(), config, now=T0 + 1, breaker=opened, started_at=T0 - 1)
    assert decision.action == Done()
    assert decision.breaker == opened
    sent_after = run(make_job(), Succeeded(), config, now=T0 + 1, breaker=opened, started_at=T0)
    assert sent_after.breaker.kind is BreakerKind.CLOSED


def test_failed_edits_are_charged_until_plex_is_seen_failing_edits_then_held(
    config: PlexSyncConfig,
) -> None:
    """The failed edits before the run reaches failing_edits_threshold cost their jobs an
    attempt; the one that reaches it, and any while the breaker holds for that cause, cost
    nothing and wait for the probe.
    """
    breaker = Breaker(state=Closed(failing_jobs=(2, 3, 4, 5)))
    tripping = run(make_job(id=6), Failed(E.TRANSIENT, "(500)"), config, breaker=breaker)
    assert tripping.action == RetryAt(T0 + 10, charged=False)
    assert tripping.job.transient_failures == 0
    assert tripping.job.outage_deferrals == 1
    assert tripping.breaker.outage is not None
    assert tripping.breaker.outage.cause is PauseCause.FAILING_EDITS
    assert tripping.breaker.outage.detail == "Plex is failing edits: (500) on 5 different items"
    late = run(make_job(id=1), Failed(E.TRANSIENT, "(500)"), config, breaker=tripping.breaker)
    assert late.action == RetryAt(T0 + 10, charged=False)
    below = run(make_job(id=7), Failed(E.TRANSIENT, "(500)"), config, breaker=Breaker())
    assert below.job.transient_failures == 1
    assert below.breaker.state == Closed(failing_jobs=(7,))


def test_a_failed_edit_while_work_is_held_for_another_cause_is_charged(
    config: PlexSyncConfig,
) -> None:
    """Only a hold for failing edits excuses a failed edit: under a server's slow-down, or an
    outage another worker met, the job's own 500 costs it an attempt.
    """
    throttled, _ = throttle(Breaker(), until_at=T0 + 300, now=T0)
    for breaker in (throttled, open_breaker(config, at=T0 - 1)):
        decision = run(make_job(), Failed(E.TRANSIENT, "(500)"), config, breaker=breaker)
        assert decision.job.transient_failures == 1
        assert decision.job.outage_deferrals == 0
        assert isinstance(decision.action, RetryAt)
        assert decision.action.charged


def test_the_words_of_failing_edits_count_each_item_once() -> None:
    """A job already in the run that fails again (the threshold lowered since) is one item, not
    two, in the words the outage keeps.
    """
    config = make_config(failing_edits_threshold=3)
    breaker = Breaker(state=Closed(failing_jobs=(1, 2, 3)))
    decision = run(make_job(id=3), Failed(E.TRANSIENT, "(500)"), config, breaker=breaker)
    assert decision.breaker.outage is not None
    assert decision.breaker.outage.detail == "Plex is failing edits: (500) on 3 different items"
