"""The plugin's tasks, the buttons of Stash's Tasks page; each names its ``mode`` in
``defaultArgs``.

A task may run long (Stash runs one job at a time and shows its progress bar), so it reads the
API key once with its session cookie and goes on with the key: the cookie expires after an hour.
Scenes are read a page at a time in id order and enqueued a page per transaction.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

from attrs import frozen

from shell import dlq
from shell.api import open_store, status
from shell.cli.render import check_rows, status_rows
from shell.stash.autostart import start_worker
from shell.stash.context import PluginError, Run
from shell.stash.graphql import SETTINGS_QUERY, StashError, scene_pages
from shell.stash.hook import enqueue_scenes
from shell.stash.reconcile import reconcile
from shell.stash.settings import PluginSettings
from shell.worker.presence import worker_running

SYNCED_UP_TO: Final = "stash.synced_up_to"
"""The host note holding the newest ``updated_at`` a sync has seen, as Stash wrote it."""
CHANGED_MARGIN_SECONDS: Final = 3660.0
"""How far before the last sync's newest change "changed since" looks again: a minute, plus
an hour for a clock turned back at the end of summer time (Stash compares its local-time text).
Scenes seen twice cost nothing: their jobs coalesce, and Plex is left as it is."""
PAGE_SIZE: Final = 500
CHECKED_PATHS: Final = 3
"""The newest queued paths the status task looks up in Plex (as ``plexsync check`` does)."""


@frozen
class Task:
    """A task as the manifest declares it."""

    name: str
    description: str
    mode: str


TASKS: Final = (
    Task("Sync all scenes", "Queue every scene for Plex", "all"),
    Task("Sync changed scenes", "Queue the scenes changed since the last sync", "changed"),
    Task(
        "Reconcile with Plex",
        "Queue only the scenes whose Plex item is missing or differs from the scene",
        "reconcile",
    ),
    Task("Process queue now", "Work the queue here until nothing more can be done now", "process"),
    Task("Retry dead letters", "Queue every dead-lettered job again", "retry"),
    Task(
        "Status and check", "Write the queue's status and a check of the setup to the log", "status"
    ),
)


def run_task(run: Run, args: Mapping[str, Any]) -> str:
    """Run the task named by ``args["mode"]``; returns what was done, in words."""
    mode = args.get("mode")
    handlers: dict[str, Callable[[Run, PluginSettings], str]] = {
        "all": lambda r, s: sync(r, s, since=None),
        "changed": sync_changed,
        "reconcile": reconcile,
        "process": process,
        "retry": retry,
        "status": report_status,
    }
    handler = handlers.get(mode) if isinstance(mode, str) else None
    if handler is None:
        raise PluginError(f"unknown task mode {mode!r} (known: {', '.join(handlers)})")
    configuration = run.client.query(SETTINGS_QUERY)["configuration"]
    settings = run.settings(configuration)
    return handler(run, settings)


def sync_changed(run: Run, settings: PluginSettings) -> str:
    """Queue the scenes whose ``updated_at`` is after the last sync's newest (with a margin)."""
    store = open_store(settings.config)
    with store.reading():
        last = store.notes.get(SYNCED_UP_TO)
    if last is None:
        run.console.info("no sync has run yet: syncing every scene")
    return sync(run, settings, since=last)


def sync(run: Run, settings: PluginSettings, *, since: str | None) -> str:
    """Queue every scene (updated after *since*, less the margin, if given)."""
    started = time.monotonic()
    run.client.use_api_key(run.api_key)
    scene_filter = None
    if since is not None:
        scene_filter = {"updated_at": {"value": before(since), "modifier": "GREATER_THAN"}}
    queued = seen = total = 0
    newest: tuple[dt.datetime, str] | None = None
    pages = scene_pages(run.client, per_page=PAGE_SIZE, scene_filter=scene_filter)
    try:
        for total, scenes in pages:
            queued += len(enqueue_scenes(run, settings, scenes))
            seen += len(scenes)
            for scene in scenes:
                stamp = _instant(scene.get("updated_at"))
                if stamp is not None and (newest is None or stamp > newest[0]):
                    newest = (stamp, str(scene["updated_at"]))
            run.console.progress(seen / total if total else 1.0)
    except StashError as error:
        # What was queued stays queued; the mark of the last sync stays where it was, so the
        # next sync (all or changed) takes up every scene this one did not reach.
        if queued:
            start_worker(run.plugin_values, settings)
        raise PluginError(
            f"sync stopped after queuing {queued} of {max(total, seen)} scenes: {error}"
        ) from None
    if newest is not None:
        store = open_store(settings.config)
        with store.transaction() as tx:
            tx.notes.put(SYNCED_UP_TO, newest[1], now=time.time())
    started_worker = start_worker(run.plugin_values, settings) if queued else False
    took = time.monotonic() - started
    line = f"queued {queued} of {seen} scenes in {took:.1f} s" + (
        "; worker started" if started_worker else ""
    )
    run.console.info(line)
    return line


