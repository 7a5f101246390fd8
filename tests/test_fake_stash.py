"""The fake Stash answers real GraphQL, screenshot and auth requests the way Stash v0.30.1 does.

Every request goes over HTTP with plain `requests` (or urllib, where its defaults matter), as the
plugin will send them; the expected answers come from STASH.md and Stash's source.
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
import requests

from tests.fake_stash import (
    MAX_HOOK_DEPTH,
    PLACEHOLDER_SVG,
    SCENE_UPDATE_INPUT_KEYS,
    FakeStash,
    Job,
    ServerConnection,
    SessionCookie,
    fields_missing_before,
    hook_stdin,
    task_stdin,
)
from tests.fake_stash.gojson import GoStruct, go_json

if TYPE_CHECKING:
    from collections.abc import Iterator

KEY = "stash-api-key"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 60 + b"\xff\xd9"

SCENE_QUERY = """
query Scene($id: ID!) {
  findScene(id: $id) {
    id title code details date rating100 organized urls updated_at
    files { path }
    paths { screenshot }
    studio { name parent_studio { name } }
    performers { name }
    tags { name }
    groups { group { name } scene_index }
  }
}
"""
PAGE_QUERY = """
query Page($f: FindFilterType, $sf: SceneFilterType) {
  findScenes(filter: $f, scene_filter: $sf) { count scenes { id title updated_at } }
}
"""
SETTINGS_QUERY = '{ configuration { plugins(include: ["plexsync"]) } }'


@pytest.fixture
def fake() -> Iterator[FakeStash]:
    """A running fake Stash with credentials and an API key."""
    with FakeStash(username="admin", api_key=KEY) as server:
        yield server


@pytest.fixture
def open_fake() -> Iterator[FakeStash]:
    """A running fake Stash without credentials, as Stash is out of the box."""
    with FakeStash() as server:
        yield server


@pytest.fixture
def http() -> Iterator[requests.Session]:
    """A requests session closed after the test."""
    with requests.Session() as session:
        yield session


def gql(
    http: requests.Session,
    fake: FakeStash,
    query: str,
    variables: dict[str, Any] | None = None,
    **kwargs: Any,
) -> requests.Response:
    """POST a GraphQL request, with the API key unless headers or cookies are given."""
    if "headers" not in kwargs and "cookies" not in kwargs:
        kwargs["headers"] = {"ApiKey": KEY}
    body = {"query": query, "variables": variables or {}}
    return http.post(fake.graphql_url, json=body, timeout=5, **kwargs)


def page(http: requests.Session, fake: FakeStash, **find_filter: Any) -> dict[str, Any]:
    scene_filter = find_filter.pop("scene_filter", None)
    answer = gql(http, fake, PAGE_QUERY, {"f": find_filter, "sf": scene_filter})
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()["data"]["findScenes"]
    return result


def ids(result: dict[str, Any]) -> list[int]:
    return [int(scene["id"]) for scene in result["scenes"]]


def add_scenes(fake: FakeStash, count: int) -> list[int]:
    return [
        fake.library.add_scene(paths=[f"/media/scene{n:03}.mp4"], title=f"Scene {n}")
        for n in range(count)
    ]


# ------------------------------------------------------------------ reading scenes


def test_scene_query_returns_every_synced_field(fake: FakeStash, http: requests.Session) -> None:
    """STASH.md's scene query returns each synced field, studio parent and primary file first."""
    lib = fake.library
    network = lib.add_studio("Network")
    studio = lib.add_studio("Studio", parent=network)
    ann, bob = lib.add_performer("Ann"), lib.add_performer("Bob")
    drama = lib.add_tag("Drama")
    saga = lib.add_group("Saga")
    scene = lib.add_scene(
        paths=["/media/main.mp4", "/media/alt.mkv"],
        title="Title",
        code="ABC-1",
        details="Details",
        date="2024-05-06",
        rating100=80,
        urls=["https://example.invalid/1"],
        studio=studio,
        performers=[bob, ann],
        tags=[drama],
        groups=[(saga, 2)],
    )
    lib.set_updated_at(scene, "2025-01-02T09:00:00+10:00")

    found = gql(http, fake, SCENE_QUERY, {"id": str(scene)}).json()["data"]["findScene"]

    assert found == {
        "id": str(scene),
        "title": "Title",
        "code": "ABC-1",
        "details": "Details",
        "date": "2024-05-06",
        "rating100": 80,
        "organized": False,
        "urls": ["https://example.invalid/1"],
        "updated_at": "2025-01-02T09:00:00+10:00",
        "files": [{"path": "/media/main.mp4"}, {"path": "/media/alt.mkv"}],
        "paths": {"screenshot": f"{fake.url}/scene/{scene}/screenshot?t=1735772400"},
        "studio": {"name": "Studio", "parent_studio": {"name": "Network"}},
        "performers": [{"name": "Bob"}, {"name": "Ann"}],
        "tags": [{"name": "Drama"}],
        "groups": [{"group": {"name": "Saga"}, "scene_index": 2}],
    }


