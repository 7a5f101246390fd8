"""``just demo``: plexsync against a misbehaving Plex, then a 6-hour outage on a fake clock.

1. Starts the fake Plex server from the test suite with a small library: most files scanned,
   some not yet (they appear a few seconds after plexsync asks for a scan), one file in two
   libraries at once (ambiguous) and one outside every library folder (a path mapping mistake).
2. Enqueues a few hundred jobs with ``plexsync enqueue --from-json`` and starts ``plexsync run``
   as a real process.
3. While it works, Plex goes down for a while, then throws 500s, then 429s with Retry-After.
4. When the queue is empty (or a deadline passes) it stops the worker with SIGTERM and prints
   ``plexsync status`` and ``plexsync dlq list``.
5. Runs ``plexsync simulate`` for a 6-hour outage over 10,000 jobs and writes its plot.

Everything it needs is in this repository; it writes only below the output folder.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from tests.fake_plex import FakePlex

TOKEN = "demo-token-5f2c9a"
LISTING = "/library/sections/1/all"


def plexsync_command() -> list[str]:
    """The installed console script, or the module if it is not on this interpreter's path."""
    exe = shutil.which("plexsync", path=os.path.dirname(sys.executable))
    return [exe] if exe else [sys.executable, "-m", "shell.cli"]


class Demo:
    """One run of the demo's first part, scaled by *jobs* and *outage_seconds*."""

    def __init__(self, directory: Path, *, jobs: int, outage_seconds: float) -> None:
        self.directory = directory
        self.jobs = jobs
        self.outage_seconds = outage_seconds
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PLEXSYNC_")}
        self.env["PLEXSYNC_PLEX_TOKEN"] = TOKEN

    def plexsync(self, *args: str, show: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a plexsync command in the demo folder, echoing it like a shell would."""
        if show:
            print(f"\n$ plexsync {' '.join(args)}", flush=True)
        result = subprocess.run(
            [*plexsync_command(), *args],
            cwd=self.directory,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        if show:
            print(result.stdout, end="", flush=True)
            if result.returncode != 0:
                print(result.stderr, end="", file=sys.stderr, flush=True)
        return result

    def write_settings(self, fake: FakePlex) -> None:
        """Short timings, so that minutes of Plex behaviour fit into seconds."""
        (self.directory / "plexsync.toml").write_text(
            f'plex_url = "{fake.url}"\n'
            'db_path = "demo.db"\n'
            'path_mappings = [{host = "/stash/library", plex = "/media"}]\n'
            "connect_timeout_seconds = 1\n"
            "read_timeout_seconds = 2\n"
            "health_timeout_seconds = 1\n"
            "poll_interval = 0.2\n"
            "retry_wait_initial_seconds = 0.5\n"
            "retry_wait_max_seconds = 3\n"
            "not_found_wait_initial_seconds = 2\n"
            "not_found_wait_max_seconds = 4\n"
            "not_found_window_seconds = 120\n"
            "breaker_cooldown_seconds = 1\n"
            "breaker_max_cooldown_seconds = 3\n"
            "job_lease_seconds = 30\n"
        )

    def library(self, fake: FakePlex) -> list[dict[str, object]]:
        """Files in Plex (most scanned, a tenth not yet) and the jobs the host sends for them."""
        movies = fake.add_section("Movies", locations=["/media"])
        extras = fake.add_section("Extras", locations=["/media/shared"])
        fake.scan_delay = 3.0
        jobs: list[dict[str, object]] = []
        for n in range(self.jobs - 2):
            late = n % 10 == 9
            folder = "incoming" if late else "films"
            fake.add_item(movies, f"/media/{folder}/{n:04d}.mkv", title="raw", scanned=not late)
            jobs.append(
                {
                    "key": f"scene:{n}",
                    "path": f"/stash/library/{folder}/{n:04d}.mkv",
                    "title": f"Scene {n}",
                    "studio": "Demo Studio",
                    "originally_available_at": "2024-05-06",
                    "performers": ["Ann", f"Performer {n % 7}"],
                    "genres": ["Drama"] if n % 2 else ["Comedy", "Drama"],
                    "labels": ["plexsync"],
                }
            )
        for section in (movies, extras):  # one file in two libraries: Plex cannot tell which
            fake.add_item(section, "/media/shared/twice.mkv", title="twice")
        jobs.append({"key": "scene:twice", "path": "/stash/library/shared/twice.mkv", "title": "T"})
        jobs.append({"key": "scene:lost", "path": "/mnt/elsewhere/lost.mkv", "title": "Lost"})
        return jobs

    def run(self, *, deadline_seconds: float = 90) -> dict[str, object]:
        """Part one: the real worker against the misbehaving fake. Returns the final status."""
        with FakePlex(TOKEN) as fake:
            self.write_settings(fake)
            jobs = self.library(fake)
            (self.directory / "jobs.json").write_text(json.dumps(jobs))
            self.plexsync("enqueue", "--from-json", "jobs.json")
            print("\n$ plexsync run   (in the background; Plex misbehaves on a timeline)\n")
            worker = subprocess.Popen(
                [*plexsync_command(), "run"], cwd=self.directory, env=self.env
            )
            try:
                self._misbehave(fake, worker, deadline_seconds)
            finally:
                worker.send_signal(signal.SIGTERM)
                worker.wait(timeout=30)
            status = json.loads(self.plexsync("status", "--json", show=False).stdout)
            self.plexsync("status")
            self.plexsync("dlq", "list")
        return status

    def _misbehave(self, fake: FakePlex, worker: subprocess.Popen[bytes], deadline: float) -> None:
        started = time.monotonic()
        time.sleep(0.5)
        _say(f"Plex goes down for {self.outage_seconds:g} s")
        fake.go_down()
        time.sleep(self.outage_seconds)
        fake.come_up()
        _say("Plex is back, but answers 500 to edits for 2 s")
        fake.storm(500, path_prefix=LISTING)
        time.sleep(2)
        fake.clear_faults()
        _say("Plex asks us to slow down: 429 with Retry-After: 2")
        fake.fail_next(429, count=3, retry_after="2", path_prefix=LISTING)
        while time.monotonic() - started < deadline and worker.poll() is None:
            status = json.loads(self.plexsync("status", "--json", show=False).stdout)
            if status["waiting"] + status["scheduled"] + status["running"] == 0:
                _say("queue empty: stopping the worker")
                return
            time.sleep(0.5)
        _say("deadline reached: stopping the worker")


def _say(message: str) -> None:
    print(f"--- demo: {message}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the whole demo; the exit status says whether the queue drained as expected."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--outage", type=float, default=8.0, help="seconds Plex is down")
    parser.add_argument("--out", default="demo-output", help="folder for the database and plot")
    args = parser.parse_args(argv)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("demo.db*"):
        stale.unlink()
    began = time.monotonic()
    demo = Demo(out, jobs=args.jobs, outage_seconds=args.outage)
    status = demo.run()
    plot = out / "timeline.png"
    demo.plexsync("simulate", "--jobs", "10000", "--outage", "6h", "--plot", str(plot))
    print(f"\ndemo finished in {time.monotonic() - began:.0f} s; files in {out}")
    drained = status["waiting"] == status["scheduled"] == status["running"] == 0
    return 0 if drained and status["dead_lettered"] == 2 else 1


if __name__ == "__main__":
    sys.exit(main())
