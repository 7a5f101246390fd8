"""Covers fetched from the fake Stash into the content-addressed folder, several at a time, over
real HTTP with the plugin's own client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shell.stash.covers import fetch_covers
from shell.stash.graphql import Connection, StashClient
from tests.stash_plugin import JPEG, STASH_KEY

if TYPE_CHECKING:
    from pathlib import Path

    from tests.fake_stash import FakeStash


def test_scenes_sharing_a_cover_fetched_at_once_share_one_whole_file(
    stash: FakeStash, tmp_path: Path
) -> None:
    """Many scenes with the same cover, fetched several at a time into an empty folder: every
    writer finishes (none finds its partial file taken by another), each scene gets the one
    file, which holds the whole image, and nothing partial is left behind. Repeated into fresh
    folders, since writers collide only when they meet.
    """
    scenes = [
        {"paths": {"screenshot": f"{stash.url}/scene/{scene_id}/screenshot"}}
        for scene_id in (stash.library.add_scene(title=f"S{n}", cover=JPEG) for n in range(24))
    ]
    client = StashClient(Connection(stash.url, api_key=STASH_KEY))
    try:
        for round_ in range(15):
            folder = tmp_path / f"images{round_}"
            fetched = fetch_covers(client, scenes, str(folder))
            assert len(set(fetched)) == 1, fetched
            [path] = [p for p in folder.rglob("*") if p.is_file()]
            assert fetched[0] == str(path)
            assert path.read_bytes() == JPEG
    finally:
        client.close()
