"""Settings from a TOML file and ``PLEXSYNC_*`` variables: read by the kind of each setting, and a
bad one refused in one line naming the setting and where it came from.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import attrs
import pytest
from returns.result import Failure, Success

from core import PathMapping, PlexSyncConfig
from shell.settings import Settings, config_search_path, describe, load_settings, read_table
from tests.cli_process import Cli

BASE = 'plex_url = "http://p:1"\nplex_token = "t"\n'
"""A file with the two required settings."""

MAPPING_FORMS = "entries must be 'host=plex' or {host = ..., plex = ...}"
"""How a bad path mapping entry is described."""

FILE = "<file>"
"""Stands for the settings file's path in the expected messages."""


def load(tmp_path: Path, toml: str, env: dict[str, str] | None = None) -> Settings | str:
    """The settings from *toml* (as ``plexsync.toml`` in *tmp_path*) and *env*, or the error line
    with the file's path written ``<file>``.
    """
    (tmp_path / "plexsync.toml").write_text(toml, encoding="utf-8")
    match load_settings(None, env or {}, directory=str(tmp_path)):
        case Success(settings):
            return settings
        case Failure(message):
            return message.replace(str(tmp_path / "plexsync.toml"), FILE)
    pytest.fail("load_settings answered neither Success nor Failure")


@pytest.mark.parametrize(
    ("toml", "env", "message"),
    [
        ('plex_url = 3\nplex_token = "t"\n', {}, "<file>: plex_url must be a string, got int"),
        (
            BASE + "sqlite_synchronous = 1\n",
            {},
            "<file>: sqlite_synchronous must be a string, got int",
        ),
        (BASE + "library_sections = 3\n", {}, "<file>: library_sections must be a list, got int"),
        (
            BASE + 'path_mappings = ["/a"]\n',
            {},
            f"<file>: path_mappings {MAPPING_FORMS}, got '/a'",
        ),
        (
            BASE + 'path_mappings = [{host = "/a"}]\n',
            {},
            f"<file>: path_mappings {MAPPING_FORMS}, got {{'host': '/a'}}",
        ),
        (
            BASE + 'path_mappings = ["/a="]\n',
            {},
            "<file>: path_mappings plex_prefix must be a non-empty string",
        ),
        (
            BASE,
            {"PLEXSYNC_MAX_RETRIES": "many"},
            "PLEXSYNC_MAX_RETRIES: max_retries must be a whole number, got 'many'",
        ),
        (
            BASE,
            {"PLEXSYNC_MAX_RETRIES": "2.5"},
            "PLEXSYNC_MAX_RETRIES: max_retries must be a whole number, got '2.5'",
        ),
        (
            BASE,
            {"PLEXSYNC_DLQ_RETENTION_DAYS": "2h"},
            "PLEXSYNC_DLQ_RETENTION_DAYS: dlq_retention_days must be a number of days, got '2h'",
        ),
        (
            BASE,
            {"PLEXSYNC_POLL_INTERVAL": "soon"},
            (
                "PLEXSYNC_POLL_INTERVAL: poll_interval not a duration: 'soon' "
                "(use e.g. 45s, 90m, 6h, 1h30m, 2d)"
            ),
        ),
        (
            BASE,
            {"PLEXSYNC_JITTER_FRACTION": "2"},
            "PLEXSYNC_JITTER_FRACTION: jitter_fraction must be between 0 and 1, got 2.0",
        ),
        (
            BASE + "max_retries = -1\n",
            {},
            "<file>: max_retries must be a whole number >= 0, got -1",
        ),
        (
            BASE + "max_retries = 2.5\n",
            {},
            "<file>: max_retries must be a whole number >= 0, got 2.5",
        ),
        (
            BASE + 'max_retries = "x"\n',
            {},
            "<file>: max_retries must be a whole number, got 'x'",
        ),
        (
            BASE + "retry_wait_max_seconds = 5\n",
            {"PLEXSYNC_RETRY_WAIT_INITIAL_SECONDS": "10"},
            "<file>: retry_wait_max_seconds (5) must be >= retry_wait_initial_seconds (10.0)",
        ),
        (
            BASE + "job_lease_seconds = 10\n",
            {},
            (
                "<file>: job_lease_seconds (10) must be longer than one Plex call "
                "(connect_timeout_seconds + read_timeout_seconds = 35.0)"
            ),
        ),
        (
            BASE,
            {"PLEXSYNC_MAX_RETRYS": "3"},
            "PLEXSYNC_MAX_RETRYS: unknown setting (did you mean max_retries?)",
        ),
        (BASE, {"PLEXSYNC_ZZZ": "3"}, "PLEXSYNC_ZZZ: unknown setting"),
        (
            BASE + "pol_interval = 3\n",
            {},
            "<file>: unknown setting 'pol_interval' (did you mean poll_interval?)",
        ),
        (
            'plex_token = "t"\n',
            {},
            "missing setting plex_url: set it in plexsync.toml or as PLEXSYNC_PLEX_URL",
        ),
        (
            'plex_url = "http://p:1"\n',
            {},
            "missing setting plex_token: set it in plexsync.toml or as PLEXSYNC_PLEX_TOKEN",
        ),
        ("plex_url = [", {}, "<file>: not valid TOML: Invalid value (at end of document)"),
        (
            'plex_url = 3\nplex_token = "t"\n',
            {"PLEXSYNC_MAX_RETRIES": "many"},
            "<file>: plex_url must be a string, got int",
        ),
    ],
)
def test_a_bad_setting_is_one_line_naming_it_and_its_source(
    tmp_path: Path, toml: str, env: dict[str, str], message: str
) -> None:
    """Each bad or missing setting is refused with exactly this line."""
    assert load(tmp_path, toml, env) == message


