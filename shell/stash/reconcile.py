"""The reconcile task: queue only the scenes whose Plex item is missing or differs from the scene.

Every scene is read from Stash (a page at a time, by id) and mapped as a hook maps it, its cover
fetched if images are synced; Plex is asked what it holds for each page's files
(``PlexServerGateway.held``: the path index, then a hundred items a request); ``compare`` (a
pure function) decides each scene:

* ``AGREES``: applying its job would change nothing: not queued;
* ``DIFFERS``: Plex holds other values, or leaves a field unlocked: queued;
* ``MISSING``: Plex has no item for the file yet: queued (the worker asks Plex to scan);
* ``UNMATCHED``: the file lies outside every library folder, or matches several items: not
  queued (no job could succeed), and said in a warning;
* ``INVALID``: plexsync would refuse the job: not queued, and said.

This catches what no hook reports: an edit made in Plex, a performer or studio renamed in Stash
(no scene hook fires), an item Plex re-added after a rescan. Scenes without a file are counted
and left, as by a sync.
"""

from __future__ import annotations

import enum
import hashlib
import time
from collections import Counter
from collections.abc import Mapping
from typing import Final

from attrs import frozen
from returns.result import Failure, Success

from core import ErrorClass, Failed
from shell.fields import FIELDS, Kind
from shell.held import Held, differences
from shell.payload import Metadata, parse_metadata
from shell.stash.autostart import start_worker
from shell.stash.context import PluginError, Run
from shell.stash.graphql import StashError, scene_pages
from shell.stash.hook import enqueue_mapped, map_scenes
from shell.stash.mapping import Mapped
from shell.stash.settings import PluginSettings

PAGE_SIZE: Final = 500
SHOWN: Final = 10
"""Scenes described one by one in Stash's log, per verdict; the rest are counted."""


class Verdict(enum.Enum):
    """What reconcile makes of one scene."""

    AGREES = "agree with Plex"
    DIFFERS = "differ"
    MISSING = "missing in Plex"
    UNMATCHED = "cannot be matched"
    INVALID = "refused"


QUEUED: Final = frozenset({Verdict.DIFFERS, Verdict.MISSING})
"""The verdicts whose scenes are queued."""


@frozen
class Comparison:
    """A scene's verdict and, in words, why."""

    verdict: Verdict
    reasons: tuple[str, ...] = ()


def compare(
    mapped: Mapped, found: Held | Failed | None, image_digests: Mapping[str, str]
) -> Comparison:
    """The verdict on a scene's job *mapped*, given what Plex holds for its file (*found*: a
    ``Held``, or the gateway's failure for that path; ``None`` if Plex was not asked) and the
    SHA-256 of each image file the job carries.
    """
    match parse_metadata(mapped.metadata):
        case Failure(problem):
            return Comparison(Verdict.INVALID, (problem,))
        case Success(Metadata() as metadata):
            pass
    match found:
        case Held():
            found_differences = differences(metadata, found, image_digests)
            if found_differences:
                return Comparison(Verdict.DIFFERS, tuple(found_differences))
            return Comparison(Verdict.AGREES)
        case Failed(error_class=ErrorClass.PERMANENT, message=message):
            return Comparison(Verdict.UNMATCHED, (message,))
        case Failed(message=message):
            return Comparison(Verdict.MISSING, (message,))
        case None:
            return Comparison(Verdict.MISSING, ("Plex was not asked",))
    raise AssertionError(f"unexpected {found!r}")  # pragma: no cover - the cases are exhaustive


def reconcile(run: Run, settings: PluginSettings) -> str:
    """Compare every scene with its Plex item; queue those missing or different."""
    from shell.plex import PlexServerGateway  # noqa: PLC0415 - imports plexapi: only here

    started = time.monotonic()
    run.client.use_api_key(run.api_key)
    gateway = PlexServerGateway(settings.config)
    tally: Counter[Verdict] = Counter()
    seen = total = queued = 0
    try:
        for total, scenes in scene_pages(run.client, per_page=PAGE_SIZE):
            jobs = map_scenes(run, settings, scenes, verb="reconciled")
            found = gateway.held([str(job.metadata["path"]) for job in jobs])
            if isinstance(found, Failed):
                raise PluginError(
                    f"reconcile stopped after {seen} of {total} scenes ({queued} queued): "
                    f"Plex cannot be read: {found.message}"
                )
            wanted = []
            for job in jobs:
                comparison = compare(job, found.get(str(job.metadata["path"])), _digests(job))
                tally[comparison.verdict] += 1
                _describe(run, job, comparison, tally[comparison.verdict])
                if comparison.verdict in QUEUED:
                    wanted.append(job)
            queued += len(enqueue_mapped(run, settings, wanted))
            seen += len(scenes)
            run.console.progress(seen / total if total else 1.0)
    except StashError as error:
        raise PluginError(
            f"reconcile stopped after {seen} of {total} scenes ({queued} queued): {error}"
        ) from None
    finally:
        gateway.close()
        if queued:
            start_worker(run.plugin_values, settings)
    without_file = seen - sum(tally.values())
    counts = ", ".join(f"{tally[v]} {v.value}" for v in Verdict)
    line = (
        f"reconciled {seen} scenes in {time.monotonic() - started:.1f} s: {counts}, "
        f"{without_file} without a file; queued {queued}"
    )
    run.console.info(line)
    return line


def _describe(run: Run, job: Mapped, comparison: Comparison, nth: int) -> None:
    """One line in Stash's log for each of the first ``SHOWN`` scenes of a verdict."""
    if comparison.verdict is Verdict.AGREES or nth > SHOWN:
        return
    why = "; ".join(comparison.reasons)
    if comparison.verdict in QUEUED:
        run.console.info(f"{job.key} {comparison.verdict.value}: {why}; queued")
    else:
        run.console.warning(f"{job.key} {comparison.verdict.value}: {why}; not queued")
    if nth == SHOWN:
        run.console.info(f"more scenes than these {SHOWN} {comparison.verdict.value}: counted only")


def _digests(job: Mapped) -> dict[str, str]:
    """The SHA-256 of each image file *job* carries (a file that cannot be read has none)."""
    digests = {}
    for spec in FIELDS:
        path = job.metadata.get(spec.key)
        if spec.kind is Kind.IMAGE and isinstance(path, str):
            try:
                with open(path, "rb") as handle:
                    digests[spec.key] = hashlib.sha256(handle.read()).hexdigest()
            except OSError:
                continue
    return digests
