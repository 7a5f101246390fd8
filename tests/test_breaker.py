"""The circuit breaker: its transition table, admission, probes, cooldowns and outage records."""

from __future__ import annotations

import itertools

import attrs
import pytest

from core import (
    TRANSITIONS,
    Admission,
    Breaker,
    BreakerClosed,
    BreakerKind,
    BreakerOpened,
    Closed,
    ErrorClass,
    Failed,
    HalfOpen,
    Health,
    Hold,
    Open,
    Outage,
    PauseCause,
    PlexSyncConfig,
    Probe,
    ProbeFailed,
    ProbeKind,
    ProbeStarted,
    Proceed,
    Signal,
    Succeeded,
    admit,
    hold_until,
    on_probe,
    on_reachable,
    wake_at,
)
from core.breaker import (
    DEFAULT_DETAIL,
    HEALTH_DETAIL,
    changes_anything,
    edit_failure_signal,
    failing_edits_detail,
    failure_signal,
    observe,
    on_job_probe,
    steady,
    success_signal,
    throttle,
)
from tests.builders import T0, make_config, open_breaker

K = BreakerKind


def breaker_in(kind: BreakerKind, config: PlexSyncConfig) -> Breaker:
    """A breaker in *kind*, as the worker would have left it."""
    match kind:
        case K.CLOSED:
            return Breaker(state=Closed(consecutive_failures=1))
        case K.OPEN:
            return open_breaker(config)
        case K.HALF_OPEN:
            return admit(open_breaker(config), now=T0 + 60, config=config).breaker
    raise AssertionError(kind)


def test_the_table_covers_every_state_and_signal() -> None:
    """No pair is left to a default: every (state, signal) has a row, so an ignored report is a
    decision written down, not an accident.
    """
    assert set(TRANSITIONS) == set(itertools.product(K, Signal))


@pytest.mark.parametrize(("kind", "signal"), list(itertools.product(K, Signal)))
def test_every_state_and_signal(kind: BreakerKind, signal: Signal, config: PlexSyncConfig) -> None:
    """Each pair moves to the state its row names; a row that changes nothing leaves the breaker
    exactly as it was, with no event.
    """
    before = breaker_in(kind, config)
    after, events = observe(before, signal, now=T0 + 100, config=config)
    move = TRANSITIONS[kind, signal]
    assert after.kind is move.target
    if not changes_anything(move):
        assert (after, events) == (before, ())


def test_a_move_keeps_a_servers_slow_down(config: PlexSyncConfig) -> None:
    """Opening and closing the breaker never drops a Retry-After already in force."""
    throttled = attrs.evolve(open_breaker(config), throttled_until_at=T0 + 500)
    closed, _ = observe(throttled, Signal.SUCCEEDED, now=T0 + 1, config=config)
    reopened, _ = observe(closed, Signal.REJECTED, now=T0 + 2, config=config)
    assert (closed.throttled_until_at, reopened.throttled_until_at) == (T0 + 500, T0 + 500)


def test_trips_after_threshold_consecutive_failures() -> None:
    """Only the threshold-th consecutive outage failure opens the breaker."""
    config = make_config(breaker_failure_threshold=3)
    breaker = Breaker()
    kinds = []
    for _ in range(3):
        breaker, _ = observe(breaker, failure_signal(breaker, config), now=T0, config=config)
        kinds.append(breaker.kind)
    assert kinds == [K.CLOSED, K.CLOSED, K.OPEN]


@pytest.mark.parametrize("failures", [1, 2])
@pytest.mark.parametrize("signal", [Signal.SUCCEEDED, Signal.ANSWERED])
def test_an_answer_from_plex_resets_the_failure_count(
    signal: Signal, failures: int, config: PlexSyncConfig
) -> None:
    """Failures must be consecutive: any answer from a live Plex starts the count again; with
    nothing counted, the breaker is handed back as it was.
    """
    breaker = Breaker(state=Closed(consecutive_failures=failures))
    after, events = observe(breaker, signal, now=T0, config=config)
    assert after == Breaker()
    assert events == ()
    fresh = Breaker()
    assert observe(fresh, signal, now=T0, config=config) == (fresh, ())
    assert observe(fresh, signal, now=T0, config=config)[0] is fresh


