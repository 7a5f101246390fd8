"""A long soak: ``plexsync simulate``'s engine (the real worker loop, a fake clock, the simulated
Plex) run for days of simulated time, with edits arriving throughout and a seeded, reproducible
schedule of every fault a sick Plex shows, plus wall-clock jumps.

Faults are windows of Plex's own time (which a jump of the host's clock does not move): outages,
stalls (calls hang and time out, edits land anyway), a rejected token (401), something that is
not Plex answering, edits failing while the health call answers, rate limits (429), slow answers.
Some files are deliberately poisoned: Plex always refuses their edits (400) or always fails them
(500). Given a directory on a filesystem of its own (``--full-disk-at``; ``just soak`` mounts a
tmpfs when it may), the queue lives there and the disk is filled for a few windows, right after
a checkpoint leaves the WAL empty: the host's edits are refused while it is full (it sends them
again later), the worker waits for space.
At the end ``SoakResult.problems`` lists every broken promise: a job lost or left queued,
a job done twice, a dead letter that is not a poisoned file's, an outage record that no injected
fault explains, an injected fault that met work and left no record.

``python -m shell.soak`` runs the full soak (100,000 jobs over 72 hours) and prints its figures;
``--jobs``, ``--hours`` and ``--seed`` make it smaller or another one.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import errno
import json
import os
import random
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from attrs import field, frozen

from core import (
    BreakerClosed,
    BreakerOpened,
    Event,
    JobDeadLettered,
    JobSucceeded,
    PauseCause,
    PlexSyncConfig,
)
from core import validation as check
from shell.api import enqueue_many
from shell.clock import FakeClock
from shell.simulate import SIMULATED_URL
from shell.simulated_plex import Scenario, SimulatedPlex, Window
from shell.store import DiskFullError, Filters, Store
from shell.worker import WorkerReport, run_worker

HOUR: Final = 3600.0
DAY: Final = 24 * HOUR

FAULTS: Final[dict[str, tuple[PauseCause | None, float, float]]] = {
    "outages": (PauseCause.OUTAGE, 5 * 60, 3 * HOUR),
    "stalled": (PauseCause.OUTAGE, 2 * 60, 20 * 60),
    "token_rejected": (PauseCause.AUTH, 10 * 60, 2 * HOUR),
    "not_plex": (PauseCause.MISCONFIGURED, 5 * 60, HOUR),
    "failing_edits": (PauseCause.FAILING_EDITS, 5 * 60, 40 * 60),
    "throttled": (None, 60, 20 * 60),
    "slow": (None, 10 * 60, HOUR),
}
"""Each kind of fault window (a ``Scenario`` field): the cause of the outage the breaker should
record for it (``None``: it holds work without one), and its shortest and longest duration."""

POISONED_REASONS: Final = frozenset({"permanent_error", "retries_exhausted"})
"""Why a poisoned file's job may be dead-lettered: refused (400), or failing (500) every time."""


@frozen(kw_only=True)
class SoakSpec:
    """What to soak: *jobs* edits (half queued at the start, the rest arriving over the first
    nine tenths of *hours*, a fifth of them new edits of keys already queued), *windows_per_fault*
    windows of each kind of fault, *clock_jumps* steps of the host's clock by up to a day either
    way, and a few poisoned files.
    """

    jobs: int = field(default=100_000, validator=check.at_least_one)
    hours: float = field(default=72.0, validator=check.positive)
    seed: int = 0
    windows_per_fault: int = field(default=3, validator=check.count)
    clock_jumps: int = field(default=6, validator=check.count)
    refused_rate: float = field(default=0.0003, validator=check.fraction)
    poisoned_rate: float = field(default=0.0003, validator=check.fraction)
    transient_rate: float = field(default=0.002, validator=check.fraction)
    late_fraction: float = field(default=0.02, validator=check.fraction)
    full_disk_windows: int = field(default=3, validator=check.count)
    """Windows during which the disk is full (only when the soak is given a disk to fill)."""


@frozen(kw_only=True)
class Arrival:
    """One edit the host sends: of *key*, its *version*-th, *at* seconds of Plex's time in."""

    at: float
    key: int
    version: int