def test_unset_text_is_empty_string_and_unset_date_is_null(
    fake: FakeStash, http: requests.Session
) -> None:
    """A scanned scene has "" for title, code and details, null for date, rating and studio."""
    scene = fake.library.add_scene(paths=["/media/new.mp4"])

    found = gql(http, fake, SCENE_QUERY, {"id": str(scene)}).json()["data"]["findScene"]

    assert (found["title"], found["code"], found["details"]) == ("", "", "")
    assert (found["date"], found["rating100"], found["studio"]) == (None, None, None)
    assert (found["urls"], found["performers"], found["tags"], found["groups"]) == ([], [], [], [])


def test_unknown_scene_id_is_null(fake: FakeStash, http: requests.Session) -> None:
    """An id that does not exist makes findScene answer null, not an error."""
    answer = gql(http, fake, SCENE_QUERY, {"id": "999"})

    assert (answer.status_code, answer.json()) == (200, {"data": {"findScene": None}})


def test_non_numeric_scene_id_is_a_resolver_error(fake: FakeStash, http: requests.Session) -> None:
    """A non-numeric id is a resolver error: HTTP 200, an error on the field's path."""
    answer = gql(http, fake, SCENE_QUERY, {"id": "abc"})

    body = answer.json()
    assert answer.status_code == 200
    assert body["data"] == {"findScene": None}
    assert body["errors"][0]["path"] == ["findScene"]
    assert "invalid syntax" in body["errors"][0]["message"]


def test_groups_and_deprecated_movies_list_the_same_groups(
    fake: FakeStash, http: requests.Session
) -> None:
    """The deprecated `movies` lists a scene's groups as movies, with the same ids."""
    saga = fake.library.add_group("Saga", date="2020")
    scene = fake.library.add_scene(groups=[(saga, 1)])
    query = """query($id: ID!) { findScene(id: $id) {
        groups { group { id name date } scene_index } movies { movie { id name date } scene_index }
    } }"""

    found = gql(http, fake, query, {"id": str(scene)}).json()["data"]["findScene"]

    assert found["groups"] == [
        {"group": {"id": str(saga), "name": "Saga", "date": "2020"}, "scene_index": 1}
    ]
    assert found["movies"] == [
        {"movie": {"id": str(saga), "name": "Saga", "date": "2020"}, "scene_index": 1}
    ]


# ------------------------------------------------------------------ errors as Stash gives them


def test_field_stash_does_not_have_is_422_validation_failed(
    fake: FakeStash, http: requests.Session
) -> None:
    """A field Stash lacks (`Scene.path`, gone in v0.24) fails the query: 422, VALIDATION_FAILED."""
    answer = gql(http, fake, "{ findScene(id: 1) { id path } }")

    body = answer.json()
    assert answer.status_code == 422
    assert body["data"] is None
    assert body["errors"][0]["extensions"] == {"code": "GRAPHQL_VALIDATION_FAILED"}
    assert body["errors"][0]["message"].startswith('Cannot query field "path" on type "Scene"')


def test_wrong_argument_type_is_422(fake: FakeStash, http: requests.Session) -> None:
    """An argument of the wrong type (per_page as a string) is a validation failure."""
    answer = gql(http, fake, '{ findScenes(filter: {per_page: "10"}) { count } }')

    assert answer.status_code == 422
    assert answer.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


def test_syntax_error_is_422_parse_failed(fake: FakeStash, http: requests.Session) -> None:
    """A query that does not parse is 422 with GRAPHQL_PARSE_FAILED."""
    answer = gql(http, fake, "{ findScene(id: 1) { id ")

    assert answer.status_code == 422
    assert answer.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"


def test_missing_variable_is_422(fake: FakeStash, http: requests.Session) -> None:
    """A required variable left out is rejected before execution, with 422."""
    answer = gql(http, fake, SCENE_QUERY, {})

    assert answer.status_code == 422
    assert answer.json()["data"] is None


