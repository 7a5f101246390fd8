"""``just bench``: plexsync's queue measured beside its peers, in one run, interleaved.

Every figure is a median over several rounds; every comparison is a ratio measured in the same
run, with the contenders taking turns within each round, because the machines are shared and
noisy. Not part of ``just test``: speed is measured here, never asserted in tests.

    python -m tests.benchmarks            # everything (a few minutes)
    python -m tests.benchmarks --quick    # smaller sizes, fewer rounds (a smoke run)
    python -m tests.benchmarks --stash-plugin [--quick]   # the Stash plugin's figures instead
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import shell
from core import Health, Outcome, PlexSyncConfig, Succeeded
from shell.simulate import SimulationSpec, simulate
from shell.store import Store
from shell.worker import decisions
from tests.benchmarks import concurrency, peers

PAYLOAD = {"path": "/media/films/{n:07d}.mkv", "title": "Title {n}", "genres": ["Drama"]}


class Instant:
    """A Plex that answers at once: the benchmark measures the queue, not the network."""

    def apply(self, metadata: object) -> Outcome:
        del metadata
        return Succeeded()

    def health(self) -> Health:
        return Health.UP


def metadata(n: int) -> dict[str, Any]:
    return {
        "path": PAYLOAD["path"].format(n=n),  # type: ignore[union-attr]
        "title": PAYLOAD["title"].format(n=n),  # type: ignore[union-attr]
        "genres": PAYLOAD["genres"],
    }


def config_for(directory: str, synchronous: str) -> PlexSyncConfig:
    return PlexSyncConfig(
        plex_url="http://127.0.0.1:32400",
        plex_token="bench",
        db_path=os.path.join(directory, "plexsync.db"),
        sqlite_synchronous=synchronous,
    )


# ---------------------------------------------------------------------------- throughput
def ours(jobs: int, synchronous: str, *, batched: bool) -> float:
    """Enqueue *jobs* (one transaction each, or in batches of 500), then drain them through
    the real run_worker loop; returns jobs per second over both.
    """
    with tempfile.TemporaryDirectory() as directory:
        config = config_for(directory, synchronous)
        started = time.perf_counter()
        if batched:
            for first in range(0, jobs, 500):
                batch = [(f"k{n}", metadata(n)) for n in range(first, min(jobs, first + 500))]
                shell.enqueue_many(config, batch)
        else:
            for n in range(jobs):
                shell.enqueue(config, key=f"k{n}", metadata=metadata(n))
        report = shell.run_worker(config, plex=Instant(), until_idle=True)
        elapsed = time.perf_counter() - started
        if report.done != jobs:
            raise AssertionError(f"drained {report.done} of {jobs}")
        shell.api.close_store(config)
        return jobs / elapsed


def throughput(jobs: int, rounds: int) -> list[dict[str, Any]]:
    """Every contender, each round, both synchronous settings; medians and ratios."""
    rows = []
    for synchronous in ("normal", "full"):
        contenders: dict[str, Callable[[], float]] = {
            "plexsync (enqueue, run_worker)": lambda s=synchronous: ours(jobs, s, batched=False),
            "plexsync (enqueue_many, run_worker)": lambda s=synchronous: ours(
                jobs, s, batched=True
            ),
            "raw SQLite (put; get+ack)": lambda s=synchronous: peers.raw_sqlite(jobs, s)["whole"],
            "raw SQLite (put only)": lambda s=synchronous: peers.raw_sqlite(jobs, s)["put"],
            "huey SqliteStorage (enqueue; dequeue)": lambda s=synchronous: peers.huey(jobs, s),
            "persist-queue SQLiteAckQueue (put; get+ack)": lambda: peers.persist_queue(jobs),
        }
        results: dict[str, list[float]] = {name: [] for name in contenders}
        names = list(contenders)
        for round_number in range(rounds):
            turn = names[round_number % len(names) :] + names[: round_number % len(names)]
            for name in turn:
                results[name].append(contenders[name]())
            _progress(f"throughput ({synchronous}) round {round_number + 1}/{rounds}")
        rows.extend(
            {
                "synchronous": synchronous,
                "contender": name,
                "jobs_per_second": round(statistics.median(results[name])),
                # plexsync's rate over this one, as the median of the per-round ratios
                "enqueue_over_this": _ratio(results[names[0]], results[name]),
                "enqueue_many_over_this": _ratio(results[names[1]], results[name]),
            }
            for name in names
        )
    return rows


def _ratio(ours: list[float], theirs: list[float]) -> float:
    """The median of the per-round ratios: each pair ran back to back, under the same load."""
    return round(statistics.median(a / b for a, b in zip(ours, theirs, strict=True)), 2)


# ---------------------------------------------------------------------------- flat claim cost
def build_backlog(path: str, *, waiting: int, finished: int, due_now: int = 100) -> None:
    """A queue with *waiting* jobs (all but *due_now* due in the future) after *finished* jobs
    came and went. Built with bulk SQL for speed; the rows are what enqueue writes.
    """
    Store.open(path).close()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous = OFF")
    payload = json.dumps(metadata(0), separators=(",", ":"))
    now = time.time()
    db.execute("BEGIN")
    chunk = 50_000
    for start in range(0, finished, chunk):
        db.executemany(
            "INSERT INTO jobs (key, payload, state, due_at, enqueued_at, updated_at)"
            " VALUES (?, ?, 'waiting', ?, ?, ?)",
            (
                (f"done{n}", payload, now, now, now)
                for n in range(start, min(finished, start + chunk))
            ),
        )
    db.execute("DELETE FROM jobs")  # finished jobs leave the table, as the worker deletes them
    for start in range(0, waiting, chunk):
        rows = (
            (f"k{n}", payload, now - 1 if n < due_now else now + 3600 + n, now, now)
            for n in range(start, min(waiting, start + chunk))
        )
        db.executemany(
            "INSERT INTO jobs (key, payload, state, due_at, enqueued_at, updated_at)"
            " VALUES (?, ?, 'waiting', ?, ?, ?)",
            rows,
        )
    db.execute("COMMIT")
    db.close()


def claim_latency(sizes: Sequence[int], finished: int, samples: int) -> list[dict[str, Any]]:
    """Median and p99 time of claiming the next due job, for each backlog."""
    rows = []
    cases = [(f"{size:,} waiting", size, 0) for size in sizes]
    cases.append((f"1,000 waiting after {finished:,} finished", 1000, finished))
    for label, waiting, gone in cases:
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "backlog.db")
            build_backlog(path, waiting=waiting, finished=gone)
            config = config_for(directory, "normal")
            store = Store.open(path)
            timings = []
            now = time.time()
            for _ in range(samples):
                started = time.perf_counter()
                stored = decisions.claim(store, now=now, owner="bench", config=config)
                timings.append(time.perf_counter() - started)
                assert stored is not None
                decisions.release(store, stored)
            store.close()
            size = os.path.getsize(path)
        timings.sort()
        rows.append(
            {
                "backlog": label,
                "claim_median_us": round(statistics.median(timings) * 1e6, 1),
                "claim_p99_us": round(timings[int(len(timings) * 0.99)] * 1e6, 1),
                "database_mb": round(size / 2**20, 1),
            }
        )
        _progress(f"claim latency: {label}")
    smallest = min(r["claim_median_us"] for r in rows)
    for row in rows:
        row["vs_smallest"] = round(row["claim_median_us"] / smallest, 2)
    return rows


# ---------------------------------------------------------------------------- memory
def peak_rss(sizes: Sequence[int]) -> list[dict[str, Any]]:
    """Peak RSS of a worker process draining the due jobs of each backlog."""
    rows = []
    for size in sizes:
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "plexsync.db")  # where config_for points
            build_backlog(path, waiting=size, finished=0, due_now=1000)
            script = (
                "import resource, shell\n"
                "from tests.benchmarks.__main__ import Instant, config_for\n"
                f"config = config_for({directory!r}, 'normal')\n"
                "report = shell.run_worker(config, plex=Instant(), until_idle=True)\n"
                "print(report.done, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
            )
            result = subprocess.run(
                [sys.executable, "-c", script],
                capture_output=True,
                text=True,
                check=True,
                cwd=Path(__file__).resolve().parents[2],
            )
            done, kib = map(int, result.stdout.split())
        rows.append(
            {"waiting": f"{size:,}", "jobs_worked": done, "peak_rss_mb": round(kib / 1024, 1)}
        )
        _progress(f"memory: {size:,} waiting")
    base = rows[0]["peak_rss_mb"]
    for row in rows:
        row["vs_smallest"] = round(row["peak_rss_mb"] / base, 2)
    return rows


# ---------------------------------------------------------------------------- enqueue latency
def enqueue_latency(backlog: int, samples: int) -> list[dict[str, Any]]:
    """p50 / p99 of one shell.enqueue call with *backlog* jobs already queued."""
    rows = []
    for synchronous in ("normal", "full"):
        with tempfile.TemporaryDirectory() as directory:
            build_backlog(os.path.join(directory, "plexsync.db"), waiting=backlog, finished=0)
            config = config_for(directory, synchronous)
            shell.enqueue(config, key="warm", metadata=metadata(0))
            timings = []
            for n in range(samples):
                started = time.perf_counter()
                shell.enqueue(config, key=f"new{n}", metadata=metadata(n))
                timings.append(time.perf_counter() - started)
            shell.api.close_store(config)
        timings.sort()
        rows.append(
            {
                "synchronous": synchronous,
                "queued": f"{backlog:,}",
                "p50_ms": round(statistics.median(timings) * 1e3, 3),
                "p99_ms": round(timings[int(len(timings) * 0.99)] * 1e3, 3),
                "max_ms": round(timings[-1] * 1e3, 3),
            }
        )
        _progress(f"enqueue latency ({synchronous})")
    return rows


# ---------------------------------------------------------------------------- outage cost
def outage_cost(sizes: Sequence[int]) -> list[dict[str, Any]]:
    """A 6-hour outage starting 5 s in, on the fake clock, with the default settings."""
    rows = []
    for jobs in sizes:
        result = simulate(
            SimulationSpec(jobs=jobs, outage_seconds=6 * 3600, outage_start_seconds=5)
        )
        rows.append(
            {
                "jobs": f"{jobs:,}",
                "done": result.done,
                "dead_lettered": sum(result.dead_lettered.values()),
                "calls_during_outage": result.calls_during_outage,
                "job_calls_during_outage": result.job_calls_during_outage,
                "recovery_to_first_done_s": round(result.recovery_to_first_done_seconds or 0, 1),
                "recovery_to_empty_s": round(result.recovery_to_empty_seconds or 0, 1),
                "wall_s": round(result.wall_seconds, 2),
            }
        )
        _progress(f"outage cost: {jobs:,} jobs")
    return rows


# ---------------------------------------------------------------------------- start-up check
def start_check(sizes: Sequence[int], rounds: int) -> list[dict[str, Any]]:
    """What a worker's start costs with and without ``PRAGMA quick_check`` (run after an unclean
    stop, or once a day), and what ``integrity_check`` (``plexsync db check``) costs, for queues
    of *sizes* jobs with payloads the size a host's are (a title, a 300-character summary, a
    few names). Warm disk cache; medians over *rounds*.
    """
    rows = []
    for size in sizes:
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "plexsync.db")
            store = Store.open(path)
            summary = "A summary of the scene, as a host sends it. " * 7
            for first in range(0, size, 5000):
                store.enqueue_many(
                    [
                        (f"k{n}", json.dumps({**metadata(n), "summary": summary[:300]}))
                        for n in range(first, min(size, first + 5000))
                    ],
                    now=time.time(),
                )
            timings: dict[bool, list[float]] = {True: [], False: []}
            for _ in range(rounds):
                for quick in (True, False):
                    started = time.perf_counter()
                    assert store.damage(quick=quick) == []
                    timings[quick].append(time.perf_counter() - started)
            store.close()
            size_mb = os.path.getsize(path) / 2**20
        rows.append(
            {
                "jobs": f"{size:,}",
                "database_mb": round(size_mb, 1),
                "quick_check_s": round(statistics.median(timings[True]), 3),
                "integrity_check_s": round(statistics.median(timings[False]), 3),
            }
        )
        _progress(f"start-up check: {size:,} jobs")
    return rows


# ---------------------------------------------------------------------------- concurrency
def concurrency_sections(quick: bool) -> dict[str, list[dict[str, Any]]]:
    """Several calls in flight against the fake Plex of limited capacity (P = 4)."""
    jobs, serial, plugin = (400, 50, 5) if quick else (5_000, 500, 100)
    polite, polite_timeline = concurrency.politeness(400 if quick else 3_000)
    recovered, ramp = concurrency.recovery(300 if quick else 2_000)
    return {
        "concurrency_throughput": concurrency.throughput(jobs, serial, plugin),
        "concurrency_politeness": polite,
        "concurrency_politeness_limit_over_time": polite_timeline,
        "concurrency_overload": concurrency.overload(300 if quick else 2_000),
        "concurrency_recovery": recovered,
        "concurrency_recovery_ramp": ramp,
    }


# ---------------------------------------------------------------------------- output
def table(rows: list[dict[str, Any]]) -> str:
    """Rows as a markdown table."""
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(row[key]) for key in header) + " |" for row in rows]
    return "\n".join(lines)


def machine() -> str:
    cpus = os.cpu_count()
    with open("/proc/meminfo", encoding="ascii") as meminfo:
        total_kib = int(meminfo.readline().split()[1])
    return (
        f"{platform.platform()}, {cpus} CPUs, {total_kib / 2**20:.0f} GiB, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"
    )


def _progress(message: str) -> None:
    print(f"  ... {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="plexsync benchmarks beside their peers")
    parser.add_argument("--quick", action="store_true", help="small sizes, few rounds")
    parser.add_argument("--json", metavar="FILE", help="also write every figure as JSON")
    parser.add_argument(
        "--stash-plugin",
        action="store_true",
        help="the Stash plugin's figures instead: hook runs, sync all, requests per scene",
    )
    parser.add_argument(
        "--only-concurrency", action="store_true", help="only the concurrency benchmarks"
    )
    args = parser.parse_args(argv)
    quick = args.quick
    if args.stash_plugin:
        return _stash_plugin(quick=quick, json_file=args.json)
    jobs, rounds = (2_000, 2) if quick else (10_000, 5)
    sizes = (1_000, 10_000, 100_000) if quick else (1_000, 10_000, 100_000, 1_000_000)
    finished = 100_000 if quick else 1_000_000
    began = time.perf_counter()
    if args.only_concurrency:
        sections = concurrency_sections(quick)
        return _report("plexsync concurrency benchmarks", None, sections, began, args.json)
    sections = {
        "throughput": throughput(jobs, rounds),
        "claim_latency": claim_latency(sizes, finished, samples=300 if quick else 2000),
        "memory": peak_rss((1_000, sizes[-1])),
        "enqueue_latency": enqueue_latency(10_000 if quick else 100_000, 300 if quick else 2000),
        "outage": outage_cost((1_000, 10_000)),
        "start_check": start_check((1_000, 10_000, 100_000), rounds=3),
    }
    sections |= concurrency_sections(quick)
    command = f"python -m tests.benchmarks{' --quick' if quick else ''}"
    how = f"`{command}`: {jobs:,} jobs, {rounds} rounds"
    return _report("plexsync benchmarks", how, sections, began, args.json)


def _report(
    title: str,
    how: str | None,
    sections: dict[str, list[dict[str, Any]]],
    began: float,
    json_file: str | None,
) -> int:
    """Print *sections* as Markdown tables under *title* (and *how* they were run), with the
    machine and the run's length; also write them as JSON to *json_file* if given.
    """
    print(f"# {title}\n\n{machine()}\n")
    if how is not None:
        print(f"{how}\n")
    for name, rows in sections.items():
        print(f"## {name}\n\n{table(rows)}\n")
    print(f"(whole run: {time.perf_counter() - began:.0f} s)")
    if json_file:
        Path(json_file).write_text(json.dumps(sections, indent=2))
    return 0


def _stash_plugin(*, quick: bool, json_file: str | None) -> int:
    from tests.benchmarks import stash_plugin  # noqa: PLC0415 - fakes only when asked for

    began = time.perf_counter()
    hook_runs, scenes = (30, 1_000) if quick else (200, 10_000)
    sections = stash_plugin.run(hook_runs=hook_runs, scenes=scenes)
    command = f"python -m tests.benchmarks --stash-plugin{' --quick' if quick else ''}"
    how = f"`{command}`: {hook_runs} hook runs, {scenes:,} scenes"
    return _report("plexsync's Stash plugin", how, sections, began, json_file)


if __name__ == "__main__":
    sys.exit(main())