@frozen(kw_only=True)
class Plan:
    """A spec made concrete by its seed: the scenario, the host's clock jumps, the arrivals."""

    scenario: Scenario
    jumps: tuple[tuple[float, float], ...]
    """(seconds of Plex's time in, seconds the host's clock steps by)."""
    arrivals: tuple[Arrival, ...]
    full_disk: tuple[Window, ...] = ()
    """Windows of Plex's time during which the queue's disk is full."""


def plan(spec: SoakSpec) -> Plan:
    """The schedule of faults, jumps and edits for *spec*: the same for the same seed."""
    rng = random.Random(spec.seed)  # noqa: S311 - a schedule to reproduce, not a secret
    span = spec.hours * HOUR
    kinds = [kind for kind in FAULTS for _ in range(spec.windows_per_fault)]
    rng.shuffle(kinds)
    windows: dict[str, list[Window]] = {kind: [] for kind in FAULTS}
    first, last = min(HOUR, span / 10), span * 0.9
    slot = (last - first) / max(len(kinds), 1)
    for n, kind in enumerate(kinds):
        _, shortest, longest = FAULTS[kind]
        duration = rng.uniform(min(shortest, slot / 4), min(longest, slot / 2))
        start = first + n * slot + rng.uniform(0, slot / 4)
        windows[kind].append(Window(start, duration))
    jumps = tuple(
        sorted(
            (rng.uniform(span * 0.1, span * 0.8), rng.choice((-1, 1)) * rng.uniform(60, DAY))
            for _ in range(spec.clock_jumps)
        )
    )
    initial = spec.jobs // 2
    versions = [0] * initial
    arrivals = [Arrival(at=0.0, key=key, version=0) for key in range(initial)]
    for at in sorted(rng.uniform(0, last) for _ in range(spec.jobs - initial)):
        if versions and rng.random() < 0.2:
            key = rng.randrange(len(versions))
            versions[key] += 1
        else:
            key = len(versions)
            versions.append(0)
        arrivals.append(Arrival(at=at, key=key, version=versions[key]))
    scenario = Scenario(
        outages=windows["outages"],
        stalled=windows["stalled"],
        token_rejected=windows["token_rejected"],
        not_plex=windows["not_plex"],
        failing_edits=windows["failing_edits"],
        throttled=windows["throttled"],
        slow=windows["slow"],
        scan_delay_seconds=min(HOUR, span / 20),
        late_fraction=spec.late_fraction,
        transient_rate=spec.transient_rate,
        permanent_rate=spec.refused_rate,
        poisoned_rate=spec.poisoned_rate,
        seed=spec.seed,
    )
    full_disk = tuple(
        sorted(
            (
                Window(rng.uniform(span * 0.05, span * 0.85), rng.uniform(2 * 60, 30 * 60))
                for _ in range(spec.full_disk_windows)
            ),
            key=lambda w: w.start_seconds,
        )
    )
    return Plan(scenario=scenario, jumps=jumps, arrivals=tuple(arrivals), full_disk=full_disk)


class SteppedClock(FakeClock):
    """The host's fake clock, stepped by *jumps* as Plex's time (``true_now``) passes them."""

    def __init__(self, start_at: float, jumps: Sequence[tuple[float, float]]) -> None:
        super().__init__(start_at)
        self.start_at = start_at
        self.offset = 0.0
        self.pending = sorted(jumps)
        self.jumped: list[tuple[float, float]] = []

    def true_now(self) -> float:
        """Plex's time: the host's clock without its jumps."""
        return self.now() - self.offset

    def sleep(self, seconds: float) -> None:
        """Let *seconds* pass; the host's clock steps on the way when a jump is due."""
        super().sleep(seconds)
        while self.pending and self.true_now() - self.start_at >= self.pending[0][0]:
            at, step = self.pending.pop(0)
            self.advance(step)
            self.offset += step
            self.jumped.append((at, step))


class PlexTime:
    """Plex's clock beside a ``SteppedClock``: time passes on both, jumps only on the host's."""

    def __init__(self, host: SteppedClock) -> None:
        self.host = host

    def now(self) -> float:
        """Plex's instant."""
        return self.host.true_now()

    def sleep(self, seconds: float) -> None:
        """Let *seconds* pass on both clocks."""
        self.host.sleep(seconds)


