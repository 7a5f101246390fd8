"""Classification, as a table of real exceptions from real plexapi against the fake Plex server.

Faults are injected into the fake; plexapi talks to it over real HTTP. One test per line of the
classification table:

| what happens                                                          | class              |
| connection refused, connect timeout, read timeout, a stall, 502/3/4   | outage (confirmed) |
| 500 on a healthy server, malformed XML, an empty or HTML 200, a 520   | transient          |
| 429, or 503 with Retry-After                                          | rate-limited       |
| 401 (and 403 on every call)                                           | auth               |
| 400, 404 on an edit, ambiguous path, invalid metadata                 | permanent          |
| no item for the path                                                  | not-found          |
"""

from __future__ import annotations

import contextlib
import email.utils
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from plexapi.server import PlexServer

from core import ErrorClass, Failed, Health, confirm, decide
from core.breaker import Breaker
from shell.classify import PLEX_ERRORS, Stage, classify_exception, parse_retry_after
from shell.payload import Metadata, decode_payload
from shell.plex import PlexServerGateway
from tests.builders import T0, TOKEN, make_config, make_job
from tests.fake_plex import FakePlex

E = ErrorClass
LISTING = "/library/sections/1/all"


_open: list[PlexServerGateway] = []


@pytest.fixture
def fake() -> Iterator[FakePlex]:
    with FakePlex(TOKEN) as server:
        section = server.add_section("Movies", locations=["/media"])
        server.add_item(section, "/media/a.mkv", title="A")
        server.add_item(section, "/media/b.mkv", title="B")
        yield server
        while _open:
            _open.pop().close()


def gateway_for(fake: FakePlex, **overrides: Any) -> PlexServerGateway:
    """A gateway with short timeouts and a database of its own in memory (for the scans it asks
    for), closed when the test ends.
    """
    fields = {
        "plex_url": fake.url,
        "db_path": ":memory:",
        "connect_timeout_seconds": 0.5,
        "read_timeout_seconds": 0.5,
        "health_timeout_seconds": 0.5,
        **overrides,
    }
    gateway = PlexServerGateway(make_config(**fields))
    _open.append(gateway)
    return gateway


def raised(action: Callable[[], object]) -> BaseException:
    """The exception *action* raises (it must raise one plexapi can raise for Plex's sake)."""
    try:
        action()
    except PLEX_ERRORS as exc:
        return exc
    raise AssertionError("expected a failure")


def classified(gateway: PlexServerGateway, action: Callable[[], object], stage: Stage) -> Failed:
    exc = raised(action)
    hint = parse_retry_after(gateway.session.retry_after, now=time.time())
    return classify_exception(exc, stage=stage, retry_after_at=hint)


def connect(gateway: PlexServerGateway, fake: FakePlex) -> Callable[[], object]:
    config = gateway.config
    return lambda: PlexServer(
        fake.url, config.plex_token, session=gateway.session, timeout=config.read_timeout_seconds
    )


def listing(gateway: PlexServerGateway, fake: FakePlex) -> Callable[[], object]:
    server = PlexServer(fake.url, TOKEN, session=gateway.session, timeout=0.5)
    return lambda: server.library.sectionByID(1).search(libtype="movie")


@pytest.fixture
def unresponsive_port() -> Iterator[int]:
    """A port whose accept queue is full: connecting to it times out instead of failing fast."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(8):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    try:
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


# ---------------------------------------------------------------------------- outage rows
def test_connection_refused_is_an_outage(fake: FakePlex) -> None:
    """Nothing listens at the URL: outage, said in plain words, and the health check agrees
    Plex is down.
    """
    gateway = gateway_for(fake)
    fake.go_down()
    failure = classified(gateway, connect(gateway, fake), "connect")
    assert failure.error_class is E.OUTAGE
    assert failure.message.startswith("connection refused (ConnectionError)")
    assert gateway.health() is Health.DOWN


def test_connect_timeout_is_an_outage(unresponsive_port: int) -> None:
    """A host that never completes the handshake: outage."""
    config = make_config(plex_url=f"http://127.0.0.1:{unresponsive_port}")
    gateway = PlexServerGateway(config)
    try:
        exc = raised(
            lambda: PlexServer(config.plex_url, TOKEN, session=gateway.session, timeout=(0.3, 0.5))
        )
    finally:
        gateway.close()
    assert type(exc).__name__ == "ConnectTimeout"
    failure = classify_exception(exc, stage="connect")
    assert failure.error_class is E.OUTAGE
    assert failure.message.startswith("no connection within 0.3s (ConnectTimeout)")


def test_read_timeout_is_an_outage_until_the_health_check_says_otherwise(fake: FakePlex) -> None:
    """No first byte in time: outage; if the health call is answered, it is the job's own."""
    gateway = gateway_for(fake)
    action = listing(gateway, fake)
    fake.slow_first_byte(2.0, path_prefix=LISTING)
    failure = classified(gateway, action, "lookup")
    assert failure.error_class is E.OUTAGE
    assert failure.message.startswith("timed out after 0.5s waiting for an answer (ReadTimeout)")
    assert gateway.health() is Health.UP  # only listings are slow
    assert confirm(failure, Health.UP) == Failed(
        E.TRANSIENT, f"{failure.message} (health check: Plex up)"
    )


