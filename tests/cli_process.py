"""``plexsync`` run as a real process of this source tree, its settings in the environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLEXSYNC = [sys.executable, "-m", "shell.cli"]
"""The command line of this source tree (the console script may belong to another checkout)."""


def environment(db_path: str, **settings: str) -> dict[str, str]:
    """The environment of the test process less its ``PLEXSYNC_*`` variables, then the queue at
    *db_path* and *settings* (``plex_url="..."`` becomes ``PLEXSYNC_PLEX_URL``).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLEXSYNC_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PLEXSYNC_DB_PATH"] = db_path
    env |= {f"PLEXSYNC_{name.upper()}": value for name, value in settings.items()}
    return env


def plexsync(
    *args: str, db_path: str, timeout: float = 120.0, **settings: str
) -> subprocess.CompletedProcess[str]:
    """Run ``plexsync *args`` on the queue at *db_path* and wait for it."""
    return subprocess.run(
        [*PLEXSYNC, *args],
        capture_output=True,
        text=True,
        env=environment(db_path, **settings),
        cwd=ROOT,
        check=False,
        timeout=timeout,
    )
