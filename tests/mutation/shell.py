"""Mutation testing of the shell's parts where a wrong answer loses data or charges a job wrongly
(``just mutate-shell`` runs this): the store's claim, decision writing, coalescing, retention and
lease reaping, and the classifier.

mutmut reads one ``[tool.mutmut]`` table, the core's. So this copies the project's tracked files
to ``mutants-shell/`` (ignored by git), makes ``[tool.mutmut-shell]`` the table mutmut reads
there, runs mutmut in it, and scores the run against ``tests/mutation/shell.toml`` with
``check.py``. The score is reported, not gated: the shell has no bar yet.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRATCH = ROOT / "mutants-shell"
CHILDREN = "2"  # the machine is shared: at most two tests run at once


def prepare(root: Path = ROOT, scratch: Path = SCRATCH) -> None:
    """A fresh copy of the tracked files in *scratch*, reading the shell's mutmut table."""
    shutil.rmtree(scratch, ignore_errors=True)
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=root, check=True, capture_output=True, text=True
    ).stdout.split("\0")
    for name in filter(None, tracked):
        source = root / name
        if source.is_file():
            target = scratch / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    pyproject = scratch / "pyproject.toml"
    lines = pyproject.read_text(encoding="utf-8").splitlines(keepends=True)
    renamed = {
        "[tool.mutmut]\n": "[tool.mutmut-core]\n",
        "[tool.mutmut-shell]\n": "[tool.mutmut]\n",
    }
    if sorted(line for line in lines if line in renamed) != sorted(renamed):
        raise SystemExit("pyproject.toml needs one [tool.mutmut] and one [tool.mutmut-shell]")
    pyproject.write_text("".join(renamed.get(line, line) for line in lines), encoding="utf-8")


def main() -> int:
    prepare()
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "HYPOTHESIS_PROFILE": "mutate"}
    subprocess.run(
        [bin_dir / "mutmut", "run", "--max-children", CHILDREN], cwd=SCRATCH, env=env, check=True
    )
    check = [sys.executable, "-m", "tests.mutation.check", "--advisory", "--min-score", "0"]
    check += ["--list", "tests/mutation/shell.toml", "--scope", "the shell's risky parts"]
    return subprocess.run(check, cwd=SCRATCH, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
