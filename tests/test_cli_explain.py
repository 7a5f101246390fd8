"""``plexsync --version`` and ``plexsync explain``, run as the installed console script."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

import core


def plexsync(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("plexsync")
    command = [exe] if exe else [sys.executable, "-m", "shell.cli"]
    return subprocess.run([*command, *args], capture_output=True, text=True, check=False)


def test_version() -> None:
    """--version prints the package version and exits 0."""
    result = plexsync("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"plexsync {core.__version__}"


def test_explain_prints_the_default_schedule() -> None:
    """The table names every error class and ends each finite schedule with its dead-letter."""
    result = plexsync("explain")
    assert result.returncode == 0, result.stderr
    for error_class in core.ErrorClass:
        assert f"\n{error_class.value}: " in f"\n{result.stdout}"
    assert "then: dead-letter (retries_exhausted)" in result.stdout
    assert "      1               10s / 11s / 12s" in result.stdout


def test_explain_json_matches_the_core() -> None:
    """--json carries the same numbers explain() computes."""
    result = plexsync("explain", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [d["error_class"] for d in data] == [c.value for c in core.ErrorClass]
    transient = data[0]
    assert transient["then"] == "retries_exhausted"
    assert transient["steps"][0]["min_delay"] == 10.0
    assert transient["whole_window"] == pytest.approx([2170.0, 2387.0, 2604.0])


def test_no_command_shows_help_and_fails() -> None:
    """Without a command, plexsync prints its usage and exits non-zero."""
    result = plexsync()
    assert result.returncode == 2
    assert "usage: plexsync" in result.stderr
