"""``plexsync check``, run as a real process against the fake Plex (real plexapi, real HTTP): it
says whether Plex can be used as configured, and each problem names what is wrong and the
setting that fixes it, with the exit status a script can act on.
"""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from shell.cli.errors import Exit
from tests.builders import TOKEN
from tests.cli_process import Cli
from tests.fake_plex import FakePlex


@pytest.fixture
def fake() -> Iterator[FakePlex]:
    with FakePlex(TOKEN) as server:
        movies = server.add_section("Movies", locations=["/media/movies", "/media/more"])
        server.add_item(movies, "/media/movies/a.mkv", title="A")
        yield server


def plex_env(url: str, **settings: str) -> dict[str, str]:
    """The settings as variables: the URL, the token, and *settings* by name."""
    env = {"PLEXSYNC_PLEX_URL": url, "PLEXSYNC_PLEX_TOKEN": TOKEN}
    env |= {f"PLEXSYNC_{name.upper()}": value for name, value in settings.items()}
    return env


def problems(result: object) -> list[str]:
    """The ``problem`` rows of check's output."""
    lines = str(getattr(result, "stdout", "")).splitlines()
    return [line.split(None, 1)[1] for line in lines if line.startswith("problem")]


def test_a_working_setup_lists_sections_and_finds_the_path(cli: Cli, fake: FakePlex) -> None:
    """Plex answers as Plex, takes the token, lists its folders and has the mapped path: exit 0."""
    env = plex_env(fake.url, path_mappings="/data=/media/movies")
    result = cli("check", "--path", "/data/a.mkv", env=env)
    assert result.returncode == Exit.OK, result.stdout + result.stderr
    assert f"Plex     {fake.url}: 'Fake Plex', Plex 1.40.0.0000" in result.stdout
    assert "token    accepted" in result.stdout
    assert "section  'Movies' (movie): /media/movies, /media/more" in result.stdout
    assert "path     /data/a.mkv -> /media/movies/a.mkv: in Plex: 'A' (ratingKey 1000)" in (
        result.stdout
    )
    assert result.stdout.rstrip().endswith("result   no problems found")
    assert not (cli.directory / "queue.db").exists()  # a check creates no queue


def test_a_server_that_is_not_plex_is_named_with_plex_url(cli: Cli, fake: FakePlex) -> None:
    """A web page where Plex's XML should be (a proxy's, a portal's): exit 5, check plex_url."""
    fake.html_body(path_prefix="/")
    result = cli("check", env=plex_env(fake.url))
    assert result.returncode == Exit.MISCONFIGURED, result.stdout + result.stderr
    assert problems(result) == [
        (
            f"{fake.url} is not a Plex server: answered with a web page, not Plex's XML "
            "(NotPlexXml); check plex_url"
        )
    ]


def test_a_plain_web_server_is_not_plex(cli: Cli, tmp_path: Path) -> None:
    """Another service on the configured port (a plain web server) is not Plex: exit 5."""
    handler = http.server.SimpleHTTPRequestHandler
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        result = cli("check", env=plex_env(url))
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert result.returncode == Exit.MISCONFIGURED, result.stdout + result.stderr
    assert problems(result)[0].startswith(f"{url} is not a Plex server: ")
    assert problems(result)[0].endswith("; check plex_url")


def test_a_rejected_token_is_named_with_plex_token(cli: Cli, fake: FakePlex) -> None:
    """Plex refuses the token: exit 4, check plex_token, and the token is never printed."""
    env = plex_env(fake.url) | {"PLEXSYNC_PLEX_TOKEN": "not-the-token"}
    result = cli("check", env=env)
    assert result.returncode == Exit.TOKEN_REJECTED, result.stdout + result.stderr
    assert problems(result) == [
        (
            f"Plex at {fake.url} rejects the token: token rejected (401) (Unauthorized); "
            "check plex_token"
        )
    ]
    assert "not-the-token" not in result.stdout + result.stderr


def test_nothing_listening_is_plex_unavailable(cli: Cli) -> None:
    """Nobody at the URL: exit 3, with the cause in plain words."""
    with socket.socket() as probe:  # bound, not listening: refused, and no one else's meanwhile
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
        result = cli("check", env=plex_env(url))
    assert result.returncode == Exit.PLEX_UNAVAILABLE, result.stdout + result.stderr
    assert problems(result) == [
        (
            f"cannot use Plex at {url}: connection refused (ConnectionError); check plex_url, and "
            "that Plex is running"
        )
    ]