def test_urllib_form_post_is_400_transport_not_supported(fake: FakeStash) -> None:
    """Urllib's default form content type gets 400 "transport not supported"."""
    body = json.dumps({"query": "{ version { version } }"}).encode()
    request = urllib.request.Request(fake.graphql_url, data=body, headers={"ApiKey": KEY})  # noqa: S310

    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)  # noqa: S310

    assert caught.value.code == 400
    assert json.loads(caught.value.read())["errors"][0]["message"] == "transport not supported"
    caught.value.close()


def test_body_that_is_not_json_is_400(fake: FakeStash, http: requests.Session) -> None:
    """A JSON content type with a body that is not JSON is 400."""
    answer = http.post(
        fake.graphql_url,
        data=b"{not json",
        headers={"ApiKey": KEY, "Content-Type": "application/json"},
        timeout=5,
    )

    assert answer.status_code == 400
    assert "could not be decoded" in answer.json()["errors"][0]["message"]


def test_older_stash_without_groups_rejects_them_but_serves_movies(http: requests.Session) -> None:
    """A fake standing for Stash 0.26 fails a query for `groups` but answers `movies`."""
    omitted = fields_missing_before((0, 26, 0))
    assert omitted == {"Scene.groups"}
    with FakeStash(omit_fields=omitted) as old:
        old.library.add_scene()

        groups = gql(http, old, "{ findScene(id: 1) { groups { scene_index } } }", headers={})
        movies = gql(http, old, "{ findScene(id: 1) { movies { scene_index } } }", headers={})

    assert (groups.status_code, movies.status_code) == (422, 200)


# ------------------------------------------------------------------ paging and sorting


def test_paging_sorted_by_id_visits_every_scene_once(
    fake: FakeStash, http: requests.Session
) -> None:
    """Paging with `sort: "id"` returns each scene exactly once, in id order, with the count."""
    all_ids = add_scenes(fake, 60)

    pages = [page(http, fake, per_page=25, page=n, sort="id") for n in (1, 2, 3)]

    assert [p["count"] for p in pages] == [60, 60, 60]
    assert [len(p["scenes"]) for p in pages] == [25, 25, 10]
    assert [i for p in pages for i in ids(p)] == all_ids


def test_paging_without_sort_has_no_stable_order(fake: FakeStash, http: requests.Session) -> None:
    """Without `sort` Stash has no ORDER BY: the fake's pages miss and repeat scenes."""
    add_scenes(fake, 60)

    seen = [i for n in (1, 2, 3) for i in ids(page(http, fake, per_page=25, page=n))]

    assert len(seen) == 60
    assert len(set(seen)) < 60


def test_page_size_defaults_and_special_values(fake: FakeStash, http: requests.Session) -> None:
    """No filter gives 25 scenes; per_page -1 gives all, 0 none; page 0 is page 1."""
    add_scenes(fake, 30)

    default = gql(http, fake, "{ findScenes { count scenes { id } } }").json()["data"]["findScenes"]

    assert (default["count"], len(default["scenes"])) == (30, 25)
    assert len(page(http, fake, per_page=-1, sort="id")["scenes"]) == 30
    assert page(http, fake, per_page=0, sort="id") == {"count": 30, "scenes": []}
    assert ids(page(http, fake, per_page=5, page=0, sort="id")) == [1, 2, 3, 4, 5]


def test_invalid_sort_is_a_resolver_error(fake: FakeStash, http: requests.Session) -> None:
    """A sort name Stash does not know fails with "invalid sort", HTTP 200 and null data."""
    answer = gql(http, fake, PAGE_QUERY, {"f": {"sort": "modified"}})

    assert answer.status_code == 200
    assert answer.json() == {
        "errors": [{"message": "invalid sort: modified", "path": ["findScenes"]}],
        "data": None,
    }


def test_sort_by_updated_at_breaks_ties_on_title_ascending(
    fake: FakeStash, http: requests.Session
) -> None:
    """Sorted by updated_at DESC, scenes with equal timestamps come in title order, ascending."""
    lib = fake.library
    names = {"b": "2025-01-01T10:00:00+10:00", "a": "2025-01-01T10:00:00+10:00"}
    scenes = {title: lib.add_scene(title=title) for title in ("b", "a", "c")}
    for title, stamp in names.items():
        lib.set_updated_at(scenes[title], stamp)
    lib.set_updated_at(scenes["c"], "2025-01-01T11:00:00+10:00")

    result = page(http, fake, sort="updated_at", direction="DESC")

    assert [s["title"] for s in result["scenes"]] == ["c", "a", "b"]


