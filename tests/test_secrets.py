"""The Plex token never reaches the database, a DLQ entry, a log line or CLI output.

A full faulty scenario runs in a real ``plexsync run`` process with ``PLEXAPI_LOG_SHOW_SECRETS``
set, so plexapi puts the token into every URL it builds (and so into its error messages). Then
every byte plexsync wrote or printed is searched for it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.builders import TOKEN
from tests.fake_plex import FakePlex

LISTING = "/library/sections/1/all"


@pytest.fixture
def fake() -> Iterator[FakePlex]:
    with FakePlex(TOKEN) as server:
        server.add_section("Movies", locations=["/media"])
        for n in range(12):
            server.add_item(1, f"/media/m{n:02d}.mkv", title=f"raw {n}")
        yield server


def plexsync(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("plexsync", path=os.path.dirname(sys.executable))
    command = [exe] if exe else [sys.executable, "-m", "shell.cli"]
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, env=env, check=False, timeout=120
    )


def test_the_token_appears_nowhere(tmp_path: Path, fake: FakePlex) -> None:
    """Database (with its WAL), DLQ, logs and every command's output are free of the token."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLEXSYNC_")}
    env |= {
        "PLEXSYNC_PLEX_URL": fake.url,
        "PLEXSYNC_PLEX_TOKEN": TOKEN,
        "PLEXSYNC_DB_PATH": str(tmp_path / "queue.db"),
        "PLEXSYNC_READ_TIMEOUT_SECONDS": "0.5",
        "PLEXSYNC_HEALTH_TIMEOUT_SECONDS": "0.5",
        "PLEXSYNC_RETRY_WAIT_INITIAL_SECONDS": "60",
        "PLEXAPI_LOG_SHOW_SECRETS": "true",
    }
    outputs: list[str] = []
    for n in range(14):  # two paths Plex has never heard of: not found, and a scan requested
        result = plexsync(
            env, "enqueue", "--key", f"k{n}", "--path", f"/media/m{n:02d}.mkv", "--title", "T"
        )
        outputs += [result.stdout, result.stderr]
    fake.fail_next(400, count=3, path_prefix=LISTING)  # permanent: into the DLQ, with Plex's words
    run = plexsync(env, "run", "--until-idle", "--verbose")
    outputs += [run.stdout, run.stderr]
    assert run.returncode == 0, run.stderr
    fake.fail_next(500, count=2, path_prefix=LISTING)
    fake.fail_next(502, count=1, path_prefix=LISTING)
    fake.malformed_xml(path_prefix="/library/sections")
    run = plexsync(env, "run", "--until-idle", "--verbose")
    outputs += [run.stdout, run.stderr]
    assert "dead-lettered" in outputs[-1]  # the scenario really went through failures

    for command in (
        ["status"],
        ["status", "--json"],
        ["config"],
        ["config", "--json"],
        ["dlq", "list"],
        ["dlq", "export"],
        ["dlq", "show", "1"],
        ["dlq", "show", "1", "--json"],
        ["explain"],
    ):
        result = plexsync(env, *command)
        assert result.returncode == 0, (command, result.stderr)
        outputs += [result.stdout, result.stderr]

    fake.clear_faults()
    for command in (["check"], ["check", "--json"], ["check", "--path", "/media/m00.mkv"]):
        result = plexsync(env, *command)
        assert result.returncode in {0, 1}, (command, result.stdout, result.stderr)
        outputs += [result.stdout, result.stderr]

    for text in outputs:
        assert TOKEN not in text
    written = [p for p in tmp_path.iterdir() if p.name.startswith("queue.db")]
    assert written
    for path in written:
        assert TOKEN.encode() not in path.read_bytes(), path.name
    assert "X-Plex-Token=***" in "".join(outputs)  # the URLs were there, redacted


def test_the_plex_token_and_stash_api_key_appear_nowhere_the_plugin_writes(
    tmp_path: Path, fake: FakePlex
) -> None:
    """The installed Stash plugin's stdout and stderr (hooks and every task), its queue, its
    worker's log and its notes hold neither the Plex token nor the Stash API key.
    """
    from tests.fake_stash import FakeStash  # noqa: PLC0415
    from tests.stash_plugin import STASH_KEY, InstalledPlugin  # noqa: PLC0415

    with (
        FakeStash(username="admin", api_key=STASH_KEY) as stash,
        InstalledPlugin(tmp_path, stash, fake) as plugin,
    ):
        plugin.env["PLEXAPI_LOG_SHOW_SECRETS"] = "true"
        lib = stash.library
        scene = lib.add_scene(paths=["/media/m00.mkv"], title="title")
        fake.fail_next(500, count=2, path_prefix=LISTING)
        answers = [plugin.hook(lib.edit_scene(scene, title="x"))]
        plugin.wait_for_worker()
        lib.add_scene(paths=["/nowhere/a.mkv"])
        stash.error_next("database is locked")
        answers.append(plugin.hook(lib.edit_scene(scene, title="y")))
        answers += [plugin.task(mode) for mode in ("all", "process", "retry", "status")]
        plugin.wait_for_worker()
    assert any(a.error for a in answers)  # a failure was logged and answered
    for answer in answers:
        for secret in (TOKEN, STASH_KEY):
            assert secret not in answer.stdout
            assert secret not in answer.stderr
    written = [p for p in plugin.data_dir.rglob("*") if p.is_file()]
    assert any(p.name == "worker.log" for p in written)
    for path in written:
        data = path.read_bytes()
        assert TOKEN.encode() not in data, path.name
        assert STASH_KEY.encode() not in data, path.name