def test_a_section_plex_does_not_have_is_named_with_library_sections(
    cli: Cli, fake: FakePlex
) -> None:
    """A library_sections name Plex does not know: exit 5, with the sections Plex has."""
    result = cli("check", env=plex_env(fake.url, library_sections="Films"))
    assert result.returncode == Exit.MISCONFIGURED, result.stdout + result.stderr
    expected = (
        "Plex has no library section 'Films' (sections: 'Movies' (movie), 'TV Shows' (show),"
        " 'Music' (artist)); check library_sections"
    )
    assert problems(result) == [expected]


def test_a_section_that_is_not_a_movie_section_is_refused(cli: Cli, fake: FakePlex) -> None:
    """A TV section named in library_sections cannot take movie edits: exit 5."""
    fake.add_section("Series", locations=["/media/tv"], kind="show")
    result = cli("check", env=plex_env(fake.url, library_sections="Movies,Series"))
    assert result.returncode == Exit.MISCONFIGURED, result.stdout + result.stderr
    assert problems(result)[0].startswith(
        "library section 'Series' is a show section, not a movie one"
    )
    assert problems(result)[0].endswith("; check library_sections")


def test_a_path_outside_every_folder_asks_for_a_mapping(cli: Cli, fake: FakePlex) -> None:
    """A host path no mapping brings into a library folder: exit 5, check path_mappings."""
    env = plex_env(fake.url, path_mappings="/data=/media/movies")
    result = cli("check", "--path", "/elsewhere/b.mkv", "--path", "/data/a.mkv", env=env)
    assert result.returncode == Exit.MISCONFIGURED, result.stdout + result.stderr
    assert (
        "path     /elsewhere/b.mkv (no path_mappings entry applies): outside every library folder"
        in result.stdout
    )
    assert problems(result) == [
        (
            "/elsewhere/b.mkv is outside every library folder (/media/movies, /media/more); "
            "add a path_mappings entry for it"
        )
    ]


def test_a_mapped_path_plex_does_not_have_is_a_problem(cli: Cli, fake: FakePlex) -> None:
    """A path in a library folder that Plex has no item for: exit 1, and no scan is asked for."""
    env = plex_env(fake.url, path_mappings="/data=/media/movies")
    result = cli("check", "--path", "/data/new.mkv", env=env)
    assert result.returncode == Exit.ERROR, result.stdout + result.stderr
    assert "path     /data/new.mkv -> /media/movies/new.mkv: not in Plex" in result.stdout
    assert problems(result)[0].startswith("Plex has no item for /media/movies/new.mkv: ")
    assert problems(result)[0].endswith("check path_mappings")
    assert not [r for r in fake.requests if r.path.endswith("/refresh")]


def test_without_paths_the_newest_queued_jobs_are_looked_up(cli: Cli, fake: FakePlex) -> None:
    """With no --path, the paths of the newest queued jobs are the samples."""
    env = plex_env(fake.url)
    for key, path in (("old", "/media/movies/a.mkv"), ("new", "/media/movies/b.mkv")):
        assert cli("enqueue", "--key", key, "--path", path, env=env).returncode == 0
    result = cli("check", "--samples", "1", "--json", env=env)
    assert result.returncode == Exit.ERROR, result.stdout + result.stderr
    assert "/media/movies/b.mkv" in result.stdout
    assert "/media/movies/a.mkv" not in result.stdout
    empty = Cli(cli.directory / "elsewhere")
    empty.directory.mkdir()
    nothing = empty("check", env=env)
    assert nothing.returncode == Exit.OK, nothing.stdout + nothing.stderr
    assert "path     none queued to look up: give --path HOST_PATH" in nothing.stdout


def test_missing_settings_are_one_line(cli: Cli) -> None:
    """Without a URL the check cannot start: one error line naming the setting."""
    result = cli("check")
    assert result.returncode == Exit.ERROR
    assert result.stderr.strip() == (
        "plexsync: error: missing setting plex_url: set it in plexsync.toml or as PLEXSYNC_PLEX_URL"
    )
