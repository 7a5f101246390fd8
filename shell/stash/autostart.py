"""The worker a hook starts when none runs: detached from Stash, gone once the queue is empty.

``start_worker`` (called by a hook or task, after it enqueued) starts
``python -m shell.stash.autostart`` in a new session with Stash's standard streams nowhere near
it (stdin a pipe of our own, stdout and stderr the null device), so Stash, which reads a
plugin's stdout to the end, never waits for it. The Plex token reaches it through that pipe, as
the plugin settings read from Stash, never on its command line (which ``ps`` shows to anyone).

Never doubled: a hook starts one only when no worker announces itself on the queue
(``shell.worker.presence``: a service worker, ``plexsync run``, announces itself too), and a
started worker goes on only if it takes the queue's autostart lock and still no worker
announces itself (a service may have started since the hook looked); if another holds the
lock, it exits, unless that other is just leaving (then it waits for the lock). The worker
works until the queue holds no job (waiting, scheduled or running), checks once more after it
stopped, and exits; its log goes to ``worker.log`` in the plugin's data folder.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any, Final

from returns.result import Failure, Success

from core import PlexSyncConfig
from shell.api import close_store, status
from shell.stash.settings import PluginSettings, merge
from shell.worker.presence import worker_running

if sys.platform != "win32":
    import fcntl

EMPTY_CHECK_SECONDS: Final = 1.0
"""How often the worker asks whether the queue is empty."""
LOCK_WAIT_SECONDS: Final = 10.0
"""How long a new worker waits for a leaving one's autostart lock."""
LOG_FILE: Final = "worker.log"


def start_worker(plugin: Mapping[str, Any], settings: PluginSettings) -> bool:
    """Start a detached worker unless one runs on the queue; whether one was started."""
    if worker_running(settings.config.db_path):
        return False
    handover = json.dumps({"plugin": dict(plugin), "data_dir": settings.data_dir}).encode()
    child = subprocess.Popen(
        [sys.executable, "-m", "shell.stash.autostart"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
        cwd=settings.data_dir,
    )
    assert child.stdin is not None  # noqa: S101 - asked for a pipe
    with contextlib.suppress(BrokenPipeError):  # it died at once: its log says why
        child.stdin.write(handover)
    with contextlib.suppress(BrokenPipeError):
        child.stdin.close()
    child.returncode = 0  # not ours to wait for: it outlives us (no ResourceWarning)
    return True


def queued(config: PlexSyncConfig) -> int:
    """Jobs in the queue, whatever their state (dead letters aside)."""
    now = status(config)
    return now.waiting + now.scheduled + now.running


def work_until_empty(config: PlexSyncConfig, stop: threading.Event) -> None:
    """Run the worker until the queue is empty (checked again once it stopped) or *stop*, or
    until another worker (a service) announces itself between two runs.
    """
    from shell.worker import run_worker  # noqa: PLC0415 - imports the worker only here

    while not stop.is_set() and queued(config) and not worker_running(config.db_path):
        emptied = threading.Event()

        def watch(done: threading.Event = emptied) -> None:
            while not done.wait(EMPTY_CHECK_SECONDS):
                if stop.is_set() or not queued(config):
                    done.set()
            close_store(config)

        watcher = threading.Thread(target=watch, name="plexsync-empty-watch", daemon=True)
        watcher.start()
        try:
            run_worker(config, stop=emptied)
        finally:
            emptied.set()
            watcher.join()


@contextlib.contextmanager
def autostart_lock(db_path: str) -> Iterator[bool]:
    """Whether this process may be the queue's started worker (holding the lock inside)."""
    if sys.platform == "win32":  # pragma: no cover - no locks
        yield True
        return
    descriptor = os.open(os.path.abspath(db_path) + ".autostart", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                # Held: by a live worker (then it is not needed), or by one leaving.
                if worker_running(db_path) or time.monotonic() > deadline:
                    yield False
                    return
                time.sleep(0.05)
                continue
            yield True
            return
    finally:
        os.close(descriptor)


def main() -> int:
    """The detached worker: read the handover on stdin, then work until the queue is empty."""
    from logging.handlers import RotatingFileHandler  # noqa: PLC0415 - not on a hook's path

    try:
        handover = json.loads(sys.stdin.buffer.read() or b"{}")
    except json.JSONDecodeError:
        return 2
    data_dir = str(handover.get("data_dir") or ".")
    os.makedirs(data_dir, exist_ok=True)
    handler = RotatingFileHandler(
        os.path.join(data_dir, LOG_FILE), maxBytes=1_000_000, backupCount=2, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(message)s"))
    logger = logging.getLogger("plexsync")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    match merge(handover.get("plugin") or {}, os.environ, data_dir=data_dir):
        case Failure(message):
            logger.error("worker not started: %s", message)
            return 1
        case Success(PluginSettings() as settings):
            config = settings.config
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with autostart_lock(config.db_path) as mine:
        if not mine:
            return 0  # another worker has the queue
        if worker_running(config.db_path):  # one started since the hook looked: a service
            logger.info("a worker already runs on the queue: this one (pid %d) leaves", os.getpid())
            return 0
        logger.info("worker started by the Stash plugin (pid %d)", os.getpid())
        work_until_empty(config, stop)
        logger.info("queue empty: worker exits")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
