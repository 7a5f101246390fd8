"""What every plugin run starts from: Stash's connection, the plugin's settings and the log.

``PluginError`` is a failure to report: its message becomes one error line in Stash's log and
the ``error`` of the run's answer.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Final

from attrs import define, field
from returns.result import Failure, Success

from shell.redact import remember_secret
from shell.stash.graphql import PLUGIN_ID, Connection, StashClient
from shell.stash.settings import PluginSettings, data_dir_of, merge
from shell.stash.stashlog import StashLog

PENDING_FILE: Final = "pending_scenes.txt"
"""Scenes a hook could not read from Stash, for the next run to take up."""


class PluginError(Exception):
    """A failure of this run, said in one line for Stash's log."""


@define
class Run:
    """One plugin process: how to reach Stash, where its data lives, where to log."""

    client: StashClient
    data_dir: str
    console: StashLog
    """Stash's log (this process's stderr)."""
    environ: Mapping[str, str]
    plugin_values: dict[str, Any] = field(factory=dict)
    """The plugin's settings as Stash stores them (once read)."""
    api_key: str = ""
    """Stash's API key (once read; empty when Stash has none)."""

    @classmethod
    def start(
        cls, plugin_input: Mapping[str, Any], console: StashLog, environ: Mapping[str, str]
    ) -> Run:
        """The run described by the plugin's stdin."""
        server = plugin_input.get("server_connection")
        connection = Connection.from_plugin_input(server)
        data_dir = data_dir_of(server.get("Dir") if isinstance(server, Mapping) else None)
        return cls(StashClient(connection), data_dir, console, environ)

    def settings(self, configuration: Mapping[str, Any]) -> PluginSettings:
        """The merged settings, from the ``configuration`` Stash answered (``SETTINGS_FIELD``);
        Stash's API key is remembered as a secret on the way.
        """
        general = configuration.get("general")
        api_key = general.get("apiKey") if isinstance(general, Mapping) else None
        if isinstance(api_key, str):
            remember_secret(api_key)
            self.api_key = api_key
        plugins = configuration.get("plugins")
        values = plugins.get(PLUGIN_ID) if isinstance(plugins, Mapping) else None
        self.plugin_values = dict(values) if isinstance(values, Mapping) else {}
        match merge(self.plugin_values, self.environ, data_dir=self.data_dir):
            case Failure(message):
                raise PluginError(f"plexsync is not set up: {message}")
            case Success(PluginSettings() as settings):
                os.makedirs(self.data_dir, exist_ok=True)
                return settings
        raise AssertionError("unreachable")  # pragma: no cover - a Result is one of the two

    # -------------------------------------------------------------- scenes to take up later
    def remember_pending(self, scene_id: int) -> None:
        """Note a scene whose hook failed, for the next run."""
        os.makedirs(self.data_dir, exist_ok=True)
        with open(os.path.join(self.data_dir, PENDING_FILE), "a", encoding="utf-8") as handle:
            handle.write(f"{scene_id}\n")

    def take_pending(self) -> list[int]:
        """The scenes noted by failed hooks (each once), forgetting them."""
        path = os.path.join(self.data_dir, PENDING_FILE)
        taken = f"{path}.{os.getpid()}"
        try:
            os.replace(path, taken)
        except FileNotFoundError:
            return []
        with open(taken, encoding="utf-8") as handle:
            ids = [int(line) for line in handle if line.strip().isdigit()]
        os.remove(taken)
        return list(dict.fromkeys(ids))
