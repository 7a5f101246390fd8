"""The README's state diagrams, generated from the core's transition tables so they cannot drift.

``python -m shell.diagrams`` rewrites the generated blocks of README.md in place;
``tests/test_readme.py`` fails when they differ from what the tables say.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Final

from core import JOB_TRANSITIONS, TRANSITIONS, BreakerKind, JobState
from core.breaker import changes_anything

_BLOCK: Final = re.compile(
    r"(<!-- generated: (?P<name>[a-z-]+) -->\n)(.*?)(<!-- end generated -->)", re.DOTALL
)


def breaker_diagram() -> str:
    """The breaker's states and moves, as a Mermaid state diagram."""
    lines = ["stateDiagram-v2", f"    [*] --> {BreakerKind.CLOSED.value}"]
    lines += [
        f"    {source.value} --> {move.target.value}: {signal.value}"
        for (source, signal), move in TRANSITIONS.items()
        if changes_anything(move)
    ]
    return _fenced(lines)


def job_diagram() -> str:
    """A job's life, as a Mermaid state diagram (``[*]`` is "not in the database")."""
    lines = ["stateDiagram-v2"]
    for (source, signal), target in JOB_TRANSITIONS.items():
        lines.append(f"    {_job_state(source)} --> {_job_state(target)}: {signal.value}")
    return _fenced(lines)


GENERATED: Final = {"breaker-diagram": breaker_diagram, "job-diagram": job_diagram}


def render(readme: str) -> str:
    """*readme* with every generated block replaced by what the tables say now."""

    def replace(match: re.Match[str]) -> str:
        content = GENERATED[match.group("name")]()
        return f"{match.group(1)}{content}{match.group(4)}"

    return _BLOCK.sub(replace, readme)


def _job_state(state: JobState | None) -> str:
    return "[*]" if state is None else state.value


def _fenced(lines: list[str]) -> str:
    return "```mermaid\n" + "\n".join(lines) + "\n```\n"


def main() -> int:
    """Rewrite README.md's generated blocks; exit 1 if the file had to change."""
    path = Path("README.md")
    text = path.read_text(encoding="utf-8")
    updated = render(text)
    if updated == text:
        return 0
    path.write_text(updated, encoding="utf-8")
    print("README.md: generated diagrams updated", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
