"""The Stash plugin's figures, all through the installed plugin run as Stash runs it (its `exec`,
Stash's JSON on stdin) against the fake Stash and the fake Plex. Prints; asserts nothing.

* **imports**: the interpreter alone, and the hook's imports alone (``-X importtime`` of a real
  hook run, the top-level modules' cumulative times summed);
* **hook**: the wall time of one hook run (interpreter start included) and its CPU time, over
  many runs: with a worker already running (the hook only enqueues; a bulk edit's usual case),
  and with the plugin's own worker started by the hooks and working against the fake Plex;
* **sync all**: the task for N scenes, covers off and on (each scene its own cover);
* **requests per scene**: on Stash's side for a hook and for sync all, on Plex's side for a
  first sync with a poster, a re-sync with the same cover, and a sync without posters;
* **reconcile**: the task for N scenes already in Plex, a few of them changed since.

    python -m tests.benchmarks --stash-plugin [--quick]    # what `just bench --stash-plugin` runs
    python -m tests.benchmarks.stash_plugin [--hooks 200] [--scenes 10000]

The machine is shared: each figure is printed with the load average when it was taken.
"""

from __future__ import annotations

import argparse
import collections
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from shell.worker.presence import announce
from tests.builders import TOKEN
from tests.fake_plex import FakePlex
from tests.fake_stash import FakeStash
from tests.stash_plugin import JPEG, STASH_KEY, InstalledPlugin

HOOK_MODULES = "import shell.stash.plugin, shell.stash.hook"
"""What a hook run imports before it answers (``plugin`` loads ``hook`` when a hook runs)."""


def load() -> float:
    """The one-minute load average."""
    return round(os.getloadavg()[0], 2)


def cover(n: int) -> bytes:
    """A JPEG of its own for scene *n*."""
    return JPEG[:-2] + n.to_bytes(4, "big") + JPEG[-2:]


@contextmanager
def world(
    tmp: str, *, plex_up: bool = True
) -> Iterator[tuple[InstalledPlugin, FakeStash, FakePlex]]:
    """A fake Plex with a movie section, a fake Stash, and the plugin installed in *tmp*."""
    with FakePlex(TOKEN) as plex, FakeStash(username="admin", api_key=STASH_KEY) as stash:
        plex.add_section("Movies", locations=["/media"])
        plugin = InstalledPlugin(Path(tmp), stash, plex if plex_up else None)
        yield plugin, stash, plex


def _timed(
    command: list[str], **kwargs: Any
) -> tuple[float, float, subprocess.CompletedProcess[bytes]]:
    """(wall seconds, CPU seconds, the finished process) of *command*."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, check=False, **kwargs)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu, done


def _spread(values: list[float], scale: float = 1000.0) -> dict[str, float]:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {
        "median_ms": round(statistics.median(ordered) * scale),
        "p99_ms": round(p99 * scale),
        "min_ms": round(ordered[0] * scale),
        "max_ms": round(ordered[-1] * scale),
    }


# ---------------------------------------------------------------------------- imports
def imports(runs: int) -> list[dict[str, Any]]:
    """The interpreter's start, and the hook's imports, each alone."""
    rows = []
    python = sys.executable
    for what, code in (
        ("interpreter alone (`-c pass`), wall", "pass"),
        ("hook's imports, wall incl. interpreter", HOOK_MODULES),
    ):
        walls = [_timed([python, "-c", code], cwd=tempfile.gettempdir())[0] for _ in range(runs)]
        rows.append({"what": what, "runs": runs, **_spread(walls), "load": load()})
    totals = []
    for _ in range(runs):
        done = subprocess.run(
            [python, "-X", "importtime", "-c", HOOK_MODULES],
            capture_output=True, text=True, check=True, cwd=tempfile.gettempdir(),
        )  # fmt: skip
        totals.append(import_total(done.stderr) / 1e6)
    rows.append(
        {
            "what": "hook's imports alone (`-X importtime`)",
            "runs": runs,
            **_spread(totals),
            "load": load(),
        }
    )
    return rows


def import_total(report: str) -> int:
    """Microseconds of ``-X importtime`` *report*: the top-level imports' cumulative times."""
    total = 0
    for line in report.splitlines():
        if line.startswith("import time:") and "[us]" not in line:
            _, cumulative, name = line[len("import time:") :].split("|")
            if not name.startswith("  "):  # depth 0: a module the program itself imported
                total += int(cumulative)
    return total


