"""The ``uploaded_images`` table: which image bytes were last uploaded to which Plex item.

An image field is uploaded only when its content hash differs from the one remembered for that
item and field, so a re-sync of unchanged metadata costs no upload. The memory is per Plex
server (its machine identifier) and ratingKey: an item Plex re-adds under a new ratingKey gets
its images again. Writes expect to run inside ``Store.transaction()``.
"""

from __future__ import annotations

import sqlite3


class UploadedImages:
    """Statements on the remembered uploads, over one connection."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def last_hash(self, server: str, rating_key: int, field: str) -> str | None:
        """The SHA-256 (hex) of the image last uploaded as *field* of the item, if any."""
        row = self._db.execute(
            "SELECT sha256 FROM uploaded_images WHERE server = ? AND rating_key = ? AND field = ?",
            (server, rating_key, field),
        ).fetchone()
        return None if row is None else str(row[0])

    def remember(
        self, server: str, rating_key: int, field: str, sha256: str, *, now: float
    ) -> None:
        """Note that the image hashing to *sha256* is now *field* of the item."""
        self._db.execute(
            "INSERT INTO uploaded_images (server, rating_key, field, sha256, uploaded_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (server, rating_key, field)"
            " DO UPDATE SET sha256 = excluded.sha256, uploaded_at = excluded.uploaded_at",
            (server, rating_key, field, sha256, now),
        )
