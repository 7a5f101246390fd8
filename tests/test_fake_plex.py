"""The fake Plex server, exercised by the real plexapi client over real HTTP: no mocks.

These tests also pin down what plexapi 4.18 raises for each fault, which the error
classification in the shell is written against.
"""

from __future__ import annotations

import io
import socket
import threading
import time
from typing import TYPE_CHECKING
from xml.etree.ElementTree import ParseError

import attrs
import pytest
import requests
from plexapi.exceptions import BadRequest, NotFound, Unauthorized
from plexapi.server import PlexServer

from shell.fields import FIELDS, Field, Kind
from tests.builders import TOKEN
from tests.fake_plex import MUSIC_SECTION, TV_SECTION, FakePlex

if TYPE_CHECKING:
    from collections.abc import Iterator

    from plexapi.library import MovieSection
    from plexapi.video import Movie

FOLDER = "/media/movies"
GENRES = ["Drama", "Crime", "Noir", "Mystery"]
COLLECTIONS = ["Classics", "Favourites"]
LABELS = ["watched", "4k"]
PERFORMERS = ["Ann", "Bob", "Cid", "Dee", "Eve"]


@pytest.fixture
def fake() -> Iterator[FakePlex]:
    """A running fake with one movie section over FOLDER."""
    with FakePlex(TOKEN) as server:
        server.add_section("Movies", locations=(FOLDER,))
        yield server


@pytest.fixture
def session() -> Iterator[requests.Session]:
    """A requests session closed after the test, so no pooled socket outlives it."""
    with requests.Session() as opened:
        yield opened


def connect(fake: FakePlex, session: requests.Session, timeout: float = 5) -> PlexServer:
    return PlexServer(fake.url, TOKEN, session=session, timeout=timeout)


def add_movies(fake: FakePlex, count: int) -> list[int]:
    return [
        fake.add_item(
            1,
            f"{FOLDER}/movie{n}.mkv",
            title=f"Movie {n}",
            summary=f"Summary {n}",
            studio="Studio",
            tagline="Tagline",
            originally_available_at="1999-12-31",
            genres=GENRES,
            collections=COLLECTIONS,
            labels=LABELS,
            performers=PERFORMERS,
        )
        for n in range(count)
    ]


def movies(plex: PlexServer) -> MovieSection:
    section: MovieSection = plex.library.sectionByID(1)
    return section


def tag_names(tags: list[object]) -> list[str]:
    return [getattr(tag, "tag", None) or "" for tag in tags]


# ---------------------------------------------------------------------- the library


def test_plexserver_connects_and_identity_needs_no_token(
    fake: FakePlex, session: requests.Session
) -> None:
    """PlexServer reads GET /; /identity answers without a token, / does not."""
    plex = connect(fake, session)
    assert (plex.friendlyName, plex.machineIdentifier) == ("Fake Plex", "fakeplex-0001")
    assert plex.version == "1.40.0.0000"
    assert session.get(f"{fake.url}/identity", timeout=5).status_code == 200
    assert session.get(f"{fake.url}/", timeout=5).status_code == 401


def test_sections_of_every_kind_list_their_locations(
    fake: FakePlex, session: requests.Session
) -> None:
    """Beside the movie sections a test adds, a show and a music section are there from the
    start, each with its folders and agent; plexapi makes each kind its own class.
    """
    fake.add_section("More", locations=("/a", "/b"))
    sections = connect(fake, session).library.sections()
    assert [(s.key, s.title, s.type, s.locations) for s in sections] == [
        (1, "Movies", "movie", [FOLDER]),
        (2, "More", "movie", ["/a", "/b"]),
        (TV_SECTION, "TV Shows", "show", ["/tv"]),
        (MUSIC_SECTION, "Music", "artist", ["/music"]),
    ]
    assert [type(s).__name__ for s in sections] == [
        "MovieSection",
        "MovieSection",
        "ShowSection",
        "MusicSection",
    ]
    assert [s.agent for s in sections] == [
        "com.plexapp.agents.imdb",
        "com.plexapp.agents.imdb",
        "com.plexapp.agents.thetvdb",
        "tv.plex.agents.music",
    ]
    assert fake.add_section("Third") == 3  # the lowest free key