def test_a_stall_mid_body_is_an_outage(fake: FakePlex) -> None:
    """Headers, half a body, then silence: outage."""
    gateway = gateway_for(fake)
    action = listing(gateway, fake)
    fake.stall_mid_body(2.0, path_prefix=LISTING)
    assert classified(gateway, action, "lookup").error_class is E.OUTAGE


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_errors_are_outages(fake: FakePlex, status: int) -> None:
    """A proxy in front of a dead Plex: outage (503 without Retry-After)."""
    gateway = gateway_for(fake)
    fake.fail_next(status)
    failure = classified(gateway, connect(gateway, fake), "connect")
    assert failure.error_class is E.OUTAGE
    assert failure.message.startswith(f"BadRequest: ({status})")


# ---------------------------------------------------------------------------- transient rows
def test_500_on_a_healthy_server_is_transient(fake: FakePlex) -> None:
    """The job's call failed while Plex is up: transient, counted against the job."""
    gateway = gateway_for(fake)
    action = listing(gateway, fake)
    fake.fail_next(500, path_prefix=LISTING)
    assert classified(gateway, action, "lookup").error_class is E.TRANSIENT


@pytest.mark.parametrize("fault", ["malformed_xml", "empty_body"])
def test_unreadable_answers_are_transient(fake: FakePlex, fault: str) -> None:
    """Broken XML or an empty 200 where XML should be: transient, never not-found."""
    gateway = gateway_for(fake)
    action = listing(gateway, fake)
    getattr(fake, fault)(path_prefix=LISTING)
    assert classified(gateway, action, "lookup").error_class is E.TRANSIENT


def test_a_web_page_from_a_healthy_plex_is_transient(fake: FakePlex) -> None:
    """A web page where XML should be is not Plex's answer, never not-found; the health check
    settles it: Plex answers its health call, so this one page is the job's transient failure.
    """
    gateway = gateway_for(fake)
    action = listing(gateway, fake)
    fake.html_body(path_prefix=LISTING)
    failure = classified(gateway, action, "lookup")
    assert failure.error_class is E.NOT_PLEX
    assert failure.message == "answered with a web page, not Plex's XML (NotPlexXml)"
    assert gateway.health() is Health.UP
    assert confirm(failure, Health.UP).error_class is E.TRANSIENT


def test_an_unknown_status_is_transient(fake: FakePlex) -> None:
    """A status requests does not know (a proxy's 520) makes plexapi fail oddly: transient."""
    gateway = gateway_for(fake)
    action = listing(gateway, fake)
    fake.fail_next(520, path_prefix=LISTING)
    exc = raised(action)
    assert isinstance(exc, TypeError)
    assert classify_exception(exc, stage="lookup").error_class is E.TRANSIENT


# ---------------------------------------------------------------------------- rate limited
@pytest.mark.parametrize(
    ("status", "retry_after"), [(429, "7"), (429, None), (503, "Wed, 21 Oct 2099 07:28:00 GMT")]
)
def test_slow_down_is_rate_limited_with_the_hint_kept(
    fake: FakePlex, status: int, retry_after: str | None
) -> None:
    """429 (with or without Retry-After), or 503 with Retry-After: rate limited, hint kept."""
    gateway = gateway_for(fake)
    action = listing(gateway, fake)
    fake.fail_next(status, retry_after=retry_after, path_prefix=LISTING)
    before = time.time()
    failure = classified(gateway, action, "lookup")
    assert failure.error_class is E.RATE_LIMITED
    if retry_after is None:
        assert failure.retry_after_at is None
    elif retry_after.isdigit():
        assert failure.retry_after_at is not None
        assert before + 7 <= failure.retry_after_at <= time.time() + 7
    else:
        assert failure.retry_after_at == email.utils.parsedate_to_datetime(retry_after).timestamp()


# ---------------------------------------------------------------------------- auth
def test_401_is_auth(fake: FakePlex) -> None:
    """A rejected token: auth, and the health check confirms it."""
    gateway = gateway_for(fake, plex_token="wrong-token")
    failure = classified(gateway, connect(gateway, fake), "connect")
    assert failure.error_class is E.AUTH
    assert gateway.health() is Health.UNAUTHORIZED
    assert confirm(failure, gateway.health()) is failure


