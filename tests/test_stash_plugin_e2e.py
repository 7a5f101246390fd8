"""End to end: the installed plugin run exactly as Stash runs it (its `exec`, Stash's JSON on
stdin) against the fake Stash, then the detached worker it starts against the fake Plex (real
plexapi over HTTP), then the Plex item's fields, locks and poster.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from shell.worker.presence import announce
from tests.builders import TOKEN
from tests.fake_plex import FakePlex
from tests.fake_stash import FakeStash
from tests.stash_plugin import JPEG, STASH_KEY, InstalledPlugin


@pytest.fixture
def plex() -> Iterator[FakePlex]:
    with FakePlex(TOKEN) as server:
        server.add_section("Movies", locations=["/media"])
        yield server


@pytest.fixture
def stash() -> Iterator[FakeStash]:
    with FakeStash(username="admin", api_key=STASH_KEY) as server:
        yield server


@pytest.fixture
def plugin(tmp_path: Path, stash: FakeStash, plex: FakePlex) -> InstalledPlugin:
    return InstalledPlugin(tmp_path, stash, plex)


def a_full_scene(stash: FakeStash, path: str = "/media/a.mp4") -> int:
    lib = stash.library
    parent = lib.add_studio("Network")
    return lib.add_scene(
        paths=[path, "/media/copy/a.mp4"],
        title="A",
        details="Line one.\nLine two.",
        code="ABC-123",
        date="2024-05",
        rating100=80,
        studio=lib.add_studio("Studio", parent=parent),
        performers=[lib.add_performer("Ann"), lib.add_performer("Bob")],
        tags=[lib.add_tag("Drama"), lib.add_tag("Noir")],
        groups=[(lib.add_group("Box Set"), 1)],
        cover=JPEG,
    )


def test_a_scene_edit_reaches_plex_locked_with_its_poster_uploaded_once(
    plugin: InstalledPlugin, stash: FakeStash, plex: FakePlex
) -> None:
    """The hook queues the scene and returns at once; the worker it starts sets every field,
    locks it, rates and uploads the cover; the same cover again is not uploaded again.
    """
    key = plex.add_item(1, "/media/a.mp4", title="a")
    scene = a_full_scene(stash)
    stash.clear_requests()

    answer = plugin.hook(stash.library.edit_scene(scene, title="New title", form=True))

    assert answer.error is None, answer.stderr
    assert answer.output == f"scene {scene} queued for Plex; worker started"
    assert all(line.startswith("\x01") for line in answer.stderr.splitlines())
    assert f"scene {scene} has 2 files; syncing the primary one only" in answer.stderr
    assert stash.mutations() == []  # never a mutation: the hook cannot fire itself
    stash_requests = stash.count()
    plugin.wait_for_worker()
    item = plex.item(key)
    assert item.title == "New title"
    assert item.values == {
        "summary": "Line one.\nLine two.",
        "studio": "Studio",
        "tagline": None,
        "originally_available_at": "2024-05-01",
        "original_title": "ABC-123",
        "user_rating": "8.0",
    }
    assert item.tags == {
        "performers": ["Ann", "Bob"],
        "genres": ["Drama", "Noir"],
        "collections": ["Box Set", "Network"],
        "labels": [],
    }
    assert item.images == {"poster": JPEG}
    assert item.locked == {
        "title", "summary", "studio", "originally_available_at", "original_title",
        "performers", "genres", "collections", "poster",
    }  # fmt: skip
    plex_requests = len(plex.requests)

    plex.clear_requests()
    assert plugin.hook(stash.library.edit_scene(scene, details="Changed.")).error is None
    plugin.wait_for_worker()
    assert plex.item(key).values["summary"] == "Changed."
    assert plex.requests_to("/library/metadata/", "POST") == []  # same cover: no upload
    print(  # the figures of the closing note; not asserted
        f"\nrequests per scene: Stash {stash_requests} (GraphQL + cover), "
        f"Plex {plex_requests} with a poster, {len(plex.requests)} without; "
        f"hook run {answer.seconds:.2f} s"
    )


def test_bad_input_gives_a_clear_line_in_stash_log_and_loses_nothing(
    plugin: InstalledPlugin, stash: FakeStash, plex: FakePlex
) -> None:
    """Garbage on stdin, a scene without a file, a deleted scene, Stash unreachable or failing,
    an expired session, a file outside every library: each is one clear line, and a scene whose
    hook could not read it is queued by the next run.
    """
    garbage = plugin.run(b"\x00 not json")
    assert garbage.output is None
    assert "the input on stdin is not JSON" in garbage.error
    assert garbage.lines("e") == [garbage.error]

    lib = stash.library
    no_file = lib.add_scene(title="no file")
    answer = plugin.hook(lib.edit_scene(no_file, title="x"))
    assert answer.error is None
    assert f"scene {no_file} has no file, so nothing in Plex to match: not queued" in answer.lines(
        "w"
    )

    gone = lib.add_scene(paths=["/media/gone.mp4"])
    event = lib.edit_scene(gone, title="x")
    lib.delete_scene(gone)
    assert f"scene {gone} no longer exists in Stash" in plugin.hook(event).lines("w")[0]

    plex.add_item(1, "/media/b.mp4")
    later = lib.add_scene(paths=["/media/b.mp4"], title="B")
    event = lib.edit_scene(later, title="B2")
    stash.error_next("database is locked")
    failed = plugin.hook(event)
    assert failed.error == (
        f"scene {later} not queued (Stash answered with an error: database is locked); "
        "the next run takes it up"
    )
    assert failed.lines("e") == [failed.error]

    outside = lib.add_scene(paths=["/elsewhere/c.mp4"], title="C")
    stash.go_down()
    down = plugin.hook(lib.edit_scene(outside, title="C2"))
    assert "cannot reach Stash at http://127.0.0.1:" in down.error
    stash.come_up()

    expired = stash.hook_stdin(
        lib.edit_scene(outside, title="C3"), config_dir=str(plugin.config_dir)
    )
    stash.advance(4000)  # the session Stash handed over has expired
    refused = plugin.run(expired)
    assert "Stash refused the plugin's session cookie (HTTP 401)" in refused.error

    # The next run takes up the scenes the failed runs left: both are queued.
    assert plugin.hook(lib.edit_scene(later, title="B3")).error is None
    plugin.wait_for_worker()
    assert plex.item_by_path("/media/b.mp4").title == "B3"
    report = plugin.task("status")
    assert report.error is None, report.stderr
    assert any(
        "scene:" + str(outside) in line and "outside every library folder" in line
        for line in report.lines("w")
    ), report.stderr
    assert not [line for line in report.stderr.splitlines() if not line.startswith("\x01")]


def test_tasks_sync_all_then_changed_process_retry_and_status(
    plugin: InstalledPlugin, stash: FakeStash, plex: FakePlex
) -> None:
    """Sync all queues every scene (paged); sync changed only those changed since; retry
    re-drives dead letters; status writes the queue and the check to Stash's log.
    """
    lib = stash.library
    scenes = []
    for n in range(30):
        plex.add_item(1, f"/media/s{n:02d}.mp4")
        scenes.append(lib.add_scene(paths=[f"/media/s{n:02d}.mp4"], title=f"S{n}"))
        lib.set_updated_at(scenes[-1], stash.now() - 5 * 3600)  # changed five hours ago
    lib.set_updated_at(scenes[0], stash.now() - 3 * 3600)  # the newest change: three hours ago
    missing = lib.add_scene(paths=["/media/not-in-plex.mp4"], title="missing")
    lib.set_updated_at(missing, stash.now() - 5 * 3600)

    everything = plugin.task("all")
    assert everything.error is None, everything.stderr
    assert everything.output.startswith("queued 31 of 31 scenes in ")
    assert everything.lines("p")[-1] == "1.000"
    plugin.wait_for_worker()
    assert [plex.item_by_path(f"/media/s{n:02d}.mp4").title for n in (0, 29)] == ["S0", "S29"]

    lib.edit_scene(scenes[3], title="changed")
    lib.edit_scene(scenes[7], title="changed too")
    changed = plugin.task("changed")
    # The two edits, and the last sync's newest change again (within the margin).
    assert changed.output.startswith("queued 3 of 3 scenes"), changed.stderr
    plugin.wait_for_worker()
    assert plex.item_by_path("/media/s07.mp4").title == "changed too"

    retried = plugin.task("retry")
    assert retried.output == "re-drove 1 of 1 dead letters", retried.stderr
    plugin.wait_for_worker()
    processed = plugin.task("process")
    assert processed.error is None
    status = plugin.task("status")
    assert "check: everything is in order" in status.lines("i"), status.stderr
    assert any(line.startswith("dead letters: 1") for line in status.lines("i")), status.stderr


HEAVY_MODULES = (
    "shell.worker.loop",
    "shell.simulated_plex",
    "shell.simulate",
    "shell.plex",
    "shell.cli",
    "plexapi",
    "requests",
)
"""What a hook run must not import: it runs inside the user's save, once per scene of a bulk
edit, so its interpreter start and imports are most of its time."""


def test_a_hook_run_imports_neither_the_worker_nor_plex_client_nor_the_cli(
    plugin: InstalledPlugin, stash: FakeStash
) -> None:
    """A hook run (the installed launcher, Stash's stdin) queues its scene without importing
    the worker, the simulator, plexapi, requests or the command line.
    """
    scene = stash.library.add_scene(paths=["/media/a.mp4"], title="A", cover=JPEG)
    stdin = stash.hook_stdin(
        stash.library.edit_scene(scene, title="B"), config_dir=str(plugin.config_dir)
    )
    launcher = plugin.argv[1]
    probe = (
        "import runpy, sys\n"
        "try:\n"
        f"    runpy.run_path({launcher!r}, run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "sys.stderr.write('\\nMODULES ' + ' '.join(sorted(sys.modules)) + '\\n')\n"
    )
    plugin.data_dir.mkdir(parents=True)
    with announce(plugin.db_path):  # a worker runs: the hook starts none
        done = subprocess.run(
            [plugin.argv[0], "-c", probe],
            input=stdin,
            capture_output=True,
            cwd=plugin.cwd,
            env=plugin.env,
            check=True,
        )
    assert json.loads(done.stdout)["output"] == f"scene {scene} queued for Plex"
    modules = done.stderr.decode().rpartition("MODULES ")[2].split()
    assert "shell.stash.hook" in modules
    loaded = [m for m in modules if m.startswith(HEAVY_MODULES)]
    assert loaded == []
