"""Stopping on SIGINT and SIGTERM: finish the job in hand, then stop.

A second signal acts as the default handler would (the first one restored them).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from types import FrameType

from shell.redact import get_logger

log = get_logger("plexsync.worker")


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event, *, enabled: bool) -> Iterator[None]:
    """SIGINT/SIGTERM finish the job in hand, then stop; a second signal acts as usual.

    The handler takes no lock. It runs in the main thread between two bytecodes, possibly while
    that thread holds the lock inside ``stop`` (sleeping in ``Event.wait``), where ``stop.set()``
    would wait for itself for ever. It only writes the signal's number to a pipe; a relay thread
    logs and sets ``stop`` outside the handler.
    """
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    read_end, write_end = os.pipe()

    def relay() -> None:
        received = os.read(read_end, 1)  # b"" once the pipe is closed: no signal came
        if received:
            name = signal.Signals(received[0]).name
            log.info("received %s: stopping after the job in hand", name)
            stop.set()

    def handle(signum: int, frame: FrameType | None) -> None:
        del frame
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        os.write(write_end, bytes([signum]))

    relaying = threading.Thread(target=relay, name="plexsync-signals", daemon=True)
    relaying.start()
    for sig in previous:
        signal.signal(sig, handle)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        os.close(write_end)
        relaying.join()
        os.close(read_end)
