"""SIGTERM (or Ctrl-C) always stops a worker: the handler never waits for a lock its own thread
holds. An idle worker is signalled again and again at random instants; every time it must stop
within seconds.
"""

from __future__ import annotations

import os
import random
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import shell
from shell.store import Store
from tests.builders import TOKEN, make_config
from tests.fake_plex import FakePlex

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import logging, tempfile
import shell
from core import PlexSyncConfig

class NoPlex:
    def apply(self, metadata): raise AssertionError("the queue is empty")
    def health(self): raise AssertionError("the queue is empty")

class Started(logging.Handler):
    def emit(self, record):
        if "started" in record.getMessage():
            print("started", flush=True)

logging.getLogger("plexsync").addHandler(Started())
logging.getLogger("plexsync").setLevel(logging.INFO)
with tempfile.TemporaryDirectory() as tmp:
    config = PlexSyncConfig(plex_url="http://127.0.0.1:9", plex_token="not-the-token-42",
                            db_path=tmp + "/q.db", poll_interval=0.001)
    while True:
        shell.run_worker(config, plex=NoPlex())  # installs the SIGTERM handler, as the CLI does
        print("stopped", flush=True)
"""


def test_sigterm_stops_an_idle_worker_every_time() -> None:
    """Hundreds of SIGTERMs at random instants: each stops the worker within 5 s."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        text=True,
    )
    assert child.stdout is not None
    rng = random.Random()
    stopped = 0
    deadline = time.monotonic() + 20  # a slow machine gets fewer tries, never fewer than 50
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(child.stdout, selectors.EVENT_READ)
            while stopped < 500 and time.monotonic() < deadline:  # the old handler hung by ~500
                assert child.stdout.readline() == "started\n"
                time.sleep(rng.uniform(0, 0.01))
                child.send_signal(signal.SIGTERM)
                assert selector.select(timeout=5), f"no stop within 5 s of SIGTERM {stopped + 1}"
                assert child.stdout.readline() == "stopped\n"
                stopped += 1
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
    assert stopped > 50


def test_a_second_sigterm_stops_at_once_and_leaves_no_job_running(tmp_path: Path) -> None:
    """A worker stuck in a slow Plex call stops at once at the second SIGTERM, gives
    every job it holds back uncharged, and says so; nothing is left "running" for a later
    worker to count as a crash.
    """
    with FakePlex(TOKEN) as fake:
        fake.add_section("Movies", locations=["/media"])
        for n in range(3):
            fake.add_item(1, f"/media/m{n}.mkv", title=f"raw {n}")
        db_path = str(tmp_path / "q.db")
        config = make_config(plex_url=fake.url, db_path=db_path)
        shell.enqueue_many(
            config, [(f"k{n}", {"path": f"/media/m{n}.mkv", "title": "T"}) for n in range(3)]
        )
        fake.slow_first_byte(60, method="PUT")
        env = {k: v for k, v in os.environ.items() if not k.startswith("PLEXSYNC_")}
        env |= {
            "PYTHONPATH": str(ROOT),
            "PLEXSYNC_PLEX_URL": fake.url,
            "PLEXSYNC_PLEX_TOKEN": TOKEN,
            "PLEXSYNC_DB_PATH": db_path,
        }
        with (tmp_path / "err").open("wb") as err:
            worker = subprocess.Popen(
                [sys.executable, "-m", "shell.cli", "run"], env=env, stderr=err, cwd=tmp_path
            )
        try:
            fake.wait_in_flight(method="PUT", timeout=30)
            worker.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 30  # the first one handled (two would merge into one)
            while "stopping after the job in hand" not in (tmp_path / "err").read_text():
                assert time.monotonic() < deadline, "the first SIGTERM was not handled"
                time.sleep(0.02)
            stopped_at = time.monotonic()
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=10)
            took = time.monotonic() - stopped_at
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    log = (tmp_path / "err").read_text()
    assert took < 5, log  # not the 30 s read timeout: the call in hand is abandoned
    assert "stopping after the job in hand" in log
    assert "received SIGTERM again: stopping now; 3 jobs in hand given back uncharged" in log
    store = Store.open(db_path)
    try:
        rows = store.jobs.rows()
    finally:
        store.close()
    assert [(row.state, row.crashes, row.attempts) for row in rows] == [("waiting", 0, 0)] * 3
