"""A small real filesystem for tests that fill it: a size-limited tmpfs mounted for one test.

Mounting needs root (CAP_SYS_ADMIN); where the test cannot mount (an unprivileged container, no
``mount``), it is skipped with the reason. ``SmallDisk.fill`` takes every free byte with a filler
file, as another program filling the disk would; ``free`` gives them back.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from shell.soak import FillableDirectory

SIZE = "4m"
"""Room for a small queue, below SQLite's automatic checkpoint (1000 pages): its WAL only grows,
so every commit needs fresh space."""


class SmallDisk(FillableDirectory):
    """A mounted tmpfs of ``SIZE`` at *root*, filled and freed as the soak's full disk is."""

    def __init__(self, root: Path) -> None:
        super().__init__(str(root))

    def path(self, name: str) -> str:
        return str(self.root / name)

    def fill(self) -> None:
        super().fill()
        assert self.free_bytes() == 0

    def free_bytes(self) -> int:
        stats = os.statvfs(self.root)
        return stats.f_bavail * stats.f_frsize


def mounted(tmp_path: Path, size: str = SIZE) -> Iterator[SmallDisk]:
    """A fresh tmpfs of *size* in *tmp_path*, unmounted after the test (lazily, if a file is
    still open); skips the test if it cannot be mounted.
    """
    root = tmp_path / "small-disk"
    root.mkdir()
    mount = shutil.which("mount")
    if mount is None:
        pytest.skip("cannot mount a small filesystem: no `mount` command on this machine")
    mounted = subprocess.run(
        [mount, "-t", "tmpfs", "-o", f"size={size},mode=0700", "plexsync-test", str(root)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(
            "cannot mount a small filesystem here (a size-limited tmpfs needs root with "
            f"CAP_SYS_ADMIN): {mounted.stderr.strip() or mounted.returncode}"
        )
    try:
        yield SmallDisk(root)
    finally:
        unmounted = subprocess.run(["umount", str(root)], capture_output=True, check=False)
        if unmounted.returncode != 0:
            subprocess.run(["umount", "--lazy", str(root)], check=True)
