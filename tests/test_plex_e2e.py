"""End to end: the real worker, the real plexapi gateway, real HTTP to the fake Plex server, real
SQLite, and real time kept short (timeouts and waits of a fraction of a second).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import attrs
import pytest

import shell
from core import (
    BreakerClosed,
    BreakerOpened,
    ErrorClass,
    Event,
    Failed,
    Health,
    JobSucceeded,
    Outcome,
    PauseCause,
    PlexSyncConfig,
    RetryScheduled,
    Succeeded,
)
from shell.payload import Metadata
from shell.plex import PlexServerGateway
from shell.store import Filters, Store
from tests.builders import TOKEN, make_config
from tests.fake_plex import FakePlex

LISTING = "/library/sections/1/all"


@pytest.fixture
def fake() -> Iterator[FakePlex]:
    with FakePlex(TOKEN) as server:
        server.add_section("Movies", locations=["/media"])
        yield server


def e2e_config(tmp_path: Path, fake: FakePlex, **overrides: Any) -> PlexSyncConfig:
    """Every wait a fraction of a second, so minutes of behaviour take about a second."""
    fields: dict[str, Any] = {
        "plex_url": fake.url,
        "db_path": str(tmp_path / "queue.db"),
        "connect_timeout_seconds": 0.5,
        "read_timeout_seconds": 0.5,
        "health_timeout_seconds": 0.5,
        "poll_interval": 0.05,
        "max_retries": 4,
        "retry_wait_initial_seconds": 0.05,
        "retry_wait_max_seconds": 0.2,
        "not_found_wait_initial_seconds": 0.2,
        "not_found_wait_max_seconds": 0.4,
        "not_found_window_seconds": 20,
        "breaker_cooldown_seconds": 0.2,
        "breaker_max_cooldown_seconds": 0.4,
        "job_lease_seconds": 5,
        **overrides,
    }
    return make_config(**fields)


class Recording:
    """The real gateway, with each call noted (when, what, how it ended)."""

    def __init__(self, gateway: PlexServerGateway) -> None:
        self.gateway = gateway
        self.calls: list[tuple[float, str, str]] = []

    def apply(self, metadata: Metadata) -> Outcome:
        outcome = self.gateway.apply(metadata)
        self.calls.append((time.time(), "apply", type(outcome).__name__))
        return outcome

    def health(self) -> Health:
        health = self.gateway.health()
        self.calls.append((time.time(), "health", health.value))
        return health


class DrainedOrLate:
    """Stop when the queue is empty, or after *seconds* (the test then fails on its counts)."""

    def __init__(self, config: PlexSyncConfig, seconds: float) -> None:
        self.store = Store.open(config.db_path)
        self.deadline = time.monotonic() + seconds

    def is_set(self) -> bool:
        return self.store.jobs.is_empty() or time.monotonic() > self.deadline


def work(
    config: PlexSyncConfig, *, seconds: float = 20, on_event: Any = None
) -> tuple[shell.WorkerReport, Recording]:
    plex = Recording(PlexServerGateway(config))
    try:
        report = shell.run_worker(
            config, plex=plex, stop=DrainedOrLate(config, seconds), on_event=on_event
        )
    finally:
        plex.gateway.close()
    return report, plex


def add_items(fake: FakePlex, count: int, **fields: Any) -> list[int]:
    return [
        fake.add_item(1, f"/media/m{n:03d}.mkv", title=f"raw {n}", **fields) for n in range(count)
    ]


def full_metadata(n: int) -> dict[str, Any]:
    return {
        "path": f"/media/m{n:03d}.mkv",
        "title": f"Title {n}",
        "summary": f"Summary {n}",
        "studio": "Studio",
        "tagline": "Tagline",
        "originally_available_at": "2021-03-04",
        "original_title": f"CODE-{n}",
        "user_rating": n / 2,
        "performers": ["Ann", f"Bob {n}"],
        "genres": ["Drama", "Crime", "Noir"],
        "collections": ["Box"],
        "labels": ["synced", "plexsync"],
    }


def test_a_batch_syncs_every_field_and_tag_locked(tmp_path: Path, fake: FakePlex) -> None:
    """Values and locks on the server match each job; applying again changes nothing."""
    config = e2e_config(tmp_path, fake)
    keys = add_items(fake, 20, genres=["Old"], labels=["stale"])
    for n in range(20):
        shell.enqueue(config, key=f"scene:{n}", metadata=full_metadata(n))
    report, _ = work(config)
    assert report.done == 20
    for n, key in enumerate(keys):
        item = fake.item(key)
        assert item.title == f"Title {n}"
        assert item.values == {
            "summary": f"Summary {n}",
            "studio": "Studio",
            "tagline": "Tagline",
            "originally_available_at": "2021-03-04",
            "original_title": f"CODE-{n}",
            "user_rating": str(n / 2),
        }
        assert item.tags == {
            "performers": ["Ann", f"Bob {n}"],
            "genres": ["Drama", "Crime", "Noir"],
            "collections": ["Box"],
            "labels": ["synced", "plexsync"],
        }
        assert item.locked == {
            "title",
            "summary",
            "studio",
            "tagline",
            "originally_available_at",
            "original_title",
            "performers",
            "genres",
            "collections",
            "labels",
        }  # a rating has no lock
    before = [fake.item(key) for key in keys]
    for n in range(20):
        shell.enqueue(config, key=f"scene:{n}", metadata=full_metadata(n))
    work(config)
    assert [fake.item(key) for key in keys] == [
        attrs.evolve(b, updated_at=fake.item(b.rating_key).updated_at) for b in before
    ]


def test_an_empty_list_clears_the_field_and_absent_keys_are_left_alone(
    tmp_path: Path, fake: FakePlex
) -> None:
    """labels=[] removes every label; a job without genres leaves the genres as they are."""
    config = e2e_config(tmp_path, fake)
    [key] = add_items(fake, 1, genres=["Keep", "These"], labels=["a", "b,c", "d"])
    shell.enqueue(config, key="k", metadata={"path": "/media/m000.mkv", "labels": []})
    assert work(config)[0].done == 1
    item = fake.item(key)
    assert item.tags["labels"] == []
    assert item.tags["genres"] == ["Keep", "These"]
    assert "labels" in item.locked
    assert "genres" not in item.locked


def test_a_poster_is_uploaded_once_per_change_of_its_bytes(tmp_path: Path, fake: FakePlex) -> None:
    """The same bytes again (under another file name) upload nothing; new bytes upload once;
    an item re-added under a new ratingKey gets its poster again; the rating goes to /:/rate.
    """
    config = e2e_config(tmp_path, fake)
    [key] = add_items(fake, 1)
    first, same, second = (tmp_path / name for name in ("a.jpg", "b.jpg", "c.jpg"))
    first.write_bytes(b"\xff\xd8\xff one")
    same.write_bytes(b"\xff\xd8\xff one")
    second.write_bytes(b"\xff\xd8\xff two")

    def sync(poster: Path) -> None:
        metadata = {"path": "/media/m000.mkv", "poster": str(poster), "user_rating": 8}
        shell.enqueue(config, key="k", metadata=metadata)
        assert work(config)[0].done == 1

    def uploads() -> int:
        return len(fake.requests_to("/library/metadata/", "POST"))

    sync(first)
    assert (fake.item(key).images, uploads()) == ({"poster": b"\xff\xd8\xff one"}, 1)
    assert {"poster"} <= fake.item(key).locked
    assert fake.item(key).values["user_rating"] == "8.0"
    sync(same)
    assert uploads() == 1
    sync(second)
    assert (fake.item(key).images, uploads()) == ({"poster": b"\xff\xd8\xff two"}, 2)
    new_key = fake.rematch(key)
    sync(second)
    assert (fake.item(new_key).images, uploads()) == ({"poster": b"\xff\xd8\xff two"}, 3)


def test_an_image_file_that_is_gone_dead_letters_the_job_naming_it(
    tmp_path: Path, fake: FakePlex
) -> None:
    """A poster path that cannot be read is a permanent failure that says which file."""
    config = e2e_config(tmp_path, fake)
    add_items(fake, 1)
    missing = tmp_path / "gone.jpg"
    shell.enqueue(config, key="k", metadata={"path": "/media/m000.mkv", "poster": str(missing)})
    report, _ = work(config)
    assert report.dead_lettered_total == 1
    [entry] = Store.open(config.db_path).dead_letters.entries(Filters())
    assert f"cannot read the poster image {missing}" in entry.last_error


def test_plex_down_mid_batch(tmp_path: Path, fake: FakePlex) -> None:
    """The breaker opens, only probes are sent while Plex is down, every job completes after it
    returns, nothing is dead-lettered and no attempt is charged.
    """
    config = e2e_config(tmp_path, fake)
    add_items(fake, 40)
    for n in range(40):
        shell.enqueue(
            config, key=f"scene:{n}", metadata={"path": f"/media/m{n:03d}.mkv", "title": "T"}
        )
    window: dict[str, float] = {}
    events: list[Event] = []

    def outage_after_ten_jobs(event: Event) -> None:
        events.append(event)
        if isinstance(event, JobSucceeded) and len(events) == 10:
            fake.go_down()
            window["down"] = time.time()

            def back() -> None:
                window["up"] = time.time()
                fake.come_up()

            threading.Timer(1.5, back).start()

    report, plex = work(config, on_event=outage_after_ten_jobs)
    assert report.done == 40
    assert report.dead_lettered_total == 0
    assert report.outages == 1
    during = [c for c in plex.calls if window["down"] <= c[0] < window["up"]]
    job_calls = [c for c in during if c[1] == "apply"]
    assert len(job_calls) <= config.breaker_failure_threshold
    assert len([c for c in during if c[1] == "health"]) <= config.breaker_failure_threshold + 8
    retries = [e for e in events if isinstance(e, RetryScheduled)]
    assert retries
    assert all(not e.charged for e in retries)
    assert any(isinstance(e, BreakerOpened) for e in events)
    assert any(isinstance(e, BreakerClosed) for e in events)


def test_a_500_storm_on_a_healthy_server_is_retried_then_succeeds(
    tmp_path: Path, fake: FakePlex
) -> None:
    """Transient failures are retried with backoff, each charged, until Plex recovers."""
    config = e2e_config(tmp_path, fake)
    [key] = add_items(fake, 1)
    shell.enqueue(config, key="k", metadata={"path": "/media/m000.mkv", "title": "T"})
    fake.fail_next(500, count=3, path_prefix=LISTING)
    events: list[Event] = []
    report, _ = work(config, on_event=events.append)
    assert report.done == 1
    retries = [e for e in events if isinstance(e, RetryScheduled)]
    assert [(e.error_class, e.charged) for e in retries] == [(ErrorClass.TRANSIENT, True)] * 3
    assert fake.item(key).title == "T"


def test_a_permanent_400_is_dead_lettered_at_once(tmp_path: Path, fake: FakePlex) -> None:
    """Plex refuses the edit: one attempt, then the DLQ with its reason and Plex's words."""
    config = e2e_config(tmp_path, fake)
    add_items(fake, 2)
    shell.enqueue(config, key="warm", metadata={"path": "/media/m000.mkv", "title": "ok"})
    assert work(config)[0].done == 1  # builds the index, so the next request is the edit
    fake.fail_next(400, path_prefix=LISTING)
    shell.enqueue(config, key="bad", metadata={"path": "/media/m001.mkv", "title": "T"})
    report, _ = work(config)
    assert report.dead_lettered == {"permanent_error": 1}
    [row] = Store.open(config.db_path).dead_letters.entries(Filters())
    assert row.attempts == 1
    assert row.last_error.startswith("BadRequest: (400) bad_request")


