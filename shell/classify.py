"""The one place where exceptions become error classes (docs/design.md, rule 3).

Classification is by exception type and HTTP status, never by the prose of a message: plexapi
raises one ``BadRequest`` for every status it has no class of its own for, and its message starts
with the status in parentheses, ``(503) service_unavailable; ...``. That number is read as a status.

``classify_exception`` is tested against a table of real exceptions raised by real plexapi talking
HTTP to the fake Plex server (``tests/test_classify.py``).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re
import socket
import xml.etree.ElementTree as ET
from typing import Final, Literal

import attrs
import requests
from plexapi.exceptions import BadRequest, NotFound, Unauthorized

from core import ErrorClass, Failed
from shell.redact import redact
from shell.tls import verification_error

Stage = Literal["connect", "lookup", "edit", "scan"]
"""What the gateway was doing: a 404 means different things while looking up and editing."""


class NotPlexXml(Exception):  # noqa: N818 - named for what the answer was
    """A 200 whose body is a web page, not Plex XML (a proxy's login or error page).

    plexapi would read such a page as an empty listing, which looks exactly like "not found";
    the gateway's session raises this instead, so it is classified as an answer that is not
    Plex's (settled by a health check: a one-off page from a healthy Plex is transient).
    """


PLEX_ERRORS: Final = (
    NotPlexXml,
    requests.exceptions.RequestException,
    BadRequest,
    NotFound,
    ET.ParseError,
    # plexapi fails this way on answers it cannot read: an empty or HTML 200 (AttributeError,
    # TypeError) or a status requests does not know, such as a proxy's 520 (TypeError).
    TypeError,
    AttributeError,
)
"""What a plexapi call may raise because of Plex; anything else is our own bug and propagates."""

_STATUS: Final = re.compile(r"^\((\d{3})\)")


def status_of(exc: BaseException) -> int | None:
    """The HTTP status plexapi put at the front of its message, if any."""
    match = _STATUS.match(str(exc))
    return int(match.group(1)) if match else None


def classify_exception(
    exc: BaseException,
    *,
    stage: Stage,
    retry_after_at: float | None = None,
) -> Failed:
    """The error class of *exc*, raised by a plexapi call during *stage*.

    *retry_after_at* is the instant a 429 or 503 response asked us to wait for (already parsed,
    see ``parse_retry_after``). Outage and auth results are only believed after a health check
    (``core.confirm``); the worker makes it.
    """
    failure = _by_type(exc, stage=stage, retry_after_at=retry_after_at)
    # Plex answers every call made while connecting (/ and /library/sections): a refusal or an
    # unreadable answer there means that whatever answered is not Plex.
    refused = failure.error_class in {ErrorClass.PERMANENT, ErrorClass.NOT_FOUND}
    if stage == "connect" and (refused or isinstance(exc, _UNREADABLE)):
        return Failed(ErrorClass.NOT_PLEX, failure.message)
    if stage == "edit" and isinstance(exc, requests.exceptions.ReadTimeout):
        # The edit went out and we stopped waiting for its answer, but Plex may still be
        # working on it: it may land later (a cut connection, by contrast, ended the exchange).
        return attrs.evolve(failure, may_land=True)
    return failure


_UNREADABLE: Final = (ET.ParseError, TypeError, AttributeError)
"""How plexapi fails on answers it cannot read: malformed XML, an empty or HTML 200, or a status
requests does not know (a proxy's 520)."""


def _by_type(  # noqa: C901, PLR0911 - one branch per row of the table
    exc: BaseException, *, stage: Stage, retry_after_at: float | None
) -> Failed:
    message = plain_words(exc)
    match exc:
        case requests.exceptions.SSLError() if verification_error(exc) is not None:
            # The certificate did not verify: no retry makes it verify (the gateway adds what
            # the certificate says about itself and the setting that fixes it).
            return Failed(ErrorClass.CERTIFICATE, message)
        case requests.exceptions.Timeout() | requests.exceptions.ConnectionError():
            # Refused, unreachable, no first byte in time, or a stall in the middle of a body.
            return Failed(ErrorClass.OUTAGE, message)
        case requests.exceptions.ChunkedEncodingError():
            return Failed(ErrorClass.OUTAGE, message)
        case requests.exceptions.RequestException():
            return Failed(ErrorClass.TRANSIENT, message)
        case Unauthorized():  # a subclass of BadRequest: it must come first
            return Failed(ErrorClass.AUTH, message)
        case NotFound():
            # During a lookup the item is simply not there (yet); an edit of an item we just
            # found means Plex refuses that request.
            if stage == "lookup":
                return Failed(ErrorClass.NOT_FOUND, message)
            return Failed(ErrorClass.PERMANENT, message)
        case BadRequest():
            return _by_status(status_of(exc), message, retry_after_at)
        case NotPlexXml():
            return Failed(ErrorClass.NOT_PLEX, message)
        case ET.ParseError() | TypeError() | AttributeError():
            return Failed(ErrorClass.TRANSIENT, f"unreadable answer ({message})")
        case _:
            raise TypeError(f"not a Plex failure: {type(exc).__name__}") from exc


def _by_status(status: int | None, message: str, retry_after_at: float | None) -> Failed:  # noqa: PLR0911
    match status:
        case 429:
            return Failed(ErrorClass.RATE_LIMITED, message, retry_after_at=retry_after_at)
        case 503 if retry_after_at is not None:
            return Failed(ErrorClass.RATE_LIMITED, message, retry_after_at=retry_after_at)
        case 502 | 503 | 504:
            return Failed(ErrorClass.OUTAGE, message)
        case 401 | 403:
            return Failed(ErrorClass.AUTH, message)
        case int() if 500 <= status <= 599:
            return Failed(ErrorClass.TRANSIENT, message)
        case int() if 400 <= status <= 499:
            return Failed(ErrorClass.PERMANENT, message)
        case _:  # a BadRequest plexapi raised itself, before sending anything
            return Failed(ErrorClass.PERMANENT, message)


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """The instant a ``Retry-After`` header names: delay-seconds or an HTTP date.

    Unreadable values give ``None``. Past or absurd instants are passed on as they are: bounding
    them is a decision, and ``core.decide`` makes it.
    """
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return now + int(text)
    try:
        parsed = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:  # HTTP dates are GMT; a naive one is read as such
        return parsed.replace(tzinfo=dt.UTC).timestamp()
    return parsed.timestamp()


_TIMEOUT: Final = re.compile(r"\((connect|read) timeout=([0-9.]+)\)")


def plain_words(exc: BaseException) -> str:
    """What went wrong, in words an operator reads at a glance, and the exception's type in
    brackets for whoever digs further: "connection refused (ConnectionError)". Failures without
    plainer words keep their type and the first line of their text. Never holds a secret.
    """
    kind = type(exc).__name__
    causes = _chain(exc)
    match exc:
        case requests.exceptions.SSLError() if (error := verification_error(exc)) is not None:
            words = f"certificate did not verify: {error.verify_message}"
        case requests.exceptions.ConnectTimeout():
            words = f"no connection within {_timeout(exc, 'connect')}"
        case requests.exceptions.ReadTimeout():
            words = f"timed out after {_timeout(exc, 'read')} waiting for an answer"
        case requests.exceptions.ConnectionError() if _has(causes, ConnectionRefusedError):
            words = "connection refused"
        case requests.exceptions.ConnectionError() if _has(causes, socket.gaierror):
            words = "host name not found"
        case requests.exceptions.ConnectionError() if _has(causes, ConnectionResetError):
            words = "connection reset by the server"
        case requests.exceptions.ConnectionError() | requests.exceptions.ChunkedEncodingError():
            words = "connection broken before the answer was complete"
        case Unauthorized():
            words = "token rejected (401)"
        case NotPlexXml():
            words = "answered with a web page, not Plex's XML"
        case _:
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            return redact(f"{kind}: {first_line}" if first_line else kind)
    return redact(f"{words} ({kind})")


def _timeout(exc: BaseException, which: str) -> str:
    for found in _TIMEOUT.finditer(str(exc)):
        if found.group(1) == which:
            return f"{float(found.group(2)):g}s"
    return "the timeout"


def _chain(exc: BaseException) -> list[BaseException]:
    """*exc* and every exception behind it (requests wraps urllib3, which wraps the socket's)."""
    found: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in found):
        found.append(current)
        current = current.__cause__ or current.__context__
        if current is None and found[-1].args and isinstance(found[-1].args[0], BaseException):
            current = found[-1].args[0]  # urllib3's MaxRetryError keeps its reason in args
    return found


def _has(causes: list[BaseException], kind: type[BaseException]) -> bool:
    return any(isinstance(cause, kind) for cause in causes)
