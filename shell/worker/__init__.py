"""The worker: claim due jobs, call Plex, ask ``core`` what follows, write the answer down.

* ``loop``: ``run_worker`` and the loop itself (batches, sleeping, housekeeping);
* ``decisions``: each unit of work that asks ``core`` and writes its answer to the store;
* ``owner``: lease owners, and leases of workers known to be dead;
* ``signals``: stopping on SIGINT/SIGTERM; ``log``: the log line of each event.
"""

from __future__ import annotations

from shell.worker.loop import StopSignal, WorkerReport, run_worker

__all__ = ["StopSignal", "WorkerReport", "run_worker"]
