"""End to end: the real worker, the real plexapi gateway, real HTTP to the fake Plex server, real
SQLite, and real time kept short (timeouts and waits of a fraction of a second).
"""

from __future__ import annotations

import itertools
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
from shell import read_back
from shell.clock import FakeClock
from shell.payload import Metadata
from shell.plex import SCAN_WINDOW_SECONDS, PlexServerGateway
from shell.store import Filters, Store
from tests.builders import TOKEN, make_config
from tests.fake_plex import FakePlex
from tests.stops import DrainedOrLate, HeldOrLate

LISTING = "/library/sections/1/all"


@pytest.fixture
def fake() -> Iterator[FakePlex]:
    with FakePlex(TOKEN) as server:
        server.add_section("Movies", locations=["/media"])
        yield server


def e2e_config(tmp_path: Path, fake: FakePlex, **overrides: Any) -> PlexSyncConfig:
    """Every wait a fraction of a second, so minutes of behaviour take about a second; the
    timeouts are longer (a loaded machine must not pass for a slow Plex) except in the tests
    about timeouts, which set their own.
    """
    fields: dict[str, Any] = {
        "plex_url": fake.url,
        "db_path": str(tmp_path / "queue.db"),
        "connect_timeout_seconds": 2,
        "read_timeout_seconds": 2,
        "health_timeout_seconds": 2,
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


def work(
    config: PlexSyncConfig,
    *,
    seconds: float = 20,
    on_event: Any = None,
    stop: DrainedOrLate | HeldOrLate | None = None,
) -> tuple[shell.WorkerReport, Recording]:
    """The worker on *config* with its own gateway, until *stop* (by default: the queue is
    empty, or *seconds* have passed).
    """
    plex = Recording(PlexServerGateway(config))
    try:
        report = shell.run_worker(
            config,
            plex=plex,
            stop=stop or DrainedOrLate(config.db_path, seconds),
            on_event=on_event,
        )
    finally:
        plex.gateway.close()
    return report, plex


def apply_each(config: PlexSyncConfig, *jobs: Metadata) -> list[Outcome]:
    """Apply *jobs* in order through one real gateway, closed afterwards."""
    gateway = PlexServerGateway(config)
    try:
        return [gateway.apply(job) for job in jobs]
    finally:
        gateway.close()


def add_items(fake: FakePlex, count: int, **fields: Any) -> list[int]:
    """Films /media/m000.mkv, m001, ...; like films in real libraries, every third has a second
    version (under /media/4k) and every third after it a second part (m002.part2.mkv, ...).
    """
    shapes: dict[int, Any] = {
        1: lambda n: {"versions": [[f"/media/4k/m{n:03d}.mkv"]]},
        2: lambda n: {"parts": [f"/media/m{n:03d}.part2.mkv"]},
    }
    return [
        fake.add_item(
            1,
            f"/media/m{n:03d}.mkv",
            title=f"raw {n}",
            **(shapes[n % 3](n) if n % 3 in shapes else {}),
            **fields,
        )
        for n in range(count)
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


def test_plex_listening_again_is_probed_at_once_not_after_the_cooldown(
    tmp_path: Path, fake: FakePlex
) -> None:
    """While work is held for an outage the worker looks (without a request) whether Plex's
    port accepts connections; when it does again, the breaker probes at once: the outage ends
    long before the minute-long cooldown would have let the first probe go.
    """
    config = e2e_config(
        tmp_path,
        fake,
        breaker_cooldown_seconds=60,
        breaker_max_cooldown_seconds=60,
        late_edit_window_seconds=0.5,  # an edit cut off mid-reply is sent again soon
    )
    add_items(fake, 100)
    shell.enqueue_many(
        config,
        [(f"scene:{n}", {"path": f"/media/m{n:03d}.mkv", "title": "T"}) for n in range(100)],
    )
    fake.slow_first_byte(0.02, method="PUT")  # so that the outage finds work in hand
    events: list[Event] = []

    def outage_after_ten_edits() -> None:
        while len(fake.edits()) < 10:
            time.sleep(0.005)
        fake.go_down()
        time.sleep(0.5)
        fake.come_up()

    outage = threading.Thread(target=outage_after_ten_edits)
    outage.start()
    report = shell.run_worker(
        config, stop=DrainedOrLate(config.db_path, 30), on_event=events.append
    )
    outage.join()
    assert (report.done, report.outages, report.dead_lettered_total) == (100, 1, 0)
    [opened] = [e for e in events if isinstance(e, BreakerOpened)]
    [closed] = [e for e in events if isinstance(e, BreakerClosed)]
    assert closed.at < opened.next_probe_at


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
    # The failures that open the breaker, and the calls already in flight beside the last one.
    assert len(job_calls) <= config.breaker_failure_threshold + config.max_in_flight - 1
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
    config = e2e_config(tmp_path, fake, read_timeout_seconds=0.5, health_timeout_seconds=0.5)
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
    """Once the index exists a job costs one request (the PUT); read back, two (the PUT, then the
    item); with a share of jobs read back, one plus that share. Building the index for a section
    of 5,000 items costs five listing pages, not one page walk per job.

    Prints the figures (``pytest -s -k requests_per_job``).
    """
    # Pages of 1,000 items take a while on a loaded machine: this test counts requests, not time.
    config = e2e_config(tmp_path, fake, read_timeout_seconds=30.0, job_lease_seconds=60.0)
    for n in range(5000):
        fake.add_item(1, f"/media/big/{n:05d}.mkv", title=f"raw {n}")
    gateway = PlexServerGateway(config)
    per_job: dict[float, float] = {}
    picked: dict[float, int] = {}
    numbers = iter(range(1, 5000))
    try:
        first = gateway.apply(Metadata(path="/media/big/00000.mkv", title="T"))
        assert type(first).__name__ == "Succeeded"
        cold = gateway.requests_sent
        listing_pages = len(fake.requests_to(LISTING, method="GET"))
        for fraction, count in ((0.0, 10), (0.25, 40), (1.0, 10)):
            # The same gateway and index, read-back set as a new config would set it.
            gateway.config = attrs.evolve(config, read_back_fraction=fraction)
            jobs = [
                Metadata(path=f"/media/big/{n:05d}.mkv", title="T", genres=("A",))
                for n in itertools.islice(numbers, count)
            ]
            before = gateway.requests_sent
            assert [gateway.apply(job) for job in jobs] == [Succeeded()] * count
            per_job[fraction] = (gateway.requests_sent - before) / count
            picked[fraction] = sum(read_back.chosen(job, fraction) for job in jobs)
    finally:
        gateway.close()
    print(
        f"\nrequests: index of 5,000 items {cold} (with the first job);"
        f" per job with read-back off {per_job[0.0]:.2f},"
        f" sampled 0.25 {per_job[0.25]:.2f} ({picked[0.25]} of 40 read back),"
        f" every job {per_job[1.0]:.2f}"
    )
    assert listing_pages == 5
    assert cold == 3 + listing_pages + 1  # connect (/, /library, sections), pages, the PUT
    assert per_job[0.0] == 1
    assert per_job[0.25] == 1 + picked[0.25] / 40
    assert per_job[1.0] == 2


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
    assert outside == Failed(
        ErrorClass.PERMANENT,
        "/extras/x.mkv is in the movie section 'Extras', which library_sections leaves out",
    )
    assert isinstance(missing, Failed)
    assert missing.error_class is ErrorClass.MISCONFIGURED  # the settings, not this job
    assert missing.message == (
        "Plex has no library section 'Films' (sections: 'Movies' (movie), 'Extras' (movie),"
        " 'TV Shows' (show), 'Music' (artist)); check library_sections"
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
    report, _ = work(wrong, stop=HeldOrLate(wrong, PauseCause.MISCONFIGURED))
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
    assert opened[0] < 1 + 0.5 + 2.0  # one read and one health timeout with slack; not 3 + 1.5


def test_an_edit_that_lands_after_its_timeout_cannot_win_over_a_newer_one(
    tmp_path: Path, fake: FakePlex
) -> None:
    """Plex carries out an edit after the worker gave up on it; meanwhile a newer edit of the
    item went through. The newer one is sent once more when the old one can no longer land,
    so the item ends with the newest edit.
    """
    [key] = add_items(fake, 1)
    config = e2e_config(
        tmp_path,
        fake,
        read_timeout_seconds=0.5,
        health_timeout_seconds=0.5,
        late_edit_window_seconds=4.0,  # the old edit lands 1 s after the timeout: slack for load
    )
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
    report, _ = work(config, stop=HeldOrLate(config, PauseCause.FAILING_EDITS, probes=1))
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


def test_a_file_in_a_tv_section_is_named_as_such(tmp_path: Path, fake: FakePlex) -> None:
    """A file in a show or music section's folder fails for that reason, not as a file outside
    every library folder; no scan is asked for; a file in no section's folder still is one.
    """
    episode, song, stray = apply_each(
        e2e_config(tmp_path, fake),
        Metadata(path="/tv/A Show/S01E01.mkv", title="T"),
        Metadata(path="/music/An Artist/01.flac", title="T"),
        Metadata(path="/elsewhere/film.mkv", title="T"),
    )
    [chosen] = apply_each(
        e2e_config(tmp_path, fake, library_sections=("TV Shows",)),
        Metadata(path="/tv/A Show/S01E01.mkv", title="T"),
    )
    assert episode == Failed(
        ErrorClass.PERMANENT,
        "/tv/A Show/S01E01.mkv is in library section 'TV Shows', a TV show section;"
        " plexsync edits movies only",
    )
    assert song == Failed(
        ErrorClass.PERMANENT,
        "/music/An Artist/01.flac is in library section 'Music', a music section;"
        " plexsync edits movies only",
    )
    assert stray == Failed(
        ErrorClass.PERMANENT,
        "/elsewhere/film.mkv is outside every library folder (/media); check path_mappings",
    )
    assert [r for r in fake.requests if r.path.endswith("/refresh")] == []
    assert chosen == Failed(
        ErrorClass.MISCONFIGURED,
        "library section 'TV Shows' is a show section, not a movie one (sections: 'Movies'"
        " (movie), 'TV Shows' (show), 'Music' (artist)); check library_sections",
    )


def test_a_dead_letter_line_names_the_server_and_the_setting_to_fix(
    tmp_path: Path, fake: FakePlex, caplog: pytest.LogCaptureFixture
) -> None:
    """The warning for a job dead-lettered by a local mistake names the Plex server (never the
    token), the reason and what to fix, and does not blame Plex.
    """
    config = e2e_config(tmp_path, fake)
    shell.enqueue(config, key="scene:stray", metadata={"path": "/elsewhere/film.mkv"})
    with caplog.at_level(logging.WARNING, logger="plexsync"):
        report = shell.run_worker(config, until_idle=True)
    assert report.dead_lettered
    [line] = [r.getMessage() for r in caplog.records if "dead-lettered" in r.getMessage()]
    assert line == (
        f"job 1 (scene:stray) dead-lettered (permanent_error, Plex at {fake.url}): "
        "/elsewhere/film.mkv is outside every library folder (/media); check path_mappings"
    )
    assert TOKEN not in caplog.text


def test_every_file_of_every_version_finds_its_film(tmp_path: Path, fake: FakePlex) -> None:
    """A job for a film's second version or second part edits that film, found in the one
    index built from the listing.
    """
    [_, versioned, split] = add_items(fake, 3)
    outcomes = apply_each(
        e2e_config(tmp_path, fake),
        Metadata(path="/media/4k/m001.mkv", title="4k"),
        Metadata(path="/media/m002.part2.mkv", title="split"),
    )
    assert outcomes == [Succeeded(), Succeeded()]
    assert (fake.item(versioned).title, fake.item(split).title) == ("4k", "split")
    assert len(fake.requests_to(LISTING, method="GET")) == 1
    assert fake.requests_to("/library/metadata") == []


def test_items_listed_without_media_are_read_a_hundred_a_request(
    tmp_path: Path, fake: FakePlex
) -> None:
    """Items a listing shows without <Media> are read in full to find their files, 100 a
    request, not one request each (as plexapi's own items would fetch themselves).
    """
    add_items(fake, 250)
    fake.listing_media = False
    config = e2e_config(tmp_path, fake)
    outcomes = apply_each(
        config,
        Metadata(path="/media/m249.mkv", title="T"),
        Metadata(path="/media/4k/m001.mkv", title="T"),
    )
    assert outcomes == [Succeeded(), Succeeded()]
    assert [len(r.rating_keys) for r in fake.requests_to("/library/metadata")] == [100, 100, 50]
    fake.fail_next(404, count=3, path_prefix="/library/metadata")  # all gone since the listing
    [gone] = apply_each(config, Metadata(path="/media/m000.mkv", title="T"))
    assert isinstance(gone, Failed)
    assert gone.error_class is ErrorClass.NOT_FOUND


def test_an_edit_answered_with_an_empty_html_200_succeeds_at_once(
    tmp_path: Path, fake: FakePlex
) -> None:
    """Plex answers an edit with an empty 200 labelled HTML: that is success, with one PUT,
    no health call and no retry.
    """
    config = e2e_config(tmp_path, fake)
    [key] = add_items(fake, 1)
    shell.enqueue(config, key="k", metadata={"path": "/media/m000.mkv", "title": "T"})
    report, plex = work(config)
    assert (report.done, report.retried) == (1, 0)
    [put] = fake.requests_to(LISTING, method="PUT")
    assert (put.status, put.fault) == (200, None)
    assert [call[1:] for call in plex.calls] == [("apply", "Succeeded")]
    assert fake.item(key).title == "T"


def test_an_edit_answered_with_a_web_page_is_retried(tmp_path: Path, fake: FakePlex) -> None:
    """A page with content answering an edit (a proxy's sign-in page) is not Plex's answer: the
    edit did not land; Plex answers its health call, so the job is retried, charged.
    """
    config = e2e_config(tmp_path, fake)
    [key] = add_items(fake, 1)
    shell.enqueue(config, key="k", metadata={"path": "/media/m000.mkv", "title": "T"})
    fake.html_body(path_prefix=LISTING, method="PUT")
    events: list[Event] = []

    def heal_after_first_retry(event: Event) -> None:
        events.append(event)
        if isinstance(event, RetryScheduled):
            fake.clear_faults()

    report, _ = work(config, on_event=heal_after_first_retry)
    assert report.done == 1
    retries = [(e.error_class, e.charged) for e in events if isinstance(e, RetryScheduled)]
    assert retries == [(ErrorClass.TRANSIENT, True)]
    assert fake.item(key).title == "T"


def test_cron_runs_ask_for_one_scan_per_folder(tmp_path: Path, fake: FakePlex) -> None:
    """`plexsync run --until-idle`, run again and again (as from cron) while Plex scans, asks
    Plex to scan the new file's folder once, not once per run.
    """
    config = e2e_config(tmp_path, fake)
    fake.scan_delay = 60.0
    fake.add_item(1, "/media/new/film.mkv", scanned=False)
    shell.enqueue(config, key="k", metadata={"path": "/media/new/film.mkv", "title": "T"})
    events: list[Event] = []
    for _ in range(3):
        shell.run_worker(config, until_idle=True, on_event=events.append)
        time.sleep(config.not_found_wait_max_seconds * (1 + config.jitter_fraction) + 0.05)
    retries = [e.error_class for e in events if isinstance(e, RetryScheduled)]
    assert retries == [ErrorClass.NOT_FOUND] * 3
    assert [s.query for s in fake.requests_to("/library/sections/1/refresh")] == [
        {"path": "/media/new"}
    ]


def test_the_scans_asked_for_are_kept_in_the_queue_database(tmp_path: Path, fake: FakePlex) -> None:
    """Each gateway on the same queue knows the scans any of them asked for: a folder is
    scanned again only after SCAN_WINDOW_SECONDS; a scan request Plex refused does not count.
    """
    config = e2e_config(tmp_path, fake)
    clock = FakeClock()
    fake.scan_delay = 3 * SCAN_WINDOW_SECONDS
    fake.add_item(1, "/media/new/film.mkv", scanned=False)

    def attempt() -> Outcome:
        gateway = PlexServerGateway(config, clock=clock)
        try:
            return gateway.apply(Metadata(path="/media/new/film.mkv", title="T"))
        finally:
            gateway.close()

    fake.fail_next(500, path_prefix="/library/sections/1/refresh")
    refused = attempt()
    asked = attempt()
    clock.advance(SCAN_WINDOW_SECONDS - 1)
    waiting = attempt()
    clock.advance(1)
    again = attempt()
    assert isinstance(refused, Failed)
    assert refused.error_class is ErrorClass.TRANSIENT
    assert [asked, waiting, again] == [
        Failed(
            ErrorClass.NOT_FOUND,
            "no Plex item for /media/new/film.mkv; asked Plex to scan /media/new",
        ),
        Failed(ErrorClass.NOT_FOUND, "no Plex item for /media/new/film.mkv yet"),
        Failed(
            ErrorClass.NOT_FOUND,
            "no Plex item for /media/new/film.mkv; asked Plex to scan /media/new",
        ),
    ]
    scans = fake.requests_to("/library/sections/1/refresh")
    assert [s.status for s in scans] == [500, 200, 200]


def test_read_back_catches_an_edit_plex_answered_but_did_not_keep(
    tmp_path: Path, fake: FakePlex
) -> None:
    """With read-back on, an edit Plex answers as done but does not apply is a transient
    failure naming what differs, and doing it again lands it; with read-back off it passes.
    """
    [key] = add_items(fake, 1, genres=["Old"])
    job = Metadata(path="/media/m000.mkv", title="T", genres=("Noir",))
    trusting = PlexServerGateway(e2e_config(tmp_path, fake))
    checking = PlexServerGateway(e2e_config(tmp_path, fake, read_back_fraction=1.0))
    try:
        fake.keep_old_values(count=1)
        unseen = trusting.apply(job)
        fake.keep_old_values(count=1)
        caught = checking.apply(job)
        landed = checking.apply(job)
    finally:
        trusting.close()
        checking.close()
    assert unseen == Succeeded()  # the bug class the read-back is for
    assert caught == Failed(
        ErrorClass.TRANSIENT,
        f"{read_back.MISMATCH}: title is 'raw 0', not 'T'; title not locked;"
        " genres lack 'Noir'; genres still have 'Old'; genres not locked",
    )
    assert landed == Succeeded()
    assert (fake.item(key).title, fake.item(key).tags["genres"]) == ("T", ["Noir"])


def test_an_edit_plex_never_keeps_ends_in_the_dlq_saying_so(tmp_path: Path, fake: FakePlex) -> None:
    """An item that never reads back as sent is retried max_retries times, then dead-lettered
    with the differences as its last error.
    """
    config = e2e_config(tmp_path, fake, read_back_fraction=1.0)
    add_items(fake, 1)
    fake.keep_old_values()
    shell.enqueue(config, key="k", metadata={"path": "/media/m000.mkv", "summary": "S"})
    report, _ = work(config)
    assert report.dead_lettered == {"retries_exhausted": 1}
    [row] = Store.open(config.db_path).dead_letters.entries(Filters())
    assert row.attempts == config.max_retries + 1
    assert row.last_error == (
        f"{read_back.MISMATCH}: summary is empty, not 'S'; summary not locked"
    )


def test_a_share_of_jobs_is_read_back_the_same_each_time(tmp_path: Path, fake: FakePlex) -> None:
    """read_back_fraction=0.5 reads back the jobs its hash picks, about half, and picks the same
    jobs when they come again.
    """
    add_items(fake, 40)
    jobs = [Metadata(path=f"/media/m{n:03d}.mkv", title=f"T{n}") for n in range(40)]
    config = e2e_config(tmp_path, fake, read_back_fraction=0.5)
    assert apply_each(config, *jobs, *jobs) == [Succeeded()] * 80
    picked = [job for job in jobs if read_back.chosen(job, 0.5)]
    assert 10 < len(picked) < 30
    reads = [r.rating_keys for r in fake.requests_to("/library/metadata")]
    expected = [(fake.item_by_path(job.path) or pytest.fail(job.path)).rating_key for job in picked]
    assert reads == [(key,) for key in expected] * 2