def test_a_config_file_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    """A missing file, a folder and a missing ``$PLEXSYNC_CONFIG`` are each one line naming it."""
    missing = tmp_path / "nope.toml"
    assert load_settings(str(missing), {}) == Failure(f"config file {missing} does not exist")
    assert load_settings(str(tmp_path), {}) == Failure(
        f"cannot read config file {tmp_path}: Is a directory"
    )
    assert load_settings(None, {"PLEXSYNC_CONFIG": str(missing)}) == Failure(
        f"config file {missing} does not exist"
    )


def test_variables_are_read_by_the_kind_of_setting(tmp_path: Path) -> None:
    """Counts, days, durations, comma lists and ``host=plex;...`` mappings all read from text."""
    settings = load(
        tmp_path,
        BASE,
        {
            "PLEXSYNC_MAX_RETRIES": " 4 ",
            "PLEXSYNC_DLQ_RETENTION_DAYS": " 7 ",
            "PLEXSYNC_POLL_INTERVAL": "2m",
            "PLEXSYNC_LIBRARY_SECTIONS": "Movies, Films ,",
            "PLEXSYNC_PATH_MAPPINGS": "/a=/b; /c = /d",
        },
    )
    assert isinstance(settings, Settings)
    config = settings.config
    expected = (4, 7.0, 120.0, ("Movies", "Films"))
    assert (
        config.max_retries,
        config.dlq_retention_days,
        config.poll_interval,
        config.library_sections,
    ) == expected
    assert config.path_mappings == (PathMapping("/a", "/b"), PathMapping("/c", "/d"))
    assert settings.sources["max_retries"] == "PLEXSYNC_MAX_RETRIES"


def test_the_file_gives_values_as_they_are_typed(tmp_path: Path) -> None:
    """TOML numbers, lists and mapping tables are taken as given; text durations are parsed."""
    settings = load(
        tmp_path,
        BASE + 'poll_interval = "90s"\nmax_retries = 3\nlibrary_sections = ["Movies"]\n'
        'path_mappings = [{host = "/data", plex = "/media"}, "/x=/y"]\n',
    )
    assert isinstance(settings, Settings)
    config = settings.config
    assert (config.poll_interval, config.max_retries, config.library_sections) == (
        90.0,
        3,
        ("Movies",),
    )
    assert config.path_mappings == (PathMapping("/data", "/media"), PathMapping("/x", "/y"))


def test_describe_masks_the_token_and_is_json_ready(tmp_path: Path) -> None:
    """Every setting with its value and source; the token masked, tuples as lists, mappings as
    ``host=plex``, unset settings from ``default``.
    """
    settings = load(
        tmp_path, BASE, {"PLEXSYNC_PATH_MAPPINGS": "/a=/b", "PLEXSYNC_MAX_RETRIES": "4"}
    )
    assert isinstance(settings, Settings)
    described = describe(settings)
    assert described["plex_token"] == {
        "value": "********",
        "source": str(tmp_path / "plexsync.toml"),
    }
    assert described["path_mappings"] == {"value": ["/a=/b"], "source": "PLEXSYNC_PATH_MAPPINGS"}
    assert described["library_sections"] == {"value": [], "source": "default"}
    assert described["max_retries"] == {"value": 4, "source": "PLEXSYNC_MAX_RETRIES"}
    assert described["poll_interval"] == {"value": 5.0, "source": "default"}
    assert list(described) == [field.name for field in attrs.fields(PlexSyncConfig)]


def test_defaults_fill_what_no_source_gives(tmp_path: Path) -> None:
    """Settings given by *defaults* alone are marked as coming from ``default``."""
    loaded = load_settings(
        None, {}, directory=str(tmp_path), defaults={"plex_url": "http://x:1", "plex_token": "u"}
    )
    match loaded:
        case Success(settings):
            assert settings.sources == {"plex_url": "default", "plex_token": "default"}
        case _:
            pytest.fail(f"refused: {loaded}")


