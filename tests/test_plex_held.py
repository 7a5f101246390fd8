"""The gateway reads back what Plex holds (`PlexServerGateway.held`): real plexapi, real HTTP to
the fake Plex, the queue's real database for the images plexsync uploaded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from core import ErrorClass, Failed, Succeeded
from shell.held import Held, differences
from shell.payload import Metadata
from shell.plex import PlexServerGateway
from tests.builders import TOKEN
from tests.fake_plex import FakePlex
from tests.test_plex_e2e import e2e_config

JPEG = b"\xff\xd8\xff\xe0" + b"poster" * 30 + b"\xff\xd9"


@pytest.fixture
def fake() -> Iterator[FakePlex]:
    with FakePlex(TOKEN) as server:
        server.add_section("Movies", locations=["/media"])
        yield server


def test_what_a_job_set_reads_back_as_no_difference_until_someone_edits_plex(
    tmp_path: Path, fake: FakePlex
) -> None:
    """After a job is applied, what Plex holds for its path shows no difference from the job
    (values, tags, locks, the poster's bytes); an edit made in Plex afterwards shows as one.
    """
    config = e2e_config(tmp_path, fake)
    key = fake.add_item(1, "/media/a.mkv", title="raw", genres=["Old"])
    poster = tmp_path / "poster.jpg"
    poster.write_bytes(JPEG)
    job = Metadata(
        "/media/a.mkv",
        title="A",
        summary="One.\nTwo.",
        user_rating=7.5,
        genres=("Drama",),
        performers=(),
        poster=str(poster),
    )
    digests = {"poster": hashlib.sha256(JPEG).hexdigest()}
    gateway = PlexServerGateway(config)
    try:
        assert gateway.apply(job) == Succeeded()
        found = gateway.held(["/media/a.mkv"])
        assert isinstance(found, dict)
        held = found["/media/a.mkv"]
        assert isinstance(held, Held)
        assert held.rating_key == key
        assert differences(job, held, digests) == []

        requests.put(  # someone edits the title in Plex and unlocks it
            f"{fake.url}/library/sections/1/all",
            params={"type": 1, "id": key, "title.value": "Mine", "title.locked": 0},
            headers={"X-Plex-Token": TOKEN},
            timeout=5,
        ).raise_for_status()
        again = gateway.held(["/media/a.mkv"])
    finally:
        gateway.close()
    assert isinstance(again, dict)
    assert differences(job, again["/media/a.mkv"], digests) == [  # type: ignore[arg-type]
        "title is 'Mine', not 'A'",
        "title not locked",
    ]


def test_paths_without_an_item_say_why_and_nothing_is_scanned(
    tmp_path: Path, fake: FakePlex
) -> None:
    """A file Plex does not have is not-found, one outside every library folder permanent;
    reading never asks Plex to scan, and items are read a hundred a request.
    """
    for n in range(150):
        fake.add_item(1, f"/media/m{n:03d}.mkv")
    paths = [f"/media/m{n:03d}.mkv" for n in range(150)]
    gateway = PlexServerGateway(e2e_config(tmp_path, fake))
    try:
        fake.clear_requests()
        found = gateway.held([*paths, "/media/new.mkv", "/elsewhere/x.mkv"])
    finally:
        gateway.close()

    assert isinstance(found, dict)
    assert all(isinstance(found[path], Held) for path in paths)
    assert found["/media/new.mkv"] == Failed(
        ErrorClass.NOT_FOUND, "no Plex item for /media/new.mkv yet"
    )
    outside = found["/elsewhere/x.mkv"]
    assert isinstance(outside, Failed)
    assert outside.error_class is ErrorClass.PERMANENT
    assert "outside every library folder" in outside.message
    assert fake.requests_to("/library/sections/1/refresh") == []
    full_reads = [r for r in fake.requests_to("/library/metadata/") if r.method == "GET"]
    assert len(full_reads) == 2


def test_a_plex_that_cannot_be_read_is_one_failure(tmp_path: Path, fake: FakePlex) -> None:
    """With Plex down, or refusing the token, reading gives that one failure, not one a path."""
    config = e2e_config(tmp_path, fake)
    fake.add_item(1, "/media/a.mkv")
    fake.go_down()
    gateway = PlexServerGateway(config)
    try:
        down = gateway.held(["/media/a.mkv", "/media/b.mkv"])
    finally:
        gateway.close()
    fake.come_up()
    refused = PlexServerGateway(e2e_config(tmp_path, fake, plex_token="wrong"))
    try:
        unauthorized = refused.held(["/media/a.mkv"])
    finally:
        refused.close()

    assert isinstance(down, Failed)
    assert down.error_class is ErrorClass.OUTAGE
    assert isinstance(unauthorized, Failed)
    assert unauthorized.error_class is ErrorClass.AUTH
