"""Reconcile: a scene compared with what Plex holds for its file (a pure function), then the task
run as Stash runs it against the fake Stash and the fake Plex: only scenes whose Plex item is
missing or differs are queued, and the counts are reported.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest
import requests

from core import ErrorClass, Failed
from shell.held import Held
from shell.stash.mapping import Mapped, SyncOptions, map_scene
from shell.stash.reconcile import Comparison, Verdict, compare
from shell.worker.presence import announce
from tests.builders import TOKEN
from tests.fake_plex import FakePlex
from tests.fake_stash import FakeStash
from tests.stash_plugin import JPEG, InstalledPlugin

SCENE: dict[str, Any] = {
    "id": "7",
    "title": "A",
    "details": "One.",
    "files": [{"path": "/media/a.mp4"}],
    "studio": None,
    "performers": [{"name": "Ann"}],
    "tags": [],
    "groups": [],
}
IN_PLEX = Held(
    rating_key=1000,
    item=ET.fromstring(  # noqa: S314 - our own text
        """<Video ratingKey="1000" title="A" summary="One.">
          <Role tag="Ann"/>
          <Field name="title" locked="1"/><Field name="summary" locked="1"/>
          <Field name="actor" locked="1"/><Field name="genre" locked="1"/>
          <Field name="collection" locked="1"/>
        </Video>"""
    ),
)
"""What Plex holds once `SCENE` is synced."""


def job(**changes: Any) -> Mapped:
    """The job of `SCENE` with *changes*, as a hook or task maps it."""
    return map_scene(SCENE | changes, SyncOptions()).unwrap()


@pytest.mark.parametrize(
    ("mapped", "found", "expected"),
    [
        (job(), IN_PLEX, Comparison(Verdict.AGREES)),
        (
            job(performers=[{"name": "Anna"}]),
            IN_PLEX,
            Comparison(Verdict.DIFFERS, ("performers lack 'Anna'", "performers still have 'Ann'")),
        ),
        (
            job(),
            Failed(ErrorClass.NOT_FOUND, "no Plex item for /media/a.mp4 yet"),
            Comparison(Verdict.MISSING, ("no Plex item for /media/a.mp4 yet",)),
        ),
        (
            job(),
            Failed(ErrorClass.PERMANENT, "/media/a.mp4 is outside every library folder"),
            Comparison(Verdict.UNMATCHED, ("/media/a.mp4 is outside every library folder",)),
        ),
        (
            job(files=[{"path": "relative/a.mp4"}]),
            IN_PLEX,
            Comparison(
                Verdict.INVALID,
                ("metadata['path'] must be an absolute path, got 'relative/a.mp4'",),
            ),
        ),
    ],
)
def test_a_scene_is_queued_only_if_its_plex_item_is_missing_or_differs(
    mapped: Mapped, found: Held | Failed, expected: Comparison
) -> None:
    """A scene agrees when its job would change nothing in Plex, differs when it would; a file
    Plex lacks is missing; one in no library is unmatched; a job plexsync refuses is invalid.
    """
    assert compare(mapped, found, {}) == expected


# ---------------------------------------------------------------------------- the task
def test_reconcile_queues_only_what_plex_lacks_or_holds_otherwise(
    plugin: InstalledPlugin, stash: FakeStash, plex: FakePlex
) -> None:
    """After a sync, nothing differs; then a performer renamed in Stash (no scene hook fires),
    a title edited in Plex, a new cover and a file Plex lacks are queued, a file outside every
    library and a scene without a file are only counted; the worker brings Plex in line.
    """
    lib = stash.library
    ann = lib.add_performer("Ann")
    keys, scenes = [], []
    for n in range(12):
        keys.append(plex.add_item(1, f"/media/r{n:02d}.mp4"))
        scenes.append(
            lib.add_scene(
                paths=[f"/media/r{n:02d}.mp4"],
                title=f"R{n}",
                performers=[ann] if n == 0 else [],
                cover=JPEG,
                rating100=70,
            )
        )
    assert plugin.task("all").error is None
    plugin.wait_for_worker()

    settled = plugin.task("reconcile")
    assert settled.error is None, settled.stderr
    assert settled.output.startswith("reconciled 12 scenes in ")
    assert settled.output.endswith(
        "12 agree with Plex, 0 differ, 0 missing in Plex, 0 cannot be matched, 0 refused, "
        "0 without a file; queued 0"
    )

    lib.rename("Performer", ann, "Anna")  # fires no scene hook
    requests.put(
        f"{plex.url}/library/sections/1/all",
        params={"type": 1, "id": keys[1], "title.value": "Edited in Plex"},
        headers={"X-Plex-Token": TOKEN},
        timeout=5,
    ).raise_for_status()
    lib.generate_cover(scenes[2], JPEG[:-2] + b"new" + JPEG[-2:])
    lib.add_scene(paths=["/media/not-yet.mp4"], title="new")
    lib.add_scene(paths=["/elsewhere/x.mp4"], title="outside")
    lib.add_scene(title="no file")
    plex.clear_requests()

    with announce(plugin.db_path):  # the worker the task starts would race the checks below
        answer = plugin.task("reconcile")
        assert plex.requests_to("/library/sections/1/refresh") == []  # reading never scans
        assert plex.edits() == []  # nor edits

    assert answer.error is None, answer.stderr
    assert answer.output.endswith(
        "9 agree with Plex, 3 differ, 1 missing in Plex, 1 cannot be matched, 0 refused, "
        "1 without a file; queued 4"
    ), answer.output
    info = answer.lines("i")
    assert (
        f"scene:{scenes[0]} differ: performers lack 'Anna'; performers still have 'Ann'; queued"
        in info
    )
    assert f"scene:{scenes[1]} differ: title is 'Edited in Plex', not 'R1'; queued" in info
    assert f"scene:{scenes[2]} differ: poster is another image; queued" in info
    assert any("outside every library folder" in line for line in answer.lines("w"))
    worked = plugin.task("process")
    assert worked.output.startswith("worked the queue: 3 done, "), worked.stderr

    assert plex.item(keys[0]).tags["performers"] == ["Anna"]
    assert plex.item(keys[1]).title == "R1"
    assert plex.item(keys[2]).images["poster"] == JPEG[:-2] + b"new" + JPEG[-2:]
    again = plugin.task("reconcile")
    assert "12 agree with Plex, 0 differ" in again.output, again.stderr
