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
    deadline = time.monotonic() + 10  # a few hundred tries; the old handler hung within ~500
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(child.stdout, selectors.EVENT_READ)
            while time.monotonic() < deadline:
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
