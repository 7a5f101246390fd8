"""The plugin's settings: Stash's plugin settings merged under plexsync's file and environment."""

from __future__ import annotations

from pathlib import Path

from returns.result import Failure

from shell.stash.mapping import SyncOptions
from shell.stash.settings import STASH_SOURCE, merge, sync_options

STASH = {
    "plex_url": "http://plex.lan:32400",
    "plex_token": "tok-from-stash",
    "library_sections": "Movies, Scenes",
    "path_mappings": "/data=/media; /x=/y",
    "sync_tags": False,
    "sync_background": True,
    "undeclared": 3,
}


def test_stash_settings_fill_what_plexsync_does_not_set(tmp_path: Path) -> None:
    """URL, token, sections and mappings come from Stash's UI; the queue lives in the plugin's
    data folder; the toggles become the sync options.
    """
    merged = merge(STASH, {}, data_dir=str(tmp_path)).unwrap()
    config = merged.config
    assert (config.plex_url, config.plex_token) == ("http://plex.lan:32400", "tok-from-stash")
    assert config.library_sections == ("Movies", "Scenes")
    assert [(m.host_prefix, m.plex_prefix) for m in config.path_mappings] == [
        ("/data", "/media"),
        ("/x", "/y"),
    ]
    assert config.db_path == str(tmp_path / "queue.db")
    assert merged.settings.sources["plex_url"] == STASH_SOURCE
    assert merged.options == SyncOptions(tags=False, art=True)


def test_plexsync_file_then_environment_win_over_stash(tmp_path: Path) -> None:
    """plexsync.toml in the data folder overrides Stash's UI; PLEXSYNC_* overrides both."""
    (tmp_path / "plexsync.toml").write_text(
        'plex_url = "http://from-file:32400"\ndb_path = "/srv/q.db"\n', encoding="utf-8"
    )
    environ = {"PLEXSYNC_DB_PATH": "/env/q.db"}
    merged = merge(STASH, environ, data_dir=str(tmp_path)).unwrap()
    assert (merged.config.plex_url, merged.config.db_path) == (
        "http://from-file:32400",
        "/env/q.db",
    )
    assert merged.settings.sources["db_path"] == "PLEXSYNC_DB_PATH"
    assert merged.config.plex_token == "tok-from-stash"


def test_a_missing_token_says_where_to_set_it(tmp_path: Path) -> None:
    """Without a token anywhere, one line names it and points at Stash's plugin settings."""
    result = merge({"plex_url": "http://p:32400", "plex_token": "  "}, {}, data_dir=str(tmp_path))
    assert result == Failure(
        "missing setting plex_token: set it in plexsync.toml or as PLEXSYNC_PLEX_TOKEN "
        "(set it in Stash: Settings > Plugins > plexsync)"
    )


def test_unset_toggles_keep_their_defaults_and_text_booleans_are_read() -> None:
    """An absent toggle is its default; "false"/"true" written by a script count too."""
    assert sync_options({}) == SyncOptions()
    assert sync_options({"sync_title": "false", "sync_poster": "nonsense"}) == SyncOptions(
        title=False
    )