def test_opening_starts_one_outage_and_schedules_the_first_probe(config: PlexSyncConfig) -> None:
    """Tripping records the outage's start, cause and words, and the first probe time."""
    breaker = Breaker(state=Closed(consecutive_failures=config.breaker_failure_threshold - 1))
    words = "connection refused (ConnectionError)"
    opened, events = observe(breaker, Signal.TRIPPED, now=T0, config=config, detail=words)
    outage = Outage(cause=PauseCause.OUTAGE, started_at=T0, detail=words)
    assert opened == Breaker(state=Open(outage=outage, cooldown_seconds=10, probe_at=T0 + 10))
    assert events == (
        BreakerOpened(at=T0, cause=PauseCause.OUTAGE, next_probe_at=T0 + 10, detail=words),
    )


def test_an_outage_without_words_gets_its_causes_usual_ones(config: PlexSyncConfig) -> None:
    """A report that says nothing more precise still leaves the operator a cause to read."""
    for signal, cause in (
        (Signal.TRIPPED, PauseCause.OUTAGE),
        (Signal.REJECTED, PauseCause.AUTH),
        (Signal.MISCONFIGURED, PauseCause.MISCONFIGURED),
        (Signal.UNTRUSTED, PauseCause.CERTIFICATE),
    ):
        opened, _ = observe(Breaker(), signal, now=T0, config=config)
        assert opened.outage == Outage(cause=cause, started_at=T0, detail=DEFAULT_DETAIL[cause])


def test_a_rejected_token_opens_at_once(config: PlexSyncConfig) -> None:
    """Auth needs no threshold: the first 401 confirmed by the health check holds all work."""
    opened, _ = observe(Breaker(), Signal.REJECTED, now=T0, config=config, detail="401")
    assert opened.kind is K.OPEN
    assert opened.outage == Outage(cause=PauseCause.AUTH, started_at=T0, detail="401")


def test_settings_that_cannot_work_open_at_once_and_are_probed_with_a_job(
    config: PlexSyncConfig,
) -> None:
    """A wrong library section needs no threshold either, and only a real job shows it fixed:
    the probe it admits is a job, while an outage's is a health call.
    """
    words = "Plex has no library section 'Films'"
    opened, _ = observe(Breaker(), Signal.MISCONFIGURED, now=T0, config=config, detail=words)
    assert opened.outage == Outage(cause=PauseCause.MISCONFIGURED, started_at=T0, detail=words)
    assert admit(opened, now=T0 + 10, config=config).permission == Probe(ProbeKind.JOB)
    assert admit(open_breaker(config), now=T0 + 10, config=config).permission == Probe(
        ProbeKind.HEALTH
    )


def test_open_holds_work_until_the_cooldown_ends(config: PlexSyncConfig) -> None:
    """While cooling down, admit says Hold until the probe time and changes nothing."""
    breaker = open_breaker(config)
    admission = admit(breaker, now=T0 + 9.9, config=config)
    assert admission.permission == Hold(T0 + 10)
    assert admission.breaker == breaker


def test_half_open_admits_exactly_one_probe(config: PlexSyncConfig) -> None:
    """The first caller after the cooldown gets the probe; the next one is held."""
    first = admit(open_breaker(config), now=T0 + 10, config=config)
    assert first.permission == Probe()
    assert first.breaker.kind is K.HALF_OPEN
    assert first.events == (ProbeStarted(at=T0 + 10, number=1),)
    second = admit(first.breaker, now=T0 + 11, config=config)
    assert second.permission == Hold(T0 + 10 + config.probe_lease_seconds)


