"""Several Plex calls in flight, against the fake Plex of limited capacity (``Capacity``): it
serves at most P requests at once, L seconds each, and queues (or refuses) the rest.

- ``throughput``: the adaptive worker, the one-at-a-time worker and a model of the plugin we
  replace (three requests and a 0.15 s pause per job), side by side, at P = 4 and two L;
- ``politeness``: the server drops to P = 1 halfway; the limit over time and the server's own
  latency after the drop;
- ``overload``: the server answers 503 to a request above P instead of queueing it;
- ``recovery``: an outage on the fake clock (time to first job done), and the ramp of the limit
  after a real one.

Real processes' threads, real HTTP, real plexapi, a real SQLite file: only Plex is the fake.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import requests
from attrs import frozen

import shell
from core import BreakerClosed, Event, JobSucceeded, PlexSyncConfig
from shell.simulate import SimulationSpec, simulate
from shell.store import Store
from shell.worker import WorkerReport
from tests.benchmarks.remote_plex import TOKEN, RemotePlex

PLUGIN_PAUSE_SECONDS = 0.15
"""The pause the plugin we replace makes after each job."""
MAX_IN_FLIGHT = 8
"""The ceiling the benchmarks give the worker (twice P, so that the limit, not the setting,
decides)."""


def plex_with(items: int) -> RemotePlex:
    """A fake Plex with one movie section of *items* items, /media/m{n}.mkv, in a process of
    its own.
    """
    return RemotePlex(items)


def _config(fake: RemotePlex, directory: str, **overrides: Any) -> PlexSyncConfig:
    return PlexSyncConfig(
        plex_url=fake.url,
        plex_token=TOKEN,
        db_path=os.path.join(directory, f"q{time.monotonic_ns()}.db"),
        **overrides,
    )


def _enqueue(config: PlexSyncConfig, first: int, jobs: int) -> None:
    for start in range(first, first + jobs, 500):
        batch = [
            (f"k{n}", {"path": f"/media/m{n}.mkv", "title": f"Title {n}"})
            for n in range(start, min(first + jobs, start + 500))
        ]
        shell.enqueue_many(config, batch)


@frozen(kw_only=True)
class Worked:
    """What one run of the worker did, how long it took, and its limit's changes."""

    report: WorkerReport
    seconds: float
    limits: list[tuple[float, int]]
    cpu_seconds: float
    """This process's CPU time over the run (the fake Plex runs in another)."""


def work(
    config: PlexSyncConfig,
    *,
    on_event: Callable[[Event], None] | None = None,
    until_empty: bool = True,
) -> Worked:
    """Run the worker on the system clock until the queue is empty (retries included)."""
    stop = threading.Event()
    limits: list[tuple[float, int]] = []

    def watch() -> None:
        store = Store.open(config.db_path)
        try:
            while not stop.wait(0.05):
                if store.jobs.count() == 0:
                    stop.set()
        finally:
            store.close()

    watcher = threading.Thread(target=watch, daemon=True)
    cpu_before = time.process_time()
    started = time.perf_counter()
    if until_empty:
        watcher.start()
    report = shell.run_worker(
        config,
        stop=stop,
        until_idle=not until_empty,
        on_event=on_event,
        on_limit=lambda at, slots: limits.append((at, slots)),
    )
    elapsed = time.perf_counter() - started
    stop.set()
    if until_empty:
        watcher.join()
    shell.api.close_store(config)
    return Worked(
        report=report,
        seconds=elapsed,
        limits=limits,
        cpu_seconds=time.process_time() - cpu_before,
    )


def plugin_model(fake: RemotePlex, jobs: int) -> float:
    """The plugin we replace, as a model: per job, three requests (find the item, edit it,
    read it back) and a 0.15 s pause. Jobs per second.
    """
    session = requests.Session()
    base = fake.url
    headers = {"X-Plex-Token": TOKEN, "Accept": "application/xml"}
    started = time.perf_counter()
    for n in range(jobs):
        key = 1000 + n
        session.get(f"{base}/library/metadata/{key}", headers=headers, timeout=30)
        session.put(
            f"{base}/library/sections/1/all",
            params={"type": 1, "id": key, "title.value": f"Title {n}", "title.locked": 1},
            headers=headers,
            timeout=30,
        )
        session.get(f"{base}/library/metadata/{key}", headers=headers, timeout=30)
        time.sleep(PLUGIN_PAUSE_SECONDS)
    session.close()
    return jobs / (time.perf_counter() - started)


