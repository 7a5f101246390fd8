"""The worker's log lines: each event the core reports, as an operator reads it.

Lines about an outage name the Plex URL (never the token) and the cause in plain words; a dead
letter's line carries the error that put it there, which for a local mistake says what is wrong
and which setting fixes it.
"""

from __future__ import annotations

from typing import Final

from core import (
    BreakerClosed,
    BreakerOpened,
    DeadLetterReason,
    Event,
    JobDeadLettered,
    JobSucceeded,
    Outage,
    PauseCause,
    ProbeFailed,
    ProbeStarted,
    RetryScheduled,
    Throttled,
    counted,
    format_duration,
)
from shell.redact import get_logger, url_for_people
from shell.times import moment

log = get_logger("plexsync.worker")

_HOLDING: Final = {
    PauseCause.OUTAGE: "is unavailable",
    PauseCause.AUTH: "rejects the token (check plex_token)",
    PauseCause.MISCONFIGURED: "cannot be used as configured",
    PauseCause.CERTIFICATE: "fails certificate verification",
    PauseCause.FAILING_EDITS: "answers its health call but fails edits",
}
"""How each cause reads after "Plex at <url>"."""

_REASON_TEXT: Final = {
    DeadLetterReason.PERMANENT_ERROR: "Plex refused it",
    DeadLetterReason.RETRIES_EXHAUSTED: "retries exhausted",
    DeadLetterReason.NOT_FOUND: "not found in Plex",
    DeadLetterReason.INVALID_PAYLOAD: "invalid payload",
    DeadLetterReason.CRASHED_REPEATEDLY: "workers crashed on it repeatedly",
}
"""A dead letter's reason, when its error said nothing."""


class EventLog:
    """Logs each event for the Plex server at *plex_url*."""

    def __init__(self, plex_url: str) -> None:
        self.plex = f"Plex at {url_for_people(plex_url)}"

    def __call__(self, event: Event) -> None:
        """Log *event* on the ``plexsync.worker`` logger, at the level it deserves."""
        match event:
            case BreakerOpened(cause=cause, at=at, next_probe_at=probe_at, detail=detail):
                log.warning(
                    "%s %s: %s; holding all work, first probe in %s",
                    self.plex,
                    _HOLDING[cause],
                    detail,
                    format_duration(probe_at - at),
                )
            case BreakerClosed(outage=outage, at=at):
                log.info(
                    "%s is back after %s (%s): resuming work",
                    self.plex,
                    format_duration(at - outage.started_at),
                    counted(outage.probes, "probe"),
                )
            case ProbeFailed(next_probe_at=probe_at, at=at, cause=cause, detail=detail):
                log.debug(
                    "probe failed: %s %s: %s; next in %s",
                    self.plex,
                    _HOLDING[cause],
                    detail,
                    format_duration(probe_at - at),
                )
            case ProbeStarted(number=number):
                log.debug("probing %s (probe %d of this outage)", self.plex, number)
            case Throttled(until_at=until, at=at):
                log.info(
                    "%s asked us to slow down: no job calls for %s",
                    self.plex,
                    format_duration(until - at),
                )
            case JobDeadLettered(job_id=job_id, key=key, reason=reason, message=message):
                log.warning(
                    "job %d (%s) dead-lettered (%s, %s): %s",
                    job_id,
                    key,
                    reason.value,
                    self.plex,
                    message or _REASON_TEXT[reason],
                )
            case RetryScheduled(job_id=job_id, key=key, error_class=error_class, retry_at=at):
                log.debug("job %d (%s) %s: retry %s", job_id, key, error_class.value, moment(at))
            case JobSucceeded(job_id=job_id, key=key):
                log.debug("job %d (%s) done", job_id, key)

    def outage_status(self, outage: Outage, *, now: float, until: float, waiting: int) -> None:
        """The line logged now and then while work is held."""
        log.info(
            "%s %s for %s: %s; %s waiting; next probe in %s",
            self.plex,
            _HOLDING[outage.cause],
            format_duration(now - outage.started_at),
            outage.detail,
            counted(waiting, "job"),
            format_duration(until - now),
        )
