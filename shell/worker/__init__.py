"""The worker: claim due jobs, call Plex, ask ``core`` what follows, write the answer down.

* ``loop``: ``run_worker`` and the loop itself (batches, sleeping, housekeeping);
* ``decisions``: each unit of work that asks ``core`` and writes its answer to the store;
* ``owner``: lease owners, and leases of workers known to be dead;
* ``signals``: stopping on SIGINT/SIGTERM; ``log``: the log line of each event;
* ``presence``: whether a worker runs on a queue (a host asks it without loading the worker).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shell.worker.loop import StopSignal, WorkerReport, run_worker

__all__ = ["StopSignal", "WorkerReport", "run_worker"]


def __getattr__(name: str) -> Any:  # noqa: ANN401 - one of __all__
    """``run_worker`` and its types, imported from ``loop`` on first use (PEP 562), so that
    ``shell.worker.presence`` (which a Stash hook asks) does not load the whole worker.
    """
    if name not in __all__:
        raise AttributeError(f"module 'shell.worker' has no attribute {name!r}")
    from shell.worker import loop  # noqa: PLC0415 - imported on first use

    value = getattr(loop, name)
    globals()[name] = value
    return value