def test_shows_and_artists_are_listed_without_media(
    fake: FakePlex, session: requests.Session
) -> None:
    """A show or music section lists its entries as directories, with no <Media> of their own;
    asking a section for a type it does not hold finds nothing.
    """
    plex = connect(fake, session)
    [show] = plex.library.sectionByID(TV_SECTION).all()
    [artist] = plex.library.sectionByID(MUSIC_SECTION).all()
    assert (type(show).__name__, show.title, show._data.findall("Media")) == ("Show", "A Show", [])
    assert (type(artist).__name__, artist.title) == ("Artist", "An Artist")
    assert plex.library.sectionByID(TV_SECTION).search(libtype="episode") == []
    assert movies(plex).search(libtype="show") == []


def test_listing_pages_by_container_headers_and_shows_partial_tags(
    fake: FakePlex, session: requests.Session
) -> None:
    """A search pages with the container headers and shows few tags, like real Plex."""
    keys = add_movies(fake, 5)
    section = movies(connect(fake, session))
    fake.clear_requests()

    found = section.search(libtype="movie", container_size=2)

    assert [movie.ratingKey for movie in found] == keys
    listings = fake.requests_to("/library/sections/1/all", "GET")
    assert [
        (r.headers["X-Plex-Container-Start"], r.headers["X-Plex-Container-Size"]) for r in listings
    ] == [("0", "2"), ("2", "2"), ("4", "2")]
    first = found[0]
    assert tag_names(first.genres) == GENRES[:2]
    assert tag_names(first.collections) == COLLECTIONS[:1]
    assert tag_names(first.roles) == PERFORMERS[:3]
    # Reading `first.labels` would make plexapi reload the empty list: look at the raw XML.
    assert first._data.findall("Label") == []
    assert first.librarySectionID == 1
    assert (first.summary, first.studio) == ("Summary 0", "Studio")  # values, like real listings
    assert fake.requests_to("/library/metadata") == []
    # totalViewSize sends the container values as query parameters and reads totalSize.
    assert section.totalViewSize(libtype="movie") == 5


def test_versions_and_parts_are_media_and_parts(fake: FakePlex, session: requests.Session) -> None:
    """Each version of a film is a <Media>, each of its files a <Part>: a listing shows them
    all, so plexapi reads every file of every item without fetching any item again.
    """
    split = fake.add_item(
        1, f"{FOLDER}/split - cd1.avi", parts=[f"{FOLDER}/split - cd2.avi"], genres=["Drama"]
    )
    two = fake.add_item(1, f"{FOLDER}/two.mkv", versions=[[f"{FOLDER}/4k/two.mkv"]])
    plex = connect(fake, session)
    fake.clear_requests()
    found = {movie.ratingKey: movie for movie in movies(plex).search(libtype="movie")}
    assert [len(media.parts) for media in found[split].media] == [2]
    assert [media.videoResolution for media in found[two].media] == ["1080", "4k"]
    assert found[split].locations == [f"{FOLDER}/split - cd1.avi", f"{FOLDER}/split - cd2.avi"]
    assert found[two].locations == [f"{FOLDER}/two.mkv", f"{FOLDER}/4k/two.mkv"]
    assert (found[split].genres[0].tag, found[split].genres[0].filter) == ("Drama", "genre=1")
    assert fake.requests_to("/library/metadata") == []
    full = plex.fetchItem(two)
    assert [s.streamType for s in full.media[1].parts[0].streams] == [1, 2]
    assert fake.item_by_path(f"{FOLDER}/split - cd2.avi") == fake.item(split)
    with pytest.raises(ValueError, match="already has"):
        fake.add_item(1, f"{FOLDER}/other.mkv", versions=[[f"{FOLDER}/two.mkv"]])


def test_a_listing_without_media_makes_plexapi_fetch_each_item_again(
    fake: FakePlex, session: requests.Session
) -> None:
    """Reading the files of a listed item without <Media> (a hand-trimmed capture's shape)
    makes plexapi reload that item: one more request per item.
    """
    keys = add_movies(fake, 3)
    fake.listing_media = False
    found = movies(connect(fake, session)).search(libtype="movie")
    assert [movie._data.findall("Media") for movie in found] == [[], [], []]
    assert [movie.locations for movie in found] == [[f"{FOLDER}/movie{n}.mkv"] for n in range(3)]
    assert [r.path for r in fake.requests_to("/library/metadata")] == [
        f"/library/metadata/{key}" for key in keys
    ]