def test_ids_keep_their_order_and_fail_whole_on_a_missing_one(
    fake: FakeStash, http: requests.Session
) -> None:
    """Reading by ids keeps the order asked and fails whole if one id no longer exists."""
    add_scenes(fake, 3)
    query = "query($ids: [ID!]) { findScenes(ids: $ids) { count scenes { id } } }"

    ordered = gql(http, fake, query, {"ids": ["3", "1"]}).json()["data"]["findScenes"]
    missing = gql(http, fake, query, {"ids": ["1", "7"]}).json()

    assert ordered == {"count": 2, "scenes": [{"id": "3"}, {"id": "1"}]}
    assert missing["errors"][0]["message"] == "scene with id 7 not found"


# ------------------------------------------------------------------ updated_at


def updated_since(http: requests.Session, fake: FakeStash, value: str) -> list[int]:
    criterion = {"updated_at": {"value": value, "modifier": "GREATER_THAN"}}
    return ids(page(http, fake, per_page=-1, sort="id", scene_filter=criterion))


def test_updated_at_filter_compares_text_not_instants(
    fake: FakeStash, http: requests.Session
) -> None:
    """The updated_at filter compares text: only Stash's own +10:00 form bounds correctly."""
    scene = fake.library.add_scene()
    fake.library.set_updated_at(scene, "2025-01-02T08:00:00+10:00")  # 2025-01-01T22:00:00Z

    assert updated_since(http, fake, "2025-01-01T23:00:00Z") == [scene]
    assert updated_since(http, fake, "2025-01-02 09:00:00") == [scene]
    assert updated_since(http, fake, "2025-01-02T09:00:00+10:00") == []


def test_updated_at_from_an_answer_selects_later_edits(
    fake: FakeStash, http: requests.Session
) -> None:
    """An updated_at value Stash returned, used as the bound, selects exactly the later edits."""
    first, second = add_scenes(fake, 2)
    mark = gql(http, fake, SCENE_QUERY, {"id": str(first)}).json()["data"]["findScene"][
        "updated_at"
    ]
    fake.advance(5)
    fake.library.edit_scene(second, title="Edited")

    assert updated_since(http, fake, mark) == [second]


def test_between_without_upper_bound_ends_a_day_from_now(
    fake: FakeStash, http: requests.Session
) -> None:
    """BETWEEN without value2 runs to now plus one day, so a later timestamp falls outside."""
    near, far = add_scenes(fake, 2)
    fake.library.set_updated_at(far, datetime.fromtimestamp(fake.now() + 3 * 86400, UTC))
    criterion = {"updated_at": {"value": "2000-01-01T00:00:00+10:00", "modifier": "BETWEEN"}}

    assert ids(page(http, fake, sort="id", scene_filter=criterion)) == [near]


def test_editing_a_scene_moves_updated_at_and_the_screenshot_url(
    fake: FakeStash, http: requests.Session
) -> None:
    """An edit changes updated_at and so the screenshot URL's `t`."""
    scene = fake.library.add_scene(paths=["/media/a.mp4"])
    before = gql(http, fake, SCENE_QUERY, {"id": str(scene)}).json()["data"]["findScene"]
    fake.advance(61)
    fake.library.edit_scene(scene, details="New")

    after = gql(http, fake, SCENE_QUERY, {"id": str(scene)}).json()["data"]["findScene"]

    assert after["updated_at"] > before["updated_at"]
    assert after["paths"]["screenshot"] != before["paths"]["screenshot"]


def test_and_or_not_cannot_be_combined(fake: FakeStash, http: requests.Session) -> None:
    """A filter with both AND and OR fails as Stash's does; one operator works."""
    add_scenes(fake, 4)
    low = {"id": {"value": 2, "modifier": "LESS_THAN"}}
    high = {"id": {"value": 3, "modifier": "GREATER_THAN"}}

    either = page(http, fake, sort="id", scene_filter={**low, "OR": high})
    both = gql(http, fake, PAGE_QUERY, {"sf": {**low, "OR": high, "AND": high}}).json()

    assert ids(either) == [1, 4]
    assert both["errors"][0]["message"] == "cannot have AND and OR in the same filter"


# ------------------------------------------------------------------ authentication


def test_without_credentials_nothing_is_checked(
    open_fake: FakeStash, http: requests.Session
) -> None:
    """Out of the box (no username) a request without key or cookie is answered."""
    answer = gql(http, open_fake, "{ version { version } }", headers={})

    assert answer.json() == {"data": {"version": {"version": "v0.30.1"}}}


def test_an_api_key_is_refused_when_none_is_configured(
    open_fake: FakeStash, http: requests.Session
) -> None:
    """With no key configured, sending any ApiKey header is 401: send none when apiKey is ""."""
    answer = gql(http, open_fake, "{ version { version } }", headers={"ApiKey": "guess"})

    assert (answer.status_code, answer.content) == (401, b"")


