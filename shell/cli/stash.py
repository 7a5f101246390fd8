"""``plexsync stash``: the commands of the Stash plugin (``install-plugin``)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from shell.cli.errors import CliError, Exit


def add_stash(subcommands: Any) -> None:  # noqa: ANN401 - argparse's subparsers action
    """Add ``plexsync stash ...`` to the command line."""
    stash = subcommands.add_parser(
        "stash",
        help="the Stash plugin",
        description="The Stash plugin: install it into Stash's plugins folder.",
        epilog="example:\n  plexsync stash install-plugin ~/.stash/plugins",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    stash.set_defaults(handler=lambda _args: _usage(stash), command_parser=stash)
    # The same parser class as plexsync's own commands: one-line errors, "did you mean".
    commands = stash.add_subparsers(
        dest="stash_command", metavar="COMMAND", parser_class=type(stash)
    )
    install = commands.add_parser(
        "install-plugin",
        help="write the plugin into Stash's plugins folder (again to update it)",
        description="Write the plexsync plugin into Stash's plugins folder; run it again to "
        "update it in place (settings and queue are kept). Then Reload Plugins in Stash.",
        epilog="example:\n  plexsync stash install-plugin ~/.stash/plugins",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    install.set_defaults(command_parser=install)
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
    return Exit.OK


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2