def test_edits_and_scans_are_answered_with_an_empty_200_that_is_not_xml(
    fake: FakePlex, session: requests.Session
) -> None:
    """What changes something gets 200 with no body, labelled HTML as Plex labels it; plexapi
    returns None for it.
    """
    (key,) = add_movies(fake, 1)
    token = {"X-Plex-Token": TOKEN}
    edit = session.put(
        f"{fake.url}/library/sections/1/all?type=1&id={key}&title.value=T", headers=token, timeout=5
    )
    scan = session.get(f"{fake.url}/library/sections/1/refresh", headers=token, timeout=5)
    for answer in (edit, scan):
        assert (answer.status_code, answer.content) == (200, b"")
        assert answer.headers["Content-Type"].startswith("text/html")
    assert connect(fake, session).query("/library/sections/1/refresh") is None
    assert fake.item(key).title == "T"


def test_fetch_item_has_every_field_tag_and_lock(fake: FakePlex, session: requests.Session) -> None:
    """/library/metadata/<rk> carries all fields, all tags and the locked fields."""
    (key,) = add_movies(fake, 1)
    plex = connect(fake, session)
    movies(plex).multiEdit([plex.fetchItem(key)], **{"summary.locked": 1, "label.locked": 1})

    movie: Movie = plex.fetchItem(key)

    assert (movie.title, movie.summary, movie.studio, movie.tagline) == (
        "Movie 0",
        "Summary 0",
        "Studio",
        "Tagline",
    )
    assert movie.originallyAvailableAt.date().isoformat() == "1999-12-31"
    assert tag_names(movie.genres) == GENRES
    assert tag_names(movie.collections) == COLLECTIONS
    assert tag_names(movie.labels) == LABELS
    assert tag_names(movie.roles) == PERFORMERS
    assert {(f.name, f.locked) for f in movie.fields} == {("summary", True), ("label", True)}
    assert movie.media[0].parts[0].file == f"{FOLDER}/movie0.mkv"


def test_an_empty_attribute_of_a_fetched_item_costs_a_reload(
    fake: FakePlex, session: requests.Session
) -> None:
    """A fetchItem() result is partial to plexapi: reading an empty list GETs it again."""
    (key,) = add_movies(fake, 1)
    movie = connect(fake, session).fetchItem(key)
    assert movie.fields == []  # nothing locked: the empty list triggers the reload
    reads = fake.requests_to(f"/library/metadata/{key}")
    assert [sorted(r.query) for r in reads] == [
        [],
        [
            "includeBandwidths",
            "includeChapters",
            "includeFields",
            "includeGeolocation",
            "includeLoudnessRamps",
            "includeMarkers",
        ],
    ]


def test_multi_edit_sets_fields_and_tag_lists_exactly(
    fake: FakePlex, session: requests.Session
) -> None:
    """An indexed tag list replaces the list, `-=` removes tags, `.locked` locks the field."""
    (key,) = add_movies(fake, 1)
    section = movies(connect(fake, session))
    (movie,) = section.all()

    section.multiEdit(
        [movie],
        **{
            "title.value": "T",
            "title.locked": 1,
            "genre[0].tag.tag": "A",
            "genre[1].tag.tag": "B",
            "genre.locked": 1,
        },
    )
    item = fake.item(key)
    assert (item.title, item.tags["genres"], item.locked) == ("T", ["A", "B"], {"title", "genres"})
    assert (item.values["summary"], item.tags["performers"]) == (
        "Summary 0",
        PERFORMERS,
    )  # the rest

    section.multiEdit([movie], **{"genre[0].tag.tag": "C"})
    assert fake.item(key).tags["genres"] == ["C"]

    section.multiEdit([movie], **{"genre[].tag.tag-": "C", "genre.locked": 0})
    item = fake.item(key)
    assert (item.tags["genres"], item.locked) == ([], {"title"})
    assert [r.rating_keys for r in fake.edits(key)] == [(key,), (key,), (key,)]


