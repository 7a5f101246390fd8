"""Two views of the breaker no other test read: its table from one state, and a closed breaker's
next probe; the 100 % branch coverage of ``core/`` needs them since the breaker rewrite.
"""

from __future__ import annotations

import pytest

from core import Breaker, BreakerKind
from core.breaker import TRANSITIONS, Signal, moves


@pytest.mark.parametrize("kind", list(BreakerKind))
def test_moves_from_a_state_are_its_rows_of_the_table(kind: BreakerKind) -> None:
    """``moves(kind)`` answers every signal with the table's own row for (kind, signal)."""
    rows = moves(kind)
    assert set(rows) == set(Signal)
    assert all(move is TRANSITIONS[(kind, signal)] for signal, move in rows.items())


def test_a_closed_breaker_waits_for_no_probe() -> None:
    """Only an open or half-open breaker has a next probe."""
    assert Breaker().next_probe_at is None
