"""The plugin's settings: Stash's plugin settings (its UI) merged with plexsync's own.

Stash does not pass a plugin its settings: they are read over GraphQL
(``configuration { plugins(include: ["plexsync"]) }``). An unset setting is absent; a BOOLEAN
arrives as a JSON bool, a STRING as a string (STASH.md §1).

The merge, lowest first (each source fills or overrides what the ones before it gave):

1. the plugin's defaults: the queue at ``<Stash's config folder>/plexsync/queue.db``;
2. Stash's plugin settings (Plex URL, token, library sections, path mappings), where not empty;
3. plexsync's own settings file (``$PLEXSYNC_CONFIG``, else ``plexsync.toml`` in the plugin's
   data folder ``<Stash's config folder>/plexsync/``), as ``shell.settings.load_settings``
   reads it;
4. ``PLEXSYNC_<SETTING>`` variables in Stash's environment.

plexsync's own settings win over Stash's UI because a worker run as a service
(``plexsync run``) reads only them: the hook and that worker must agree on the queue and on
Plex. The sync toggles exist only in Stash's UI.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Final

from attrs import frozen
from returns.result import Failure, Result, Success

from core import PlexSyncConfig
from shell.redact import remember_secret
from shell.settings import Settings, load_settings
from shell.stash.mapping import SyncOptions

STASH_SOURCE: Final = "Stash plugin settings"
DATA_FOLDER: Final = "plexsync"
"""The plugin's data folder, inside Stash's config folder (never inside the plugin folder,
which a reinstall may replace)."""


@frozen
class Setting:
    """One setting of the plugin as its manifest declares it."""

    id: str
    display_name: str
    description: str
    type: str = "STRING"


CONFIG_SETTINGS: Final = (
    Setting("plex_url", "Plex URL", "e.g. http://192.168.1.10:32400"),
    Setting("plex_token", "Plex token", "your X-Plex-Token (kept secret, never logged)"),
    Setting(
        "library_sections",
        "Plex library sections",
        "comma-separated names; empty: every movie section",
    ),
    Setting(
        "path_mappings",
        "Path mappings",
        "Stash path prefix = Plex path prefix, separated by ';' (e.g. /data=/media; /x=/y)",
    ),
)
"""Settings that are plexsync's own too (same names as in plexsync.toml)."""

OPTION_SETTINGS: Final = (
    Setting("sync_title", "Sync title", "on unless turned off", "BOOLEAN"),
    Setting("sync_summary", "Sync details as summary", "on unless turned off", "BOOLEAN"),
    Setting("sync_studio", "Sync studio", "on unless turned off", "BOOLEAN"),
    Setting(
        "sync_studio_collection",
        "Parent studio as a collection",
        "on unless turned off",
        "BOOLEAN",
    ),
    Setting("sync_date", "Sync date", "on unless turned off", "BOOLEAN"),
    Setting("sync_code", "Sync studio code as original title", "on unless turned off", "BOOLEAN"),
    Setting("sync_performers", "Sync performers as actors", "on unless turned off", "BOOLEAN"),
    Setting("sync_tags", "Sync tags as genres", "on unless turned off", "BOOLEAN"),
    Setting("sync_groups", "Sync groups as collections", "on unless turned off", "BOOLEAN"),
    Setting("sync_rating", "Sync rating as Plex user rating", "on unless turned off", "BOOLEAN"),
    Setting("sync_poster", "Sync cover as poster", "on unless turned off", "BOOLEAN"),
    Setting(
        "sync_background", "Sync cover as background art too", "off unless turned on", "BOOLEAN"
    ),
)
"""The sync toggles, ``sync_<option>`` for each ``SyncOptions`` field (``background`` for
``art``)."""

SETTINGS: Final = (*CONFIG_SETTINGS, *OPTION_SETTINGS)


@frozen(kw_only=True)
class PluginSettings:
    """The merged settings: plexsync's config, where each setting came from, the sync options."""

    settings: Settings
    options: SyncOptions
    data_dir: str

    @property
    def config(self) -> PlexSyncConfig:
        """The config of plexsync."""
        return self.settings.config


def data_dir_of(stash_config_dir: object) -> str:
    """The plugin's data folder for a Stash whose config folder is *stash_config_dir*."""
    base = stash_config_dir if isinstance(stash_config_dir, str) and stash_config_dir else "."
    return os.path.join(os.path.abspath(base), DATA_FOLDER)


def merge(
    plugin: Mapping[str, Any], environ: Mapping[str, str], *, data_dir: str
) -> Result[PluginSettings, str]:
    """The settings from Stash's plugin settings *plugin*, plexsync's file and *environ*.

    A missing Plex URL or token, or a bad value, is a one-line ``Failure`` naming the setting
    and where it came from.
    """
    token = plugin.get("plex_token")
    if isinstance(token, str):
        remember_secret(token.strip())
    defaults: dict[str, Any] = {"db_path": os.path.join(data_dir, "queue.db")}
    from_stash = []
    for setting in CONFIG_SETTINGS:
        value = plugin.get(setting.id)
        if isinstance(value, str) and value.strip():
            defaults[setting.id] = value.strip()
            from_stash.append(setting.id)
    match load_settings(None, environ, directory=data_dir, defaults=defaults):
        case Failure(message):
            where = "set it in Stash: Settings > Plugins > plexsync"
            return Failure(f"{message} ({where})" if "missing setting" in message else message)
        case Success(Settings() as loaded):
            sources = dict(loaded.sources)
            for name in from_stash:
                if sources.get(name) == "default":
                    sources[name] = STASH_SOURCE
            settings = Settings(config=loaded.config, sources=sources)
    remember_secret(settings.config.plex_token)
    return Success(
        PluginSettings(settings=settings, options=sync_options(plugin), data_dir=data_dir)
    )


def sync_options(plugin: Mapping[str, Any]) -> SyncOptions:
    """The sync toggles from Stash's plugin settings; an unset one keeps its default."""
    chosen: dict[str, bool] = {}
    for setting in OPTION_SETTINGS:
        name = setting.id.removeprefix("sync_")
        value = plugin.get(setting.id)
        if isinstance(value, str):  # stored by a script as text
            value = {"true": True, "false": False}.get(value.strip().lower())
        if isinstance(value, bool):
            chosen["art" if name == "background" else name] = value
    return SyncOptions(**chosen)
