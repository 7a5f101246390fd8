"""``plexsync stash``: the commands of the Stash plugin (``install-plugin``)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from shell.cli.building import add_command, add_group
from shell.cli.errors import CliError, Exit


def add_stash(subcommands: Any) -> None:  # noqa: ANN401 - argparse's subparsers action
    """Add ``plexsync stash ...`` to the command line."""
    commands = add_group(
        subcommands,
        "stash",
        "the Stash plugin",
        description="The Stash plugin: install it into Stash's plugins folder.",
        example="plexsync stash install-plugin ~/.stash/plugins",
    )
    install = add_command(
        commands,
        "install-plugin",
        install_command,
        "write the plexsync plugin into Stash's plugins folder; run it again to update it in "
        "place (settings and queue are kept), then Reload Plugins in Stash",
        example="plexsync stash install-plugin ~/.stash/plugins",
        data=False,
    )
    install.add_argument(
        "plugins_dir",
        metavar="STASH_PLUGINS_DIR",
        help="Stash's plugins folder (Settings > System > Plugins path)",
    )
    install.add_argument(
        "--python",
        metavar="PATH",
        help="the interpreter Stash should run (default: this one, which has plexsync)",
    )


def install_command(args: argparse.Namespace) -> int:
    """``plexsync stash install-plugin``."""
    from shell.stash.install import install_plugin, stray_manifests  # noqa: PLC0415

    try:
        folder = install_plugin(args.plugins_dir, python=args.python)
    except OSError as exc:
        raise CliError(str(exc)) from None
    print(f"installed the plexsync plugin in {folder}")
    for stray in stray_manifests(folder):
        print(f"warning: {os.path.join(folder, stray)} will load as another plugin; remove it")
    print("next: in Stash, Settings > Plugins > Reload plugins, then set the Plex URL and token")
    return Exit.OK
