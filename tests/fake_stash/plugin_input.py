"""The JSON document Stash writes to a raw plugin's stdin, byte for byte (STASH.md §2-§3).

Stash marshals a `PluginInput` with Go's `json.Marshal` and writes it without a trailing
newline, then closes stdin:

    {"server_connection": {"Scheme", "Host", "Port", "SessionCookie", "Dir", "PluginDir"},
     "args": {...}}

`args` is a Go map (keys sorted): for a task, the task's `defaultArgs` (strings) under any
`args_map` given to `runPluginTask`; for a hook, the hook's `defaultArgs` plus `hookContext`
{`id` (left out when 0), `type`, `input`, `inputFields` (left out when empty)}. `SessionCookie`
is Go's `http.Cookie` as JSON. There is no API key anywhere in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tests.fake_stash.gojson import GoStruct, go_json

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

SAME_SITE_LAX = 2
"""Go's http.SameSiteLaxMode, which Stash sets on its session cookies."""


@dataclass(frozen=True)
class SessionCookie:
    """The session cookie Stash mints for one plugin run."""

    value: str
    expires: str
    """When it expires, as Go prints a local time (RFC3339 with nanoseconds trimmed)."""
    max_age: int
    name: str = "session"

    def as_go(self) -> GoStruct:
        """The cookie as Go's `http.Cookie` marshals (Go 1.23 and later field set)."""
        return GoStruct(
            Name=self.name,
            Value=self.value,
            Quoted=False,
            Path="/",
            Domain="",
            Expires=self.expires,
            RawExpires="",
            MaxAge=self.max_age,
            Secure=False,
            HttpOnly=False,
            SameSite=SAME_SITE_LAX,
            Partitioned=False,
            Raw="",
            Unparsed=None,
        )


@dataclass(frozen=True)
class ServerConnection:
    """`server_connection`: how the plugin reaches Stash.

    `host` is Stash's listen address, "0.0.0.0" by default (a client must connect to 127.0.0.1
    then); `config_dir` is the folder holding config.yml; `plugin_dir` the manifest's folder.
    """

    port: int
    cookie: SessionCookie | None
    plugin_dir: str
    config_dir: str = "/root/.stash"
    host: str = "0.0.0.0"
    scheme: str = "http"

    def as_go(self) -> GoStruct:
        """The connection as Stash's `StashServerConnection` struct marshals."""
        return GoStruct(
            Scheme=self.scheme,
            Host=self.host,
            Port=self.port,
            SessionCookie=None if self.cookie is None else self.cookie.as_go(),
            Dir=self.config_dir,
            PluginDir=self.plugin_dir,
        )


def task_stdin(
    connection: ServerConnection,
    default_args: Mapping[str, str] | None = None,
    args_map: Mapping[str, Any] | None = None,
) -> bytes:
    """What a task's process reads on stdin: the given *args_map* over the *default_args*."""
    args = dict(args_map or {})
    for key, value in (default_args or {}).items():
        args.setdefault(key, value)
    return go_json(GoStruct(server_connection=connection.as_go(), args=args))


def hook_stdin(
    connection: ServerConnection,
    hook_type: str,
    hook_id: int,
    hook_input: Any,
    input_fields: Iterable[str] | None,
    default_args: Mapping[str, str] | None = None,
) -> bytes:
    """What a hook's process reads on stdin for an event of *hook_type* on object *hook_id*."""
    context = GoStruct()
    if hook_id:
        context["id"] = hook_id
    context["type"] = hook_type
    context["input"] = hook_input
    fields = list(input_fields or ())
    if fields:
        context["inputFields"] = fields
    args: dict[str, Any] = dict(default_args or {})
    args["hookContext"] = context
    return go_json(GoStruct(server_connection=connection.as_go(), args=args))