def test_403_on_every_call_is_auth_but_on_one_call_permanent(fake: FakePlex) -> None:
    """403 everywhere (health included) is the token's fault; 403 on one edit is that edit's."""
    gateway = gateway_for(fake)
    action = listing(gateway, fake)
    fake.storm(403)
    failure = classified(gateway, action, "lookup")
    assert failure.error_class is E.AUTH
    assert confirm(failure, gateway.health()).error_class is E.AUTH
    fake.clear_faults()
    fake.storm(403, path_prefix=LISTING)
    failure = classified(gateway, action, "lookup")
    assert confirm(failure, gateway.health()).error_class is E.PERMANENT


# ---------------------------------------------------------------------------- permanent
def test_400_is_permanent(fake: FakePlex) -> None:
    """Plex refused the request as malformed: permanent."""
    gateway = gateway_for(fake)
    action = listing(gateway, fake)
    fake.fail_next(400, path_prefix=LISTING)
    assert classified(gateway, action, "lookup").error_class is E.PERMANENT


def test_404_on_an_edit_is_permanent_but_on_a_lookup_not_found(fake: FakePlex) -> None:
    """The same NotFound means "refused" during an edit and "not there yet" during a lookup."""
    gateway = gateway_for(fake)
    server = PlexServer(fake.url, TOKEN, session=gateway.session, timeout=0.5)
    section = server.library.sectionByID(1)
    [item, _] = section.search(libtype="movie")
    fake.fail_next(404, path_prefix=LISTING)
    exc = raised(lambda: section.multiEdit([item], **{"title.value": "T"}))
    assert classify_exception(exc, stage="edit").error_class is E.PERMANENT
    assert classify_exception(exc, stage="lookup").error_class is E.NOT_FOUND


def test_an_ambiguous_path_is_permanent_naming_both_items(fake: FakePlex) -> None:
    """Two items for one path: the gateway refuses to guess and names both."""
    other = fake.add_section("More Movies", locations=["/media"])
    fake.add_item(other, "/media/a.mkv", title="A again")
    outcome = gateway_for(fake).apply(Metadata(path="/media/a.mkv", title="T"))
    assert isinstance(outcome, Failed)
    assert outcome.error_class is E.PERMANENT
    assert "'A' in 'Movies'" in outcome.message
    assert "'A again' in 'More Movies'" in outcome.message


def test_invalid_metadata_is_dead_lettered_at_once(fake: FakePlex) -> None:
    """Metadata that no longer decodes is an invalid payload, which decide dead-letters at once
    like any permanent failure; Plex is never called.
    """
    requests_before = len(fake.requests)
    result = decode_payload('{"path": "/media/a.mkv", "originally_available_at": "2020-02-30"}')
    failure = Failed(E.INVALID_PAYLOAD, result.failure())
    decision = decide(
        make_job(), failure, now=T0, jitter=0.0, config=make_config(), breaker=Breaker()
    )
    assert decision.action.reason.value == "invalid_payload"  # type: ignore[union-attr]
    assert len(fake.requests) == requests_before


# ---------------------------------------------------------------------------- not found
def test_no_item_for_the_path_is_not_found(fake: FakePlex) -> None:
    """A path inside a library folder that Plex has not scanned: not found (and a scan asked)."""
    outcome = gateway_for(fake).apply(Metadata(path="/media/new/c.mkv", title="C"))
    assert isinstance(outcome, Failed)
    assert outcome.error_class is E.NOT_FOUND
    assert [r.query.get("path") for r in fake.requests_to("/library/sections/1/refresh")] == [
        "/media/new"
    ]


def test_anything_else_is_not_for_the_classifier() -> None:
    """Our own bugs are not Plex failures: the classifier refuses them instead of guessing."""
    with pytest.raises(TypeError, match="not a Plex failure: KeyError"):
        classify_exception(KeyError("x"), stage="lookup")


def test_an_edit_whose_answer_never_came_may_still_land(fake: FakePlex) -> None:
    """An edit that timed out waiting for its answer was sent: Plex may carry it out later. An
    edit that never reached Plex (refused), or a lookup that timed out, cannot land.
    """
    gateway = gateway_for(fake)
    key = fake.add_item(1, "/media/late.mkv", title="A")
    server = PlexServer(fake.url, TOKEN, session=gateway.session, timeout=0.5)
    item = server.fetchItem(key)
    fake.slow_first_byte(2.0, method="PUT")
    timed_out = classified(gateway, lambda: item.editTitle("B"), "edit")
    assert (timed_out.error_class, timed_out.may_land) == (E.OUTAGE, True)
    fake.clear_faults()
    fake.go_down()
    refused = classified(gateway, lambda: item.editTitle("C"), "edit")
    assert (refused.error_class, refused.may_land) == (E.OUTAGE, False)
    fake.come_up()
    action = listing(gateway, fake)
    fake.slow_first_byte(2.0, path_prefix=LISTING)
    assert classified(gateway, action, "lookup").may_land is False
