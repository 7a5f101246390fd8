"""Who holds a lease: each worker's name, and taking back leases whose holder is known dead.

A lease names its owner as ``host:pid:incarnation:worker``. The incarnation tells this process
from earlier ones that had its pid on this host: pids are reused, and a restarted container often
gives its worker the very pid the crashed one had.
"""

from __future__ import annotations

import os
import socket
import uuid
from typing import Final

from shell.store import Store

INCARNATION: Final = uuid.uuid4().hex[:8]
"""This process's incarnation: a fresh value at every start."""


def new_owner() -> str:
    """A name for one worker of this process, unique across hosts, processes and restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{INCARNATION}:{uuid.uuid4().hex[:8]}"


def alive_here(owner: str) -> bool:
    """Whether *owner* is a worker of a process of this host that is running now (this very
    incarnation of its pid): a lease of its that ran out did not outlive its worker.
    """
    owner_host, _, rest = owner.partition(":")
    pid_text, _, more = rest.partition(":")
    if owner_host != socket.gethostname() or not pid_text.isdigit():
        return False
    if int(pid_text) == os.getpid():
        return more.startswith(f"{INCARNATION}:")
    return _alive(int(pid_text))


def expire_leases_of_dead_local_workers(store: Store, *, now: float) -> None:
    """A worker on this host whose process is gone will never finish its job: let it be taken
    back now rather than when its lease runs out. A lease with this process's pid but from
    another incarnation is a dead predecessor's, although the pid is alive.
    """
    host = socket.gethostname()
    me = f"{os.getpid()}:{INCARNATION}:"
    for owner in store.jobs.lease_owners():
        owner_host, _, rest = owner.partition(":")
        pid_text = rest.partition(":")[0]
        if owner_host != host or not pid_text.isdigit():
            continue
        earlier_self = int(pid_text) == os.getpid() and not rest.startswith(me)
        if earlier_self or not _alive(int(pid_text)):
            with store.transaction() as tx:
                tx.jobs.expire_leases(owner, now=now)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True