def test_429_with_retry_after_waits_at_least_that_long_and_costs_nothing(
    tmp_path: Path, fake: FakePlex
) -> None:
    """The next call comes no sooner than Retry-After says, and no attempt is charged."""
    config = e2e_config(tmp_path, fake)
    [key, _] = add_items(fake, 2)
    shell.enqueue(config, key="warm", metadata={"path": "/media/m001.mkv", "title": "W"})
    work(config)
    fake.clear_requests()
    fake.fail_next(429, retry_after="1", path_prefix=LISTING)
    shell.enqueue(config, key="k", metadata={"path": "/media/m000.mkv", "title": "T"})
    events: list[Event] = []
    report, _ = work(config, on_event=events.append)
    assert report.done == 1
    [limited] = [r for r in fake.requests if r.status == 429]
    following = [r for r in fake.requests if r.at > limited.at]
    assert following[0].at - limited.at >= 1.0
    [retry] = [e for e in events if isinstance(e, RetryScheduled)]
    assert (retry.error_class, retry.charged) == (ErrorClass.RATE_LIMITED, False)
    assert fake.item(key).title == "T"


def test_401_pauses_all_work_and_dead_letters_nothing(tmp_path: Path, fake: FakePlex) -> None:
    """While the token is refused the breaker holds everything; afterwards all jobs complete."""
    config = e2e_config(tmp_path, fake)
    add_items(fake, 5)
    for n in range(5):
        shell.enqueue(config, key=f"k{n}", metadata={"path": f"/media/m{n:03d}.mkv", "title": "T"})
    fake.storm(401)
    threading.Timer(1.0, fake.clear_faults).start()
    events: list[Event] = []
    report, plex = work(config, on_event=events.append)
    assert report.done == 5
    assert report.dead_lettered_total == 0
    [opened] = [e for e in events if isinstance(e, BreakerOpened)]
    assert opened.cause.value == "auth"
    assert sum(1 for c in plex.calls if c[1] == "apply" and c[2] == "Failed") == 1


