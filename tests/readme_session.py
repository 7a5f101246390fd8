r"""The README as a terminal session: its code blocks, in order, run by one shell in one folder
against one fake Plex, and each command's output set beside what the README shows.

How each block is taken:

- ``console``: each ``$ `` line is a command (a line ending in ``\`` goes on to the next); the
  lines after it, up to the next command, are its output, stdout and stderr together, as a
  terminal shows them. No lines means no output. A line ``...`` stands for any lines, and
  ``...`` within a line for any text. Instants (``2026-11-28T12:04:37Z``), durations (``4m10s``)
  and wall times (``4.14 s``) may differ, and so may the width of aligned columns. Every
  command must exit 0: one that should not shows its status itself (``|| echo "exit status $?"``).
- ``python``: run as written by the session's Python, in the same folder and environment; it
  must print nothing.
- ``toml`` starting ``# plexsync.toml``: written to ``plexsync.toml`` in the folder.
- ``mermaid``, and any block inside a generated region: the code's own output (the generated
  blocks have their own test).
- A block right after ``<!-- not run: REASON -->`` is not run; such blocks must be rare and say
  why they cannot be.

The README's stand-ins are put in for what the test has (and put back in the output): its Plex
``http://plex.lan:32400`` is the fake, its token ``YOUR-PLEX-TOKEN`` the fake's, its
``/var/lib/plexsync`` a folder of the test's.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from attrs import frozen

FENCE = re.compile(
    r"^(?P<indent> *)```(?P<language>\w*)\n(?P<body>.*?)^(?P=indent)```$", re.MULTILINE | re.DOTALL
)
NOT_RUN = re.compile(r"<!-- not run: (?P<reason>[^\n]+?) -->\s*\Z")
GENERATED = re.compile(r"<!-- generated: [a-z-]+ -->.*?<!-- end generated -->", re.DOTALL)
SEPARATOR = re.compile(r"\n\x1e(?P<step>\d+) (?P<status>\d+)\x1e\n")

PLEX_URL = "http://plex.lan:32400"
TOKEN_PLACEHOLDER = "YOUR-PLEX-TOKEN"
STATE_FOLDER = "/var/lib/plexsync"


@frozen
class Block:
    """A fenced block of the README."""

    language: str
    body: str
    line: int
    """The README's line number of the block's first line of content."""
    not_run: str | None
    """Why it is not run, if it is marked so."""
    generated: bool


@frozen
class Step:
    """One thing the session does: a command, a Python block or a file written."""

    script: str
    """What the shell runs for it."""
    line: int
    shown: str
    """As the README shows it."""
    expected: tuple[str, ...] | None
    """The output the README shows (``None``: not compared, for files written)."""


def blocks(readme: str) -> list[Block]:
    """Every fenced block of *readme*, in order."""
    generated = [m.span() for m in GENERATED.finditer(readme)]
    found = []
    for match in FENCE.finditer(readme):
        before = readme[: match.start()]
        marker = NOT_RUN.search(before.rstrip() + "\n")
        indent = len(match.group("indent"))
        body = "".join(line[indent:] for line in match.group("body").splitlines(keepends=True))
        found.append(
            Block(
                language=match.group("language"),
                body=body,
                line=before.count("\n") + 2,
                not_run=marker.group("reason") if marker else None,
                generated=any(start < match.start() < end for start, end in generated),
            )
        )
    return found


def steps(block: Block) -> list[Step]:
    """What the session does for *block*; a block of an unknown kind is an error."""
    if block.not_run is not None or block.generated or block.language == "mermaid":
        return []
    match block.language:
        case "console":
            return _commands(block)
        case "python":
            script = f"\"$PYTHON\" - <<'README_PY'\n{block.body}README_PY"
            return [Step(script=script, line=block.line, shown="(python)", expected=())]
        case "toml" if block.body.startswith("# plexsync.toml\n"):
            script = f"cat > plexsync.toml <<'README_TOML'\n{block.body}README_TOML"
            return [Step(script=script, line=block.line, shown="(plexsync.toml)", expected=None)]
        case _:
            raise ValueError(f"README line {block.line}: a {block.language or 'plain'} block")


def _commands(block: Block) -> list[Step]:
    found: list[Step] = []
    command: list[str] = []
    output: list[str] = []
    line = block.line
    for number, text in enumerate(block.body.splitlines(), start=block.line):
        if command and command[-1].endswith("\\"):
            command.append(text)
        elif text.startswith("$ "):
            if command:
                found.append(_command(command, line, output))
            command, output, line = [text[2:]], [], number
        elif not command:
            raise ValueError(f"README line {number}: output before any command: {text!r}")
        else:
            output.append(text)
    if command:
        found.append(_command(command, line, output))
    return found


def _command(lines: list[str], line: int, output: list[str]) -> Step:
    text = "\n".join(lines)
    return Step(script=text, line=line, shown=text, expected=tuple(output))


def run(
    steps_: Sequence[Step], *, folder: Path, env: Mapping[str, str], stand_ins: Mapping[str, str]
) -> list[tuple[Step, int, list[str]]]:
    """Run every step in one shell; each step with its exit status and its output lines (the
    stand-ins put back).
    """
    script = ["exec 2>&1"]
    for number, step in enumerate(steps_):
        script += [_stand_in(step.script, stand_ins), f"printf '\\n\\036{number} %d\\036\\n' $?"]
    result = subprocess.run(
        ["bash", "--noprofile", "--norc"],
        input="\n".join(script) + "\n",
        capture_output=True,
        text=True,
        cwd=folder,
        env={**env, "PYTHON": sys.executable},
        check=False,
        timeout=600,
    )
    parts = SEPARATOR.split(result.stdout)
    outputs = parts[0::3]
    statuses = [int(s) for s in parts[2::3]]
    done = []
    for step, status, output in zip(steps_, statuses, outputs, strict=False):
        back = output
        for readme_text, test_text in sorted(stand_ins.items(), key=lambda i: -len(i[1])):
            back = back.replace(test_text, readme_text)
        done.append((step, status, back.splitlines()))
    if len(done) < len(steps_):
        raise AssertionError(f"the session stopped early:\n{result.stdout[-3000:]}")
    return done


def _stand_in(text: str, stand_ins: Mapping[str, str]) -> str:
    for readme_text, test_text in stand_ins.items():
        text = text.replace(readme_text, test_text)
    return text


_INSTANT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
_DURATION = re.compile(r"(?<![\w.])\d+[dhms](?:\d+[hms])*(?!\w)")
_WALL = re.compile(r"\d+\.\d+ s\b")


def normal(line: str) -> str:
    """*line* with what may differ between runs made alike."""
    line = _INSTANT.sub("<instant>", line)
    line = _WALL.sub("<seconds>", line)
    line = _DURATION.sub("<duration>", line)
    return " ".join(line.split())


def matches(expected: Sequence[str], actual: Sequence[str]) -> bool:
    """Whether *actual* output lines are what the README shows (see the module docstring)."""
    if not expected:
        return not actual
    first, rest = expected[0], expected[1:]
    if first.strip() == "...":
        return any(matches(rest, actual[skip:]) for skip in range(len(actual) + 1))
    if not actual:
        return False
    pattern = ".*".join(re.escape(part) for part in normal(first).split("..."))
    return bool(re.fullmatch(pattern, normal(actual[0]))) and matches(rest, actual[1:])