def test_with_credentials_a_bare_request_is_401_with_empty_body(
    fake: FakeStash, http: requests.Session
) -> None:
    """With credentials configured, /graphql without key or cookie is 401 with no body."""
    answer = gql(http, fake, "{ version { version } }", headers={})

    assert (answer.status_code, answer.content) == (401, b"")
    assert answer.headers["WWW-Authenticate"] == "FormBased"


def test_wrong_api_key_is_401_even_with_a_good_cookie(
    fake: FakeStash, http: requests.Session
) -> None:
    """A wrong ApiKey header wins over a valid session cookie: 401."""
    cookie = fake.session_cookie()

    answer = gql(
        http,
        fake,
        "{ version { version } }",
        headers={"ApiKey": "wrong"},
        cookies={"session": cookie.value},
    )

    assert answer.status_code == 401


def test_api_key_works_as_a_query_parameter(fake: FakeStash, http: requests.Session) -> None:
    """The `?apikey=` query parameter is accepted like the ApiKey header."""
    answer = http.post(
        f"{fake.graphql_url}?apikey={KEY}", json={"query": "{ version { hash } }"}, timeout=5
    )

    assert answer.json() == {"data": {"version": {"hash": "b23b0267"}}}


def test_plugin_cookie_reads_the_api_key_then_expires(
    fake: FakeStash, http: requests.Session
) -> None:
    """The plugin's cookie reads the API key; after max_session_age only the key works."""
    cookie = {"session": fake.session_cookie().value}
    query = "{ configuration { general { apiKey maxSessionAge } } }"

    general = gql(http, fake, query, cookies=cookie).json()["data"]["configuration"]["general"]
    fake.advance(3601)
    expired = gql(http, fake, "{ version { version } }", cookies=cookie)
    keyed = gql(http, fake, "{ version { version } }", headers={"ApiKey": general["apiKey"]})

    assert general == {"apiKey": KEY, "maxSessionAge": 3600}
    assert (expired.status_code, keyed.status_code) == (401, 200)
    assert [r.auth for r in fake.requests] == ["cookie", "expired_cookie", "api_key"]


def test_a_new_api_key_refuses_the_old_one_after_the_given_requests(
    fake: FakeStash, http: requests.Session
) -> None:
    """`change_api_key_after(2, key)`: two more requests pass with the old key, then only the
    new key is accepted (a key generated in Settings > Security while a task runs).
    """
    fake.change_api_key_after(2, "new-key")
    statuses = [gql(http, fake, "{ version { hash } }").status_code for _ in range(3)]
    renewed = gql(http, fake, "{ version { hash } }", headers={"ApiKey": "new-key"})

    assert statuses == [200, 200, 401]
    assert renewed.status_code == 200
    assert [r.auth for r in fake.requests] == ["api_key", "api_key", "bad_api_key", "api_key"]


def test_each_cookie_request_hands_back_a_fresh_cookie(
    fake: FakeStash, http: requests.Session
) -> None:
    """A request with a live cookie gets a new one in Set-Cookie, which outlives the first."""
    first = fake.session_cookie().value
    fake.advance(3000)
    answer = gql(http, fake, "{ version { version } }", cookies={"session": first})
    fresh = answer.cookies["session"]
    fake.advance(1000)

    old = gql(http, fake, "{ version { version } }", cookies={"session": first})
    new = gql(http, fake, "{ version { version } }", cookies={"session": fresh})

    assert "Max-Age=3600" in answer.headers["Set-Cookie"]
    assert (old.status_code, new.status_code) == (401, 200)


def test_screenshot_without_login_redirects_to_the_login_page(
    fake: FakeStash, http: requests.Session
) -> None:
    """A screenshot without login is a 302 to /login, which answers HTML, not an image."""
    scene = fake.library.add_scene()
    url = f"{fake.url}/scene/{scene}/screenshot?t=1"

    bare = http.get(url, allow_redirects=False, timeout=5)
    followed = http.get(url, timeout=5)

    assert bare.status_code == 302
    assert bare.headers["Location"] == f"/login?returnURL=%2Fscene%2F{scene}%2Fscreenshot%3Ft%3D1"
    assert followed.status_code == 200
    assert followed.headers["Content-Type"].startswith("text/html")


# ------------------------------------------------------------------ screenshots


def test_scene_without_cover_gets_the_svg_placeholder(
    fake: FakeStash, http: requests.Session
) -> None:
    """A scene without a cover answers 200 with an SVG placeholder."""
    scene = fake.library.add_scene()

    shot = http.get(f"{fake.url}/scene/{scene}/screenshot", headers={"ApiKey": KEY}, timeout=5)

    assert (shot.status_code, shot.headers["Content-Type"]) == (200, "image/svg+xml")
    assert shot.content == PLACEHOLDER_SVG