def test_item_edit_mixins_reach_the_fake(fake: FakePlex, session: requests.Session) -> None:
    """The plexapi edit helpers (one PUT each) change the stored item; commas survive."""
    (key,) = add_movies(fake, 1)
    movie = connect(fake, session).fetchItem(key)

    movie.editSummary("New summary").editOriginallyAvailable("2001-02-03")
    movie.removeLabel(["watched"]).addCollection(["A, B"])
    assert fake.item(key).tags["collections"] == [*COLLECTIONS, "A, B"]
    movie.removeCollection(["A, B", "Classics"])

    item = fake.item(key)
    assert (item.values["summary"], item.values["originally_available_at"]) == (
        "New summary",
        "2001-02-03",
    )
    assert item.tags["labels"] == ["4k"]
    assert item.tags["collections"] == ["Favourites"]
    assert {"summary", "originally_available_at", "labels", "collections"} <= item.locked


def test_a_new_row_in_the_fields_table_is_all_the_fake_needs(session: requests.Session) -> None:
    """With one more text row and one more tag row the fake stores, edits, locks and renders
    both, through the plexapi helpers written for them.
    """
    rating = Field(
        key="content_rating", kind=Kind.TEXT, plex="contentRating", flag="--rating", help="r"
    )
    countries = Field(
        key="countries", kind=Kind.TAGS, plex="country", element="Country", flag="--c", help="c"
    )
    with FakePlex(TOKEN, fields=(*FIELDS, rating, countries)) as fake:
        fake.add_section("Movies", locations=(FOLDER,))
        key = fake.add_item(1, f"{FOLDER}/film.mkv", content_rating="PG", countries=["FR"])
        plex = connect(fake, session)
        movie = plex.fetchItem(key)
        assert (movie.contentRating, tag_names(movie.countries)) == ("PG", ["FR"])

        movie.editContentRating("R").addCountry(["DE"])

        item = fake.item(key)
        assert (item.values["content_rating"], item.tags["countries"]) == ("R", ["FR", "DE"])
        assert item.locked == {"content_rating", "countries"}
        movie = plex.fetchItem(key)
        assert (movie.contentRating, tag_names(movie.countries)) == ("R", ["FR", "DE"])
        assert {(f.name, f.locked) for f in movie.fields} == {
            ("contentRating", True),
            ("country", True),
        }


def test_a_field_the_table_lacks_is_ignored(fake: FakePlex, session: requests.Session) -> None:
    """Without its row, add_item refuses the field and an edit of it changes nothing, as Plex
    ignores parameters it does not know.
    """
    with pytest.raises(TypeError, match="content_rating"):
        fake.add_item(1, f"{FOLDER}/film.mkv", content_rating="PG")
    (key,) = add_movies(fake, 1)
    before = fake.item(key)
    movie = connect(fake, session).fetchItem(key)

    movie.editContentRating("R").addCountry(["DE"])

    assert attrs.evolve(fake.item(key), updated_at=before.updated_at) == before
    assert movie.reload().contentRating is None


def test_add_item_checks_each_field_by_its_kind(fake: FakePlex) -> None:
    """A text field takes a string, a tag field a list of names, a date YYYY-MM-DD."""
    path = f"{FOLDER}/film.mkv"
    for bad in ({"summary": ["S"]}, {"genres": "Drama"}, {"labels": None}):
        with pytest.raises(TypeError, match=next(iter(bad))):
            fake.add_item(1, path, **bad)
    with pytest.raises(ValueError, match="originally_available_at"):
        fake.add_item(1, path, originally_available_at="2001-02-30")
    key = fake.add_item(1, path, summary=None, genres=("Drama",))
    item = fake.item(key)
    assert (item.title, item.values["summary"], item.tags["genres"]) == ("film", None, ["Drama"])