# ---------------------------------------------------------------------------- hooks
def hooks(runs: int) -> list[dict[str, Any]]:
    """Hook runs in a row, as a bulk edit makes them: the scene read, its cover fetched, the job
    enqueued; once with a worker already running, once starting the plugin's own.
    """
    rows = []
    for case in ("a worker already runs", "the hook starts the worker"):
        with tempfile.TemporaryDirectory() as tmp, world(tmp) as (plugin, stash, plex):
            lib = stash.library
            scenes = []
            for n in range(10):
                plex.add_item(1, f"/media/h{n}.mp4")
                scenes.append(
                    lib.add_scene(paths=[f"/media/h{n}.mp4"], title=f"H{n}", cover=cover(n))
                )
            plugin.hook(lib.edit_scene(scenes[0], title="warm"))  # the queue and its schema exist
            plugin.wait_for_worker()
            walls, cpus, imported, started = [], [], [], 0
            loads = []
            with announce(plugin.db_path) if case.startswith("a worker") else _nothing():
                for n in range(runs):
                    stdin = stash.hook_stdin(
                        lib.edit_scene(scenes[n % 10], title=f"t{n}"),
                        config_dir=str(plugin.config_dir),
                    )
                    argv = (
                        [plugin.argv[0], "-X", "importtime", *plugin.argv[1:]]
                        if n % 10 == 9
                        else plugin.argv
                    )
                    wall, cpu, done = _timed(argv, input=stdin, cwd=plugin.cwd, env=plugin.env)
                    if argv is plugin.argv:
                        walls.append(wall)
                        cpus.append(cpu)
                    else:
                        imported.append(import_total(done.stderr.decode()) / 1e6)
                    started += b"worker started" in done.stdout
                    if n % 20 == 0:
                        loads.append(load())
            plugin.task("process")  # what the announced worker would have done
            plugin.wait_for_worker(timeout=120)
        wall, cpu = _spread(walls), _spread(cpus)
        rows.append(
            {
                "case": case,
                "runs": len(walls),
                "wall median ms": wall["median_ms"],
                "wall p99 ms": wall["p99_ms"],
                "wall max ms": wall["max_ms"],
                "CPU median ms": cpu["median_ms"],
                "CPU p99 ms": cpu["p99_ms"],
                "imports median ms": round(statistics.median(imported) * 1000) if imported else "-",
                "workers started": started,
                "load": f"{min(loads)}-{max(loads)}",
            }
        )
        _progress(f"hooks: {case}")
    return rows


@contextmanager
def _nothing() -> Iterator[None]:
    yield


# ---------------------------------------------------------------------------- sync all
def sync_all(scenes: int) -> list[dict[str, Any]]:
    """The "Sync all scenes" task for *scenes* scenes, covers off and on; no worker runs."""
    rows = []
    for covers in (False, True):
        with tempfile.TemporaryDirectory() as tmp, world(tmp) as (plugin, stash, plex):
            lib = stash.library
            for n in range(scenes):
                lib.add_scene(
                    paths=[f"/media/s{n:05d}.mp4"],
                    title=f"S{n}",
                    cover=cover(n) if covers else None,
                )
            lib.configure_plugin(
                "plexsync", {"plex_url": plex.url, "plex_token": TOKEN, "sync_poster": covers}
            )
            plugin.data_dir.mkdir(parents=True, exist_ok=True)
            stash.clear_requests()
            at_start = load()
            with announce(plugin.db_path):  # timed alone: no worker draining the queue meanwhile
                started = time.perf_counter()
                answer = plugin.task("all")
                seconds = time.perf_counter() - started
            rows.append(
                {
                    "scenes": f"{scenes:,}",
                    "covers": "on" if covers else "off",
                    "seconds": round(seconds, 1),
                    "Stash requests": stash.count(),
                    "queued": plugin.queued(),
                    "answer": answer.output or answer.error,
                    "load": f"{at_start}-{load()}",
                }
            )
        _progress(f"sync all: covers {'on' if covers else 'off'}")
    return rows


