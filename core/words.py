"""Numbers in words people read: ``1 dead letter``, ``2 dead letters``."""

from __future__ import annotations


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """*count* and *noun* in the number it takes: ``counted(1, "job")`` is ``1 job``,
    ``counted(0, "job")`` is ``0 jobs``; *plural* for a noun that does not just take an ``s``.
    """
    return f"{count} {noun if count == 1 else plural or noun + 's'}"