def test_plex_listening_again_brings_an_outages_probe_forward(config: PlexSyncConfig) -> None:
    """Plex accepting connections again makes an outage's probe due at once (one probe, as
    ever); a rejected token, a probe already out, or a probe already due are left as they are.
    """
    breaker = open_breaker(config)
    listening, events = on_reachable(breaker, now=T0 + 3, config=config)
    assert (listening.next_probe_at, events) == (T0 + 3, ())
    assert admit(listening, now=T0 + 3, config=config).permission == Probe(ProbeKind.HEALTH)
    assert on_reachable(listening, now=T0 + 4, config=config)[0] == listening
    rejected, _ = observe(Breaker(), Signal.REJECTED, now=T0, config=config)
    assert on_reachable(rejected, now=T0 + 3, config=config)[0] == rejected
    probing = admit(breaker, now=T0 + 10, config=config).breaker
    assert on_reachable(probing, now=T0 + 11, config=config)[0] == probing
    assert on_reachable(Breaker(), now=T0, config=config)[0] == Breaker()


def test_a_probe_that_never_reports_is_replaced(config: PlexSyncConfig) -> None:
    """If the prober dies, the next caller after the probe lease probes instead."""
    probing = admit(open_breaker(config), now=T0 + 10, config=config).breaker
    later = T0 + 10 + config.probe_lease_seconds
    admission = admit(probing, now=later, config=config)
    assert admission.permission == Probe()
    assert admission.breaker.outage is not None
    assert admission.breaker.outage.probes == 2


def test_failed_probes_double_the_cooldown_up_to_its_maximum() -> None:
    """10, 20, 40, 80 ... capped at the maximum, and all of it one outage."""
    config = make_config(breaker_cooldown_seconds=10, breaker_max_cooldown_seconds=60)
    breaker, now = open_breaker(config), T0
    cooldowns = []
    for _ in range(5):
        assert breaker.next_probe_at is not None
        now = breaker.next_probe_at
        breaker = admit(breaker, now=now, config=config).breaker
        breaker, events = on_probe(breaker, Health.DOWN, now=now, config=config)
        cooldowns.append(breaker.state.cooldown_seconds)
        assert isinstance(events[0], ProbeFailed)
    assert cooldowns == [20, 40, 60, 60, 60]
    assert breaker.outage == Outage(
        cause=PauseCause.OUTAGE, started_at=T0, probes=5, detail=DEFAULT_DETAIL[PauseCause.OUTAGE]
    )


def test_a_successful_probe_closes_and_ends_the_outage(config: PlexSyncConfig) -> None:
    """The closing event carries the whole outage record: cause, start, end, probes."""
    probing = admit(open_breaker(config), now=T0 + 10, config=config).breaker
    closed, events = on_probe(probing, Health.UP, now=T0 + 12, config=config)
    assert closed == Breaker(state=Closed(closed_at=T0 + 12))
    assert probing.outage is not None
    assert events == (
        BreakerClosed(at=T0 + 12, outage=attrs.evolve(probing.outage, ended_at=T0 + 12)),
    )


def test_a_probe_rejecting_the_token_turns_the_outage_into_an_auth_pause(
    config: PlexSyncConfig,
) -> None:
    """Plex is back but refuses the token: still one outage record, now with cause auth."""
    probing = admit(open_breaker(config), now=T0 + 10, config=config).breaker
    after, _ = on_probe(probing, Health.UNAUTHORIZED, now=T0 + 11, config=config)
    assert after.kind is K.OPEN
    assert after.outage == Outage(
        cause=PauseCause.AUTH,
        started_at=T0,
        probes=1,
        detail=HEALTH_DETAIL[Health.UNAUTHORIZED],
    )


def test_a_probe_that_finds_plex_still_down_keeps_the_outages_words(
    config: PlexSyncConfig,
) -> None:
    """The words "connection refused" stay while the probes find the same: a health call that
    fails says nothing more precise than the failure that opened the breaker.
    """
    words = "connection refused (ConnectionError)"
    opened, _ = observe(Breaker(), Signal.TRIPPED, now=T0, config=config, detail=words)
    probing = admit(opened, now=T0 + 10, config=config).breaker
    after, events = on_probe(probing, Health.DOWN, now=T0 + 11, config=config)
    assert after.outage is not None
    assert after.outage.detail == words
    assert events[0] == ProbeFailed(
        at=T0 + 11,
        cause=PauseCause.OUTAGE,
        cooldown_seconds=20,
        next_probe_at=T0 + 31,
        detail=words,
    )


