"""The plugin folder Stash loads: ``plexsync.yml`` (the manifest; the plugin id is its name) and
``plexsync_stash.py`` (a launcher that hands over to ``shell.stash.plugin``).

The manifest's ``exec`` names the absolute path of the interpreter that has plexsync installed
(Stash runs any other program than ``python``/``python3`` as it is, environment untouched), and
the launcher by ``{pluginDir}``, which Stash replaces. Stash decodes manifests strictly (an
unknown key skips the plugin), so only its keys are written; strings are JSON-quoted, which YAML
reads as they are. Reinstalling rewrites both files in place: the settings (kept by Stash under
the plugin id) and the queue (in Stash's config folder, not here) stay.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Final

import core
from shell.stash.graphql import PLUGIN_ID
from shell.stash.hook import SCENE_HOOKS
from shell.stash.settings import SETTINGS
from shell.stash.tasks import TASKS

MANIFEST: Final = f"{PLUGIN_ID}.yml"
LAUNCHER: Final = "plexsync_stash.py"

LAUNCHER_TEXT: Final = '''"""Stash runs this file for the plexsync plugin (see plexsync.yml).

It hands over to plexsync, installed for the interpreter the manifest names.
Written by `plexsync stash install-plugin`.
"""
import json
import sys

try:
    from shell.stash.plugin import main
except ImportError as exc:
    sys.stderr.write("\\x01e\\x02plexsync is not installed for " + sys.executable + "\\n")
    sys.stdout.write(json.dumps({"output": None, "error": "plexsync cannot start: " + str(exc)}))
    raise SystemExit(0) from None
raise SystemExit(main())
'''


def manifest(python: str) -> str:
    """The manifest's text, for a plugin run by the interpreter at *python*."""
    q = json.dumps
    lines = [
        f"# {MANIFEST}: written by `plexsync stash install-plugin`; reinstall to update it.",
        f"name: {q('plexsync')}",
        f"description: {q('Sync scene metadata and covers to Plex, through a durable queue')}",
        f"version: {q(core.__version__)}",
        f"exec: [{q(python)}, {q('{pluginDir}/' + LAUNCHER)}]",
        "interface: raw",
        "errLog: error",
        "hooks:",
        f"  - name: {q('Queue scene for Plex')}",
        f"    description: {q('Queue a created or updated scene for Plex')}",
        f"    triggeredBy: [{', '.join(SCENE_HOOKS)}]",
        "tasks:",
    ]
    for task in TASKS:
        lines += [
            f"  - name: {q(task.name)}",
            f"    description: {q(task.description)}",
            "    defaultArgs:",
            f"      mode: {q(task.mode)}",
        ]
    lines.append("settings:")
    for setting in SETTINGS:
        lines += [
            f"  {setting.id}:",
            f"    displayName: {q(setting.display_name)}",
            f"    description: {q(setting.description)}",
            f"    type: {setting.type}",
        ]
    return "\n".join(lines) + "\n"


def install_plugin(plugins_dir: str, *, python: str | None = None) -> str:
    """Write (or rewrite) the plugin folder inside Stash's *plugins_dir*; returns its path."""
    if not os.path.isdir(plugins_dir):
        raise FileNotFoundError(f"{plugins_dir} is not a folder (Stash's plugins folder)")
    folder = os.path.join(os.path.abspath(plugins_dir), PLUGIN_ID)
    os.makedirs(folder, exist_ok=True)
    interpreter = python or sys.executable
    for name, text in ((LAUNCHER, LAUNCHER_TEXT), (MANIFEST, manifest(interpreter))):
        partial = os.path.join(folder, f".{name}.part")
        with open(partial, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(partial, os.path.join(folder, name))
    return folder


def stray_manifests(folder: str) -> list[str]:
    """Other ``.yml`` files in the plugin folder, each of which Stash would load as a plugin."""
    return sorted(n for n in os.listdir(folder) if n.endswith(".yml") and n != MANIFEST)