def test_generated_cover_is_a_jpeg_with_md5_etag(fake: FakeStash, http: requests.Session) -> None:
    """A generated cover is served as JPEG with an MD5 ETag; updated_at moves, no hook fires."""
    scene = fake.library.add_scene()
    before = fake.library.scene(scene).updated_at
    hooks = len(fake.hooks)
    fake.advance(2)
    fake.library.generate_cover(scene, JPEG)
    url = f"{fake.url}/scene/{scene}/screenshot"

    shot = http.get(url, headers={"ApiKey": KEY}, timeout=5)
    again = http.get(url, headers={"ApiKey": KEY, "If-None-Match": shot.headers["ETag"]}, timeout=5)

    assert (shot.headers["Content-Type"], shot.content) == ("image/jpeg", JPEG)
    assert shot.headers["ETag"] == f'"{hashlib.md5(JPEG).hexdigest()}"'  # noqa: S324
    assert (again.status_code, again.content) == (304, b"")
    assert fake.library.scene(scene).updated_at > before
    assert len(fake.hooks) == hooks


def test_screenshot_of_missing_or_malformed_scene(fake: FakeStash, http: requests.Session) -> None:
    """An unknown scene id is 404, a non-numeric one 400."""
    missing = http.get(f"{fake.url}/scene/42/screenshot", headers={"ApiKey": KEY}, timeout=5)
    malformed = http.get(f"{fake.url}/scene/x/screenshot", headers={"ApiKey": KEY}, timeout=5)

    assert (missing.status_code, malformed.status_code) == (404, 400)


# ------------------------------------------------------------------ settings, status, mutations


def test_plugin_settings_are_absent_until_saved_then_replaced_whole(
    fake: FakeStash, http: requests.Session
) -> None:
    """Plugin settings are absent until saved; configurePlugin replaces the whole map."""
    save = 'mutation($v: Map!) { configurePlugin(plugin_id: "plexsync", input: $v) }'

    empty = gql(http, fake, SETTINGS_QUERY).json()["data"]["configuration"]["plugins"]
    gql(
        http,
        fake,
        save,
        {"v": {"plex_url": "http://plex:32400", "sync_tags": True, "max_retries": 5}},
    )
    gql(http, fake, save, {"v": {"sync_tags": False}})
    stored = gql(http, fake, SETTINGS_QUERY).json()["data"]["configuration"]["plugins"]

    assert empty == {}
    assert stored == {"plexsync": {"sync_tags": False}}
    assert [r.fields for r in fake.mutations()] == [("configurePlugin",), ("configurePlugin",)]


def test_configure_plugin_needs_a_map(fake: FakeStash, http: requests.Session) -> None:
    """The configurePlugin input must be an object: a string is refused with 422."""
    save = 'mutation($v: Map!) { configurePlugin(plugin_id: "plexsync", input: $v) }'

    answer = gql(http, fake, save, {"v": "plex_url=x"})

    assert answer.status_code == 422


def test_version_status_and_idle_job_queue(fake: FakeStash, http: requests.Session) -> None:
    """Version, appSchema 75 and an idle jobQueue (null) are answered as v0.30.1 does."""
    query = "{ version { version hash } systemStatus { appSchema status } jobQueue { id } }"

    data = gql(http, fake, query).json()["data"]

    assert data == {
        "version": {"version": "v0.30.1", "hash": "b23b0267"},
        "systemStatus": {"appSchema": 75, "status": "OK"},
        "jobQueue": None,
    }


def test_job_queue_lists_running_jobs(fake: FakeStash, http: requests.Session) -> None:
    """A running scan shows in jobQueue with its status and description."""
    fake.library.jobs.append(Job(1, "Scanning...", progress=0.5))

    data = gql(http, fake, "{ jobQueue { id status description progress } }").json()["data"]

    assert data == {
        "jobQueue": [
            {"id": "1", "status": "RUNNING", "description": "Scanning...", "progress": 0.5}
        ]
    }


# ------------------------------------------------------------------ hooks and the plugin's stdin