class FillableDirectory:
    """A directory on a filesystem of its own (a small tmpfs) that the soak may fill: ``fill``
    takes every free byte with a filler file, as another program filling the disk would;
    ``free`` gives them back.
    """

    def __init__(self, root: str) -> None:
        self.root = Path(root)
        self.filler = self.root / "filler"

    def fill(self) -> None:
        """Take every free byte (in smaller and smaller writes, down to one byte)."""
        descriptor = os.open(self.filler, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600)
        chunk = 1 << 20
        try:
            while chunk:
                try:
                    os.write(descriptor, b"\0" * chunk)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    chunk //= 2
        finally:
            os.close(descriptor)

    def free(self) -> None:
        """Give the filler's bytes back."""
        self.filler.unlink(missing_ok=True)


def _metadata(key: int, version: int) -> dict[str, object]:
    return {"path": _path(key), "title": f"Soak {key} v{version}"}


def _path(key: int) -> str:
    return f"/media/soak/{key:07d}.mkv"


class _Host:
    """The host: sends each edit when Plex's time reaches it; tells the worker to stop once all
    are sent and the queue is empty (or, as a last resort, two days after the end).
    """

    def __init__(
        self,
        config: PlexSyncConfig,
        clock: SteppedClock,
        the_plan: Plan,
        disk: FillableDirectory | None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.arrivals = the_plan.arrivals
        self.full_disk = the_plan.full_disk if disk is not None else ()
        self.disk = disk
        self.filled: Window | None = None
        self.fills = 0
        self.refused = 0
        """Times the host's edits were refused because the disk was full (sent again later)."""
        self.sent = 0
        self.store = Store.open(config.db_path)
        self.deadline = clock.true_now() + max(a.at for a in self.arrivals) + 2 * DAY
        self.gave_up = False

    def is_set(self) -> bool:
        elapsed = self.clock.true_now() - self.clock.start_at
        self._fill_or_free(elapsed)
        if self.sent < len(self.arrivals) and self.arrivals[self.sent].at <= elapsed:
            due = []
            end = self.sent
            while end < len(self.arrivals) and self.arrivals[end].at <= elapsed:
                arrival = self.arrivals[end]
                due.append((f"soak:{arrival.key}", _metadata(arrival.key, arrival.version)))
                end += 1
            try:
                enqueue_many(self.config, due, now=self.clock.now())
            except DiskFullError:
                self.refused += 1  # nothing was stored: send them again later
                return False
            self.sent = end
            return False
        if self.clock.true_now() > self.deadline:
            self.gave_up = True
            return True
        return self.sent == len(self.arrivals) and self.store.jobs.is_empty()

    def _fill_or_free(self, elapsed: float) -> None:
        if self.disk is None:
            return
        if self.filled is not None and not self.filled.holds(elapsed):
            self.disk.free()
            self.filled = None
        if self.filled is None:
            for window in self.full_disk:
                if window.holds(elapsed):
                    self._truncate_wal()
                    self.disk.fill()
                    self.filled = window
                    self.fills += 1
                    break

    def _truncate_wal(self) -> None:
        """Checkpoint the queue's WAL down to nothing, so that the next commit needs new space
        (SQLite reuses a WAL file's space, so a disk filled behind a large WAL would not bite).
        """
        with contextlib.closing(sqlite3.connect(self.config.db_path)) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        """Give the disk back, and close the host's connection."""
        if self.disk is not None:
            self.disk.free()
        self.store.close()


@frozen(kw_only=True)
class SoakResult:
    """What the soak did, and every promise it saw broken (``problems``, empty when none)."""

    spec: SoakSpec
    report: WorkerReport
    enqueued: int
    keys: int
    faults: dict[str, int]
    """Injected fault windows by kind, with clock jumps and poisoned files."""
    faults_met: dict[str, int]
    """Of those windows, the ones that met work while the breaker was closed."""
    faults_absorbed: int
    """Fault windows that met work while an outage of an earlier one was still under way (its
    record goes on; they need none of their own)."""
    outages_recorded: dict[str, int]
    """The breaker's outage records, by the cause each was opened with."""
    outages_expected: dict[str, int]
    """Fault windows that met work, by the cause their outage should be recorded with."""
    dead_letters: dict[str, int]
    """The DLQ at the end, by reason."""
    plex_calls: int
    simulated_seconds: float
    wall_seconds: float
    problems: tuple[str, ...]

    def summary(self) -> dict[str, Any]:
        """The figures, JSON-ready."""
        return {
            "jobs": self.enqueued,
            "keys": self.keys,
            "done": self.report.done,
            "retried": self.report.retried,
            "faults_injected": self.faults,
            "faults_that_met_work": self.faults_met,
            "faults_met_during_an_earlier_outage": self.faults_absorbed,
            "outage_records": self.outages_recorded,
            "outage_records_expected": self.outages_expected,
            "dlq": self.dead_letters,
            "plex_calls": self.plex_calls,
            "simulated_hours": round(self.simulated_seconds / HOUR, 1),
            "wall_seconds": round(self.wall_seconds, 1),
            "problems": list(self.problems),
        }


def soak(spec: SoakSpec, *, full_disk_at: str | None = None) -> SoakResult:
    """Run *spec*; the queue lives in a temporary directory, or in *full_disk_at* (a directory on
    a filesystem of its own), whose disk is then filled during ``spec.full_disk_windows``.
    """
    with tempfile.TemporaryDirectory(prefix="plexsync-soak-") as scratch:
        config = PlexSyncConfig(
            plex_url=SIMULATED_URL,
            plex_token="simulated",  # noqa: S106 - the simulated Plex checks no token
            db_path=os.path.join(full_disk_at or scratch, "soak.db"),
        )
        disk = None if full_disk_at is None else FillableDirectory(full_disk_at)
        return _run(spec, config, disk)


class _Watch:
    """The worker's events the checks need, stamped with Plex's time since the start."""

    def __init__(self, clock: SteppedClock, start: float) -> None:
        self.clock, self.start = clock, start
        self.opened: list[tuple[float, PauseCause]] = []
        self.closed: list[float] = []
        self.succeeded: Counter[int] = Counter()
        self.dead: dict[int, str] = {}

    def __call__(self, event: Event) -> None:
        match event:
            case BreakerOpened(cause=cause):
                self.opened.append((self.clock.true_now() - self.start, cause))
            case BreakerClosed():
                self.closed.append(self.clock.true_now() - self.start)
            case JobSucceeded(job_id=job_id):
                self.succeeded[job_id] += 1
            case JobDeadLettered(job_id=job_id, key=key):
                self.dead[job_id] = key
            case _:
                pass


def _run(spec: SoakSpec, config: PlexSyncConfig, disk: FillableDirectory | None) -> SoakResult:
    the_plan = plan(spec)
    clock = SteppedClock(time.time(), the_plan.jumps)
    start = clock.true_now()
    plex = SimulatedPlex(the_plan.scenario, PlexTime(clock), start_at=start, host_clock=clock)
    host = _Host(config, clock, the_plan, disk)
    host.is_set()  # the backlog at the start
    watch = _Watch(clock, start)
    wall = time.perf_counter()
    try:
        report = run_worker(config, clock=clock, plex=plex, stop=host, on_event=watch)
    finally:
        if disk is not None:
            disk.free()
    wall = time.perf_counter() - wall
    store = host.store
    try:
        problems = _lost_or_duplicated(
            store, plex, the_plan, host, succeeded=watch.succeeded, dead=watch.dead
        )
        recorded = store.breaker.outages()
        met, absorbed = _absorbed(
            _windows_met(plex, the_plan.scenario, start, config), watch.opened, watch.closed
        )
        problems += _unexplained_outages(recorded, watch.opened, the_plan.scenario, config)
        problems += _unrecorded_faults(met, watch.opened, the_plan.scenario, config)
        dead_letters = store.dead_letters.count_by_reason()
    finally:
        host.close()
    faults = {kind: len(getattr(the_plan.scenario, kind)) for kind in FAULTS}
    faults["clock_jumps"] = len(clock.jumped)
    faults["full_disk"] = host.fills
    faults["edits_refused_by_full_disk"] = host.refused
    keys = {a.key for a in the_plan.arrivals}
    faults["refused_files"] = sum(plex.refused(_path(k)) for k in keys)
    faults["poisoned_files"] = sum(plex.poisoned(_path(k)) for k in keys)
    expected: Counter[str] = Counter()
    for kind, windows in met.items():
        cause = FAULTS[kind][0]
        if cause is not None and windows:
            expected[cause.value] += len(windows)
    return SoakResult(
        spec=spec,
        report=report,
        enqueued=len(the_plan.arrivals),
        keys=len(keys),
        faults=faults,
        faults_met={kind: len(windows) for kind, windows in met.items()},
        faults_absorbed=absorbed,
        outages_recorded=dict(Counter(cause.value for _, cause in watch.opened)),
        outages_expected=dict(expected),
        dead_letters=dead_letters,
        plex_calls=len(plex.calls),
        simulated_seconds=clock.true_now() - start,
        wall_seconds=wall,
        problems=tuple(problems),
    )


def _lost_or_duplicated(
    store: Store,
    plex: SimulatedPlex,
    the_plan: Plan,
    host: _Host,
    *,
    succeeded: Counter[int],
    dead: dict[int, str],
) -> list[str]:
    problems = []
    if host.gave_up:
        problems.append("the queue did not empty within two days after the last edit")
    if not store.jobs.is_empty():
        problems.append(f"{store.jobs.count()} jobs still queued at the end")
    twice = sorted(job_id for job_id, times in succeeded.items() if times > 1)
    if twice:
        problems.append(f"jobs done more than once: {twice[:10]}")
    both = sorted(set(succeeded) & set(dead))
    if both:
        problems.append(f"jobs both done and dead-lettered: {both[:10]}")
    return problems + _dead_letters_and_lost(store, plex, the_plan)


def _dead_letters_and_lost(store: Store, plex: SimulatedPlex, the_plan: Plan) -> list[str]:
    problems = []
    newest = {arrival.key: arrival.version for arrival in the_plan.arrivals}
    entries = store.dead_letters.entries(Filters())
    in_dlq = {entry.key for entry in entries}
    wrong = sorted(
        f"{entry.key} ({entry.reason})"
        for entry in entries
        if not _poisoned(plex, entry.key) or entry.reason not in POISONED_REASONS
    )
    if wrong:
        problems.append(f"dead letters of files nobody poisoned: {wrong[:10]} ({len(wrong)})")
    lost = []
    for key, version in newest.items():
        if _poisoned(plex, f"soak:{key}"):
            if f"soak:{key}" not in in_dlq:
                lost.append(f"soak:{key} (poisoned, not in the DLQ)")
            continue
        held = plex.items.get(_path(key))
        if held is None or held.get("title") != f"Soak {key} v{version}":
            lost.append(f"soak:{key} v{version}")
    if lost:
        problems.append(f"edits lost (Plex lacks the newest): {lost[:10]} ({len(lost)})")
    return problems


def _poisoned(plex: SimulatedPlex, key: str) -> bool:
    path = _path(int(key.removeprefix("soak:")))
    return plex.refused(path) or plex.poisoned(path)


def _windows_met(
    plex: SimulatedPlex, scenario: Scenario, start: float, config: PlexSyncConfig
) -> dict[str, list[Window]]:
    """Per kind of fault, the windows that met enough work to be seen: a failed call confirmed by
    a health call inside the window (a call that began in it and ended after it is the job's
    own failure, rightly), or for failing edits, failed edits of ``failing_edits_threshold``
    different files (fewer are each job's own failures, as they should be).
    """
    failed = sorted(
        (c.at - start, c.kind, c.path or "")
        for c in plex.calls
        if c.result not in ("success", "up")
    )
    instants = [at for at, _, _ in failed]
    calls = sorted(c.at - start for c in plex.calls if c.kind == "apply")
    met: dict[str, list[Window]] = {}
    for kind in FAULTS:
        met[kind] = []
        for w in getattr(scenario, kind):
            first = bisect.bisect_left(instants, w.start_seconds)
            last = bisect.bisect_left(instants, w.start_seconds + w.duration_seconds)
            inside = failed[first:last]
            if kind == "failing_edits":
                seen = len({path for _, what, path in inside if what == "apply"})
                if seen >= config.failing_edits_threshold:
                    met[kind].append(w)
            elif FAULTS[kind][0] is None:
                if _any_within(calls, w):  # slow or throttled: any call shows it
                    met[kind].append(w)
            elif any(what == "health" for _, what, _ in inside):
                met[kind].append(w)
    return met


def _absorbed(
    met: dict[str, list[Window]], opened: Sequence[tuple[float, PauseCause]], closed: list[float]
) -> tuple[dict[str, list[Window]], int]:
    """*met* without the windows that began while an earlier outage was still under way (a
    probe delayed by a full disk, or the longest cooldown, can reach into the next fault), and
    how many those were.
    """
    spans = [
        (at, closed[n] if n < len(closed) else float("inf")) for n, (at, _) in enumerate(opened)
    ]
    kept: dict[str, list[Window]] = {}
    absorbed = 0
    for kind, windows in met.items():
        kept[kind] = []
        for w in windows:
            if any(began < w.start_seconds < ended for began, ended in spans):
                absorbed += 1
            else:
                kept[kind].append(w)
    return kept, absorbed


def _any_within(instants: list[float], window: Window) -> bool:
    at = bisect.bisect_left(instants, window.start_seconds)
    return at < len(instants) and window.holds(instants[at])


def _slack(scenario: Scenario, config: PlexSyncConfig) -> float:
    """How long after a window ends its outage may still be recorded (the call under way)."""
    return scenario.stall_seconds + config.attempt_seconds + 1.0


def _unexplained_outages(
    recorded: Sequence[Any],
    opened: Sequence[tuple[float, PauseCause]],
    scenario: Scenario,
    config: PlexSyncConfig,
) -> list[str]:
    problems = []
    if len(recorded) != len(opened):
        problems.append(f"{len(recorded)} outage records, but the breaker opened {len(opened)}")
    slack = _slack(scenario, config)
    for at, cause in opened:
        kinds = [kind for kind, (c, _, _) in FAULTS.items() if c is cause]
        if not any(
            w.start_seconds <= at <= w.start_seconds + w.duration_seconds + slack
            for kind in kinds
            for w in getattr(scenario, kind)
        ):
            problems.append(f"an outage ({cause.value}) {at / HOUR:.2f} h in: no fault injected")
    return problems


def _unrecorded_faults(
    met: dict[str, list[Window]],
    opened: Sequence[tuple[float, PauseCause]],
    scenario: Scenario,
    config: PlexSyncConfig,
) -> list[str]:
    problems = []
    slack = _slack(scenario, config)
    for kind, windows in met.items():
        cause = FAULTS[kind][0]
        if cause is None:
            continue
        for w in windows:
            end = w.start_seconds + w.duration_seconds + slack
            if not any(c is cause and w.start_seconds <= at <= end for at, c in opened):
                problems.append(
                    f"{kind} {w.start_seconds / HOUR:.2f} h in, for "
                    f"{w.duration_seconds / 60:.0f} min, met work but no {cause.value} outage"
                )
    return problems


def main(argv: list[str] | None = None) -> int:
    """Run the soak and print its figures; exit 1 if any promise was broken."""
    parser = argparse.ArgumentParser(prog="python -m shell.soak", description=__doc__)
    parser.add_argument("--jobs", type=int, default=SoakSpec().jobs)
    parser.add_argument("--hours", type=float, default=SoakSpec().hours)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--full-disk-at",
        metavar="DIR",
        help="keep the queue in DIR, a directory on a filesystem of its own (a small tmpfs), "
        "and fill that disk now and then",
    )
    args = parser.parse_args(argv)
    spec = SoakSpec(jobs=args.jobs, hours=args.hours, seed=args.seed)
    result = soak(spec, full_disk_at=args.full_disk_at)
    sys.stdout.write(json.dumps(result.summary(), indent=2) + "\n")
    return 1 if result.problems else 0


if __name__ == "__main__":
    sys.exit(main())
