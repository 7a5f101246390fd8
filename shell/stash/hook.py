"""The hook: a scene created or updated in Stash goes into the queue, and the hook returns.

Stash runs it inside the user's save and waits for it (a bulk edit of N scenes runs it N times
in a row), so it does the least it can: one GraphQL request (the plugin's settings and the
scene together), the cover if posters are synced and the scene has one, one enqueue (which
coalesces with a waiting job of the same scene), and a worker started if none runs. It never
waits for Plex, and never changes anything in Stash (a mutation would fire the hook again).

A hook that cannot read its scene notes the scene id; the next run takes it up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from returns.result import Failure, Success

from shell.api import enqueue_many
from shell.stash.autostart import start_worker
from shell.stash.context import PluginError, Run
from shell.stash.covers import fetch_covers, images_folder
from shell.stash.graphql import HOOK_QUERY, SCENES_BY_ID_QUERY, StashError, StashRefusedError
from shell.stash.mapping import Mapped, map_scene
from shell.stash.settings import PluginSettings

SCENE_HOOKS: Final = ("Scene.Update.Post", "Scene.Create.Post")


def run_hook(run: Run, context: Mapping[str, Any]) -> str:
    """Enqueue the scene of the hook *context*; returns what was done, in words."""
    hook_type = context.get("type")
    scene_id = context.get("id")
    if hook_type not in SCENE_HOOKS:
        return f"nothing to do for {hook_type}"
    if isinstance(scene_id, bool) or not isinstance(scene_id, int):
        raise PluginError(f"{hook_type} came without a scene id")
    try:
        data = run.client.scenes_query(HOOK_QUERY, {"id": str(scene_id)})
    except StashError as error:
        run.remember_pending(scene_id)
        raise PluginError(
            f"scene {scene_id} not queued ({error}); the next run takes it up"
        ) from None
    settings = run.settings(data["configuration"])
    scenes = [data["findScene"]] if data.get("findScene") is not None else []
    pending = run.take_pending()
    if pending:
        scenes += _scenes_by_id(run, [i for i in pending if i != scene_id])
    if not scenes:
        run.console.warning(f"scene {scene_id} no longer exists in Stash: nothing to sync")
        return f"scene {scene_id} is gone"
    try:
        queued = enqueue_scenes(run, settings, scenes)
    except StashRefusedError as error:  # a cover refused: nothing was queued
        for scene in scenes:
            run.remember_pending(int(scene["id"]))
        raise PluginError(
            f"scene {scene_id} not queued ({error}); the next run takes it up"
        ) from None
    started = start_worker(run.plugin_values, settings)
    worker = "; worker started" if started else ""
    if scene_id not in queued:
        return f"scene {scene_id} not queued{worker}"
    return f"scene {scene_id} queued for Plex{worker}"


def enqueue_scenes(
    run: Run, settings: PluginSettings, scenes: Sequence[Mapping[str, Any]]
) -> list[int]:
    """Map and enqueue *scenes* (one transaction); the ids of those queued.

    A cover Stash cannot give is left out (the scene is queued without it), unless Stash refused
    the plugin's credentials: then ``StashRefusedError`` is raised and nothing is queued.
    """
    queued = enqueue_mapped(run, settings, map_scenes(run, settings, scenes, verb="queued"))
    return [int(job.key.rpartition(":")[2]) for job in queued]


def map_scenes(
    run: Run, settings: PluginSettings, scenes: Sequence[Mapping[str, Any]], *, verb: str
) -> list[Mapped]:
    """The jobs of *scenes*, their covers fetched if images are synced; a scene without a job
    is one warning ("...: not *verb*"). ``StashRefusedError`` if Stash refuses a cover.
    """
    jobs: list[Mapped] = []
    covers: Sequence[str | StashError | None] = (
        fetch_covers(run.client, scenes, images_folder(settings.config.db_path))
        if settings.options.images
        else [None] * len(scenes)
    )
    for scene, cover in zip(scenes, covers, strict=True):
        image = None
        if isinstance(cover, StashError):
            run.console.warning(f"scene {scene.get('id')}: no cover synced ({cover})")
        else:
            image = cover
        match map_scene(scene, settings.options, image=image):
            case Success(Mapped() as mapped):
                for note in mapped.notes:
                    run.console.info(note)
                jobs.append(mapped)
            case Failure(reason):
                run.console.warning(f"{reason}: not {verb}")
    return jobs


def enqueue_mapped(run: Run, settings: PluginSettings, jobs: list[Mapped]) -> list[Mapped]:
    """Enqueue *jobs* in one transaction; the jobs queued."""
    try:
        enqueue_many(settings.config, [(job.key, job.metadata) for job in jobs])
    except ValueError:  # one job plexsync refuses must not hold back the others
        kept = []
        for job in jobs:
            try:
                enqueue_many(settings.config, [(job.key, job.metadata)])
            except ValueError as error:
                run.console.warning(f"{job.key} not queued: {error}")
            else:
                kept.append(job)
        return kept
    return jobs


def _scenes_by_id(run: Run, ids: list[int]) -> list[Mapping[str, Any]]:
    """The scenes that still exist among *ids* (earlier hooks' leftovers)."""
    found: list[Mapping[str, Any]] = []
    for scene_id in ids:
        try:
            data = run.client.scenes_query(SCENES_BY_ID_QUERY, {"ids": [str(scene_id)]})
        except StashError as error:
            if "not found" not in str(error):
                run.remember_pending(scene_id)
            continue
        found += data["findScenes"]["scenes"]
    return found
