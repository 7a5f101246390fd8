"""The faults the fake injects on demand: error statuses, broken bodies, slow or stalled replies,
edits answered as done and not done.

Each fault picks requests by path prefix and HTTP method. A counted fault (`fail_next`, or
`keep_old_values` given a count) spoils that many requests and is gone; the others last until
`clear_faults()`. The timing faults (`slow_first_byte`, `stall_mid_body`) change how a normal
reply is delivered, not what the request does; the rest send a reply of their own instead.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING, Final

import attrs
from attrs import define

from tests.fake_plex.server import Reply
from tests.fake_plex.xml import HTML_CONTENT_TYPE, NO_BODY_CONTENT_TYPE, XML_CONTENT_TYPE

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable

DELIVERY_FAULTS: Final = frozenset({None, "slow_first_byte", "stall_mid_body", "apply_late"})
"""Faults that change how a normal reply is delivered, not what the request does."""


def selects(path_prefix: str | None, method: str | None, path: str, request_method: str) -> bool:
    """Whether a request (*request_method*, *path*) is one a filter by prefix and method picks."""
    return (path_prefix is None or path.startswith(path_prefix)) and (
        method is None or request_method == method.upper()
    )


@define
class Fault:
    """One fault, and which requests it spoils."""

    kind: str
    """The name of the method that set it (e.g. "fail_next")."""
    path_prefix: str | None
    remaining: int | None
    """Requests left to spoil; None lasts until `clear_faults()`."""
    status: int = 200
    retry_after: str | None = None
    seconds: float = 0.0
    method: str | None = None
    """Only requests of this HTTP method match; None matches any."""

    def matches(self, method: str, path: str) -> bool:
        """Whether the fault spoils a *method* request to *path*."""
        return selects(self.path_prefix, self.method, path, method)


def spoil(fault: Fault | None, answer: Callable[[], Reply]) -> Reply:
    """The reply to send: *answer*'s, delivered as a timing *fault* says, or the fault's own."""
    if fault is None:
        return answer()
    if fault.kind == "slow_first_byte":
        return attrs.evolve(answer(), delay=fault.seconds, fault=fault.kind)
    if fault.kind == "stall_mid_body":
        return attrs.evolve(answer(), stall=fault.seconds, fault=fault.kind)
    if fault.kind == "apply_late":
        return Reply(HTTPStatus.OK, delay=fault.seconds, fault=fault.kind, then=answer)
    return _canned_reply(fault)


def _canned_reply(fault: Fault) -> Reply:
    """The reply a content fault (status or broken body) sends instead of the real one."""
    if fault.kind == "keep_old_values":
        return Reply(HTTPStatus.OK, b"", NO_BODY_CONTENT_TYPE, fault=fault.kind)
    if fault.kind in {"fail_next", "storm"}:
        retry_after = () if fault.retry_after is None else (("Retry-After", fault.retry_after),)
        body = f"fake Plex fault: {fault.status}\n".encode()
        return Reply(fault.status, body, "text/plain;charset=utf-8", retry_after, fault=fault.kind)
    bodies = {
        "malformed_xml": (b'<?xml version="1.0" encoding="UTF-8"?>\n<MediaContainer size="1"><Vid'),
        "empty_body": b"",
        "html_body": (
            b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head>"
            b"<body><p>Please sign in to continue.</p></body></html>"
        ),
    }
    content_type = HTML_CONTENT_TYPE if fault.kind == "html_body" else XML_CONTENT_TYPE
    return Reply(HTTPStatus.OK, bodies[fault.kind], content_type, fault=fault.kind)


class FaultInjection:
    """`FakePlex`'s fault methods. All are thread-safe and take effect at the next request."""

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self._faults: list[Fault] = []

    def fail_next(
        self,
        status: int,
        count: int = 1,
        *,
        retry_after: str | None = None,
        path_prefix: str | None = None,
        method: str | None = None,
    ) -> None:
        """Answer the next *count* matching requests with *status* and a short text body.

        A request matches if no *path_prefix* is given or its path starts with it, and no
        *method* is given or it uses that HTTP method (so do the other faults). These counted
        faults take precedence over the lasting ones (`storm` and the body faults).
        """
        if count < 1:
            raise ValueError("count must be at least 1")
        self._add_fault(
            Fault(
                "fail_next",
                path_prefix,
                count,
                status=status,
                retry_after=retry_after,
                method=method,
            )
        )

    def storm(
        self,
        status: int,
        *,
        retry_after: str | None = None,
        path_prefix: str | None = None,
        method: str | None = None,
    ) -> None:
        """Answer every matching request with *status* until `clear_faults()`."""
        self._add_fault(
            Fault("storm", path_prefix, None, status=status, retry_after=retry_after, method=method)
        )

    def slow_first_byte(
        self, seconds: float, *, path_prefix: str | None = None, method: str | None = None
    ) -> None:
        """Wait *seconds* before sending anything, for matching requests.

        The request itself is carried out at once (an edit is applied), as by a slow Plex; the
        request stays `in_flight` until its reply has been sent.
        """
        self._add_fault(Fault("slow_first_byte", path_prefix, None, seconds=seconds, method=method))

    def stall_mid_body(
        self, seconds: float, *, path_prefix: str | None = None, method: str | None = None
    ) -> None:
        """Send the headers and half the body, wait *seconds*, then close the connection.

        As with `slow_first_byte`, the request itself is carried out.
        """
        self._add_fault(Fault("stall_mid_body", path_prefix, None, seconds=seconds, method=method))

    def apply_late(
        self, seconds: float, *, path_prefix: str | None = None, method: str | None = None
    ) -> None:
        """Carry out matching requests only after *seconds*, then answer 200.

        Like a Plex whose database is busy: a client that gives up waiting does not stop the
        request, which is carried out (an edit applied) when its turn comes.
        """
        self._add_fault(Fault("apply_late", path_prefix, None, seconds=seconds, method=method))

    def malformed_xml(self, *, path_prefix: str | None = None, method: str | None = None) -> None:
        """Answer matching requests with 200 and a truncated XML body."""
        self._add_fault(Fault("malformed_xml", path_prefix, None, method=method))

    def empty_body(self, *, path_prefix: str | None = None, method: str | None = None) -> None:
        """Answer matching requests with 200 and no body at all."""
        self._add_fault(Fault("empty_body", path_prefix, None, method=method))

    def html_body(self, *, path_prefix: str | None = None, method: str | None = None) -> None:
        """Answer matching requests with 200 and an HTML page, as a captive portal would."""
        self._add_fault(Fault("html_body", path_prefix, None, method=method))

    def keep_old_values(
        self, count: int | None = None, *, path_prefix: str | None = None, method: str = "PUT"
    ) -> None:
        """Answer matching requests (edits, by default) as if done, and do nothing: the empty
        200 of a successful edit, with the item left as it was. Plex has been seen to do this
        ("46 succeeded, ~7 updated"). *count* requests, or all until `clear_faults()`.
        """
        if count is not None and count < 1:
            raise ValueError("count must be at least 1")
        self._add_fault(Fault("keep_old_values", path_prefix, count, method=method))

    def clear_faults(self) -> None:
        """Remove every fault; the next request is answered normally."""
        with self._lock:
            self._faults.clear()

    def _add_fault(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _take_fault(self, method: str, path: str) -> Fault | None:
        """The fault for a *method* request to *path*: a counted one first, and use one of its
        count.
        """
        with self._lock:
            matching = [f for f in self._faults if f.matches(method, path)]
            for fault in matching:
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    return fault
            return next(iter(matching), None)
