"""The fake Stash's GraphQL endpoint: graphql-core executing `schema.graphql` over a `Library`.

Answers as Stash's gqlgen server does (STASH.md §6, and gqlgen where STASH.md is silent):
- a parse error is HTTP 422 with code GRAPHQL_PARSE_FAILED; a validation error (a field or
  argument Stash does not have, a wrong type) or a bad variable is 422 with code
  GRAPHQL_VALIDATION_FAILED; the body is `{"errors": [...], "data": null}`;
- a resolver error is HTTP 200 with `errors` (message and path) and whatever `data` survives;
- a body that is not JSON is 400, as is a request that is not `application/json`
  ("transport not supported").

Messages are graphql-core's with names in double quotes, as Stash's parser writes them; the rest
of their wording (and any "Did you mean" hint) may differ from Stash's.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graphql import (
    FieldNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    build_schema,
    execute_sync,
    parse,
    validate,
)
from graphql.utilities import value_from_ast_untyped

from tests.fake_stash.library import Library, StashError, unix_seconds

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from graphql import DocumentNode, GraphQLResolveInfo, ValueNode

SCHEMA_SDL = (Path(__file__).parent / "schema.graphql").read_text(encoding="utf-8")
"""The schema subset the fake serves (the project's own file, next to this one)."""

FIELDS_SINCE: dict[str, tuple[int, int, int]] = {
    "Scene.files": (0, 17, 0),
    "Scene.code": (0, 18, 0),
    "Scene.rating100": (0, 18, 0),
    "Scene.urls": (0, 22, 0),
    "ConfigResult.plugins": (0, 24, 0),
    "Mutation.configurePlugin": (0, 24, 0),
    "Scene.groups": (0, 27, 0),
}
"""The Stash version that added each field, for the fields STASH.md dates. The fake can leave
them out to stand for an older Stash; it does not add what older versions had instead (such
as `Scene.path` before v0.24), so it is a partial picture of them."""

_QUOTED_NAME = re.compile(r"'([^'\s]+)'")


def fields_missing_before(version: tuple[int, int, int]) -> frozenset[str]:
    """The dated fields (`FIELDS_SINCE`) a Stash of *version* does not have."""
    return frozenset(name for name, since in FIELDS_SINCE.items() if version < since)


@dataclass
class ServerSettings:
    """What Stash's configuration and status queries report; tests may change it at any time."""

    api_key: str = ""
    """The API key (`configuration.general.apiKey`); "" when none was generated."""
    username: str = ""
    """The configured username; "" means no credentials, so nothing is checked."""
    max_session_age: int = 3600
    """Seconds a session cookie lives (Stash's `max_session_age`, default 3600)."""
    version: str = "v0.30.1"
    hash: str = "b23b0267"
    build_time: str = "2025-12-18 14:57:33"
    app_schema: int = 75
    plugins_path: str = "/root/.stash/plugins"


@dataclass(frozen=True)
class RequestContext:
    """What a resolver needs from the HTTP request."""

    base_url: str
    """`http://<Host header>`, the base of every URL in `Scene.paths`."""
    visited: tuple[tuple[str, str], ...] = ()
    """The (plugin, hook) pairs carried by the request's session cookie."""


@dataclass(frozen=True)
class Reply:
    """The HTTP answer to one GraphQL request, and what was asked (for the request log)."""

    status: int
    body: dict[str, Any]
    operation: str | None = None
    fields: tuple[str, ...] = ()
    mutation: bool = False
    bugs: tuple[BaseException, ...] = field(default=())
    """Exceptions raised inside the fake's resolvers other than Stash's own errors."""


class StashAPI:
    """The executable schema over *library*, without fields named in *omit* ("Type.field")."""

    def __init__(
        self, library: Library, settings: ServerSettings, *, omit: Iterable[str] = ()
    ) -> None:
        self.library = library
        self.settings = settings
        self.schema = build_schema(SCHEMA_SDL)
        self._bind()
        for name in omit:
            type_name, field_name = name.split(".")
            fields = _object_type(self.schema, type_name).fields
            if field_name not in fields:
                raise KeyError(f"the fake's schema has no {name}")
            del fields[field_name]

    # ------------------------------------------------------------------ requests

    def answer(  # noqa: PLR0911 - one return per kind of answer
        self, payload: Any, context: RequestContext, *, injected_error: str | None = None
    ) -> Reply:
        """Execute one decoded JSON request body; *injected_error* makes it a resolver error."""
        if not isinstance(payload, dict):
            return _decode_error(f"json: cannot unmarshal {type(payload).__name__} into params")
        query = payload.get("query")
        variables = payload.get("variables")
        operation_name = payload.get("operationName")
        if not isinstance(query, str) or not isinstance(variables, dict | None):
            return _decode_error("json: cannot unmarshal the query or variables")
        try:
            document = parse(query)
        except GraphQLError as error:
            return _rejected([error], "GRAPHQL_PARSE_FAILED")
        problems = validate(self.schema, document)
        if problems:
            return _rejected(problems, "GRAPHQL_VALIDATION_FAILED")
        operation = _operation(document, operation_name)
        asked = {
            "operation": operation.name.value if operation and operation.name else None,
            "fields": _root_fields(operation),
            "mutation": bool(operation and operation.operation == OperationType.MUTATION),
        }
        if injected_error is not None and operation is not None:
            path = list(asked["fields"][:1])
            body = {"errors": [{"message": injected_error, "path": path}], "data": None}
            return Reply(200, body, **asked)
        with self.library.lock:
            result = execute_sync(
                self.schema,
                document,
                variable_values=variables,
                operation_name=operation_name,
                context_value=context,
            )
        errors = result.errors or []
        if result.data is None and errors and all(e.path is None for e in errors):
            # Unknown operation or a bad variable: gqlgen rejects these before executing.
            return _rejected(errors, "GRAPHQL_VALIDATION_FAILED")
        bugs = tuple(
            e.original_error
            for e in errors
            if e.original_error is not None and not isinstance(e.original_error, StashError)
        )
        body: dict[str, Any] = {}
        if errors:
            body["errors"] = [{"message": e.message, "path": e.path} for e in errors]
        body["data"] = result.data
        return Reply(200, body, bugs=bugs, **asked)

    # ------------------------------------------------------------------ resolvers

    def _bind(self) -> None:
        library, settings = self.library, self.settings
        resolvers: dict[str, Callable[..., Any]] = {
            "Query.findScene": lambda _, __, id=None, checksum=None: library.find_scene(  # noqa: A006
                id, checksum
            ),
            "Query.findScenes": self._find_scenes,
            "Query.configuration": lambda _, __: {
                "general": {
                    "apiKey": settings.api_key,
                    "username": settings.username,
                    "maxSessionAge": settings.max_session_age,
                    "pluginsPath": settings.plugins_path,
                },
                "plugins": lambda _, include=None: library.plugin_config(include),
            },
            "Query.systemStatus": lambda _, __: {
                "databaseSchema": settings.app_schema,
                "appSchema": settings.app_schema,
                "status": "OK",
            },
            "Query.jobQueue": self._job_queue,
            "Query.version": lambda _, __: {
                "version": settings.version,
                "hash": settings.hash,
                "build_time": settings.build_time,
            },
            "Mutation.sceneUpdate": lambda _, info, input: library.update_from_graphql(  # noqa: A006
                input, info.context.visited
            ),
            "Mutation.configurePlugin": lambda _, __, plugin_id, input: library.configure_plugin(  # noqa: A006
                plugin_id, input
            ),
            "Scene.url": lambda scene, _: scene.urls[0] if scene.urls else None,
            "Scene.files": lambda scene, _: [library.files[f] for f in scene.file_ids],
            "Scene.paths": self._paths,
            "Scene.studio": lambda scene, _: library.studios.get(scene.studio_id),
            "Scene.groups": lambda scene, _: [
                {"group": library.groups[g], "scene_index": i} for g, i in scene.groups
            ],
            "Scene.movies": lambda scene, _: [
                {"movie": library.groups[g], "scene_index": i} for g, i in scene.groups
            ],
            "Scene.tags": lambda scene, _: [library.tags[t] for t in scene.tag_ids],
            "Scene.performers": lambda scene, _: [
                library.performers[p] for p in scene.performer_ids
            ],
            "VideoFile.fingerprint": lambda file, _, type: file.fingerprints.get(type),  # noqa: A006
            "VideoFile.fingerprints": lambda file, _: [
                {"type": k, "value": v} for k, v in file.fingerprints.items()
            ],
            "Studio.url": lambda studio, _: studio.urls[0] if studio.urls else None,
            "Studio.parent_studio": lambda studio, _: library.studios.get(studio.parent_id),
            "Studio.child_studios": lambda studio, _: [
                s for s in library.studios.values() if s.parent_id == studio.id
            ],
            "Group.studio": lambda group, _: library.studios.get(group.studio_id),
            "Movie.studio": lambda group, _: library.studios.get(group.studio_id),
            "Movie.url": lambda group, _: group.urls[0] if group.urls else None,
        }
        for name, resolve in resolvers.items():
            type_name, field_name = name.split(".")
            _object_type(self.schema, type_name).fields[field_name].resolve = resolve
        maps = self.schema.type_map["Map"]
        # graphql-core 3.2 reads parse_value, 3.3 coerce_input_value: set both.
        maps.parse_value = maps.coerce_input_value = _map_value  # type: ignore[attr-defined]
        maps.parse_literal = _map_literal  # type: ignore[attr-defined]

    def _find_scenes(
        self,
        _: object,
        __: GraphQLResolveInfo,
        scene_filter: Mapping[str, Any] | None = None,
        scene_ids: list[int] | None = None,
        ids: list[str] | None = None,
        filter: Mapping[str, Any] | None = None,  # noqa: A002 - Stash's argument name
    ) -> dict[str, Any]:
        scenes, count, duration, size = self.library.find_scenes(
            filter, scene_filter, ids, scene_ids
        )
        return {"count": count, "duration": duration, "filesize": size, "scenes": scenes}

    def _job_queue(self, _: object, __: GraphQLResolveInfo) -> list[dict[str, Any]] | None:
        jobs = [
            {
                "id": job.id,
                "status": job.status,
                "subTasks": job.sub_tasks,
                "description": job.description,
                "progress": job.progress,
                "startTime": job.start_time,
                "endTime": job.end_time,
                "addTime": job.add_time or self.library.timestamp(),
                "error": job.error,
            }
            for job in self.library.jobs
        ]
        return jobs or None  # Stash's resolver returns a nil slice, hence null, when idle

    def _paths(self, scene: Any, info: GraphQLResolveInfo) -> dict[str, str]:
        base = f"{info.context.base_url}/scene/{scene.id}"
        stream = f"{base}/stream"
        if self.settings.api_key:
            stream += f"?apikey={self.settings.api_key}"
        return {
            "screenshot": f"{base}/screenshot?t={unix_seconds(scene.updated_at)}",
            "preview": f"{base}/preview",
            "stream": stream,
            "webp": f"{base}/webp",
        }


def _object_type(schema: GraphQLSchema, name: str) -> GraphQLObjectType:
    found = schema.type_map.get(name)
    if not isinstance(found, GraphQLObjectType):
        raise KeyError(f"the fake's schema has no object type {name}")
    return found


def _map_value(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"{type(value).__name__} is not a map")
    return value


def _map_literal(node: ValueNode, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    return _map_value(value_from_ast_untyped(node, variables))


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return operations[0] if len(operations) == 1 else None
    return next((o for o in operations if o.name and o.name.value == name), None)


def _root_fields(operation: OperationDefinitionNode | None) -> tuple[str, ...]:
    if operation is None:
        return ()
    selections = operation.selection_set.selections
    return tuple(s.name.value for s in selections if isinstance(s, FieldNode))


def _rejected(errors: Iterable[GraphQLError], code: str) -> Reply:
    formatted = []
    for error in errors:
        entry: dict[str, Any] = {"message": _QUOTED_NAME.sub(r'"\1"', error.message)}
        if error.locations:
            entry["locations"] = [{"line": at.line, "column": at.column} for at in error.locations]
        entry["extensions"] = {"code": code}
        formatted.append(entry)
    return Reply(422, {"errors": formatted, "data": None})


def _decode_error(detail: str) -> Reply:
    message = f"json request body could not be decoded: {detail}"
    return Reply(400, {"errors": [{"message": message}], "data": None})


def decode_error(body: bytes, problem: json.JSONDecodeError | UnicodeDecodeError) -> Reply:
    """The 400 answer to a body that is not JSON."""
    return _decode_error(f"{problem} body:{body[:200].decode('utf-8', 'replace')}")


def transport_not_supported() -> Reply:
    """The 400 answer to a request that is neither JSON nor a form upload (gqlgen's wording)."""
    return Reply(400, {"errors": [{"message": "transport not supported"}], "data": None})