def test_a_probe_finding_something_that_is_not_plex_blames_the_settings(
    config: PlexSyncConfig,
) -> None:
    """A proxy's page or another service at plex_url: the outage becomes a misconfiguration,
    named as such, and is probed with a job from then on.
    """
    probing = admit(open_breaker(config), now=T0 + 10, config=config).breaker
    after, _ = on_probe(probing, Health.NOT_PLEX, now=T0 + 11, config=config)
    assert after.outage is not None
    assert (after.outage.cause, after.outage.detail) == (
        PauseCause.MISCONFIGURED,
        HEALTH_DETAIL[Health.NOT_PLEX],
    )
    assert "plex_url" in after.outage.detail
    assert admit(after, now=T0 + 60, config=config).permission == Probe(ProbeKind.JOB)


def test_a_certificate_that_does_not_verify_opens_at_once_and_is_probed_with_a_health_call(
    config: PlexSyncConfig,
) -> None:
    """No threshold for a certificate: it opens at once with the words that say what failed;
    a probe that meets it again without words keeps them, one with words replaces them, and
    the probe is a health call (every call makes the same handshake).
    """
    words = "expired: the certificate expired on 2026-01-01 00:00 UTC; renew it ..."
    opened, events = observe(Breaker(), Signal.UNTRUSTED, now=T0, config=config, detail=words)
    assert opened.outage == Outage(cause=PauseCause.CERTIFICATE, started_at=T0, detail=words)
    assert events == (
        BreakerOpened(at=T0, cause=PauseCause.CERTIFICATE, next_probe_at=T0 + 10, detail=words),
    )
    assert admit(opened, now=T0 + 10, config=config).permission == Probe(ProbeKind.HEALTH)
    probing = admit(opened, now=T0 + 10, config=config).breaker
    again, _ = on_probe(probing, Health.UNTRUSTED, now=T0 + 11, config=config)
    assert again.outage is not None
    assert (again.outage.cause, again.outage.detail) == (PauseCause.CERTIFICATE, words)
    newer = "name mismatch: the certificate is for plex.example, not 10.0.0.2; ..."
    probing = admit(again, now=T0 + 60, config=config).breaker
    changed, _ = on_probe(probing, Health.UNTRUSTED, now=T0 + 61, config=config, detail=newer)
    assert changed.outage is not None
    assert changed.outage.detail == newer
    down = admit(open_breaker(config), now=T0 + 10, config=config).breaker
    now_untrusted, _ = on_probe(down, Health.UNTRUSTED, now=T0 + 11, config=config)
    assert now_untrusted.outage is not None
    assert (now_untrusted.outage.cause, now_untrusted.outage.detail) == (
        PauseCause.CERTIFICATE,
        DEFAULT_DETAIL[PauseCause.CERTIFICATE],
    )


def test_a_late_probe_result_is_ignored(config: PlexSyncConfig) -> None:
    """A probe reporting after the breaker closed (another worker got through) changes nothing."""
    assert on_probe(Breaker(), Health.DOWN, now=T0, config=config) == (Breaker(), ())


def test_a_job_success_while_open_closes_the_breaker(config: PlexSyncConfig) -> None:
    """Another worker's call that got through proves Plex is back."""
    closed, events = observe(open_breaker(config), Signal.SUCCEEDED, now=T0 + 3, config=config)
    assert closed.kind is K.CLOSED
    assert isinstance(events[0], BreakerClosed)


def test_a_success_from_before_the_outage_does_not_end_it(config: PlexSyncConfig) -> None:
    """A success written late (decisions go in groups) but ended before the outage began is
    ignored: closing on it would split one outage into two records.
    """
    breaker = open_breaker(config, at=T0)
    for before in (T0 - 0.5, T0):
        assert success_signal(breaker, now=before, config=config) is Signal.STALE_SUCCESS
        signal = success_signal(breaker, now=before, config=config)
        assert observe(breaker, signal, now=before, config=config) == (breaker, ())
    assert success_signal(breaker, now=T0 + 0.5, config=config) is Signal.SUCCEEDED
    closed, _ = observe(breaker, Signal.SUCCEEDED, now=T0 + 0.5, config=config)
    assert closed.kind is K.CLOSED
    assert success_signal(Breaker(), now=T0, config=config) is Signal.SUCCEEDED