def test_an_unscanned_file_asks_for_one_scan_and_succeeds_after_it(
    tmp_path: Path, fake: FakePlex
) -> None:
    """Not found: one partial scan of the folder, not-found retries, then the edit lands."""
    config = e2e_config(tmp_path, fake)
    fake.scan_delay = 0.6
    key = fake.add_item(1, "/media/new/film.mkv", title="raw", scanned=False)
    shell.enqueue(config, key="k", metadata={"path": "/media/new/film.mkv", "title": "T"})
    events: list[Event] = []
    report, _ = work(config, on_event=events.append)
    assert report.done == 1
    scans = fake.requests_to("/library/sections/1/refresh")
    assert [s.query.get("path") for s in scans] == ["/media/new"]
    retries = [e for e in events if isinstance(e, RetryScheduled)]
    assert retries
    assert {e.error_class for e in retries} == {ErrorClass.NOT_FOUND}
    assert fake.item(key).title == "T"


def test_a_slow_server_is_cut_off_by_the_read_timeout(tmp_path: Path, fake: FakePlex) -> None:
    """No first byte within read_timeout: the call is abandoned at the timeout; Plex answers
    the health check, so the failure is the job's own (transient) and it is retried.
    """
    config = e2e_config(tmp_path, fake)
    [key] = add_items(fake, 1)
    fake.slow_first_byte(3.0, path_prefix=LISTING)
    shell.enqueue(config, key="k", metadata={"path": "/media/m000.mkv", "title": "T"})
    events: list[Event] = []

    def heal_after_first_retry(event: Event) -> None:
        events.append(event)
        if isinstance(event, RetryScheduled):
            fake.clear_faults()

    started = time.time()
    report, _ = work(config, on_event=heal_after_first_retry)
    assert report.done == 1
    [retry] = [e for e in events if isinstance(e, RetryScheduled)]
    assert (retry.error_class, retry.charged) == (ErrorClass.TRANSIENT, True)
    assert retry.at - started < 2.0  # cut off at 0.5 s, not after the server's 3 s
    assert fake.item(key).title == "T"