def test_hook_stdin_is_go_json_byte_for_byte() -> None:
    """The hook stdin is Go's JSON byte for byte: compact, struct order, sorted args, escapes."""
    cookie = SessionCookie(value="MTc1", expires="2026-01-02T04:05:06.789+10:00", max_age=3600)
    connection = ServerConnection(
        port=9999, cookie=cookie, plugin_dir="/root/.stash/plugins/plexsync"
    )
    update = GoStruct((key, None) for key in SCENE_UPDATE_INPUT_KEYS)
    update.update(id="45", title="<New & title>")

    written = hook_stdin(
        connection, "Scene.Update.Post", 45, update, ["title", "id"], {"zeta": "1"}
    )

    expected = (
        '{"server_connection":{"Scheme":"http","Host":"0.0.0.0","Port":9999,"SessionCookie":'
        '{"Name":"session","Value":"MTc1","Quoted":false,"Path":"/","Domain":"",'
        '"Expires":"2026-01-02T04:05:06.789+10:00","RawExpires":"","MaxAge":3600,"Secure":false,'
        '"HttpOnly":false,"SameSite":2,"Partitioned":false,"Raw":"","Unparsed":null},'
        '"Dir":"/root/.stash","PluginDir":"/root/.stash/plugins/plexsync"},'
        '"args":{"hookContext":{"id":45,"type":"Scene.Update.Post","input":{'
        '"clientMutationId":null,"id":"45","title":"\\u003cNew \\u0026 title\\u003e",'
        '"code":null,"details":null,"director":null,"url":null,"urls":null,"date":null,'
        '"rating100":null,"o_counter":null,"organized":null,"studio_id":null,"gallery_ids":null,'
        '"performer_ids":null,"movies":null,"groups":null,"tag_ids":null,"cover_image":null,'
        '"stash_ids":null,"resume_time":null,"play_duration":null,"play_count":null,'
        '"primary_file_id":null},"inputFields":["title","id"]},"zeta":"1"}}'
    )
    assert written.decode() == expected


def test_a_client_following_its_hook_stdin_reads_the_scene(fake: FakeStash) -> None:
    """A client using only its hook stdin (0.0.0.0 -> 127.0.0.1, the cookie) reads the scene."""
    scene = fake.library.add_scene(paths=["/media/a.mp4"], title="Before")
    stdin = json.loads(fake.hook_stdin(fake.library.edit_scene(scene, title="After")))
    server = stdin["server_connection"]
    host = "127.0.0.1" if server["Host"] == "0.0.0.0" else server["Host"]
    cookie = server["SessionCookie"]
    body = json.dumps(
        {"query": SCENE_QUERY, "variables": {"id": str(stdin["args"]["hookContext"]["id"])}}
    )
    request = urllib.request.Request(  # noqa: S310
        f"{server['Scheme']}://{host}:{server['Port']}/graphql",
        data=body.encode(),
        headers={
            "Content-Type": "application/json",
            "Cookie": f"{cookie['Name']}={cookie['Value']}",
        },
    )

    with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310
        found = json.loads(answer.read())["data"]["findScene"]

    assert (server["Host"], found["title"]) == ("0.0.0.0", "After")
    assert fake.requests[-1].auth == "cookie"


def test_task_stdin_puts_given_args_over_defaults() -> None:
    """A task's args are its defaultArgs with runPluginTask's args_map on top, keys sorted."""
    connection = ServerConnection(port=9999, cookie=None, plugin_dir="/p")

    written = task_stdin(connection, {"mode": "all", "days": "30"}, {"mode": "recent"})

    assert written.endswith(b'"args":{"days":"30","mode":"recent"}}')


def test_scan_creates_a_scene_with_null_input_and_no_fields(fake: FakeStash) -> None:
    """A scanned new scene fires Scene.Create.Post with input null and no inputFields key."""
    scene = fake.library.add_scene(paths=["/media/new.mp4"])

    event = fake.hooks[-1]
    context = json.loads(fake.hook_stdin(event))["args"]["hookContext"]

    assert (event.type, event.id) == ("Scene.Create.Post", scene)
    assert context == {"id": scene, "type": "Scene.Create.Post", "input": None}


def test_edit_form_sends_every_field_and_api_edit_only_the_changed(fake: FakeStash) -> None:
    """The UI form's hook lists every form field; an API edit lists only what it sent."""
    scene = fake.library.add_scene(title="Old")

    api = fake.library.edit_scene(scene, title="New")
    form = fake.library.edit_scene(scene, form=True, details="More")

    assert sorted(api.input_fields or ()) == ["id", "title"]
    assert {"id", "title", "details", "tag_ids", "performer_ids"} <= set(form.input_fields or ())
    assert form.input["title"] == "New"
    assert list(api.input) == list(SCENE_UPDATE_INPUT_KEYS)