def process(run: Run, settings: PluginSettings) -> str:
    """Work the queue in this process until nothing more can be done now."""
    import logging  # noqa: PLC0415 - only this task logs the worker's own lines

    from shell.stash.stashlog import StashLogHandler  # noqa: PLC0415
    from shell.worker import run_worker  # noqa: PLC0415 - imports the worker only here

    handler = StashLogHandler(run.console)
    logger = logging.getLogger("plexsync")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        report = run_worker(settings.config, until_idle=True)
    finally:
        logger.removeHandler(handler)
    line = (
        f"worked the queue: {report.done} done, {report.retried} to retry later, "
        f"{report.dead_lettered_total} dead-lettered"
    )
    run.console.info(line)
    return line


def retry(run: Run, settings: PluginSettings) -> str:
    """Queue every dead letter again (except those a newer edit superseded)."""
    store = open_store(settings.config)
    chosen = dlq.snapshot(store)
    report = dlq.redrive(store, chosen, now=time.time())
    line = f"re-drove {len(report.redriven)} of {len(chosen)} dead letters"
    if report.skipped:
        line += f" (skipped {len(report.skipped)}: {report.skipped[0].why})"
    if report.redriven:
        start_worker(run.plugin_values, settings)
    run.console.info(line)
    return line


def report_status(run: Run, settings: PluginSettings) -> str:
    """Write the queue's status, the last dead letters and a check of the setup to the log."""
    config = settings.config
    now = time.time()
    for label, value in status_rows(status(config, now=now), now):
        run.console.info(f"{label}: {value}")
    for entry in dlq.list_entries(open_store(config), limit=5):
        run.console.warning(
            f"dead letter {entry.id} ({entry.key}, {entry.reason}): {entry.last_error}"
        )
    problems = check(run, settings)
    for problem in problems:
        run.console.error(problem)
    verdict = (
        "check: everything is in order" if not problems else f"check: {len(problems)} problem(s)"
    )
    run.console.info(verdict)
    return verdict


def check(run: Run, settings: PluginSettings) -> list[str]:
    """What ``plexsync check`` says (Plex as configured, its sections, the newest queued paths
    looked up), where the main settings came from, whether a worker runs and whether the
    queue's folder is writable; returns the problems, in words.
    """
    from shell.check import check as check_plex  # noqa: PLC0415 - imports plexapi: only here
    from shell.check import sample_paths  # noqa: PLC0415

    config = settings.config
    for name, source in sorted(settings.settings.sources.items()):
        if name in {"plex_url", "plex_token", "db_path", "library_sections", "path_mappings"}:
            run.console.info(f"setting {name} from {source}")
    report = check_plex(config, sample_paths(open_store(config), CHECKED_PATHS))
    for label, value in check_rows(report):
        if label in {"problem", "result"} or (label == "path" and not report.paths):
            continue  # problems are errors below; "give --path" is for the command line
        run.console.info(f"{label}: {value}")
    problems = [problem.what for problem in report.problems]
    running = worker_running(config.db_path)
    run.console.info(
        "a worker is running" if running else "no worker is running (one starts when needed)"
    )
    if not os.access(os.path.dirname(os.path.abspath(config.db_path)), os.W_OK):
        problems.append(f"the queue's folder {os.path.dirname(config.db_path)} is not writable")
    return problems


def before(stamp: str, seconds: float = CHANGED_MARGIN_SECONDS) -> str:
    """*stamp* (RFC3339, as Stash writes it) moved back *seconds*, in the same form and offset,
    so that Stash's text comparison orders it as the instant it is.
    """
    moment = _instant(stamp)
    if moment is None:
        return stamp
    earlier = (moment - dt.timedelta(seconds=seconds)).replace(microsecond=0).isoformat()
    return earlier[:-6] + "Z" if earlier.endswith("+00:00") else earlier


def _instant(stamp: object) -> dt.datetime | None:
    if not isinstance(stamp, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
