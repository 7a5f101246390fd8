"""What one attempt at a job came to: success, or failure of one closed class.

The shell turns exceptions into these classes at exactly one boundary (``shell.classify``); the
core never sees an exception. Classes that blame the server as a whole (outage, auth) are not
believed on the word of one failed call: ``confirm`` weighs them against a health check first.
"""

from __future__ import annotations

import enum
from typing import Final

import attrs
from attrs import field, frozen

from core import validation as check


class ErrorClass(enum.Enum):
    """Why an attempt failed. Closed: every decision matches on all members."""

    TRANSIENT = "transient"
    """The job's own call failed on a healthy Plex (a 500, a malformed answer): retry, counted."""
    NOT_FOUND = "not_found"
    """Plex has no item for the path yet (its scan has not reached it): the longer, own budget."""
    PERMANENT = "permanent"
    """Plex refused the request and would refuse it again (400, ambiguous path): dead-letter."""
    OUTAGE = "outage"
    """Plex is unreachable or failing as a whole: the breaker's business, no attempt is charged."""
    RATE_LIMITED = "rate_limited"
    """Plex asked us to slow down (429, 503 with Retry-After): wait, no attempt is charged."""
    AUTH = "auth"
    """Plex rejected the token: all work pauses until a probe with the token succeeds."""
    NOT_PLEX = "not_plex"
    """Something answered, but not as Plex does (a web page, a 404 from another service):
    settled by a health check, like an outage."""
    MISCONFIGURED = "misconfigured"
    """The settings cannot work against this Plex (no such library section, or not a movie
    section): all work is held until they are fixed; no attempt is charged."""
    CERTIFICATE = "certificate"
    """Plex's TLS certificate does not verify (an issuer not trusted here, a name it does not
    carry, expired): all work is held until it verifies or the settings change; no attempt is
    charged. Believed at once: a failed verification is not a server having a bad moment."""
    INVALID_PAYLOAD = "invalid_payload"
    """The stored job no longer decodes into valid metadata: dead-letter, never retried."""
    CRASHED = "crashed"
    """The worker died while holding the job (its lease expired): retry, up to ``max_crashes``."""


@frozen
class Succeeded:
    """Plex holds the job's metadata."""


@frozen
class Failed:
    """The attempt failed with *error_class*; *message* is short and free of secrets.

    ``retry_after_at`` is a server's hint (an instant, epoch seconds) and only rate limiting
    carries one.
    """

    error_class: ErrorClass
    message: str = ""
    retry_after_at: float | None = field(default=None, validator=check.instant)
    may_land: bool = False
    """The request was sent and its answer never came (an edit that timed out): Plex may still
    carry it out later."""

    def __attrs_post_init__(self) -> None:
        if self.retry_after_at is not None and self.error_class is not ErrorClass.RATE_LIMITED:
            raise ValueError(
                f"retry_after_at is a rate-limit hint; {self.error_class.value} cannot carry one"
            )


Outcome = Succeeded | Failed


class Health(enum.Enum):
    """The answer of Plex's cheap health call, made with the token."""

    UP = "up"
    DOWN = "down"
    UNAUTHORIZED = "unauthorized"
    NOT_PLEX = "not_plex"
    """Something answers at the URL, but it is not a Plex server (a web page, another service)."""
    UNTRUSTED = "untrusted"
    """Something answers at the https:// URL with a certificate that does not verify."""


CONFIRMATIONS: Final = {
    # A call failed as if Plex were down ...
    (ErrorClass.OUTAGE, Health.UP): ErrorClass.TRANSIENT,  # ... but Plex answers: the job's fault
    (ErrorClass.OUTAGE, Health.DOWN): ErrorClass.OUTAGE,
    (ErrorClass.OUTAGE, Health.UNAUTHORIZED): ErrorClass.AUTH,
    (ErrorClass.OUTAGE, Health.NOT_PLEX): ErrorClass.MISCONFIGURED,
    (ErrorClass.OUTAGE, Health.UNTRUSTED): ErrorClass.CERTIFICATE,
    # A call was refused as if the token were bad ...
    (ErrorClass.AUTH, Health.UP): ErrorClass.PERMANENT,  # ... but the token works: this item only
    (ErrorClass.AUTH, Health.DOWN): ErrorClass.OUTAGE,
    (ErrorClass.AUTH, Health.UNAUTHORIZED): ErrorClass.AUTH,
    (ErrorClass.AUTH, Health.NOT_PLEX): ErrorClass.MISCONFIGURED,
    (ErrorClass.AUTH, Health.UNTRUSTED): ErrorClass.CERTIFICATE,
    # A call got an answer that is not Plex's ...
    (ErrorClass.NOT_PLEX, Health.UP): ErrorClass.TRANSIENT,  # ... but Plex is there: one odd answer
    (ErrorClass.NOT_PLEX, Health.DOWN): ErrorClass.OUTAGE,
    (ErrorClass.NOT_PLEX, Health.UNAUTHORIZED): ErrorClass.AUTH,
    (ErrorClass.NOT_PLEX, Health.NOT_PLEX): ErrorClass.MISCONFIGURED,  # plex_url is not Plex
    (ErrorClass.NOT_PLEX, Health.UNTRUSTED): ErrorClass.CERTIFICATE,
}
"""How a health check settles a failure that blames the whole server (docs/design.md, rule 2).

Every pair of a server-blaming class and a health answer is listed (a test checks it)."""


_HEALTH_NOTES: Final = {
    Health.UP: "Plex up",
    Health.DOWN: "Plex down",
    Health.UNAUTHORIZED: "Plex unauthorized",
    Health.NOT_PLEX: "not a Plex server; check plex_url",
    Health.UNTRUSTED: "its certificate does not verify",
}


def needs_confirmation(outcome: Outcome) -> bool:
    """Whether *outcome* blames Plex as a whole and must be checked against a health call."""
    return isinstance(outcome, Failed) and any(
        outcome.error_class is error_class for error_class, _ in CONFIRMATIONS
    )


def confirm(outcome: Outcome, health: Health, detail: str = "") -> Outcome:
    """Settle an outage- or auth-looking *outcome* by the *health* Plex showed right after it.

    Plex down means the breaker's business; Plex up means the job's own call failed, and it counts
    against the job. Outcomes that do not blame the server are returned unchanged. *detail* is
    what the health call found in plain words, when it said more than *health* does.
    """
    match outcome:
        case Failed(error_class=error_class) if (error_class, health) in CONFIRMATIONS:
            settled = CONFIRMATIONS[error_class, health]
            if settled is error_class:
                return outcome
            found = detail or _HEALTH_NOTES[health]
            note = f"{outcome.message} (health check: {found})".strip()
            return attrs.evolve(outcome, error_class=settled, message=note)
        case _:
            return outcome
