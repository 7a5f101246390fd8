"""Stopping on SIGINT and SIGTERM.

The first signal asks the worker to finish the job in hand and stop. A second one stops it at
once: ``StopNow`` is raised in the main thread, and the worker gives back every job it holds,
uncharged, before it returns (an edit already sent may still land; it is idempotent). A third
signal acts as it would without plexsync.
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


class StopNow(BaseException):
    """A second SIGINT or SIGTERM: stop at once. Like ``KeyboardInterrupt``, it is not an
    ``Exception``, so no ``except Exception`` on the way swallows it.
    """


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event, *, enabled: bool) -> Iterator[None]:
    """SIGINT/SIGTERM finish the job in hand, then stop; a second one raises ``StopNow``.

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

    received: list[int] = []

    def handle(signum: int, frame: FrameType | None) -> None:
        del frame
        received.append(signum)
        if len(received) == 1:
            os.write(write_end, bytes([signum]))
            return
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        raise StopNow(signal.Signals(signum).name)

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
