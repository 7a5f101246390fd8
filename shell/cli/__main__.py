"""``python -m shell.cli``: the same as the ``plexsync`` console script."""

from __future__ import annotations

import sys

from shell.cli import main

sys.exit(main())
