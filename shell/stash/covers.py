"""A scene's cover, fetched from Stash into a content-addressed folder beside the queue.

A job carries a local image file, never a URL (the worker must not need Stash, nor its
credentials): ``images/<first two hex digits>/<sha256>.<ext>``. The same bytes are one file,
however often a scene is synced. A scene without a cover answers Stash's SVG placeholder, which
is no cover at all.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Final

from shell.stash.graphql import StashClient, StashError, StashRefusedError

AT_ONCE: Final = 4
"""Covers fetched at once when many scenes are synced: Stash serves them from its own files, and
one at a time a sync of 10,000 scenes spent most of its time waiting on them."""

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
        # A file of its own for each writer (covers are fetched several at a time, and scenes
        # share covers), moved into place whole: readers see the complete file or none.
        handle, partial = tempfile.mkstemp(dir=os.path.dirname(target), suffix=".part")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(data)
            os.replace(partial, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.remove(partial)
            raise
    return target


def fetch_covers(
    client: StashClient, scenes: Sequence[Mapping[str, Any]], folder: str
) -> list[str | StashError | None]:
    """``fetch_cover`` of each of *scenes*, in order, ``AT_ONCE`` at a time, each on a connection
    of its own; a cover Stash could not give is its ``StashError``. ``StashRefusedError`` (the
    credentials refused) is raised: every other request would be refused too.
    """
    if len(scenes) <= 1:
        return [_cover_or_error(client, scene, folder) for scene in scenes]
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415 - not on a hook's path

    local = threading.local()
    opened: list[StashClient] = []

    def fetch(scene: Mapping[str, Any]) -> str | StashError | None:
        own = getattr(local, "client", None)
        if own is None:
            own = local.client = StashClient(client.connection, timeout=client.timeout)
            opened.append(own)
        return _cover_or_error(own, scene, folder)

    try:
        with ThreadPoolExecutor(AT_ONCE, thread_name_prefix="plexsync-cover") as pool:
            return list(pool.map(fetch, scenes))
    finally:
        for own in opened:
            client.requests_sent += own.requests_sent
            own.close()


def _cover_or_error(
    client: StashClient, scene: Mapping[str, Any], folder: str
) -> str | StashError | None:
    try:
        return fetch_cover(client, scene, folder)
    except StashRefusedError:
        raise
    except StashError as error:
        return error
