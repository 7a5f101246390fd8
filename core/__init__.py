"""plexsync's decision core: pure functions that say what happens to a job after each attempt.

Theory of operation
-------------------
1. Every retry, dead-letter and breaker decision lives in ``core``; ``shell`` only carries them
   out (SQLite, Plex calls, the clock, logging, the CLI).
2. ``core`` never reads a clock or a random source and does no I/O, logging or environment reads
   (an import contract in ``pyproject.toml`` enforces it). Time comes in as ``now`` (epoch
   seconds, UTC) and chance as a ``jitter`` sample in [0, 1).
3. Values are frozen ``attrs`` classes whose validators make invalid states unbuildable; every
   change goes through ``attrs.evolve``, which validates again.
4. Only real attempts against a healthy Plex spend a job's budget. Outages, a rejected token and
   rate limiting hold work through the breaker and cost no attempt, so no outage of any length
   dead-letters a job, while a job that keeps failing on a healthy Plex still ends in the DLQ.
5. Transitions are tables of data (``breaker.TRANSITIONS``, ``job.JOB_TRANSITIONS``); the
   diagrams in the README are generated from them.
6. Decisions return facts (``events``); turning them into log lines is the shell's job.

Using the core from another scheduler
-------------------------------------
Nothing here assumes plexsync's worker. A scheduler of your own needs four calls:

``admit(breaker, now=, config=)``
    Before calling Plex: ``Proceed()``, ``Probe()`` (make one health call and report it with
    ``on_probe``) or ``Hold(until_at)``. Store the breaker it returns.
``decide(job, outcome, now=, jitter=, config=, breaker=)``
    After an attempt: the ``Decision`` holds the action (``Done()``, ``RetryAt(at)``,
    ``DeadLetter(reason)``), the job's new counters, the breaker to store and the events. If the
    outcome blames Plex as a whole (``needs_confirmation``), settle it with ``confirm`` and a
    health check first.
``wake_at(breaker, now=, next_due_at=, config=)``
    When idle: the instant to look again.
``explain(config)``
    The schedule each error class gets, for people.

Store the ``Job`` counters and the ``Breaker`` with your jobs, pass ``jitter_sample(job.id,
job.deliveries)`` as the jitter, and every schedule can be replayed from your store.
``tests/test_core_with_sched.py`` drives the core from the standard library's ``sched``.
"""

from __future__ import annotations

from core.actions import Action, DeadLetter, DeadLetterReason, Done, RetryAt
from core.backoff import RetryPolicy, backoff, delay_range, jitter_sample, nominal_delay
from core.breaker import (
    TRANSITIONS,
    Admission,
    Breaker,
    BreakerKind,
    BreakerState,
    Closed,
    HalfOpen,
    Hold,
    Move,
    Open,
    Permission,
    Probe,
    ProbeKind,
    Proceed,
    Signal,
    admit,
    hold_until,
    on_job_probe,
    on_probe,
    on_reachable,
    wake_at,
)
from core.config import PathMapping, PlexSyncConfig
from core.decide import Decision, decide
from core.durations import format_duration, parse_duration
from core.events import (
    BreakerClosed,
    BreakerEvent,
    BreakerOpened,
    Event,
    JobDeadLettered,
    JobEvent,
    JobSucceeded,
    ProbeFailed,
    ProbeStarted,
    ResendScheduled,
    RetryScheduled,
    Throttled,
)
from core.explain import Schedule, Step, explain
from core.job import COUNTERS, JOB_TRANSITIONS, PER_KEY, Job, JobSignal, JobState
from core.outage import Outage, PauseCause
from core.outcomes import (
    ErrorClass,
    Failed,
    Health,
    Outcome,
    Succeeded,
    confirm,
    needs_confirmation,
)
from core.words import counted

__version__ = "0.1.0"

__all__ = [
    "COUNTERS",
    "JOB_TRANSITIONS",
    "PER_KEY",
    "TRANSITIONS",
    "Action",
    "Admission",
    "Breaker",
    "BreakerClosed",
    "BreakerEvent",
    "BreakerKind",
    "BreakerOpened",
    "BreakerState",
    "Closed",
    "DeadLetter",
    "DeadLetterReason",
    "Decision",
    "Done",
    "ErrorClass",
    "Event",
    "Failed",
    "HalfOpen",
    "Health",
    "Hold",
    "Job",
    "JobDeadLettered",
    "JobEvent",
    "JobSignal",
    "JobState",
    "JobSucceeded",
    "Move",
    "Open",
    "Outage",
    "Outcome",
    "PathMapping",
    "PauseCause",
    "Permission",
    "PlexSyncConfig",
    "Probe",
    "ProbeFailed",
    "ProbeKind",
    "ProbeStarted",
    "Proceed",
    "ResendScheduled",
    "RetryAt",
    "RetryPolicy",
    "RetryScheduled",
    "Schedule",
    "Signal",
    "Step",
    "Succeeded",
    "Throttled",
    "__version__",
    "admit",
    "backoff",
    "confirm",
    "counted",
    "decide",
    "delay_range",
    "explain",
    "format_duration",
    "hold_until",
    "jitter_sample",
    "needs_confirmation",
    "nominal_delay",
    "on_job_probe",
    "on_probe",
    "on_reachable",
    "parse_duration",
    "wake_at",
]