def test_rate_and_image_uploads_reach_the_fake_as_plexapi_sends_them(
    fake: FakePlex, session: requests.Session
) -> None:
    """rate() is PUT /:/rate (rating -1 clears it); uploadPoster/uploadArt POST the file's bytes;
    lockPoster/lockArt lock them; the item then shows its rating and image URLs.
    """
    (key,) = add_movies(fake, 1)
    plex = connect(fake, session)
    movie = plex.fetchItem(key)

    movie.rate(7.5)
    movie.uploadPoster(filepath=io.BytesIO(b"poster bytes"))
    movie.uploadArt(filepath=io.BytesIO(b"art bytes"))
    movie.lockPoster().lockArt()

    item = fake.item(key)
    assert (item.values["user_rating"], item.images) == (
        "7.5",
        {"poster": b"poster bytes", "art": b"art bytes"},
    )
    assert {"poster", "art"} <= item.locked
    assert [(r.method, r.path, r.rating_keys) for r in fake.requests_to("/:/rate")] == [
        ("PUT", "/:/rate", (key,))
    ]
    assert [r.path for r in fake.requests_to(f"/library/metadata/{key}/", "POST")] == [
        f"/library/metadata/{key}/posters",
        f"/library/metadata/{key}/arts",
    ]
    reloaded = plex.fetchItem(key)
    assert reloaded.userRating == 7.5
    assert reloaded.thumb.startswith(f"/library/metadata/{key}/thumb/")
    assert reloaded.art.startswith(f"/library/metadata/{key}/art/")
    reloaded.rate()  # no rating: clears it
    assert fake.item(key).values["user_rating"] is None
    with pytest.raises(BadRequest, match=r"^\(400\)"):
        plex.query(
            f"/:/rate?key={key}&identifier=com.plexapp.plugins.library&rating=11",
            method=session.put,
        )
    with pytest.raises(BadRequest, match=r"^\(400\)"):
        plex.query(f"/library/metadata/{key}/posters", method=session.post, data=b"")


def test_bad_edits_are_rejected_whole(fake: FakePlex, session: requests.Session) -> None:
    """Unknown or foreign ids give 404; a missing id, wrong type or bad date gives 400."""
    (key,) = add_movies(fake, 1)
    fake.add_section("Other")
    other = fake.add_item(2, "/media/other.mkv")
    plex = connect(fake, session)

    def put(query: str) -> None:
        plex.query(f"/library/sections/1/all?{query}", method=session.put)

    with pytest.raises(NotFound):
        put(f"type=1&id={key},9999&title.value=X")
    with pytest.raises(NotFound):
        put(f"type=1&id={other}&title.value=X")
    for query in (
        "type=1&title.value=X",
        f"type=2&id={key}",
        f"type=1&id={key}&title.value=X&originallyAvailableAt.value=soon",
    ):
        with pytest.raises(BadRequest, match=r"^\(400\)"):
            put(query)
    assert fake.item(key).title == "Movie 0"
    with pytest.raises(NotFound):
        plex.query("/library/sections/7/all?type=1&id=1000", method=session.put)


def test_unscanned_file_appears_after_a_partial_scan_and_the_delay(
    fake: FakePlex, session: requests.Session
) -> None:
    """A file only shows up once a scan reaching it was requested and scan_delay has passed."""
    fake.scan_delay = 2.0  # the checks while it runs take well under that, even on a busy machine
    new = fake.add_item(1, f"{FOLDER}/new/film.mkv", scanned=False)
    elsewhere = fake.add_item(1, f"{FOLDER}/old/film.mkv", scanned=False)
    plex = connect(fake, session)
    section = movies(plex)
    assert section.all() == []
    with pytest.raises(NotFound):
        plex.fetchItem(new)

    section.update(path=f"{FOLDER}/new")
    requested = time.monotonic()
    assert section.reload().refreshing
    assert [activity.type for activity in plex.activities] == ["library.update.section"]
    assert section.all() == []  # the scan is still running
    time.sleep(max(0.0, requested + fake.scan_delay - time.monotonic()))

    assert [movie.ratingKey for movie in section.all()] == [new]
    assert plex.fetchItem(new).title == "film"  # no title yet: Plex names it after the file
    assert not section.reload().refreshing
    assert fake.requests_to("/library/sections/1/refresh")[0].query == {"path": f"{FOLDER}/new"}

    fake.scan_delay = 0.0
    section.update()  # a full scan reaches every folder
    assert fake.item(elsewhere).scanned
    assert len(section.all()) == 2


def test_unknown_paths_sections_and_items_are_not_found(
    fake: FakePlex, session: requests.Session
) -> None:
    """Anything the fake does not serve, and any unknown section or item, is a 404."""
    plex = connect(fake, session)
    for key in ("/nope", "/library/sections/9/all", "/library/sections/9/refresh"):
        with pytest.raises(NotFound):
            plex.query(key)
    with pytest.raises(NotFound):
        plex.fetchItem(4242)


# ---------------------------------------------------------------------- faults


