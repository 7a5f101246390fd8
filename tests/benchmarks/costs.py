"""What one job costs in the common case: Plex requests and SQLite commits per job, for a drain
of N jobs through the real worker, the real plexapi client and the fake Plex over HTTP. Counts,
not times, so the figures do not depend on the machine's load.

    python -m tests.benchmarks.costs [--jobs 500] [--read-back FRACTION]

Requests are counted at the fake Plex, by kind; commits are the worker's write transactions
(``Store.writes``: transactions that changed a row, each a commit and, at ``synchronous=FULL``,
an fsync). The first pass includes the one-off cost of building the path index; the second
pass edits the same items again, as a host's later edits do.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

import shell
from shell.store import Store
from tests.builders import TOKEN, make_config
from tests.fake_plex import FakePlex


def _kind(method: str, path: str) -> str:
    if method == "PUT":
        return "edit (PUT)"
    if path.startswith("/library/sections/") and "/all" in path:
        return "section listing"
    if path.startswith("/library/sections"):
        return "sections"
    if path.startswith("/library/metadata/"):
        return "item read"
    return f"{method} {path.split('?', maxsplit=1)[0]}"


def run(jobs: int, read_back: float = 0.0) -> list[tuple[str, dict[str, float]]]:
    """Two passes of *jobs* jobs, *read_back* of them read back after their edit; per pass, the
    requests and commits per job.
    """
    writes: list[int] = []  # commits of each store opened, in order (its transactions wrapped)
    opened = Store.open

    def counting_open(path: str, *, synchronous: str = "NORMAL") -> Store:
        store = opened(path, synchronous=synchronous)
        writes.append(0)
        index = len(writes) - 1
        original = store.transaction

        @contextlib.contextmanager
        def transaction() -> Iterator[Store]:
            before = store.writes
            with original() as tx:
                yield tx
            writes[index] += store.writes - before

        store.transaction = transaction  # type: ignore[method-assign]
        return store

    results = []
    with tempfile.TemporaryDirectory() as folder, FakePlex(TOKEN) as plex:
        section = plex.add_section("Movies", locations=["/media"])
        for n in range(jobs):
            plex.add_item(section, f"/media/{n:05d}.mkv", title=f"old {n}")
        config = make_config(
            plex_url=plex.url,
            db_path=str(Path(folder) / "queue.db"),
            read_back_fraction=read_back,
        )
        Store.open = staticmethod(counting_open)  # type: ignore[assignment,method-assign]
        try:
            for label in ("first sync (index built)", "later edits"):
                plex.clear_requests()
                shell.enqueue_many(
                    config,
                    [
                        (f"scene:{n}", {"path": f"/media/{n:05d}.mkv", "title": f"{label} {n}"})
                        for n in range(jobs)
                    ],
                )
                start = len(writes)
                report = shell.run_worker(config, until_idle=True)
                assert report.done == jobs, report
                kinds = collections.Counter(_kind(r.method, r.path) for r in plex.requests)
                figures = {kind: count / jobs for kind, count in sorted(kinds.items())}
                figures["all requests"] = len(plex.requests) / jobs
                figures["worker commits"] = sum(writes[start:]) / jobs
                results.append((label, figures))
        finally:
            Store.open = opened  # type: ignore[method-assign]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--read-back", type=float, default=0.0, help="read_back_fraction")
    args = parser.parse_args()
    for label, figures in run(args.jobs, args.read_back):
        print(f"{label}, {args.jobs} jobs, read_back_fraction {args.read_back:g}: per job")
        for name, value in figures.items():
            print(f"  {name:<24} {value:.3f}")


if __name__ == "__main__":
    main()