def test_an_item_rematched_under_a_new_rating_key_is_found_again(
    tmp_path: Path, fake: FakePlex
) -> None:
    """An edit answered 404 because Plex gave the file a new ratingKey rebuilds the index and
    lands on the new item, within the same attempt.
    """
    config = e2e_config(tmp_path, fake)
    [old_key, _] = add_items(fake, 2)
    gateway = PlexServerGateway(config)
    try:
        assert isinstance(gateway.apply(Metadata(path="/media/m001.mkv", title="A")), Succeeded)
        new_key = fake.rematch(old_key)
        outcome = gateway.apply(Metadata(path="/media/m000.mkv", title="B"))
    finally:
        gateway.close()
    assert isinstance(outcome, Succeeded)
    assert fake.item(new_key).title == "B"


def test_requests_per_job(tmp_path: Path, fake: FakePlex) -> None:
    """Once the index exists a job costs one request (the PUT); building the index for a section
    of 5,000 items costs five listing pages, not one page walk per job.
    """
    # Pages of 1,000 items take a while on a loaded machine: this test counts requests, not time.
    config = e2e_config(tmp_path, fake, read_timeout_seconds=30.0, job_lease_seconds=60.0)
    for n in range(5000):
        fake.add_item(1, f"/media/big/{n:05d}.mkv", title=f"raw {n}")
    gateway = PlexServerGateway(config)
    try:
        first = gateway.apply(Metadata(path="/media/big/00000.mkv", title="T"))
        assert type(first).__name__ == "Succeeded"
        cold = gateway.requests_sent
        listing_pages = len(fake.requests_to(LISTING, method="GET"))
        for n in range(1, 11):
            gateway.apply(Metadata(path=f"/media/big/{n:05d}.mkv", title="T", genres=("A",)))
        warm = (gateway.requests_sent - cold) / 10
    finally:
        gateway.close()
    assert listing_pages == 5
    assert cold == 3 + listing_pages + 1  # connect (/, /library, sections), pages, the PUT
    assert warm == 1


