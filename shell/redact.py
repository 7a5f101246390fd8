"""Keeping the Plex token out of everything we write: the database, the DLQ, logs, CLI output.

The token travels in a header and is absent from plexapi's messages, unless
``PLEXAPI_LOG_SHOW_SECRETS=true`` puts it in every URL. So every string that may carry a URL or a
server's words is passed through ``redact`` before it is stored or logged, and plexsync's loggers
carry a filter that redacts whatever reaches them.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Final
from urllib.parse import urlsplit, urlunsplit

MASK: Final = "***"
MAX_MESSAGE: Final = 300
"""Stored error messages are short: enough to diagnose, too short to carry a body."""

_TOKEN_IN_TEXT: Final = re.compile(r"(X-Plex-Token[=:]\s*)[^&\s'\"]+", re.IGNORECASE)

_secrets: set[str] = set()
_lock = threading.Lock()


def remember_secret(secret: str) -> None:
    """Redact *secret* from everything ``redact`` sees from now on, in this process."""
    if secret:
        with _lock:
            _secrets.add(secret)


def redact(text: str, *, limit: int | None = MAX_MESSAGE) -> str:
    """*text* without known secrets or anything that looks like a token parameter, shortened."""
    cleaned = _TOKEN_IN_TEXT.sub(rf"\g<1>{MASK}", text)
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        cleaned = cleaned.replace(secret, MASK)
    if limit is not None and len(cleaned) > limit:
        cleaned = cleaned[: limit - 1] + "…"
    return cleaned


def url_for_people(url: str) -> str:
    """*url* fit to show: without a user name, password, query or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # an IPv6 address
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


class RedactingFilter(logging.Filter):
    """Redacts a record's message, arguments and exception text before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drops it."""
        record.msg = redact(record.getMessage(), limit=None)
        record.args = None
        if record.exc_info:
            formatter = logging.Formatter()
            record.exc_text = redact(formatter.formatException(record.exc_info), limit=None)
            record.exc_info = None
        return True


def get_logger(name: str) -> logging.Logger:
    """A logger under ``plexsync`` whose records are redacted (filters are per logger)."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())
    return logger