def test_a_clock_stepping_backwards_never_holds_longer_than_from_now(
    config: PlexSyncConfig,
) -> None:
    """After the clock steps back a day, an open breaker probes one cooldown from now, not a
    day later; a half-open one lets another probe go after one probe lease; a server's
    slow-down lasts at most retry_after_max_seconds from now. The breaker stored is the one
    with those shorter waits. A small step back changes nothing.
    """
    day = 86400.0
    breaker = open_breaker(config)
    after_jump = admit(breaker, now=T0 - day, config=config)
    assert after_jump.permission == Hold(T0 - day + 10)
    assert after_jump.breaker.next_probe_at == T0 - day + 10
    assert admit(breaker, now=T0 + 5, config=config) == Admission(Hold(T0 + 10), breaker)
    probing = admit(breaker, now=T0 + 10, config=config).breaker
    lease = config.probe_lease_seconds
    assert admit(probing, now=T0 - day, config=config).permission == Hold(T0 - day + lease)
    throttled, _ = throttle(Breaker(), until_at=T0 + 600, now=T0)
    bounded = admit(throttled, now=T0 - day, config=config)
    assert bounded.permission == Hold(T0 - day + config.retry_after_max_seconds)
    assert steady(throttled, now=T0, config=config) is throttled
    probing = admit(breaker, now=T0 + 10, config=config).breaker
    closed, events = on_probe(probing, Health.UP, now=T0 - 50, config=config)
    assert closed.kind is K.CLOSED
    assert isinstance(events[0], BreakerClosed)
    assert events[0].outage.ended_at == T0  # never before it started


def test_throttle_holds_closed_work_until_the_later_hint(config: PlexSyncConfig) -> None:
    """Rate limiting holds job calls without opening; an earlier hint never shortens a later."""
    throttled, fact = throttle(Breaker(), until_at=T0 + 30, now=T0)
    assert fact.until_at == T0 + 30
    assert admit(throttled, now=T0 + 1, config=config).permission == Hold(T0 + 30)
    shorter, fact = throttle(throttled, until_at=T0 + 5, now=T0 + 1)
    assert shorter.throttled_until_at == T0 + 30
    assert fact.until_at == T0 + 30
    assert admit(shorter, now=T0 + 30, config=config).permission == Proceed()
    renewed, _ = throttle(shorter, until_at=T0 + 35, now=T0 + 31)
    assert renewed.throttled_until_at == T0 + 35


def test_throttle_survives_opening_and_closing(config: PlexSyncConfig) -> None:
    """A server's "slow down" still holds after an outage ends."""
    throttled, _ = throttle(open_breaker(config), until_at=T0 + 500, now=T0)
    closed, _ = observe(throttled, Signal.SUCCEEDED, now=T0 + 20, config=config)
    assert hold_until(closed, now=T0 + 20) == T0 + 500


@pytest.mark.parametrize(
    ("breaker_at", "next_due_at", "expected"),
    [
        ("closed", None, T0 + 5),  # nothing due: look again after poll_interval
        ("closed", T0 + 2, T0 + 2),  # a job due sooner than that
        ("closed", T0 - 7, T0),  # a job already due: now
        ("open", T0 + 1, T0 + 5),  # held: the due job does not matter, poll_interval caps
        ("cooling", T0 + 1, T0 + 3),  # held until the probe, sooner than poll_interval
        ("probe due", None, T0),  # the probe is due now
    ],
)
def test_wake_at(
    breaker_at: str, next_due_at: float | None, expected: float, config: PlexSyncConfig
) -> None:
    """An idle worker wakes at the earliest useful instant, and never later than poll_interval."""
    breakers = {
        "closed": Breaker(),
        "open": open_breaker(config, at=T0),
        "cooling": open_breaker(config, at=T0 - 7),
        "probe due": open_breaker(config, at=T0 - 60),
    }
    assert wake_at(breakers[breaker_at], now=T0, next_due_at=next_due_at, config=config) == expected