def test_only_the_configured_sections_are_searched(tmp_path: Path, fake: FakePlex) -> None:
    """library_sections picks sections by title or key; a name Plex does not have is a
    permanent failure that lists the sections it does have.
    """
    extras = fake.add_section("Extras", locations=["/extras"])
    fake.add_item(extras, "/extras/x.mkv", title="x")
    [key] = add_items(fake, 1)
    chosen = PlexServerGateway(e2e_config(tmp_path, fake, library_sections=("movies", "1")))
    unknown = PlexServerGateway(e2e_config(tmp_path, fake, library_sections=("Films",)))
    try:
        assert isinstance(chosen.apply(Metadata(path="/media/m000.mkv", title="T")), Succeeded)
        outside = chosen.apply(Metadata(path="/extras/x.mkv", title="T"))
        missing = unknown.apply(Metadata(path="/media/m000.mkv", title="T"))
    finally:
        chosen.close()
        unknown.close()
    assert fake.item(key).title == "T"
    assert isinstance(outside, Failed)
    assert outside.error_class is ErrorClass.PERMANENT  # outside the chosen section's folders
    assert isinstance(missing, Failed)
    assert missing.error_class is ErrorClass.MISCONFIGURED  # the settings, not this job
    assert missing.message == (
        "Plex has no library section 'Films' (sections: 'Movies' (movie), 'Extras' (movie));"
        " check library_sections"
    )