# ---------------------------------------------------------------------------- throughput
def throughput(jobs: int, serial_jobs: int, plugin_jobs: int) -> list[dict[str, Any]]:
    """At P = 4 and L = 20 ms and 50 ms: jobs per second of each, and the ratios."""
    rows = []
    capacity = 4
    for latency in (0.020, 0.050):
        with plex_with(jobs) as fake, tempfile.TemporaryDirectory() as directory:
            fake.limit(capacity, latency)
            adaptive = _config(fake, directory, max_in_flight=MAX_IN_FLIGHT)
            _enqueue(adaptive, 0, jobs)
            worked = work(adaptive)
            assert worked.report.done == jobs, worked.report
            ours = jobs / worked.seconds
            serial = _config(fake, directory, max_in_flight=1)
            _enqueue(serial, 0, serial_jobs)
            worked_serial = work(serial)
            assert worked_serial.report.done == serial_jobs, worked_serial.report
            one_at_a_time = serial_jobs / worked_serial.seconds
            plugin = plugin_model(fake, plugin_jobs)
        ceiling = capacity / latency
        peak = max((slots for _, slots in worked.limits), default=1)
        rows += [
            {
                "L_ms": round(latency * 1000),
                "contender": f"plexsync, adaptive (max_in_flight {MAX_IN_FLIGHT})",
                "jobs": jobs,
                "jobs_per_second": round(ours, 1),
                "of_P_over_L": round(ours / ceiling, 2),
                "adaptive_over_this": 1.0,
                "limit_peak": peak,
                "worker_cpu_ms_per_job": round(worked.cpu_seconds / jobs * 1000, 2),
            },
            {
                "L_ms": round(latency * 1000),
                "contender": "plexsync, one at a time (max_in_flight 1)",
                "jobs": serial_jobs,
                "jobs_per_second": round(one_at_a_time, 1),
                "of_P_over_L": round(one_at_a_time / ceiling, 2),
                "adaptive_over_this": round(ours / one_at_a_time, 2),
                "limit_peak": 1,
                "worker_cpu_ms_per_job": round(worked_serial.cpu_seconds / serial_jobs * 1000, 2),
            },
            {
                "L_ms": round(latency * 1000),
                "contender": "plugin model (3 requests + 0.15 s pause)",
                "jobs": plugin_jobs,
                "jobs_per_second": round(plugin, 1),
                "of_P_over_L": round(plugin / ceiling, 2),
                "adaptive_over_this": round(ours / plugin, 2),
                "limit_peak": 1,
                "worker_cpu_ms_per_job": None,
            },
        ]
        _progress(f"concurrency throughput: L = {latency * 1000:.0f} ms")
    return rows