def test_plugin_mutation_with_its_cookie_stops_after_ten_nested_runs(
    fake: FakeStash, http: requests.Session
) -> None:
    """A plugin's mutation with its cookie re-runs its hook ten deep; with the key, forever."""
    scene = fake.library.add_scene()
    event = fake.library.edit_scene(scene, title="Start")
    mutation = 'mutation($id: ID!) { sceneUpdate(input: {id: $id, title: "Loop"}) { id } }'
    depth = 0
    while event.runs_for("plexsync") and depth <= MAX_HOOK_DEPTH:  # bounded, should it loop
        stdin = json.loads(fake.hook_stdin(event))
        cookie = stdin["server_connection"]["SessionCookie"]["Value"]
        gql(http, fake, mutation, {"id": str(scene)}, cookies={"session": cookie})
        event = fake.hooks[-1]
        depth += 1
    gql(http, fake, mutation, {"id": str(scene)})

    assert depth == MAX_HOOK_DEPTH
    assert event.input_fields is not None
    assert sorted(event.input_fields) == ["id", "title"]
    assert fake.hooks[-1].visited == ()
    assert fake.hooks[-1].runs_for("plexsync")


def test_renaming_a_performer_fires_its_hook_not_the_scenes(fake: FakeStash) -> None:
    """Renaming a performer fires Performer.Update.Post and leaves scenes' updated_at alone."""
    ann = fake.library.add_performer("Ann")
    scene = fake.library.add_scene(performers=[ann])
    before = fake.library.scene(scene).updated_at
    fake.advance(10)

    event = fake.library.rename("Performer", ann, "Anne")

    assert (event.type, event.id) == ("Performer.Update.Post", ann)
    assert fake.library.scene(scene).updated_at == before


def test_deleting_a_scene_fires_destroy_with_its_file(fake: FakeStash) -> None:
    """The Scene.Destroy.Post input has the id, the delete flags and the primary file's path."""
    scene = fake.library.add_scene(paths=["/media/gone.mp4"])

    event = fake.library.delete_scene(scene, delete_file=False, delete_generated=True)

    assert event.type == "Scene.Destroy.Post"
    assert list(event.input) == [
        "id",
        "delete_file",
        "delete_generated",
        "checksum",
        "oshash",
        "path",
    ]
    assert (event.input["id"], event.input["path"]) == (str(scene), "/media/gone.mp4")


def test_go_json_writes_numbers_and_text_as_go_does() -> None:
    """Go writes 5.0 as 5, tiny floats with a short exponent, and keeps non-ASCII as UTF-8."""
    written = go_json({"b": [5.0, 0.5, 1e-7, 1e21], "a": "é\u2028"})

    assert written == '{"a":"é\\u2028","b":[5,0.5,1e-7,1e+21]}'.encode()


# ------------------------------------------------------------------ faults and the request log


def test_unreachable_stash_refuses_then_comes_back_on_the_same_port(
    fake: FakeStash, http: requests.Session
) -> None:
    """A downed fake refuses connections, then answers again at the same URL."""
    url = fake.graphql_url
    fake.go_down()

    with pytest.raises(requests.ConnectionError):
        gql(http, fake, "{ version { version } }")
    fake.come_up()

    assert fake.graphql_url == url
    assert gql(http, fake, "{ version { version } }").status_code == 200


def test_injected_http_and_graphql_errors(fake: FakeStash, http: requests.Session) -> None:
    """Injected faults answer an HTTP status, then a resolver error, then normally."""
    fake.fail_next(502)
    fake.error_next("database is locked")

    proxy = gql(http, fake, "{ version { version } }")
    locked = gql(http, fake, "{ version { version } }")
    normal = gql(http, fake, "{ version { version } }")

    assert proxy.status_code == 502
    assert locked.json() == {
        "errors": [{"message": "database is locked", "path": ["version"]}],
        "data": None,
    }
    assert normal.json() == {"data": {"version": {"version": "v0.30.1"}}}


def test_request_log_counts_fields_and_keeps_no_secret(
    fake: FakeStash, http: requests.Session
) -> None:
    """The log counts requests per root field and holds neither the key nor the cookie."""
    cookie = fake.session_cookie().value
    fake.library.add_scene()
    gql(http, fake, SCENE_QUERY, {"id": "1"})
    gql(http, fake, SETTINGS_QUERY, cookies={"session": cookie})
    http.get(f"{fake.url}/scene/1/screenshot", headers={"ApiKey": KEY}, timeout=5)

    assert len(fake.graphql_requests("findScene")) == 1
    assert fake.graphql_requests("findScene")[0].operation == "Scene"
    assert fake.count("/graphql") == 2
    assert fake.count("/scene/") == 1
    assert KEY not in repr(fake.requests)
    assert cookie not in repr(fake.requests)
