"""The README's state diagrams, from the core's transition tables (``shell.docgen`` puts them in
the README, so they cannot drift).
"""

from __future__ import annotations

from core import JOB_TRANSITIONS, TRANSITIONS, BreakerKind, JobState
from core.breaker import changes_anything


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


def _job_state(state: JobState | None) -> str:
    return "[*]" if state is None else state.value


def _fenced(lines: list[str]) -> str:
    return "```mermaid\n" + "\n".join(lines) + "\n```\n"