def test_wrong_token_is_unauthorized(fake: FakePlex, session: requests.Session) -> None:
    """A wrong token gets 401, which plexapi raises as Unauthorized."""
    with pytest.raises(Unauthorized, match=r"^\(401\)"):
        PlexServer(fake.url, "not-the-token", session=session, timeout=5)


def test_going_down_refuses_connections_and_coming_up_keeps_the_port(
    fake: FakePlex, session: requests.Session
) -> None:
    """While down, even pooled connections fail with ConnectionError; up again on the same URL."""
    plex = connect(fake, session)
    url = fake.url
    fake.go_down()
    fake.clear_requests()
    with pytest.raises(requests.exceptions.ConnectionError):
        plex.library.sections()
    assert fake.requests == []  # refused connections never reach the fake

    fake.come_up()
    assert fake.url == url
    assert [s.title for s in plex.library.sections()] == ["Movies", "TV Shows", "Music"]


def test_while_down_the_port_stays_the_fakes() -> None:
    """Down, the fake keeps its port bound without listening: connections are refused, and no
    other socket (a client's outgoing one, given the same port by the OS) takes it before the
    fake comes up again on it.
    """
    with FakePlex(TOKEN) as fake:
        fake.go_down()
        with socket.socket() as other, pytest.raises(OSError, match="Address already in use"):
            other.bind(("127.0.0.1", fake.port))
        with socket.socket() as client, pytest.raises(ConnectionRefusedError):
            client.connect(("127.0.0.1", fake.port))
        fake.come_up()
        with socket.create_connection(("127.0.0.1", fake.port), timeout=5):
            pass


def test_fail_next_counts_down_and_sends_retry_after(
    fake: FakePlex, session: requests.Session
) -> None:
    """fail_next(500, 2) spoils two requests (BadRequest "(500) ..."), then all is well."""
    plex = connect(fake, session)
    fake.fail_next(500, 2, retry_after="2")
    raw = session.get(f"{fake.url}/library/sections", headers={"X-Plex-Token": TOKEN}, timeout=5)
    assert (raw.status_code, raw.headers["Retry-After"]) == (500, "2")
    with pytest.raises(BadRequest, match=r"^\(500\) internal_server_error") as caught:
        plex.query("/library/sections")
    assert not isinstance(caught.value, Unauthorized)
    assert plex.query("/library/sections") is not None
    assert [r.fault for r in fake.requests_to("/library/sections")] == ["fail_next"] * 2 + [None]


def test_fail_next_by_path_hits_an_edit_with_not_found(
    fake: FakePlex, session: requests.Session
) -> None:
    """A 404 on the edit path makes multiEdit raise NotFound; other paths are unaffected."""
    add_movies(fake, 1)
    section = movies(connect(fake, session))
    (movie,) = section.all()
    fake.fail_next(404, path_prefix="/library/sections/1/all")
    assert section.reload().title == "Movies"
    with pytest.raises(NotFound):
        section.multiEdit([movie], **{"title.value": "T"})
    assert fake.edits() == []


def test_unknown_status_520_makes_plexapi_raise_type_error(
    fake: FakePlex, session: requests.Session
) -> None:
    """A status requests has no name for (520) crashes plexapi's message building."""
    plex = connect(fake, session)
    fake.fail_next(520)
    # plexapi does `codes.get(520)[0]` on None: a TypeError.
    with pytest.raises(TypeError):
        plex.query("/library/sections")


def test_storm_lasts_until_cleared_and_can_spare_identity(
    fake: FakePlex, session: requests.Session
) -> None:
    """A storm on /library fails every library call while /identity stays healthy."""
    plex = connect(fake, session)
    fake.storm(503, retry_after="Wed, 21 Oct 2015 07:28:00 GMT", path_prefix="/library")
    for _ in range(3):
        with pytest.raises(BadRequest, match=r"^\(503\)"):
            plex.query("/library/sections")
    assert session.get(f"{fake.url}/identity", timeout=5).status_code == 200
    fake.clear_faults()
    assert plex.query("/library/sections") is not None


def test_slow_first_byte_is_a_read_timeout(fake: FakePlex, session: requests.Session) -> None:
    """No byte within the read timeout gives requests' ReadTimeout."""
    plex = connect(fake, session)  # the short timeout only where the fault is
    fake.slow_first_byte(2.0, path_prefix="/library")
    with pytest.raises(requests.exceptions.ReadTimeout):
        plex.query("/library/sections", timeout=0.3)


