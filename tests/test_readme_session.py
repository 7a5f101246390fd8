"""The README runs as written: every block of shell commands and Python, in order, in one
terminal session against a fake Plex standing in for the README's (``tests/readme_session.py``
says how each block is taken). Blocks that cannot run are marked, and must be few and say why.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import readme_session as session
from tests.builders import TOKEN
from tests.fake_plex import FakePlex

README = Path(__file__).resolve().parent.parent / "README.md"
MOST_NOT_RUN = 3
"""Blocks that may be marked not run: the few that cannot run in a test at all."""


@pytest.fixture
def plex() -> Iterator[FakePlex]:
    """The README's Plex: a Movies section and a Home videos one, which share a folder."""
    with FakePlex(TOKEN, friendly_name="living-room") as server:
        movies = server.add_section("Movies", locations=["/media"])
        home = server.add_section("Home videos", locations=["/media/shared"])
        for name in ("a", "b", "c"):
            server.add_item(movies, f"/media/{name}.mkv", title=name)
        server.add_item(movies, "/media/shared/twice.mkv", title="twice")
        server.add_item(home, "/media/shared/twice.mkv", title="twice")
        yield server


def test_blocks_not_run_are_few_and_say_why() -> None:
    """At most a few blocks are marked not run, each with its reason."""
    marked = [b for b in session.blocks(README.read_text(encoding="utf-8")) if b.not_run]
    assert len(marked) <= MOST_NOT_RUN, [b.line for b in marked]
    for block in marked:
        assert block.not_run is not None
        assert len(block.not_run.split()) >= 6, f"README line {block.line}: say why"


def test_the_readme_runs_as_written(tmp_path: Path, plex: FakePlex) -> None:
    """Each command prints what the README shows and exits 0; each Python block runs silently."""
    folder = tmp_path / "work"
    state = tmp_path / "var-lib-plexsync"
    home = tmp_path / "home"
    for made in (folder, state, home):
        made.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLEXSYNC_", "XDG_"))}
    env |= {"HOME": str(home), "PATH": f"{Path(sys.executable).parent}:{env['PATH']}"}
    stand_ins = {
        session.PLEX_URL: plex.url,
        session.TOKEN_PLACEHOLDER: TOKEN,
        session.STATE_FOLDER: str(state),
    }
    steps = [
        s for b in session.blocks(README.read_text(encoding="utf-8")) for s in session.steps(b)
    ]
    assert len(steps) > 20
    ran = session.run(steps, folder=folder, env=env, stand_ins=stand_ins)
    for step, status, output in ran:
        shown = "\n".join(output)
        assert status == 0, f"README line {step.line}: `{step.shown}` exited {status}:\n{shown}"
        if step.expected is not None:
            assert session.matches(step.expected, output), (
                f"README line {step.line}: `{step.shown}` printed:\n{shown}\n"
                f"--- the README shows:\n" + "\n".join(step.expected)
            )
    assert plex.item_by_path("/media/a.mkv").title == "A"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("expected", "actual", "same"),
    [
        (["a", "b"], ["a", "b"], True),
        (["a"], ["a", "b"], False),
        ([], [], True),
        ([], ["x"], False),
        (["a", "...", "z"], ["a", "b", "c", "z"], True),
        (["a", "...", "z"], ["a", "z"], True),
        (["a", "...", "z"], ["a", "b"], False),
        (["id  key ... x"], ["id key  anything at all x"], True),
        (["queued 4m10s ago"], ["queued 1h2s ago"], True),
        (["at 2026-11-28T12:04:37Z"], ["at 2030-01-01T00:00:00Z"], True),
        (["in 4.14 s of wall time"], ["in 0.93 s of wall time"], True),
        (["queued 3 jobs"], ["queued 4 jobs"], False),
    ],
)
def test_output_is_compared_as_the_readme_says(
    expected: list[str], actual: list[str], same: bool
) -> None:
    """``...`` stands for lines or text; instants, durations and column widths may differ."""
    assert session.matches(expected, actual) is same


def test_a_block_of_an_unknown_kind_is_refused() -> None:
    """A block the session would not know how to take fails, rather than going unchecked."""
    (block,) = session.blocks("text\n\n```\nplexsync status\n```\n")
    with pytest.raises(ValueError, match="README line 4: a plain block"):
        session.steps(block)