# ---------------------------------------------------------------------------- politeness
def politeness(jobs: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """P = 4 → 1 halfway at L = 20 ms: the summary, and the limit over time around the drop."""
    latency = 0.020
    with plex_with(jobs) as fake, tempfile.TemporaryDirectory() as directory:
        fake.limit(4, latency)
        config = _config(fake, directory, max_in_flight=MAX_IN_FLIGHT)
        _enqueue(config, 0, jobs)
        dropped: list[tuple[float, float]] = []

        def drop_halfway() -> None:
            while fake.edits() < jobs // 2:
                time.sleep(0.01)
            dropped.append((time.time(), time.monotonic()))
            fake.limit(1, latency)

        dropper = threading.Thread(target=drop_halfway, daemon=True)
        dropper.start()
        worked = work(config)
        dropper.join()
        served = fake.served()
    report = worked.report
    (drop_at, drop_mono) = dropped[0]
    limits = [(at - drop_at, slots) for at, slots in worked.limits]
    before = [slots for at, slots in limits if at < 0]
    slots_at_drop = before[-1] if before else 1
    fell = next((at for at, slots in limits if at >= 0 and slots <= 2), None)
    # The server's own latency (queued and served), by 0.5 s windows after the drop.
    windows: dict[int, list[float]] = {}
    for request in served:
        if request.arrived_at >= drop_mono:
            windows.setdefault(int((request.arrived_at - drop_mono) / 0.5), []).append(
                request.seconds
            )
    medians = {n: statistics.median(values) for n, values in sorted(windows.items())}
    slow = [n for n, median in medians.items() if median > 2 * latency]
    settled_after = (max(slow) + 1) * 0.5 if slow else 0.0
    after = [m for n, m in medians.items() if n * 0.5 >= settled_after]
    summary = [
        {
            "jobs": jobs,
            "limit_before_drop": slots_at_drop,
            "limit_at_most_2_after_s": None if fell is None else round(fell, 2),
            "server_latency_within_2L_after_s": settled_after,
            "server_latency_median_after_ms": round(statistics.median(after) * 1000, 1)
            if after
            else None,
            "limit_median_after_drop": statistics.median(
                _in_force(limits, 1 + n / 10) for n in range(100)
            ),
            "done": report.done,
        }
    ]
    timeline = _timeline(limits, (-2, -1, 0, 0.25, 0.5, 1, 2, 3, 5, 10, 20))
    _progress("concurrency politeness")
    return summary, timeline


def _in_force(limits: Sequence[tuple[float, int]], moment: float) -> int:
    """The limit in force at *moment*, from its changes."""
    earlier = [slots for at, slots in limits if at <= moment]
    return earlier[-1] if earlier else 1


def _timeline(
    limits: Sequence[tuple[float, int]], moments: Sequence[float]
) -> list[dict[str, Any]]:
    """The limit in force at each of *moments* (seconds from the event), and its changes."""
    rows = []
    for moment in moments:
        changes = sum(1 for at, _ in limits if moment - 1 < at <= moment)
        rows.append(
            {
                "seconds": moment,
                "limit": _in_force(limits, moment),
                "changes_in_the_second_before": changes,
            }
        )
    return rows


# ---------------------------------------------------------------------------- overload
def overload(jobs: int) -> list[dict[str, Any]]:
    """A server answering 503 above P = 4 in flight, L = 20 ms."""
    capacity, latency = 4, 0.020
    with plex_with(jobs) as fake, tempfile.TemporaryDirectory() as directory:
        fake.limit(capacity, latency, refuse=True)
        # A refused job is retried after a second, not ten: the figure is the limit, not the wait.
        config = _config(
            fake, directory, max_in_flight=MAX_IN_FLIGHT, retry_wait_initial_seconds=1.0
        )
        _enqueue(config, 0, jobs)
        worked = work(config)
        refused = sum(1 for request in fake.served() if request.refused)
    report, seconds = worked.report, worked.seconds
    started = report.started_at
    late = [_in_force(worked.limits, started + seconds * (0.5 + n / 200)) for n in range(100)]
    _progress("concurrency overload")
    return [
        {
            "jobs": jobs,
            "done": report.done,
            "dead_lettered": report.dead_lettered_total,
            "retried": report.retried,
            "answered_503": refused,
            "limit_peak": max((s for _, s in worked.limits), default=1),
            "limit_median_second_half": statistics.median(late) if late else None,
            "limit_max_second_half": max(late) if late else None,
            "seconds": round(seconds, 1),
        }
    ]


# ---------------------------------------------------------------------------- recovery
def recovery(jobs: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A 10-minute outage on the fake clock (time to first job done once Plex is back), and the
    ramp of the limit after a real 3-second outage against the fake Plex (P = 4, L = 20 ms).
    """
    simulated = simulate(SimulationSpec(jobs=1000, outage_seconds=600, outage_start_seconds=5))
    latency = 0.020
    with plex_with(jobs) as fake, tempfile.TemporaryDirectory() as directory:
        fake.limit(4, latency)
        config = _config(
            fake,
            directory,
            max_in_flight=MAX_IN_FLIGHT,
            breaker_cooldown_seconds=1.0,
            breaker_max_cooldown_seconds=2.0,
        )
        _enqueue(config, 0, jobs)
        moments: dict[str, float] = {}
        done_at: list[float] = []

        def on_event(event: Event) -> None:
            if isinstance(event, BreakerClosed):
                moments.setdefault("closed", time.time())
            if isinstance(event, JobSucceeded):
                done_at.append(time.time())

        def outage() -> None:
            while fake.edits() < jobs // 4:
                time.sleep(0.01)
            fake.go_down()
            time.sleep(3.0)
            moments["up"] = time.time()
            fake.come_up()

        outages = threading.Thread(target=outage, daemon=True)
        outages.start()
        worked = work(config, on_event=on_event)
        outages.join()
    up = moments["up"]
    first = min(at for at in done_at if at >= up)
    closed = moments["closed"]
    limits = [(at - closed, slots) for at, slots in worked.limits]
    reached = {
        n: next((round(at, 2) for at, slots in limits if at >= 0 and slots >= n), None)
        for n in (2, 3, 4)
    }
    summary = [
        {
            "outage": "10 min, fake clock (simulate)",
            "first_job_done_after_s": round(simulated.recovery_to_first_done_seconds or 0, 1),
            "limit_2_after_close_s": None,
            "limit_3_after_close_s": None,
            "limit_4_after_close_s": None,
        },
        {
            "outage": "3 s, real fake Plex (cooldown 1 s)",
            "first_job_done_after_s": round(first - up, 2),
            "limit_2_after_close_s": reached[2],
            "limit_3_after_close_s": reached[3],
            "limit_4_after_close_s": reached[4],
        },
    ]
    _progress("concurrency recovery")
    return summary, _timeline(limits, (-1, 0, 0.05, 0.1, 0.2, 0.5, 1, 2, 5))


def _progress(message: str) -> None:
    import sys  # noqa: PLC0415

    print(f"  ... {message}", file=sys.stderr, flush=True)
