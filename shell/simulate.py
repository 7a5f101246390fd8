"""``plexsync simulate``: the real worker loop, on a fake clock, against the simulated Plex.

A scenario (jobs, an outage, a late scan, transient errors, a rate limit) plays out in seconds of
wall time however many hours it spans. The result holds the summary the CLI prints and the
timeline it can plot: queue depth, breaker state and Plex calls over simulated time.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs
from attrs import field, frozen

from core import (
    BreakerClosed,
    BreakerKind,
    BreakerOpened,
    Event,
    JobDeadLettered,
    JobSucceeded,
    PlexSyncConfig,
    ProbeFailed,
    ProbeStarted,
    format_duration,
)
from core import validation as check
from shell.api import enqueue
from shell.clock import FakeClock
from shell.simulated_plex import Call, Scenario, SimulatedPlex, Window
from shell.store import Store
from shell.worker import WorkerReport, run_worker

SIMULATED_URL: Final = "http://simulated.plex.invalid:32400"


@frozen(kw_only=True)
class SimulationSpec:
    """What to simulate. Durations are seconds; the outage starts ``outage_start_seconds`` in
    (by default once about a quarter of the jobs are done, so that it has work to hold).
    """

    jobs: int = field(default=1000, validator=check.at_least_one)
    outage_seconds: float = field(default=0.0, validator=check.number)
    outage_start_seconds: float | None = field(
        default=None, validator=attrs.validators.optional(check.number)
    )
    scan_delay_seconds: float = field(default=0.0, validator=check.number)
    transient_rate: float = field(default=0.0, validator=check.fraction)
    permanent_rate: float = field(default=0.0, validator=check.fraction)
    rate_limit_per_minute: int | None = None
    seed: int = 0

    @property
    def outage_starts_after(self) -> float:
        """When the outage begins, in seconds from the start: as given, or once a quarter of the
        jobs have had their call on a healthy Plex.
        """
        if self.outage_start_seconds is not None:
            return self.outage_start_seconds
        return self.jobs * Scenario().call_seconds / 4

    def scenario(self) -> Scenario:
        """The simulated Plex's behaviour for this spec."""
        outages: tuple[Window, ...] = ()
        if self.outage_seconds > 0:
            outages = (Window(self.outage_starts_after, self.outage_seconds),)
        return Scenario(
            outages=outages,
            scan_delay_seconds=self.scan_delay_seconds,
            transient_rate=self.transient_rate,
            permanent_rate=self.permanent_rate,
            rate_limit_per_minute=self.rate_limit_per_minute,
            seed=self.seed,
        )


@frozen(kw_only=True)
class Sample:
    """The state of the simulation at one instant (seconds since the start)."""

    at: float
    queue_depth: int
    breaker: BreakerKind


@frozen(kw_only=True)
class SimulationResult:
    """The summary and the timeline of one simulation."""

    spec: SimulationSpec
    report: WorkerReport
    done: int
    dead_lettered: Mapping[str, int]
    plex_calls: int
    calls_during_outage: int
    job_calls_during_outage: int
    recovery_to_empty_seconds: float | None
    """From the end of the outage to an empty queue (``None`` without an outage, or when the
    queue was empty before the outage ended)."""
    recovery_to_first_done_seconds: float | None
    """From the end of the outage to the first job done after it (``None`` if none was)."""
    simulated_seconds: float
    wall_seconds: float
    samples: tuple[Sample, ...]
    calls: tuple[Call, ...]
    warnings: tuple[str, ...] = ()
    """What the scenario asked for but could not show (an outage after the queue emptied)."""

    def summary(self) -> dict[str, Any]:
        """The figures ``plexsync simulate`` prints, JSON-ready."""
        return {
            "jobs": self.spec.jobs,
            "done": self.done,
            "dead_lettered": dict(self.dead_lettered),
            "plex_calls": self.plex_calls,
            "calls_during_outage": self.calls_during_outage,
            "job_calls_during_outage": self.job_calls_during_outage,
            "recovery_to_empty_seconds": self.recovery_to_empty_seconds,
            "recovery_to_first_done_seconds": self.recovery_to_first_done_seconds,
            "simulated_seconds": self.simulated_seconds,
            "wall_seconds": round(self.wall_seconds, 3),
            "outages": self.report.outages,
            "probes": self.report.probes,
            "warnings": list(self.warnings),
        }


class _Drained:
    """Stops the worker once the queue is empty, and reports progress now and then."""

    def __init__(self, store: Store, progress: Callable[[int], None] | None) -> None:
        self.store = store
        self.progress = progress
        self.checks = 0

    def is_set(self) -> bool:
        self.checks += 1
        if self.progress is not None and self.checks % 500 == 0:
            self.progress(self.store.jobs.count())
        return self.store.jobs.is_empty()