@pytest.mark.parametrize(
    ("state", "changes"),
    [
        (Closed, {"consecutive_failures": -1}),
        (Open, {"cooldown_seconds": 0.0}),
        (HalfOpen, {"probe_lease_until_at": float("nan")}),
    ],
)
def test_impossible_breakers_cannot_be_built(
    state: type[Closed | Open | HalfOpen], changes: dict[str, object], config: PlexSyncConfig
) -> None:
    """Each state holds only its own data, and checks it: a negative failure count, a zero
    cooldown or an instant that is not a number is refused.
    """
    valid = {
        Closed: Breaker().state,
        Open: open_breaker(config).state,
        HalfOpen: admit(open_breaker(config), now=T0 + 60, config=config).breaker.state,
    }[state]
    with pytest.raises(ValueError, match=next(iter(changes))):
        attrs.evolve(valid, **changes)


def test_an_outage_failure_of_a_call_from_before_plex_came_back_is_stale(
    config: PlexSyncConfig,
) -> None:
    """A call that began before the breaker last closed may have seen the outage that just
    ended: it cannot reopen the breaker. One that began after it can.
    """
    probing = admit(open_breaker(config), now=T0 + 10, config=config).breaker
    closed, _ = on_probe(probing, Health.UP, now=T0 + 11, config=config)
    assert failure_signal(closed, config, started_at=T0 + 10.5) is Signal.STALE_FAILURE
    after, events = observe(closed, Signal.STALE_FAILURE, now=T0 + 12, config=config)
    assert (after, events) == (closed, ())
    assert failure_signal(closed, config, started_at=T0 + 11) is Signal.TRIPPED
    assert failure_signal(Breaker(), config, started_at=T0) is Signal.TRIPPED  # never closed


def test_by_default_one_confirmed_outage_failure_holds_work(config: PlexSyncConfig) -> None:
    """A job call and a health call that both fail are proof enough: work is held after one
    read timeout and one health timeout, not after three of each.
    """
    assert config.breaker_failure_threshold == 1
    assert failure_signal(Breaker(), config) is Signal.TRIPPED


@pytest.mark.parametrize(
    ("outcome", "signal"),
    [
        (Succeeded(), Signal.PROBE_SUCCEEDED),
        (Failed(ErrorClass.NOT_FOUND, "no item"), Signal.PROBE_SUCCEEDED),
        (Failed(ErrorClass.PERMANENT, "(400)"), Signal.PROBE_SUCCEEDED),
        # a 500 on one item: Plex answered, so the settings work (only failing edits would care)
        (Failed(ErrorClass.TRANSIENT, "(500)"), Signal.PROBE_SUCCEEDED),
        (Failed(ErrorClass.OUTAGE, "connection refused"), Signal.PROBE_FAILED),
        (Failed(ErrorClass.AUTH, "(401)"), Signal.REJECTED),
        (Failed(ErrorClass.MISCONFIGURED, "no section 'Films'"), Signal.MISCONFIGURED),
        (Failed(ErrorClass.NOT_PLEX, "a web page"), Signal.MISCONFIGURED),
        (Failed(ErrorClass.CERTIFICATE, "expired: ..."), Signal.UNTRUSTED),
    ],
)
def test_a_job_sent_as_the_probe_reports_what_it_shows(
    outcome: Succeeded | Failed, signal: Signal, config: PlexSyncConfig
) -> None:
    """Plex answering about the item (done, or failed for its own reasons) shows the settings
    work again; a failure of the whole server is a failed probe, with its words.
    """
    opened, _ = observe(Breaker(), Signal.MISCONFIGURED, now=T0, config=config, detail="old")
    probing = admit(opened, now=T0 + 10, config=config).breaker
    detail = outcome.message if isinstance(outcome, Failed) else ""
    expected = observe(probing, signal, now=T0 + 11, config=config, detail=detail)
    if signal is Signal.PROBE_SUCCEEDED:
        expected = observe(probing, signal, now=T0 + 11, config=config)
    assert on_job_probe(probing, outcome, now=T0 + 11, config=config) == expected
    assert expected[0].kind is TRANSITIONS[K.HALF_OPEN, signal].target


