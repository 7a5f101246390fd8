"""The breaker, driven at random against a model, with a clock that can step backwards.

Rules ask for admission, report probes (on time, late or stale), report job outcomes, throttle,
and move the clock either way. The invariants are the promises of ``core.breaker``.
"""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from core import (
    Breaker,
    BreakerClosed,
    BreakerEvent,
    BreakerKind,
    BreakerOpened,
    Health,
    Hold,
    PlexSyncConfig,
    Probe,
    Proceed,
    Signal,
    admit,
    on_probe,
)
from core.breaker import failure_signal, observe, success_signal, throttle
from property_tests.strategies import T0, configs

steps = st.floats(min_value=0, max_value=2_000)


class BreakerMachine(RuleBasedStateMachine):
    """A model of outage records and of who holds the probe, checked against the real breaker."""

    def __init__(self) -> None:
        super().__init__()
        self.config: PlexSyncConfig
        self.breaker = Breaker()
        self.now = T0
        self.records: list[list[float | None]] = []  # [started_at, ended_at] per outage
        self.probe_lease_end: float | None = None  # set while our admitted probe is outstanding

    @initialize(config=configs())
    def configure(self, config: PlexSyncConfig) -> None:
        self.config = config

    def apply(self, breaker: Breaker, events: tuple[BreakerEvent, ...]) -> None:
        for event in events:
            open_records = [r for r in self.records if r[1] is None]
            if isinstance(event, BreakerOpened):
                assert open_records == [], "a second outage record opened during one outage"
                self.records.append([event.at, None])
            elif isinstance(event, BreakerClosed):
                assert len(open_records) == 1
                assert open_records[0][0] == event.outage.started_at
                assert event.outage.ended_at is not None
                assert event.outage.ended_at >= event.outage.started_at
                open_records[0][1] = event.outage.ended_at
        self.breaker = breaker
        if breaker.kind is not BreakerKind.HALF_OPEN:
            self.probe_lease_end = None

    @rule(seconds=steps)
    def clock_forward(self, seconds: float) -> None:
        self.now += seconds

    @rule(seconds=steps)
    def clock_backward(self, seconds: float) -> None:
        self.now -= seconds
        if self.probe_lease_end is not None:  # rule 8: never longer than a lease from now
            self.probe_lease_end = min(
                self.probe_lease_end, self.now + self.config.probe_lease_seconds
            )

    @rule()
    def ask_to_work(self) -> None:
        before = self.breaker
        admission = admit(before, now=self.now, config=self.config)
        match admission.permission:
            case Proceed():
                assert before.kind is BreakerKind.CLOSED, "work admitted while not closed"
                assert before.throttled_until_at is None or self.now >= before.throttled_until_at
            case Probe():
                assert before.kind is not BreakerKind.CLOSED
                assert before.next_probe_at is not None
                assert self.now >= before.next_probe_at, "probe admitted while cooling down"
                if self.probe_lease_end is not None:
                    assert self.now >= self.probe_lease_end, "a second probe while one is live"
                assert admission.breaker.kind is BreakerKind.HALF_OPEN
                self.apply(admission.breaker, admission.events)
                self.probe_lease_end = self.now + self.config.probe_lease_seconds
                return
            case Hold(until_at=until):
                assert until > self.now
        self.apply(admission.breaker, admission.events)

    @rule(health=st.sampled_from(Health))
    def report_probe(self, health: Health) -> None:
        self.apply(*on_probe(self.breaker, health, now=self.now, config=self.config))

    @rule(kind=st.sampled_from(["success", "answered", "outage", "rejected"]))
    def report_job(self, kind: str) -> None:
        signal = {
            "success": success_signal(self.breaker, now=self.now, config=self.config),
            "answered": Signal.ANSWERED,
            "rejected": Signal.REJECTED,
            "outage": failure_signal(self.breaker, self.config),
        }[kind]
        self.apply(*observe(self.breaker, signal, now=self.now, config=self.config))

    @rule(seconds=steps)
    def rate_limited(self, seconds: float) -> None:
        throttled, _ = throttle(self.breaker, until_at=self.now + seconds, now=self.now)
        self.apply(throttled, ())

    @invariant()
    def cooldown_never_exceeds_its_maximum(self) -> None:
        cooldown = getattr(self.breaker.state, "cooldown_seconds", 0.0)
        assert cooldown <= self.config.breaker_max_cooldown_seconds

    @invariant()
    def one_outage_record_open_exactly_while_not_closed(self) -> None:
        open_records = [r for r in self.records if r[1] is None]
        if self.breaker.kind is BreakerKind.CLOSED:
            assert open_records == []
        else:
            assert self.breaker.outage is not None
            assert len(open_records) == 1
            assert open_records[0][0] == self.breaker.outage.started_at

    @invariant()
    def half_open_holds_everyone_but_the_prober(self) -> None:
        probing = self.breaker.kind is BreakerKind.HALF_OPEN and self.probe_lease_end is not None
        if probing and self.now < self.probe_lease_end:
            permission = admit(self.breaker, now=self.now, config=self.config).permission
            assert isinstance(permission, Hold)


TestBreakerMachine = BreakerMachine.TestCase