@pytest.mark.parametrize(
    "field",
    [f for f in attrs.fields(PlexSyncConfig) if f.default is not attrs.NOTHING],
    ids=lambda f: f.name,
)
def test_every_setting_can_be_given_as_a_variable(
    tmp_path: Path, field: attrs.Attribute[Any]
) -> None:
    """A variable holding a setting's default, written out, reads back as that default."""
    default = field.default
    text = ",".join(default) if isinstance(default, tuple) else str(default)
    settings = load(tmp_path, BASE, {f"PLEXSYNC_{field.name.upper()}": text})
    assert isinstance(settings, Settings), settings
    assert getattr(settings.config, field.name) == default


@pytest.mark.parametrize(
    ("platform", "environ", "user_file"),
    [
        ("linux", {"HOME": "/home/u"}, "/home/u/.config/plexsync/plexsync.toml"),
        ("linux", {"HOME": "/home/u", "XDG_CONFIG_HOME": "/xdg"}, "/xdg/plexsync/plexsync.toml"),
        (
            "darwin",
            {"HOME": "/Users/u"},
            "/Users/u/Library/Application Support/plexsync/plexsync.toml",
        ),
        ("win32", {"HOME": "C:/u", "APPDATA": "C:/u/AppData/Roaming"}, None),
    ],
)
def test_the_settings_file_is_looked_for_in_a_documented_order(
    platform: str, environ: dict[str, str], user_file: str | None
) -> None:
    """The current folder, then the user's config folder, then /etc/plexsync (not on Windows)."""
    found = config_search_path(environ, directory="here", platform=platform)
    if user_file is None:
        assert found == [
            os.path.join("here", "plexsync.toml"),
            os.path.join("C:/u/AppData/Roaming", "plexsync", "plexsync.toml"),
        ]
    else:
        assert found == ["here/plexsync.toml", user_file, "/etc/plexsync/plexsync.toml"]


def test_only_the_first_settings_file_found_is_read(tmp_path: Path) -> None:
    """A missing candidate is passed over; the first that exists is read, and no other."""
    user, system = tmp_path / "user.toml", tmp_path / "system.toml"
    user.write_text(BASE + "max_retries = 2\n")
    system.write_text(BASE + "max_retries = 3\npoll_interval = 9\n")
    loaded = load_settings(None, {}, search=[str(tmp_path / "none.toml"), str(user), str(system)])
    match loaded:
        case Success(settings):
            assert (settings.config.max_retries, settings.config.poll_interval) == (2, 5.0)
            assert settings.sources["max_retries"] == str(user)
        case _:
            pytest.fail(f"refused: {loaded}")


def test_the_user_config_folder_is_where_plexsync_looks(cli: Cli, tmp_path: Path) -> None:
    """A real ``plexsync`` finds its settings in $XDG_CONFIG_HOME/plexsync/ with none in the
    current folder.
    """
    folder = tmp_path / "xdg" / "plexsync"
    folder.mkdir(parents=True)
    (folder / "plexsync.toml").write_text(BASE + "max_retries = 7\n")
    result = cli("config", "--json", env={"XDG_CONFIG_HOME": str(tmp_path / "xdg")})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["max_retries"] == {
        "value": 7,
        "source": str(folder / "plexsync.toml"),
    }


def test_a_relative_db_path_is_beside_its_file_and_a_variable_is_as_given(tmp_path: Path) -> None:
    """In a file, ``db_path = "q.db"`` is the file's folder's q.db; in a variable it stays
    relative to wherever the command runs.
    """
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "plexsync.toml").write_text(BASE + 'db_path = "q.db"\n')
    from_file = load_settings(str(folder / "plexsync.toml"), {})
    from_variable = load_settings(str(folder / "plexsync.toml"), {"PLEXSYNC_DB_PATH": "v.db"})
    match from_file, from_variable:
        case Success(file_settings), Success(variable_settings):
            assert file_settings.config.db_path == str(folder / "q.db")
            assert variable_settings.config.db_path == "v.db"
        case _:
            pytest.fail(f"refused: {from_file}, {from_variable}")


def test_a_table_of_settings_from_another_file_is_read_as_settings_are() -> None:
    """A scenario's [config]: durations with units, names checked with a guess, values checked."""
    assert read_table({"poll_interval": "2m"}, "s.toml").map(lambda c: c.poll_interval) == (
        Success(120.0)
    )
    assert read_table({"max_retrys": 1}, "s.toml") == Failure(
        "s.toml: unknown setting 'max_retrys' (did you mean max_retries?)"
    )
    assert read_table({"max_retries": "x"}, "s.toml") == Failure(
        "s.toml: max_retries must be a whole number, got 'x'"
    )