def test_stall_mid_body(fake: FakePlex, session: requests.Session) -> None:
    """A body that stops past the timeout is a ConnectionError; one cut short, a chunk error."""
    plex = connect(fake, session)  # the short timeout only where the fault is
    fake.stall_mid_body(2.0, path_prefix="/library")
    # requests turns a read timeout inside the body into ConnectionError, not Timeout.
    with pytest.raises(requests.exceptions.ConnectionError) as caught:
        plex.query("/library/sections", timeout=0.3)
    assert not isinstance(caught.value, requests.exceptions.Timeout)
    fake.clear_faults()
    fake.stall_mid_body(0.05, path_prefix="/library")
    # Closed before Content-Length bytes arrived: IncompleteRead, raised as ChunkedEncodingError
    # (a RequestException, but not a ConnectionError).
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        plex.query("/library/sections")


def test_broken_bodies(fake: FakePlex, session: requests.Session) -> None:
    """Malformed XML is a ParseError; empty and HTML bodies fail late, or pass for no data."""
    add_movies(fake, 1)
    plex = connect(fake, session)
    section = movies(plex)
    fake.malformed_xml(path_prefix="/library")
    with pytest.raises(ParseError):
        section.all()
    fake.clear_faults()
    fake.empty_body(path_prefix="/library")
    assert plex.query("/library/sections") is None  # plexapi's query() returns None for it
    with pytest.raises(AttributeError):
        section.all()
    with pytest.raises(AttributeError):
        plex.fetchItem(1000)
    with pytest.raises(TypeError):
        connect(fake, session).library.sections()
    fake.clear_faults()
    fake.html_body(path_prefix="/library")
    # No <Video> in the page: a listing looks empty and an item looks gone. Beware: an HTML
    # page must not be mistaken for "not in Plex yet".
    assert section.all() == []
    with pytest.raises(NotFound):
        plex.fetchItem(1000)
    with pytest.raises(AttributeError):
        connect(fake, session).library.sections()
    fake.clear_faults()
    fake.html_body()
    assert connect(fake, session).machineIdentifier is None  # even GET / "succeeds"


def test_keep_old_values_answers_an_edit_as_done_and_does_nothing(
    fake: FakePlex, session: requests.Session
) -> None:
    """The edit gets Plex's usual empty 200, and the item stays as it was; the next is applied."""
    (key,) = add_movies(fake, 1)
    section = movies(connect(fake, session))
    (movie,) = section.all()
    fake.keep_old_values(count=1)
    section.multiEdit([movie], **{"title.value": "Kept"})
    assert fake.item(key).title == "Movie 0"
    assert fake.edits() == []
    section.multiEdit([movie], **{"title.value": "Applied"})
    assert fake.item(key).title == "Applied"
    assert [r.fault for r in fake.requests_to("/library/sections/1/all", "PUT")] == [
        "keep_old_values",
        None,
    ]


def test_recorded_requests_never_hold_the_token(fake: FakePlex, session: requests.Session) -> None:
    """The token (sent as a header or a query parameter) is absent from all records."""
    add_movies(fake, 1)
    plex = connect(fake, session)
    movies(plex).all()
    by_query = f"{fake.url}/library/sections?X-Plex-Token={TOKEN}&note={TOKEN}"
    assert session.get(by_query, timeout=5).status_code == 200
    fake.fail_next(503)
    with pytest.raises(BadRequest):
        plex.fetchItem(1000)

    assert [r.path for r in fake.requests] == [
        "/",
        "/library",
        "/library/sections",
        "/library/sections/1/all",
        "/library/sections",
        "/library/metadata/1000",
    ]
    assert TOKEN not in repr(fake.requests)
    query = fake.requests_to("/library/sections", "GET")[-1].query
    assert query == {"note": "[X-Plex-Token]"}


