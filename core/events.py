"""Facts the core reports; the shell turns them into log lines, metrics and ``on_event`` calls.

Every event is a frozen value named in the past tense. Instants are epoch seconds (UTC).
"""

from __future__ import annotations

from attrs import frozen

from core.actions import DeadLetterReason
from core.outage import Outage, PauseCause
from core.outcomes import ErrorClass


@frozen(kw_only=True)
class BreakerOpened:
    """Work stopped: Plex is down (or rejects the token) since *at*; the first probe is due then."""

    at: float
    cause: PauseCause
    next_probe_at: float
    detail: str = ""
    """The cause in plain words."""


@frozen(kw_only=True)
class ProbeStarted:
    """The breaker went half-open and admitted its one probe (the *number*-th of this outage)."""

    at: float
    number: int


@frozen(kw_only=True)
class ProbeFailed:
    """The probe found Plex still unavailable; the breaker stays open for *cooldown_seconds*."""

    at: float
    cause: PauseCause
    cooldown_seconds: float
    next_probe_at: float
    detail: str = ""
    """The cause in plain words."""


@frozen(kw_only=True)
class BreakerClosed:
    """Plex is back: work resumes. *outage* is the finished outage record, with its end."""

    at: float
    outage: Outage


@frozen(kw_only=True)
class Throttled:
    """Plex asked us to slow down: no job call is made before *until_at*."""

    at: float
    until_at: float


@frozen(kw_only=True)
class JobSucceeded:
    """Plex holds the job's metadata."""

    at: float
    job_id: int
    key: str


@frozen(kw_only=True)
class RetryScheduled:
    """The job will be tried again at *retry_at*; *charged* says whether it spent an attempt."""

    at: float
    job_id: int
    key: str
    error_class: ErrorClass
    retry_at: float
    charged: bool


@frozen(kw_only=True)
class ResendScheduled:
    """The job's edit went through, but an earlier edit of its key that timed out may still land:
    it is sent once more at *resend_at*, when that can no longer happen.
    """

    at: float
    job_id: int
    key: str
    resend_at: float


@frozen(kw_only=True)
class JobDeadLettered:
    """The job went to the dead letter queue for *reason*."""

    at: float
    job_id: int
    key: str
    reason: DeadLetterReason
    error_class: ErrorClass
    message: str = ""
    """The last error, in the words it was recorded with."""


BreakerEvent = BreakerOpened | ProbeStarted | ProbeFailed | BreakerClosed | Throttled
JobEvent = JobSucceeded | RetryScheduled | ResendScheduled | JobDeadLettered
Event = BreakerEvent | JobEvent
