"""The README cannot drift from the code: its diagrams come from the transition tables, its
Quick start is the one CI runs, and every command is documented.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from core import ErrorClass, explain
from shell import diagrams
from shell.cli import _parser
from shell.diagrams import breaker_diagram, job_diagram, render
from tests.builders import make_config

README = Path(__file__).resolve().parent.parent / "README.md"


def test_generated_diagrams_match_the_transition_tables() -> None:
    """Regenerating the README's diagrams from core's tables changes nothing."""
    text = README.read_text(encoding="utf-8")
    assert render(text) == text, "run: python -m shell.diagrams"
    assert breaker_diagram() in text
    assert job_diagram() in text


def test_every_command_is_documented_with_an_example() -> None:
    """Each command (and each dlq command) appears in the README as it is typed."""
    text = README.read_text(encoding="utf-8")
    parser = _parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name, sub in commands.items():
        if name == "dlq":
            for dlq_name in sub._subparsers._group_actions[0].choices:  # type: ignore[union-attr]
                assert f"plexsync dlq {dlq_name}" in text
        else:
            assert f"plexsync {name}" in text


def test_the_generator_rewrites_a_stale_readme(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``python -m shell.diagrams`` fixes a drifted diagram and says so with its exit status."""
    stale = README.read_text(encoding="utf-8").replace("--> running: claimed", "--> lost")
    (tmp_path / "README.md").write_text(stale, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert diagrams.main() == 1
    assert (tmp_path / "README.md").read_text(encoding="utf-8") == README.read_text(
        encoding="utf-8"
    )
    assert diagrams.main() == 0


def test_the_explain_excerpt_quotes_todays_summaries() -> None:
    """Every ``class: summary`` line the README shows is what explain says for the defaults."""
    lines = README.read_text(encoding="utf-8").splitlines()
    classes = tuple(f"{error_class.value}: " for error_class in ErrorClass)
    quoted = [line for line in lines if line.startswith(classes)]
    said = {f"{s.error_class.value}: {s.summary}" for s in explain(make_config())}
    assert quoted
    assert set(quoted) <= said
