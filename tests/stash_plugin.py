"""Running the installed Stash plugin exactly as Stash does, for the end-to-end tests and the
benchmark: the manifest's `exec` as a subprocess in a foreign working directory, Stash's JSON on
stdin (from the fake Stash's builders), stdout read to the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import yaml

from shell.api import close_store, status
from shell.settings import load_settings
from shell.stash.install import MANIFEST, install_plugin
from shell.worker.presence import worker_running
from tests.builders import TOKEN
from tests.fake_plex import FakePlex
from tests.fake_stash import FakeStash

STASH_KEY = "stash-api-key-Kq7"
"""The fake Stash's API key; the secrets sweep searches for it too."""
JPEG = b"\xff\xd8\xff\xe0" + b"cover" * 40 + b"\xff\xd9"

FAST: dict[str, str] = {
    "PLEXSYNC_CONNECT_TIMEOUT_SECONDS": "1",
    "PLEXSYNC_READ_TIMEOUT_SECONDS": "2",
    "PLEXSYNC_HEALTH_TIMEOUT_SECONDS": "1",
    "PLEXSYNC_POLL_INTERVAL": "0.2",
    "PLEXSYNC_JOB_LEASE_SECONDS": "10",
    "PLEXSYNC_RETRY_WAIT_INITIAL_SECONDS": "0.2",
    "PLEXSYNC_RETRY_WAIT_MAX_SECONDS": "0.5",
    "PLEXSYNC_NOT_FOUND_WAIT_INITIAL_SECONDS": "0.2",
    "PLEXSYNC_NOT_FOUND_WAIT_MAX_SECONDS": "0.5",
    "PLEXSYNC_NOT_FOUND_MAX_RETRIES": "1",
    "PLEXSYNC_BREAKER_COOLDOWN_SECONDS": "0.2",
    "PLEXSYNC_BREAKER_MAX_COOLDOWN_SECONDS": "0.5",
}
"""plexsync's own settings, as variables in Stash's environment: waits short enough for tests."""


@dataclass
class Answer:
    """What one plugin run gave Stash."""

    output: Any
    error: str | None
    stderr: str
    stdout: str
    seconds: float

    def lines(self, level: str) -> list[str]:
        """The log lines at *level* ("i", "w", "e", ...), without their prefix."""
        prefix = f"\x01{level}\x02"
        return [line[3:] for line in self.stderr.splitlines() if line.startswith(prefix)]


class InstalledPlugin:
    """The plugin as `plexsync stash install-plugin` writes it, run as Stash runs it."""

    def __init__(self, root: Path, stash: FakeStash, plex: FakePlex | None) -> None:
        self.stash = stash
        self.config_dir = root / "stash-config"
        self.config_dir.mkdir(exist_ok=True)
        plugins = root / "plugins"
        plugins.mkdir(exist_ok=True)
        self.folder = Path(install_plugin(str(plugins)))
        manifest = yaml.safe_load((self.folder / MANIFEST).read_text(encoding="utf-8"))
        self.argv = [
            part if i == 0 else part.replace("{pluginDir}", str(self.folder))
            for i, part in enumerate(manifest["exec"])
        ]
        self.cwd = root / "stash-cwd"  # Stash's own working directory, not the plugin's
        self.cwd.mkdir(exist_ok=True)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PLEXSYNC_")}
        self.env |= FAST
        if plex is not None:
            stash.library.configure_plugin(
                "plexsync", {"plex_url": plex.url, "plex_token": TOKEN, "sync_background": False}
            )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_workers()

    @property
    def data_dir(self) -> Path:
        return self.config_dir / "plexsync"

    def stop_workers(self, timeout: float = 30) -> None:
        """Stop the detached workers this plugin's hooks started (each runs in the plugin's data
        folder), as a service manager would (SIGTERM), and wait until none runs: a worker that
        holds work for a Plex the test has stopped would otherwise outlive the test.
        """
        folder = os.path.realpath(self.data_dir)
        proc = Path("/proc")
        for entry in proc.iterdir() if proc.is_dir() else ():
            with contextlib.suppress(OSError):  # gone meanwhile, or not ours to read
                if entry.name.isdigit() and os.readlink(entry / "cwd") == folder:
                    os.kill(int(entry.name), signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while worker_running(self.db_path) and time.monotonic() < deadline:
            time.sleep(0.05)

    @property
    def db_path(self) -> str:
        return str(self.data_dir / "queue.db")

    def run(self, stdin: bytes, timeout: float = 120) -> Answer:
        started = time.perf_counter()
        done = subprocess.run(
            self.argv,
            input=stdin,
            capture_output=True,
            cwd=self.cwd,
            env=self.env,
            check=False,
            timeout=timeout,
        )
        seconds = time.perf_counter() - started
        stdout, stderr = done.stdout.decode(), done.stderr.decode()
        assert done.returncode == 0, stderr
        answer = json.loads(stdout)  # exactly one JSON object, or this raises
        return Answer(answer["output"], answer["error"], stderr, stdout, seconds)

    def hook(self, event: Any) -> Answer:
        return self.run(self.stash.hook_stdin(event, config_dir=str(self.config_dir)))

    def task(self, mode: str) -> Answer:
        return self.run(self.stash.task_stdin({"mode": mode}, config_dir=str(self.config_dir)))

    def queued(self) -> int:
        config = (
            load_settings(
                None,
                {},
                defaults={"db_path": self.db_path, "plex_url": "http://x", "plex_token": "t"},
            )
            .unwrap()
            .config
        )
        now = status(config)
        close_store(config)
        return now.waiting + now.scheduled + now.running

    def wait_for_worker(self, timeout: float = 30) -> None:
        """Until the queue is empty and no worker runs on it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not worker_running(self.db_path) and self.queued() == 0:
                return
            time.sleep(0.05)
        raise TimeoutError("the worker did not empty the queue in time")
