"""A fake Stash (the media organiser) for the plexsync plugin's tests.

`FakeStash` serves Stash's GraphQL API (the subset in `schema.graphql`, executed by graphql-core),
scene screenshots and Stash's authentication on 127.0.0.1; its `library` holds scenes, studios,
performers, tags, groups, files and plugin settings, and records the hooks Stash would run.
`plugin_input` builds the exact stdin Stash gives a plugin process for a hook or a task.
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
