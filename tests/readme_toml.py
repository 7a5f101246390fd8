"""Checks a fragment of a settings file the README shows: it must be valid TOML whose every key
is a setting of ``PlexSyncConfig`` (``tests/readme_session.py`` runs it on such blocks).

``python -m tests.readme_toml < fragment.toml`` prints nothing and exits 0, or names the
problem and exits 1.
"""

from __future__ import annotations

import sys
import tomllib

from shell.settings import FIELDS


def main() -> int:
    try:
        table = tomllib.loads(sys.stdin.read())
    except tomllib.TOMLDecodeError as exc:
        print(f"not valid TOML: {exc}", file=sys.stderr)
        return 1
    unknown = sorted(set(table) - set(FIELDS))
    if unknown:
        print(f"not settings: {', '.join(unknown)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
