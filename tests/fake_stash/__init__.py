"""A fake Stash (the media organiser) for the plexsync plugin's tests.

`FakeStash` serves, on 127.0.0.1, Stash v0.30.1's GraphQL API (the subset in `schema.graphql`,
executed by graphql-core, so a field Stash lacks fails with 422 as on Stash), scene screenshots
(an SVG placeholder while a scene has no cover) and Stash's authentication (`ApiKey` header or
the `session` cookie). Its `library` holds scenes, studios with parents, performers, tags, groups,
files, jobs and plugin settings, and records in `hooks` the hook events Stash would fire.
`hook_stdin` / `task_stdin` give the exact bytes Stash writes to a plugin process's stdin.

Running a plugin as Stash does (the plugin must map Host 0.0.0.0 to 127.0.0.1)::

    with FakeStash(username="admin", api_key="key") as stash:
        scene = stash.library.add_scene(paths=["/media/a.mp4"], title="A")
        event = stash.library.edit_scene(scene, title="B")
        stdin = stash.hook_stdin(event, plugin_id="plexsync", plugin_dir=str(plugin_dir))
        done = subprocess.run([python, plugin], input=stdin, capture_output=True, cwd=tmp_path)
        assert json.loads(done.stdout) == {"output": ..., "error": None}
        assert stash.mutations() == []

What the fake leaves out or approximates is said where it is done: GET /graphql and uploads,
the scene filter criteria other than id, organized, created_at and updated_at, some sorts,
Stash's exact error wording and placeholder bytes, and the `random` sort's order.
"""

from tests.fake_stash.api import FIELDS_SINCE, fields_missing_before
from tests.fake_stash.library import (
    FORM_FIELDS,
    MAX_HOOK_DEPTH,
    SCENE_UPDATE_INPUT_KEYS,
    HookEvent,
    Job,
    Library,
    StashID,
)
from tests.fake_stash.plugin_input import ServerConnection, SessionCookie, hook_stdin, task_stdin
from tests.fake_stash.server import PLACEHOLDER_SVG, FakeStash, Recorded

__all__ = [
    "FIELDS_SINCE",
    "FORM_FIELDS",
    "MAX_HOOK_DEPTH",
    "PLACEHOLDER_SVG",
    "SCENE_UPDATE_INPUT_KEYS",
    "FakeStash",
    "HookEvent",
    "Job",
    "Library",
    "Recorded",
    "ServerConnection",
    "SessionCookie",
    "StashID",
    "fields_missing_before",
    "hook_stdin",
    "task_stdin",
]
