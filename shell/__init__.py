"""plexsync's imperative shell: the SQLite queue, the worker loop, Plex calls and the CLI.

``core`` decides; ``shell`` carries the decisions out.
"""

from __future__ import annotations

import logging

# A library never configures logging; it only makes sure its records go nowhere by default.
logging.getLogger("plexsync").addHandler(logging.NullHandler())

__all__: list[str] = []
