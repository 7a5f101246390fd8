"""The demo's scenario at small scale: a real ``plexsync run`` process against the fake Plex
while it goes down, throws 500s and 429s and scans files late.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.demo import Demo


def test_the_demo_scenario_drains_with_only_the_hopeless_jobs_dead_lettered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every job completes but the ambiguous one and the one outside every library folder."""
    status = Demo(tmp_path, jobs=30, outage_seconds=1.5).run(deadline_seconds=60)
    assert (status["waiting"], status["scheduled"], status["running"]) == (0, 0, 0)
    assert status["done"] == 28
    assert status["dead_lettered_by_reason"]["permanent_error"] == 2
    assert status["breaker"] == "closed"
    shown = capsys.readouterr().out
    assert "$ plexsync dlq list" in shown
    assert "scene:twice" in shown
    assert "scene:lost" in shown
