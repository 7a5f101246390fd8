"""``plexsync stash``: the commands of the Stash plugin (``install-plugin``)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from shell.cli.errors import EXIT_OK, CliError


def add_stash(subcommands: Any) -> None:  # noqa: ANN401 - argparse's subparsers action
    """Add ``plexsync stash ...`` to the command line."""
    stash = subcommands.add_parser("stash", help="the Stash plugin")
    stash.set_defaults(handler=lambda _args: _usage(stash))
    commands = stash.add_subparsers(dest="stash_command", metavar="COMMAND")
    install = commands.add_parser(
        "install-plugin",
        help="write the plugin into Stash's plugins folder (again to update it)",
        description="Write the plexsync plugin into Stash's plugins folder; run it again to "
        "update it in place (settings and queue are kept). Then Reload Plugins in Stash.",
    )
    install.add_argument("plugins_dir", metavar="STASH_PLUGINS_DIR")
    install.add_argument(
        "--python",
        metavar="PATH",
        help="the interpreter Stash should run (default: this one, which has plexsync)",
    )
    install.set_defaults(handler=install_command)


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
    return EXIT_OK


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2