def test_only_an_open_or_half_open_breaker_has_a_next_probe(config: PlexSyncConfig) -> None:
    """A closed breaker waits for no probe; an open one for its cooldown's end, a half-open one
    for its probe's lease to run out.
    """
    assert Breaker().next_probe_at is None
    assert open_breaker(config).next_probe_at == T0 + 10
    probing = admit(open_breaker(config), now=T0 + 10, config=config).breaker
    assert probing.next_probe_at == T0 + 10 + config.probe_lease_seconds


def test_failed_edits_on_different_items_open_the_breaker_for_failing_edits(
    config: PlexSyncConfig,
) -> None:
    """Each job whose edit fails joins the run once (the same job again adds none); an edit
    that goes through, or any answer from Plex about an item, breaks the run; the run reaching
    failing_edits_threshold opens the breaker with a cause of its own, probed by a real job.
    """
    breaker = Breaker()
    for job_id in (1, 1, 2, 3, 3):
        signal = edit_failure_signal(breaker, job_id, config)
        assert signal is Signal.EDIT_FAILED
        breaker, _ = observe(breaker, signal, now=T0, config=config, job_id=job_id)
    assert breaker.state == Closed(failing_jobs=(1, 2, 3))
    reset, _ = observe(breaker, Signal.ANSWERED, now=T0, config=config)
    assert reset.state == Closed()
    for job_id in (4, 5):
        breaker, _ = observe(breaker, Signal.EDIT_FAILED, now=T0, config=config, job_id=job_id)
    assert edit_failure_signal(breaker, 6, config) is Signal.EDITS_FAILING
    words = failing_edits_detail(breaker, 6, "(500) internal_server_error")
    assert words == "Plex is failing edits: (500) internal_server_error on 6 different items"
    opened, events = observe(breaker, Signal.EDITS_FAILING, now=T0, config=config, detail=words)
    assert opened.outage == Outage(cause=PauseCause.FAILING_EDITS, started_at=T0, detail=words)
    assert isinstance(events[0], BreakerOpened)
    assert admit(opened, now=T0 + 10, config=config).permission == Probe(ProbeKind.JOB)
    assert edit_failure_signal(opened, 7, config) is Signal.EDIT_FAILED  # counted only closed
    assert failing_edits_detail(opened, 7, "x") == "Plex is failing edits: x on 1 different items"


def test_a_probe_edit_that_fails_again_keeps_the_breaker_open_for_failing_edits(
    config: PlexSyncConfig,
) -> None:
    """While Plex fails edits, the probe is a real job: a 500 on it is a failed probe (the cause
    stays), a success closes the breaker.
    """
    opened, _ = observe(Breaker(), Signal.EDITS_FAILING, now=T0, config=config, detail="w")
    probing = admit(opened, now=T0 + 10, config=config).breaker
    failed, events = on_job_probe(
        probing, Failed(ErrorClass.TRANSIENT, "(500)"), now=T0 + 11, config=config
    )
    assert failed.kind is K.OPEN
    assert failed.outage is not None
    assert (failed.outage.cause, failed.outage.detail) == (
        PauseCause.FAILING_EDITS,
        "Plex is still failing edits: (500)",
    )
    assert isinstance(events[0], ProbeFailed)
    again = admit(failed, now=T0 + 40, config=config).breaker
    closed, _ = on_job_probe(again, Succeeded(), now=T0 + 41, config=config)
    assert closed.kind is K.CLOSED


@pytest.mark.parametrize(
    ("signal", "cause"),
    [
        (Signal.REJECTED, PauseCause.AUTH),
        (Signal.MISCONFIGURED, PauseCause.MISCONFIGURED),
        (Signal.UNTRUSTED, PauseCause.CERTIFICATE),
    ],
)
def test_an_open_breaker_told_a_new_cause_keeps_its_outage_and_probe_time(
    signal: Signal, cause: PauseCause, config: PlexSyncConfig
) -> None:
    """While open, a call that finds Plex up but refusing (token, settings, certificate) changes
    the outage's cause and words; the outage, its start and the next probe stay.
    """
    opened = open_breaker(config)
    assert opened.outage is not None
    after, events = observe(opened, signal, now=T0 + 3, config=config, detail="what it found")
    assert after.state == attrs.evolve(
        opened.state, outage=attrs.evolve(opened.outage, cause=cause, detail="what it found")
    )
    assert events == ()


