"""The core drives a scheduler that is not ours: the standard library's ``sched``, on virtual time.

Nothing in ``core`` may assume plexsync's worker, store or clock. Here a dozen jobs meet a
scripted Plex that is down for an hour; ``sched`` runs them with a virtual time function, using
only the documented core calls (admit, decide, confirm, on_probe, jitter_sample).
"""

from __future__ import annotations

import sched

from core import (
    Breaker,
    BreakerKind,
    DeadLetter,
    Done,
    ErrorClass,
    Failed,
    Health,
    Hold,
    Job,
    Probe,
    Proceed,
    RetryAt,
    Succeeded,
    admit,
    confirm,
    decide,
    jitter_sample,
    needs_confirmation,
    on_probe,
)
from tests.builders import T0, make_config

DOWN_FROM, DOWN_UNTIL = T0 + 5, T0 + 3600


def test_sched_runs_jobs_through_an_hour_long_outage() -> None:
    """Every job completes, none is dead-lettered or charged, and only probes hit the dead Plex."""
    config = make_config()
    clock = [T0]
    scheduler = sched.scheduler(
        timefunc=lambda: clock[0], delayfunc=lambda s: clock.__setitem__(0, clock[0] + s)
    )
    state = {"breaker": Breaker()}
    done: list[Job] = []
    dead: list[Job] = []
    calls_while_down = {"job": 0, "health": 0}

    def plex_is_down() -> bool:
        return DOWN_FROM <= clock[0] < DOWN_UNTIL

    def health() -> Health:
        if plex_is_down():
            calls_while_down["health"] += 1
            return Health.DOWN
        return Health.UP

    def attempt(job: Job) -> None:
        now = clock[0]
        admission = admit(state["breaker"], now=now, config=config)
        state["breaker"] = admission.breaker
        match admission.permission:
            case Hold(until_at=until):
                scheduler.enterabs(until, 1, attempt, (job,))
                return
            case Probe():
                state["breaker"], _ = on_probe(state["breaker"], health(), now=now, config=config)
                scheduler.enterabs(now, 1, attempt, (job,))
                return
            case Proceed():
                pass
        if plex_is_down():
            calls_while_down["job"] += 1
            outcome: Succeeded | Failed = Failed(ErrorClass.OUTAGE, "connection refused")
        else:
            outcome = Succeeded()
        if needs_confirmation(outcome):
            outcome = confirm(outcome, health())
        decision = decide(
            job,
            outcome,
            now=now,
            jitter=jitter_sample(job.id, job.deliveries),
            config=config,
            breaker=state["breaker"],
        )
        state["breaker"] = decision.breaker
        match decision.action:
            case Done():
                done.append(decision.job)
            case RetryAt(at=at):
                scheduler.enterabs(at, 1, attempt, (decision.job,))
            case DeadLetter():
                dead.append(decision.job)

    for n in range(12):
        job = Job(id=n, key=f"scene:{n}", first_enqueued_at=T0)
        scheduler.enterabs(T0 + n, 1, attempt, (job,))
    scheduler.run()

    assert len(done) == 12
    assert dead == []
    assert all(job.charged_attempts == 0 for job in done)
    assert calls_while_down["job"] == config.breaker_failure_threshold
    # the threshold's confirmations, then one probe per cooldown (10 s doubling to 300 s)
    assert calls_while_down["health"] <= config.breaker_failure_threshold + 3600 / 10
    assert state["breaker"].kind is BreakerKind.CLOSED
    assert state["breaker"].outage is None
    assert clock[0] >= DOWN_UNTIL
