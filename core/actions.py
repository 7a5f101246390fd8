"""What ``decide`` tells the shell to do with a job: a closed union the shell matches on."""

from __future__ import annotations

import enum

from attrs import field, frozen

from core import validation as check


class DeadLetterReason(enum.Enum):
    """Why a job is in the dead letter queue."""

    PERMANENT_ERROR = "permanent_error"
    """Plex refused the request and would refuse it again."""
    RETRIES_EXHAUSTED = "retries_exhausted"
    """It kept failing on a healthy Plex for ``1 + max_retries`` attempts."""
    NOT_FOUND = "not_found"
    """Plex never showed an item for the path within the not-found limit and window."""
    INVALID_PAYLOAD = "invalid_payload"
    """The stored job no longer decodes into valid metadata."""
    CRASHED_REPEATEDLY = "crashed_repeatedly"
    """Workers kept dying while holding it (more than ``max_crashes`` expired leases)."""


@frozen
class Done:
    """Plex holds the metadata: remove the job from the queue."""


@frozen
class RetryAt:
    """Try the job again at *at* (epoch seconds). *charged* says whether the attempt counted."""

    at: float = field(validator=check.number)
    charged: bool = True


@frozen
class DeadLetter:
    """Move the job to the dead letter queue for *reason*."""

    reason: DeadLetterReason


Action = Done | RetryAt | DeadLetter