def simulate(
    spec: SimulationSpec,
    *,
    overrides: Mapping[str, Any] | None = None,
    directory: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> SimulationResult:
    """Run *spec* through ``run_worker`` with a fake clock and the simulated Plex.

    *overrides* replace config fields (``max_retries``, ``breaker_cooldown_seconds`` ...). The
    queue lives in *directory* (a temporary one by default, removed afterwards).
    """
    with tempfile.TemporaryDirectory(prefix="plexsync-sim-") as scratch:
        config = PlexSyncConfig(
            plex_url=SIMULATED_URL,
            plex_token="simulated",  # noqa: S106 - the simulated Plex checks no token
            db_path=os.path.join(directory or scratch, "simulation.db"),
            **dict(overrides or {}),
        )
        return _run(spec, config, progress)


def _run(
    spec: SimulationSpec, config: PlexSyncConfig, progress: Callable[[int], None] | None
) -> SimulationResult:
    clock = FakeClock()
    start = clock.now()
    plex = SimulatedPlex(spec.scenario(), clock, start_at=start)
    for n in range(spec.jobs):
        enqueue(
            config,
            key=f"sim:{n}",
            metadata={"path": f"/media/sim/{n:07d}.mkv", "title": f"Simulated {n}"},
            now=start,
        )
    events: list[Event] = []
    store = Store.open(config.db_path)
    try:
        wall = time.perf_counter()
        report = run_worker(
            config, clock=clock, plex=plex, stop=_Drained(store, progress), on_event=events.append
        )
        wall = time.perf_counter() - wall
    finally:
        store.close()
    outage_from = start + spec.outage_starts_after
    outage_to = outage_from + spec.outage_seconds
    during = plex.calls_between(outage_from, outage_to) if spec.outage_seconds > 0 else []
    finished = clock.now()
    recovered = spec.outage_seconds > 0 and finished >= outage_to
    return SimulationResult(
        spec=spec,
        report=report,
        done=report.done,
        dead_lettered=Counter(report.dead_lettered),
        plex_calls=len(plex.calls),
        calls_during_outage=len(during),
        job_calls_during_outage=sum(c.kind == "apply" for c in during),
        recovery_to_empty_seconds=finished - outage_to if recovered else None,
        recovery_to_first_done_seconds=_first_done_after(events, outage_to)
        if spec.outage_seconds > 0
        else None,
        simulated_seconds=finished - start,
        wall_seconds=wall,
        samples=_timeline(spec.jobs, events, start),
        calls=tuple(attrs.evolve(c, at=c.at - start) for c in plex.calls),
        warnings=_unshown(spec, plex.calls, emptied_after=finished - start),
    )


_SHOWN_BY: Final = (
    ("outage_seconds", "outage", "--outage-start"),
    ("scan_delay_seconds", "not_found", "--scan-delay"),
    ("transient_rate", "transient", "--transient-rate"),
    ("permanent_rate", "permanent", "--permanent-rate"),
    ("rate_limit_per_minute", "rate_limited", "--rate-limit"),
)
"""Each part of a scenario, the answer of Plex that shows it, and the option that tunes it."""


def _unshown(spec: SimulationSpec, calls: list[Call], *, emptied_after: float) -> tuple[str, ...]:
    """A warning for each part of *spec* that no call of the simulation met."""
    met = {call.result for call in calls}
    warnings = []
    for name, answer, option in _SHOWN_BY:
        if not getattr(spec, name) or answer in met:
            continue
        if name == "outage_seconds":
            warnings.append(
                f"the queue was empty {format_duration(emptied_after)} in, before the outage "
                f"began ({format_duration(spec.outage_starts_after)} in): it held no work; start "
                f"it earlier ({option}) or queue more jobs (--jobs)"
            )
        else:
            warnings.append(
                f"no call met the {option.removeprefix('--').replace('-', ' ')} asked for: "
                "too few jobs to show it (--jobs) or a value too small"
            )
    return tuple(warnings)


def _first_done_after(events: list[Event], instant: float) -> float | None:
    done = [e.at for e in events if isinstance(e, JobSucceeded) and e.at >= instant]
    return min(done) - instant if done else None


def _timeline(jobs: int, events: list[Event], start: float) -> tuple[Sample, ...]:
    """Queue depth and breaker state after each event that changes either."""
    depth, breaker = jobs, BreakerKind.CLOSED
    samples = [Sample(at=0.0, queue_depth=depth, breaker=breaker)]
    for event in events:
        match event:
            case JobSucceeded() | JobDeadLettered():
                depth -= 1
            case BreakerOpened() | ProbeFailed():
                breaker = BreakerKind.OPEN
            case ProbeStarted():
                breaker = BreakerKind.HALF_OPEN
            case BreakerClosed():
                breaker = BreakerKind.CLOSED
            case _:
                continue
        samples.append(Sample(at=event.at - start, queue_depth=depth, breaker=breaker))
    return tuple(samples)