class _NotPlex(BaseHTTPRequestHandler):
    """Another service on Plex's port: a router's login page, or a JSON API's 404."""

    status = 200
    body = b"<html><body><form>Router login</form></body></html>"
    content_type = "text/html; charset=utf-8"

    def do_GET(self) -> None:
        self.send_response(self.status)
        self.send_header("Content-Type", self.content_type)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    do_PUT = do_GET  # noqa: N815 - http.server's name

    def log_message(self, fmt: str, *args: object) -> None:
        """Quiet."""


class _NotFoundJson(_NotPlex):
    status = 404
    body = b'{"error": "no such route"}'
    content_type = "application/json"


@pytest.mark.parametrize("handler", [_NotPlex, _NotFoundJson], ids=["login_page", "json_404"])
def test_a_server_that_is_not_plex_holds_all_work_and_dead_letters_nothing(
    tmp_path: Path, handler: type[BaseHTTPRequestHandler], caplog: pytest.LogCaptureFixture
) -> None:
    """Something else answers at plex_url: the whole backlog waits, uncharged, and the log
    and status say that plex_url is not a Plex server; nothing reaches the DLQ.
    """
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        config = make_config(
            plex_url=url,
            db_path=str(tmp_path / "q.db"),
            read_timeout_seconds=1,
            health_timeout_seconds=1,
            breaker_cooldown_seconds=0.2,
            breaker_max_cooldown_seconds=0.4,
            poll_interval=0.05,
        )
        shell.enqueue_many(config, [(f"k{n}", {"path": f"/media/{n}.mkv"}) for n in range(20)])
        with caplog.at_level(logging.INFO, logger="plexsync"):
            report, _ = work(config, seconds=2)
    finally:
        server.shutdown()
        server.server_close()
    assert (report.dead_lettered, report.done, report.held) == ({}, 0, PauseCause.MISCONFIGURED)
    assert report.probes >= 2
    store = Store.open(config.db_path)
    rows = store.jobs.rows()
    assert [(r.state, r.transient_failures, r.not_found_failures) for r in rows] == [
        ("waiting", 0, 0)
    ] * 20
    outage = shell.status(config).outage
    assert outage is not None
    assert "not a Plex server; check plex_url" in outage.detail
    [opened] = [r.getMessage() for r in caplog.records if "holding all work" in r.getMessage()]
    assert opened.startswith(f"Plex at {url} cannot be used as configured: ")
    assert opened.endswith(
        "(health check: not a Plex server; check plex_url); holding all work, first probe in 0s"
    )


def test_a_library_section_that_cannot_work_holds_all_work_until_fixed(
    tmp_path: Path, fake: FakePlex
) -> None:
    """library_sections names a section Plex does not have: every job waits, uncharged, the
    cause names the setting; with the setting fixed, the same jobs go through.
    """
    keys = add_items(fake, 5)
    wrong = e2e_config(tmp_path, fake, library_sections=("Films",))
    shell.enqueue_many(wrong, [(f"k{n}", full_metadata(n)) for n in range(5)])
    report, _ = work(wrong, seconds=1.5)
    assert (report.dead_lettered, report.done, report.held) == ({}, 0, PauseCause.MISCONFIGURED)
    outage = shell.status(wrong).outage
    assert outage is not None
    assert outage.detail.startswith("Plex has no library section 'Films'")
    assert outage.detail.endswith("check library_sections")
    assert {r.transient_failures for r in Store.open(wrong.db_path).jobs.rows()} == {0}
    fixed = e2e_config(tmp_path, fake, library_sections=("Movies",))
    report, _ = work(fixed, seconds=10)
    assert (report.done, report.held) == (5, None)
    assert [fake.item(key).title for key in keys] == [f"Title {n}" for n in range(5)]