def test_an_idle_worker_wakes_within_a_hold_bounded_after_the_clock_stepped_back() -> None:
    """A slow-down or a probe lease set before the clock stepped back a day keeps an idle worker
    asleep only as long as it could last from now, even with a long poll_interval.
    """
    config = make_config(poll_interval=20_000, retry_after_max_seconds=3600)
    day = 86400.0
    throttled, _ = throttle(Breaker(), until_at=T0 + 600, now=T0)
    assert wake_at(throttled, now=T0 - day, next_due_at=None, config=config) == T0 - day + 3600
    probing = admit(open_breaker(config), now=T0 + 60, config=config).breaker
    lease = config.probe_lease_seconds
    assert wake_at(probing, now=T0 - day, next_due_at=None, config=config) == T0 - day + lease


def test_a_success_of_a_call_sent_before_the_outage_does_not_end_it(
    config: PlexSyncConfig,
) -> None:
    """With several calls out, one sent before the outage began may be answered after another
    worker saw Plex down: it says nothing about Plex now, so the outage stays one record. A call
    sent once the outage began that gets through does end it.
    """
    breaker = open_breaker(config, at=T0)
    for began in (T0 - 0.5, T0 - config.attempt_seconds):
        signal = success_signal(breaker, now=T0 + 0.5, config=config, started_at=began)
        assert signal is Signal.STALE_SUCCESS, began
        assert observe(breaker, signal, now=T0 + 0.5, config=config) == (breaker, ())
    for began in (T0, T0 + 0.1):
        signal = success_signal(breaker, now=T0 + 0.5, config=config, started_at=began)
        assert signal is Signal.SUCCEEDED, began
        assert observe(breaker, signal, now=T0 + 0.5, config=config)[0].kind is K.CLOSED
    # A call that began longer before than a call can take began before a clock stepped back.
    old = T0 - config.attempt_seconds - 0.001
    assert success_signal(breaker, now=T0 + 0.5, config=config, started_at=old) is Signal.SUCCEEDED
    assert success_signal(Breaker(), now=T0, config=config, started_at=T0 - 1) is Signal.SUCCEEDED


def test_late_reports_are_told_by_how_long_an_attempt_can_take(config: PlexSyncConfig) -> None:
    """A failure of a call that began up to attempt_seconds before the close is a late report;
    a success that ended up to attempt_seconds and one second before the outage began is one
    too. Anything older came from a clock that stepped back, and counts.
    """
    late = config.attempt_seconds
    probing = admit(open_breaker(config), now=T0 + 10, config=config).breaker
    closed, _ = on_probe(probing, Health.UP, now=T0 + 11, config=config)
    edge = T0 + 11 - late
    assert failure_signal(closed, config, started_at=edge) is Signal.STALE_FAILURE
    assert failure_signal(closed, config, started_at=edge - 0.001) is Signal.TRIPPED
    opened = open_breaker(config)  # its outage began at T0
    assert success_signal(opened, now=T0 - late - 1, config=config) is Signal.STALE_SUCCESS
    assert success_signal(opened, now=T0 - late - 1.001, config=config) is Signal.SUCCEEDED


def test_a_wait_reaching_exactly_as_far_as_it_may_leaves_the_breaker_as_it_is(
    config: PlexSyncConfig,
) -> None:
    """The very breaker given is handed back when no wait reaches further than it
    could from now: a probe one cooldown away, a lease one probe lease away, a slow-down
    retry_after_max_seconds away (nothing to store).
    """
    opened = open_breaker(config)
    assert steady(opened, now=T0, config=config) is opened
    probing = admit(opened, now=T0 + 10, config=config).breaker
    assert steady(probing, now=T0 + 10, config=config) is probing
    throttled, _ = throttle(Breaker(), until_at=T0 + config.retry_after_max_seconds, now=T0)
    assert steady(throttled, now=T0, config=config) is throttled
