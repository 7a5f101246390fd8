"""Every command's help: it works, every option in it is explained, and it ends with an example
that is a command line plexsync accepts.
"""

from __future__ import annotations

import argparse
import shlex

import pytest

from shell.cli.parser import build_parser
from tests.cli_process import Cli


def commands(
    parser: argparse.ArgumentParser | None = None, prefix: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every parser of the command line, by the words that reach it (the top level is ``()``)."""
    parser = parser or build_parser()
    found = [(prefix, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += commands(sub, (*prefix, name))
    return found


COMMANDS = commands()
IDS = [" ".join(words) or "plexsync" for words, _ in COMMANDS]


@pytest.mark.parametrize("words", [w for w, _ in COMMANDS], ids=IDS)
def test_every_command_has_help_ending_with_an_example(cli: Cli, words: tuple[str, ...]) -> None:
    """``--help`` exits 0 and its last lines are an example of the command."""
    result = cli(*words, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: plexsync")
    last = result.stdout.rstrip().splitlines()[-2:]
    assert last[0] == "example:"
    assert last[1].startswith("  ")
    assert f"plexsync {' '.join(words)}".rstrip() in last[1]


@pytest.mark.parametrize(("words", "parser"), COMMANDS, ids=IDS)
def test_every_option_has_help_text(
    words: tuple[str, ...], parser: argparse.ArgumentParser
) -> None:
    """No option or argument is left unexplained in ``--help``."""
    del words
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            continue
        assert action.help, action.option_strings or action.dest
        assert action.help != argparse.SUPPRESS


@pytest.mark.parametrize(("words", "parser"), COMMANDS, ids=IDS)
def test_every_example_is_a_command_line_plexsync_accepts(
    words: tuple[str, ...], parser: argparse.ArgumentParser
) -> None:
    """The example parses as it is written (variables before it, a pipe or redirection after it
    are the shell's).
    """
    example = (parser.epilog or "").rstrip().splitlines()[-1].strip()
    argv = shlex.split(example.split(" > ")[0].split(" || ")[0])
    while "=" in argv[0]:  # NAME=value before the command
        argv.pop(0)
    assert argv[0] == "plexsync"
    assert tuple(argv[1 : 1 + len(words)]) == words
    build_parser().parse_args(argv[1:])
