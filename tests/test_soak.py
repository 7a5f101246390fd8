"""A smaller soak in every test run (``just soak`` runs the full one): six hours of simulated
time, edits arriving throughout, every kind of fault and clock jump, a few poisoned files.
"""

from __future__ import annotations

from pathlib import Path

from core import PauseCause
from shell.simulated_plex import Scenario, Window
from shell.soak import FAULTS, SoakSpec, plan, soak
from shell.soak import _unexplained_outages as unexplained
from tests.builders import make_config
from tests.small_disk import mounted

SPEC = SoakSpec(jobs=2000, hours=6, seed=7)


def test_a_six_hour_soak_loses_nothing_and_records_exactly_the_injected_outages() -> None:
    """Nothing lost, stuck or done twice; only poisoned files in the DLQ; an outage record for
    every fault that met work and none without one; every kind of fault met work.
    """
    result = soak(SPEC)
    assert result.problems == ()
    assert all(result.faults_met[kind] for kind in FAULTS), result.faults_met
    assert result.faults["clock_jumps"] == SPEC.clock_jumps
    assert result.outages_recorded == result.outages_expected
    poisoned = result.faults["refused_files"] + result.faults["poisoned_files"]
    assert 0 < sum(result.dead_letters.values()) >= poisoned


def test_a_soak_whose_disk_fills_now_and_then_loses_nothing(tmp_path: Path) -> None:
    """The same soak with its queue on a small filesystem that is filled three times: the host's
    edits are refused while it is full and sent again later, the worker waits for space, and
    still nothing is lost, stuck or done twice, and the outage records match the faults.
    """
    for disk in mounted(tmp_path, size="64m"):
        result = soak(SPEC, full_disk_at=str(disk.root))
        assert result.problems == ()
        assert result.faults["full_disk"] == SPEC.full_disk_windows
        assert result.faults["edits_refused_by_full_disk"] > 0
        assert result.outages_recorded == result.outages_expected


def test_the_schedule_is_the_seeds() -> None:
    """The same seed plans the same faults, jumps and edits; another seed plans others."""
    assert plan(SPEC) == plan(SPEC)
    assert plan(SPEC) != plan(SoakSpec(jobs=2000, hours=6, seed=8))


def test_an_outage_no_fault_explains_is_a_problem() -> None:
    """The check of outage records can fail: an outage outside every window of its kind (or of
    another cause than its window's) is reported.
    """
    config = make_config()
    scenario = Scenario(outages=[Window(100, 50)], token_rejected=[Window(1000, 50)])
    assert unexplained([object()], [(120.0, PauseCause.OUTAGE)], scenario, config) == []
    assert unexplained([object()], [(1020.0, PauseCause.OUTAGE)], scenario, config)
    assert unexplained([], [(120.0, PauseCause.OUTAGE)], scenario, config)