def test_a_server_that_never_answers_holds_work_after_one_read_and_one_health_timeout(
    tmp_path: Path,
) -> None:
    """A server that accepts connections and never answers: work is held about one read
    timeout plus one health timeout after the first call, not after three of each.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)  # the kernel completes connections; nobody ever reads them
    try:
        config = make_config(
            plex_url=f"http://127.0.0.1:{listener.getsockname()[1]}",
            db_path=str(tmp_path / "q.db"),
            read_timeout_seconds=1,
            health_timeout_seconds=0.5,
            breaker_cooldown_seconds=5,
            breaker_max_cooldown_seconds=5,
        )
        shell.enqueue_many(config, [(f"k{n}", {"path": f"/media/{n}.mkv"}) for n in range(5)])
        opened: list[float] = []
        started = time.monotonic()

        def note(event: object) -> None:
            if isinstance(event, BreakerOpened):
                opened.append(time.monotonic() - started)

        report, _ = work(config, seconds=4, on_event=note)
    finally:
        listener.close()
    assert report.held is PauseCause.OUTAGE
    assert report.dead_lettered == {}
    assert len(opened) == 1
    assert opened[0] < 1 + 0.5 + 1.0  # one read timeout, one health timeout, and slack


def test_an_edit_that_lands_after_its_timeout_cannot_win_over_a_newer_one(
    tmp_path: Path, fake: FakePlex
) -> None:
    """Plex carries out an edit after the worker gave up on it; meanwhile a newer edit of the
    item went through. The newer one is sent once more when the old one can no longer land,
    so the item ends with the newest edit.
    """
    [key] = add_items(fake, 1)
    config = e2e_config(tmp_path, fake, late_edit_window_seconds=2.0)
    path = "/media/m000.mkv"
    shell.enqueue(config, key="k", metadata={"path": path, "title": "old"})
    fake.apply_late(1.5, method="PUT")
    events: list[Event] = []

    def newer_edit_after_the_timeout(event: Event) -> None:
        events.append(event)
        if isinstance(event, RetryScheduled) and len(events) < 5:
            fake.clear_faults()
            shell.enqueue(config, key="k", metadata={"path": path, "title": "new"})

    report, _ = work(config, seconds=15, on_event=newer_edit_after_the_timeout)
    time.sleep(0.2)  # let nothing in flight land unseen
    assert fake.item(key).title == "new"
    assert report.done == 1
    assert [type(e).__name__ for e in events if not isinstance(e, BreakerClosed)][:3] == [
        "RetryScheduled",
        "ResendScheduled",
        "JobSucceeded",
    ]
    titles = [edit.query.get("title.value") for edit in fake.edits(key)]
    assert titles == ["old", "new", "new"]  # the late one, the newer one, and its re-send


def test_plex_failing_edits_while_answering_its_health_call_holds_work_and_dead_letters_nothing(
    tmp_path: Path, fake: FakePlex
) -> None:
    """Every edit answers 500 while / answers 200 (Plex's database busy): after failed edits
    on five different items the breaker holds all work with a cause of its own, probes with a
    real edit, charges no further attempt, and every job is done once edits work again.
    """
    keys = add_items(fake, 10)
    config = e2e_config(tmp_path, fake, max_retries=2)
    shell.enqueue_many(config, [(f"k{n}", full_metadata(n)) for n in range(10)])
    fake.storm(500, method="PUT")
    report, _ = work(config, seconds=2.5)
    assert (report.dead_lettered, report.held) == ({}, PauseCause.FAILING_EDITS)
    outage = shell.status(config).outage
    assert outage is not None
    assert outage.detail.startswith("Plex is ")
    assert "failing edits: BadRequest: (500)" in outage.detail
    charged = [row.transient_failures for row in Store.open(config.db_path).jobs.rows()]
    assert sum(charged) == config.failing_edits_threshold - 1  # before the storm was recognised
    assert max(charged) == 1
    fake.clear_faults()
    report, _ = work(config, seconds=15)
    assert (report.done, report.dead_lettered, report.held) == (10, {}, None)
    assert [fake.item(key).title for key in keys] == [f"Title {n}" for n in range(10)]
