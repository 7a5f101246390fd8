"""A job as the decisions see it, and the life cycle every job follows.

A job carries one item's metadata to Plex. Only what the decisions need is here: its identity and
its counters. The payload itself is the shell's business (it is decoded at the seam where stored
data comes in, ``shell.payload``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Final

import attrs
from attrs import field, frozen

from core import validation as check


class JobState(enum.Enum):
    """Where a job is in its life."""

    WAITING = "waiting"
    """Queued, due at an instant (now for a new job, later for a retry)."""
    RUNNING = "running"
    """Claimed by one worker, under a lease that expires if the worker dies."""
    DONE = "done"
    """Plex holds the metadata; the row is gone from the queue."""
    DEAD = "dead"
    """In the dead letter queue, with a typed reason, until re-driven or purged."""


class JobSignal(enum.Enum):
    """What can happen to a job."""

    ENQUEUED = "enqueued"
    CLAIMED = "claimed"
    COALESCED = "coalesced"
    RELEASED = "released"
    SUCCEEDED = "succeeded"
    RETRY_SCHEDULED = "retry scheduled"
    DEAD_LETTERED = "dead-lettered"
    REDRIVEN = "re-driven"
    PURGED = "purged"


JOB_TRANSITIONS: Final[Mapping[tuple[JobState | None, JobSignal], JobState | None]] = {
    (None, JobSignal.ENQUEUED): JobState.WAITING,
    # Newest edit wins: a waiting job takes the newer payload instead of queueing a second job.
    (JobState.WAITING, JobSignal.COALESCED): JobState.WAITING,
    (JobState.WAITING, JobSignal.CLAIMED): JobState.RUNNING,
    (JobState.RUNNING, JobSignal.SUCCEEDED): JobState.DONE,
    # A retry, including the one after a crash (its worker's lease ran out holding only it).
    (JobState.RUNNING, JobSignal.RETRY_SCHEDULED): JobState.WAITING,
    # Given back unattempted and uncharged: the worker stops, the breaker holds work, or the
    # worker died holding several jobs (they are then marked suspect and claimed alone).
    (JobState.RUNNING, JobSignal.RELEASED): JobState.WAITING,
    (JobState.RUNNING, JobSignal.DEAD_LETTERED): JobState.DEAD,
    (JobState.DEAD, JobSignal.REDRIVEN): JobState.WAITING,
    (JobState.DEAD, JobSignal.PURGED): None,
}
"""Every legal move of a job; ``None`` is "not stored". A pair not listed cannot happen."""


@frozen(kw_only=True)
class Job:
    """A job's identity and counters, the inputs of ``decide``.

    Attempts that count against a budget are kept per class (``transient_failures``,
    ``not_found_failures``, ``crashes``). Deferrals (an outage, a rejected token, a rate limit) are
    counted apart: they never spend a budget.
    """

    id: int = field(validator=check.count)
    key: str = field(validator=check.text)
    first_enqueued_at: float = field(validator=check.number)
    transient_failures: int = field(default=0, validator=check.count)
    not_found_failures: int = field(default=0, validator=check.count)
    not_found_since_at: float | None = field(default=None, validator=check.instant)
    crashes: int = field(default=0, validator=check.count)
    rate_limited_deferrals: int = field(default=0, validator=check.count)
    outage_deferrals: int = field(default=0, validator=check.count)
    late_edit_until_at: float | None = field(default=None, validator=check.instant)
    """Until when an earlier edit of this key, whose answer never came, may still land in Plex
    (``None``: none may). It belongs to the key, not to this job: a newer edit inherits it."""

    def __attrs_post_init__(self) -> None:
        if (self.not_found_failures > 0) != (self.not_found_since_at is not None):
            raise ValueError(
                "not_found_since_at is set exactly when not_found_failures > 0 "
                f"(got {self.not_found_failures} failures, since {self.not_found_since_at})"
            )

    @property
    def charged_attempts(self) -> int:
        """Failed attempts that spent a budget; deferrals are not among them."""
        return self.transient_failures + self.not_found_failures + self.crashes

    @property
    def deliveries(self) -> int:
        """Every failed or deferred attempt so far (seeds the jitter of the next delay)."""
        return self.charged_attempts + self.rate_limited_deferrals + self.outage_deferrals


PER_KEY: Final = ("late_edit_until_at",)
"""What ``decide`` keeps about a job's key rather than the job: stored once per key."""

COUNTERS: Final = tuple(
    f.name for f in attrs.fields(Job) if f.name not in {"id", "key", "first_enqueued_at", *PER_KEY}
)
"""The names of a job's counters: what ``decide`` changes about the job itself, stored with it
(a new edit of the key starts them afresh)."""
