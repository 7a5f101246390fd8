"""Any config validation accepts is one the core can run: no setting at the edge of its range
makes a decision, a schedule or the breaker raise (a float overflow, an infinite instant).
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from core import (
    Breaker,
    Health,
    Job,
    Outcome,
    PlexSyncConfig,
    RetryAt,
    Signal,
    admit,
    decide,
    explain,
    on_probe,
    wake_at,
)
from core.breaker import observe
from property_tests.strategies import edge_configs, instants, jitters, jobs, outcomes


@given(edge_configs(), jobs(), outcomes, instants, jitters)
def test_every_accepted_config_gives_a_finite_decision(
    config: PlexSyncConfig, job: Job, outcome: Outcome, now: float, jitter: float
) -> None:
    """Every outcome gets a decision under any accepted config; a retry is at a real instant."""
    decision = decide(job, outcome, now=now, jitter=jitter, config=config, breaker=Breaker())
    if isinstance(decision.action, RetryAt):
        assert now <= decision.action.at < float("inf")


@given(edge_configs())
def test_every_accepted_config_can_be_explained(config: PlexSyncConfig) -> None:
    """Every class has a schedule and a summary, with finite delays, under any accepted config."""
    for schedule in explain(config):
        assert schedule.summary
        for step in schedule.steps:
            assert 0 <= step.min_delay <= step.max_delay < float("inf")
            assert step.max_elapsed < float("inf")


@given(edge_configs(), instants, st.lists(st.sampled_from(Health), min_size=1, max_size=12))
def test_every_accepted_config_runs_the_breaker_through_an_outage(
    config: PlexSyncConfig, now: float, answers: list[Health]
) -> None:
    """Open, probe at each cooldown's end, back off to the cap, close: no instant overflows."""
    breaker, _ = observe(Breaker(), Signal.TRIPPED, now=now, config=config)
    for health in answers:
        until = breaker.next_probe_at
        assert until is not None
        assert until < float("inf")
        now = max(now, until)
        admission = admit(breaker, now=now, config=config)
        breaker, _ = on_probe(admission.breaker, health, now=now, config=config)
        assert wake_at(breaker, now=now, next_due_at=None, config=config) < float("inf")
        if breaker.outage is None:
            break