# ---------------------------------------------------------------------------- requests
def requests_per_scene(scenes: int = 50) -> list[dict[str, Any]]:
    """Requests per scene, on each side, for a hook and for syncs of *scenes* scenes."""
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp, world(tmp) as (plugin, stash, plex):
        lib = stash.library
        ids = []
        for n in range(scenes):
            plex.add_item(1, f"/media/r{n:03d}.mp4")
            ids.append(
                lib.add_scene(
                    paths=[f"/media/r{n:03d}.mp4"], title=f"R{n}", rating100=60, cover=cover(n)
                )
            )

        plugin.data_dir.mkdir(parents=True, exist_ok=True)

        def settings(poster: bool) -> None:
            lib.configure_plugin(
                "plexsync", {"plex_url": plex.url, "plex_token": TOKEN, "sync_poster": poster}
            )

        def measure(what: str, run: Callable[[], int]) -> None:
            stash.clear_requests()
            plex.clear_requests()
            with announce(plugin.db_path):
                count = run()
            stash_side = stash.count()
            plugin.task("process")  # the worker, in the plugin's process, until the queue is idle
            kinds = collections.Counter(f"{r.method} {_kind(r.path)}" for r in plex.requests)
            rows.append(
                {
                    "what": what,
                    "scenes": count,
                    "Stash per scene": round(stash_side / count, 2),
                    "Plex per scene": round(len(plex.requests) / count, 2),
                    "Plex requests": ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())),
                }
            )

        settings(True)
        measure("hook, first sync, with poster", lambda: _hook(plugin, stash, ids[0], "h1"))
        measure("hook, re-sync, same cover", lambda: _hook(plugin, stash, ids[0], "h2"))
        measure("sync all, first sync, with posters", lambda: _task(plugin, scenes))
        measure("sync all, re-sync, same covers", lambda: _task(plugin, scenes))
        settings(False)
        for n in ids:
            lib.edit_scene(n, title=f"again {n}")
        measure("sync all, without posters", lambda: _task(plugin, scenes))
        measure("hook, without poster", lambda: _hook(plugin, stash, ids[1], "h3"))
    _progress("requests per scene")
    return rows


def _hook(plugin: InstalledPlugin, stash: FakeStash, scene: int, title: str) -> int:
    plugin.hook(stash.library.edit_scene(scene, title=title))
    return 1


def _task(plugin: InstalledPlugin, scenes: int) -> int:
    plugin.task("all")
    return scenes


def _kind(path: str) -> str:
    """A request's path with ids taken out: ``/library/metadata/{id}/posters``."""
    return "/".join("{id}" if part.isdigit() else part for part in path.split("/")) or "/"


# ---------------------------------------------------------------------------- reconcile
def reconcile(scenes: int, synced: int) -> list[dict[str, Any]]:
    """The "Reconcile with Plex" task: *scenes* scenes whose Plex items were never synced (all
    differ), and *synced* scenes just synced (all agree); covers off, no worker meanwhile.
    """
    rows = []
    for count, sync_first in ((scenes, False), (synced, True)):
        with tempfile.TemporaryDirectory() as tmp, world(tmp) as (plugin, stash, plex):
            lib = stash.library
            for n in range(count):
                plex.add_item(1, f"/media/c{n:05d}.mp4")
                lib.add_scene(paths=[f"/media/c{n:05d}.mp4"], title=f"C{n}", rating100=50)
            lib.configure_plugin(
                "plexsync", {"plex_url": plex.url, "plex_token": TOKEN, "sync_poster": False}
            )
            plugin.data_dir.mkdir(parents=True, exist_ok=True)
            if sync_first:
                with announce(plugin.db_path):
                    plugin.task("all")
                plugin.task("process")
            stash.clear_requests()
            plex.clear_requests()
            at_start = load()
            with announce(plugin.db_path):
                started = time.perf_counter()
                answer = plugin.task("reconcile")
                seconds = time.perf_counter() - started
            rows.append(
                {
                    "scenes": f"{count:,}",
                    "Plex holds": "what they map to" if sync_first else "other titles, no locks",
                    "seconds": round(seconds, 1),
                    "Stash requests": stash.count(),
                    "Plex requests": len(plex.requests),
                    "answer": (answer.output or answer.error or "").split(": ", 1)[-1],
                    "load": f"{at_start}-{load()}",
                }
            )
        _progress(f"reconcile: {count:,} scenes")
    return rows


# ---------------------------------------------------------------------------- all of it
def run(*, hook_runs: int, scenes: int, import_runs: int = 20) -> dict[str, list[dict[str, Any]]]:
    """Every figure of the plugin, by section."""
    return {
        "stash plugin: imports": imports(import_runs),
        "stash plugin: hook runs": hooks(hook_runs),
        "stash plugin: sync all": sync_all(scenes),
        "stash plugin: requests per scene": requests_per_scene(),
        "stash plugin: reconcile": reconcile(scenes, synced=min(scenes, 1_000)),
    }


def _progress(message: str) -> None:
    print(f"  ... {message} (load {load()})", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hooks", type=int, default=200)
    parser.add_argument("--scenes", type=int, default=10_000)
    args = parser.parse_args()
    from tests.benchmarks.__main__ import table  # noqa: PLC0415 - the same tables as `just bench`

    for name, rows in run(hook_runs=args.hooks, scenes=args.scenes).items():
        print(f"## {name}\n\n{table(rows)}\n")


if __name__ == "__main__":
    main()
