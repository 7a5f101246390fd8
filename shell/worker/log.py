"""The worker's log lines: each event the core reports, as a person reads it."""

from __future__ import annotations

from typing import Final

from core import (
    BreakerClosed,
    BreakerOpened,
    DeadLetterReason,
    Event,
    JobDeadLettered,
    JobSucceeded,
    ProbeFailed,
    ProbeStarted,
    RetryScheduled,
    Throttled,
    format_duration,
)
from shell.redact import get_logger

log = get_logger("plexsync.worker")


_REASON_TEXT: Final = {
    DeadLetterReason.PERMANENT_ERROR: "Plex refused it",
    DeadLetterReason.RETRIES_EXHAUSTED: "retries exhausted",
    DeadLetterReason.NOT_FOUND: "not found in Plex",
    DeadLetterReason.INVALID_PAYLOAD: "invalid payload",
    DeadLetterReason.CRASHED_REPEATEDLY: "workers crashed on it repeatedly",
}


def log_event(event: Event) -> None:
    """Log *event* on the ``plexsync.worker`` logger, at the level it deserves."""
    match event:
        case BreakerOpened(cause=cause, at=at, next_probe_at=probe_at):
            log.info(
                "Plex unavailable (%s): holding all work; first probe in %s",
                cause.value,
                format_duration(probe_at - at),
            )
        case BreakerClosed(outage=outage, at=at):
            log.info(
                "Plex is back after %s (%d probes): resuming work",
                format_duration(at - outage.started_at),
                outage.probes,
            )
        case ProbeFailed(next_probe_at=probe_at, at=at, cause=cause):
            log.debug("probe failed (%s); next in %s", cause.value, format_duration(probe_at - at))
        case ProbeStarted(number=number):
            log.debug("probing Plex (probe %d of this outage)", number)
        case Throttled(until_at=until, at=at):
            log.info("Plex asked us to slow down: no job calls for %s", format_duration(until - at))
        case JobDeadLettered(job_id=job_id, key=key, reason=reason, error_class=error_class):
            log.warning(
                "job %d (%s) dead-lettered: %s (last error: %s)",
                job_id,
                key,
                _REASON_TEXT[reason],
                error_class.value,
            )
        case RetryScheduled(job_id=job_id, key=key, error_class=error_class, retry_at=at):
            log.debug("job %d (%s) %s: retry at %.0f", job_id, key, error_class.value, at)
        case JobSucceeded(job_id=job_id, key=key):
            log.debug("job %d (%s) done", job_id, key)
