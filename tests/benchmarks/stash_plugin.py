"""The Stash plugin's figures: a hook's wall time (interpreter start included) and a sync of
10,000 scenes, both through the installed plugin run as Stash runs it (its `exec`, Stash's JSON
on stdin) against the fake Stash and the fake Plex. Prints; asserts nothing.

    .venv/bin/python -m tests.benchmarks.stash_plugin [--hooks 200] [--scenes 10000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from tests.builders import TOKEN
from tests.fake_plex import FakePlex
from tests.fake_stash import FakeStash
from tests.stash_plugin import JPEG, STASH_KEY, InstalledPlugin


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hooks", type=int, default=200)
    parser.add_argument("--scenes", type=int, default=10_000)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    with (
        tempfile.TemporaryDirectory() as tmp,
        FakePlex(TOKEN) as plex,
        FakeStash(username="admin", api_key=STASH_KEY) as stash,
    ):
        plex.add_section("Movies", locations=["/media"])
        plugin = InstalledPlugin(Path(tmp), stash, plex)
        lib = stash.library
        scene = lib.add_scene(paths=["/media/bench.mp4"], title="bench", cover=JPEG)
        plugin.env["PLEXSYNC_PLEX_URL"] = "http://127.0.0.1:9"  # no worker work in the timing
        times = sorted(
            plugin.hook(lib.edit_scene(scene, title=f"t{n}")).seconds for n in range(args.hooks)
        )
        p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
        print(
            f"hook ({args.hooks} runs, with cover): median {statistics.median(times):.3f} s, "
            f"p99 {p99:.3f} s, max {times[-1]:.3f} s"
        )
        for n in range(args.scenes):
            lib.add_scene(paths=[f"/media/s{n:05d}.mp4"], title=f"S{n}")
        lib.configure_plugin(
            "plexsync", {"plex_url": plex.url, "plex_token": TOKEN, "sync_poster": False}
        )
        started = time.perf_counter()
        answer = plugin.task(
            "all",
        )
        print(
            f"sync all, {args.scenes} scenes, no covers: {time.perf_counter() - started:.1f} s"
            f" ({answer.output})"
        )
        plugin.env["PLEXSYNC_PLEX_URL"] = "http://127.0.0.1:9"


if __name__ == "__main__":
    main()
