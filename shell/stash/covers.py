"""A scene's cover, fetched from Stash into a content-addressed folder beside the queue.

A job carries a local image file, never a URL (the worker must not need Stash, nor its
credentials): ``images/<first two hex digits>/<sha256>.<ext>``. The same bytes are one file,
however often a scene is synced. A scene without a cover answers Stash's SVG placeholder, which
is no cover at all.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from typing import Any, Final

from shell.stash.graphql import StashClient

EXTENSIONS: Final = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "image/gif": ".gif",
}


def images_folder(db_path: str) -> str:
    """Where the covers of the queue at *db_path* are kept."""
    return os.path.join(os.path.dirname(os.path.abspath(db_path)), "images")


def fetch_cover(client: StashClient, scene: Mapping[str, Any], folder: str) -> str | None:
    """The local file holding *scene*'s cover, or None if it has none (the placeholder).

    Raises ``StashError`` if Stash cannot be asked.
    """
    paths = scene.get("paths")
    url = paths.get("screenshot") if isinstance(paths, Mapping) else None
    if not isinstance(url, str) or not url:
        return None
    content_type, data = client.fetch(url)
    kind = content_type.split(";")[0].strip().lower()
    if kind not in EXTENSIONS or not data:  # the SVG placeholder, or not an image at all
        return None
    digest = hashlib.sha256(data).hexdigest()
    target = os.path.join(folder, digest[:2], digest + EXTENSIONS[kind])
    if not os.path.exists(target):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        partial = f"{target}.{os.getpid()}.part"
        with open(partial, "wb") as handle:
            handle.write(data)
        os.replace(partial, target)
    return target
