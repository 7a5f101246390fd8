"""The ``plexsync`` command line as a real process, for tests: ``Cli`` runs it with the settings
in its environment and a folder of its own; ``fails_with`` checks a one-line error.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from core import PlexSyncConfig
from tests.builders import make_config


def plexsync_command() -> list[str]:
    """How to start ``plexsync``: the console script beside this Python, else ``-m shell.cli``."""
    exe = shutil.which("plexsync", path=os.path.dirname(sys.executable))
    return [exe] if exe else [sys.executable, "-m", "shell.cli"]


class Cli:
    """Runs ``plexsync`` in *directory*, with its queue there and no other PLEXSYNC_ variable."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.env = {
            key: value for key, value in os.environ.items() if not key.startswith("PLEXSYNC_")
        }
        self.env["PLEXSYNC_DB_PATH"] = str(directory / "queue.db")

    @property
    def config(self) -> PlexSyncConfig:
        return make_config(db_path=self.env["PLEXSYNC_DB_PATH"])

    def __call__(
        self, *args: str, stdin: str | bytes | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        binary = isinstance(stdin, bytes)
        result = subprocess.run(
            [*plexsync_command(), *args],
            capture_output=True,
            text=not binary,
            input=stdin,
            cwd=self.directory,
            env={**self.env, **(env or {})},
            check=False,
            timeout=120,
        )
        if binary:
            return subprocess.CompletedProcess(
                result.args, result.returncode, result.stdout.decode(), result.stderr.decode()
            )
        return result

    def json(self, *args: str) -> Any:
        result = self(*args, "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)


def fails_with(result: subprocess.CompletedProcess[str], status: int, message: str) -> None:
    """The command failed with *status* and one error line containing *message*."""
    assert result.returncode == status, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("plexsync: error: ")
    assert message in last
