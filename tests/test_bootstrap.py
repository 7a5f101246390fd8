"""Set-up from nothing: ``.ci/bootstrap`` works where ``just`` is absent and the system Python
refuses ``pip install`` (PEP 668), and says clearly when the Python is too old.

CI (``.ci/run``) takes this same path on every run; these tests keep the script honest on a
developer's machine too, where ``just`` may well be installed already.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BOOTSTRAP = ROOT / ".ci" / "bootstrap"
RUN = ROOT / ".ci" / "run"


def _path_without_just() -> str:
    """``PATH`` with every folder that holds a ``just`` left out, as on a bare machine."""
    folders = os.environ.get("PATH", "").split(os.pathsep)
    return os.pathsep.join(f for f in folders if f and not os.access(Path(f) / "just", os.X_OK))


def _externally_managed_python() -> str | None:
    """A Python on this machine whose ``pip install`` into itself is refused (PEP 668)."""
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3", shutil.which("python3")):
        if not candidate or not os.access(candidate, os.X_OK):
            continue
        probe = subprocess.run(
            [candidate, "-c", "import sys, sysconfig; print(sysconfig.get_path('stdlib'))"],
            capture_output=True,
            text=True,
            check=False,
        )
        marker = Path(probe.stdout.strip()) / "EXTERNALLY-MANAGED"
        if probe.returncode == 0 and marker.exists():
            return candidate
    return None


def _copy_bootstrap(tmp_path: Path) -> Path:
    (tmp_path / ".ci").mkdir()
    script = tmp_path / ".ci" / "bootstrap"
    shutil.copy2(BOOTSTRAP, script)
    return script


def test_every_python_snippet_in_the_ci_scripts_parses_on_python_3_8() -> None:
    """A ``python -c`` line in a CI script must parse on old Pythons too: it runs before any
    version check could explain what is wrong (the f-string that broke CI on 3.11 would not).
    """
    snippets = []
    for script in (BOOTSTRAP, RUN):
        text = script.read_text(encoding="utf-8")
        snippets += [m.group(2) for m in re.finditer(r"-c (['\"])(.*?)\1", text, re.DOTALL)]
    assert snippets, "the bootstrap checks the Python version with a python -c snippet"
    for snippet in snippets:
        ast.parse(snippet, feature_version=(3, 8))


def test_ci_runs_the_readme_quick_start_with_just_hidden() -> None:
    """``.ci/run`` runs exactly the README's two commands, each with ``just`` hidden from PATH."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Quick start", 1)[1].split("```console\n", 1)[1].split("```", 1)[0]
    commands = [line[2:].split("#", 1)[0].strip() for line in block.strip().splitlines()]
    assert commands == [".ci/bootstrap", ".venv/bin/just test"]
    run_lines = [line.strip() for line in RUN.read_text(encoding="utf-8").splitlines()]
    for command in commands:
        assert f"PATH=$bare_path {command}" in run_lines


def test_bootstrap_names_the_python_it_needs(tmp_path: Path) -> None:
    """An old Python is refused in one line that says which version is needed and how to choose
    another, and no .venv is left behind.
    """
    script = _copy_bootstrap(tmp_path)
    old = tmp_path / "python3.9"
    old.write_text(
        '#!/bin/sh\ncase "$2" in *print*) echo 3.9.18 ;; *) exit 1 ;; esac\n', encoding="utf-8"
    )
    old.chmod(0o755)
    result = subprocess.run(
        [str(script)],
        env={"PATH": _path_without_just(), "PYTHON": str(old)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    expected = (
        f"bootstrap: error: plexsync needs Python 3.11 or newer; '{old}' is 3.9.18 "
        "(set PYTHON=/path/to/python3.11)"
    )
    assert result.stderr.strip().splitlines() == [expected]
    assert not (tmp_path / ".venv").exists()


def test_bootstrap_without_a_python_says_so(tmp_path: Path) -> None:
    """No interpreter at all is one clear line too."""
    script = _copy_bootstrap(tmp_path)
    result = subprocess.run(
        [str(script)],
        env={"PATH": _path_without_just(), "PYTHON": "no-such-python3"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "no 'no-such-python3' on PATH" in result.stderr
    assert "Python 3.11 or newer" in result.stderr


@pytest.mark.skipif(
    _externally_managed_python() is None,
    reason="no externally managed (PEP 668) Python on this machine to bootstrap from",
)
def test_bootstrap_works_on_a_bare_machine_with_an_externally_managed_python(
    tmp_path: Path,
) -> None:
    """With ``just`` off PATH and a system Python that refuses ``pip install``, the bootstrap
    still ends with a working ``just`` in .venv.
    """
    system_python = _externally_managed_python()
    assert system_python is not None
    refused = subprocess.run(
        [system_python, "-m", "pip", "install", "--dry-run", "rust-just"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode != 0  # the premise: this Python refuses pip install
    script = _copy_bootstrap(tmp_path)
    env = {"PATH": _path_without_just(), "PYTHON": system_python, "HOME": str(Path.home())}
    result = subprocess.run(
        [str(script)], env=env, capture_output=True, text=True, check=False, timeout=600
    )
    assert result.returncode == 0, result.stderr
    just = tmp_path / ".venv" / "bin" / "just"
    version = subprocess.run([str(just), "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("just ")
    assert shutil.which("just", path=env["PATH"]) is None
    assert result.stdout.strip().endswith("next: .venv/bin/just test (or: .venv/bin/just --list)")