def test_in_flight_max_counts_concurrent_requests_on_one_item(fake: FakePlex) -> None:
    """Two overlapping edits of one item show in_flight_max 2; one at a time shows 1."""
    (key,) = add_movies(fake, 1)
    edit_url = f"{fake.url}/library/sections/1/all?type=1&id={key}&summary.value=S"

    def edit() -> None:
        with requests.Session() as own:
            own.put(edit_url, headers={"X-Plex-Token": TOKEN}, timeout=5).raise_for_status()

    edit()
    edit()
    assert fake.in_flight_max == 1
    fake.slow_first_byte(1.0, path_prefix="/library/sections/1/all")  # long enough to overlap
    workers = [threading.Thread(target=edit) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert fake.in_flight_max == 2
    assert len(fake.edits(key)) == 4  # a slow reply still means an applied edit


def test_a_fault_for_one_method_and_waiting_for_a_reply_in_flight(
    fake: FakePlex, session: requests.Session
) -> None:
    """A PUT-only slow reply spares GETs; the PUT is applied at once and in flight until replied."""
    (key,) = add_movies(fake, 1)
    listing = "/library/sections/1/all"
    fake.slow_first_byte(0.3, path_prefix=listing, method="put")
    since = time.time()
    assert len(movies(connect(fake, session)).all()) == 1
    assert fake.requests_to(listing, "GET")[-1].fault is None
    with pytest.raises(TimeoutError):
        fake.wait_in_flight(method="PUT", since=since, timeout=0.05)

    statuses: list[int] = []

    def edit() -> None:
        url = f"{fake.url}{listing}?type=1&id={key}&summary.value=S"
        with requests.Session() as own:
            statuses.append(own.put(url, headers={"X-Plex-Token": TOKEN}, timeout=5).status_code)

    editing = threading.Thread(target=edit)
    editing.start()
    put = fake.wait_in_flight(method="PUT", path_prefix=listing, since=since, timeout=5)
    assert (put.rating_keys, put.fault) == ((key,), "slow_first_byte")
    assert fake.item(key).values["summary"] == "S"  # applied before the reply
    assert fake.in_flight(method="PUT") == [put]
    assert fake.in_flight(method="GET") == []
    editing.join()
    assert statuses == [200]  # the reply came, after the delay


def test_stop_releases_everything(session: requests.Session) -> None:
    """stop() returns promptly even with a reply sleeping, and leaves no thread behind."""
    fake = FakePlex(TOKEN)
    fake.start()
    fake.slow_first_byte(30)
    outcome: list[BaseException] = []

    def wait_for_reply() -> None:
        try:
            session.get(fake.url, timeout=5)
        except requests.exceptions.RequestException as error:
            outcome.append(error)

    sleeper = threading.Thread(target=wait_for_reply)
    sleeper.start()
    fake.wait_in_flight(timeout=5)
    started = time.monotonic()
    fake.stop()
    sleeper.join()
    assert time.monotonic() - started < 5  # not the 30 s the reply would take
    # The cut connection reaches the client as "Remote end closed connection".
    assert [type(error) for error in outcome] == [requests.exceptions.ConnectionError]
    assert fake.threads() == []
    with pytest.raises(requests.exceptions.ConnectionError):
        session.get(fake.url, timeout=5)


def test_a_limited_fake_serves_so_many_at_once_and_queues_or_refuses_the_rest(
    fake: FakePlex,
) -> None:
    """With one request served at a time, a second one waits its turn (its stay at the server
    covers the first one's service), or with refuse is answered 503; health calls never wait.
    """
    fake.add_section("Movies", locations=["/media"])
    fake.capacity.limit(1, 0.3)
    url = f"{fake.url}/library/sections?X-Plex-Token={TOKEN}"
    answers: list[int] = []

    def ask() -> None:
        answers.append(requests.get(url, timeout=10).status_code)

    first = threading.Thread(target=ask)
    first.start()
    while not fake.capacity.busy:
        time.sleep(0.01)
    assert requests.get(f"{fake.url}/identity", timeout=10).status_code == 200
    ask()
    first.join()
    queued = fake.capacity.served()
    assert answers == [200, 200]
    assert [s.refused for s in queued] == [False, False]
    assert queued[1].finished_at >= queued[0].finished_at + 0.3  # served after the first one

    fake.capacity.limit(1, 1.0, refuse=True)  # the second one arrives while the first is served
    second = threading.Thread(target=ask)
    second.start()
    while not fake.capacity.busy:
        time.sleep(0.01)
    ask()
    second.join()
    assert sorted(answers[2:]) == [200, 503]
    assert [s.refused for s in fake.capacity.served()].count(True) == 1
