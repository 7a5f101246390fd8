"""Settings for the command line: a TOML file and ``PLEXSYNC_<FIELD>`` variables, environment over
file, checked into one ``PlexSyncConfig``.

This is a seam where outside data comes in, so it answers with a ``Result``: the config, or one line
naming the setting at fault and where it came from. Durations in seconds may be written as ``90m``
or ``6h``; lists in a variable are comma-separated, path mappings ``host=plex`` separated by ``;``.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from typing import Any, Final

import attrs
from attrs import frozen
from returns.result import Failure, Result, Success

from core import PathMapping, PlexSyncConfig, parse_duration

DEFAULT_FILE: Final = "plexsync.toml"
ENV_PREFIX: Final = "PLEXSYNC_"
ENV_CONFIG_FILE: Final = "PLEXSYNC_CONFIG"
"""Names the config file when ``--config`` is not given (it is not a setting itself)."""

FIELDS: Final = {f.name: f for f in attrs.fields(PlexSyncConfig)}
_INTS: Final = frozenset(n for n, f in FIELDS.items() if isinstance(f.default, int))
_LISTS: Final = frozenset({"library_sections"})
_TEXT: Final = frozenset({"plex_url", "plex_token", "db_path", "sqlite_synchronous"})


@frozen(kw_only=True)
class Settings:
    """The effective config and where each setting came from (a file, a variable, or default)."""

    config: PlexSyncConfig
    sources: Mapping[str, str]


def load_settings(
    path: str | None,
    environ: Mapping[str, str],
    *,
    directory: str = ".",
    defaults: Mapping[str, Any] | None = None,
) -> Result[Settings, str]:
    """Read the file (``path``, else ``$PLEXSYNC_CONFIG``, else ``plexsync.toml`` in *directory*
    if there is one), overlay the environment, and check everything.

    *defaults* fill settings neither source gives (below both); commands that never reach Plex use
    them to run without a URL or token.
    """
    values: dict[str, Any] = dict(defaults or {})
    sources: dict[str, str] = dict.fromkeys(values, "default")
    chosen = path or environ.get(ENV_CONFIG_FILE)
    if chosen is None and os.path.exists(os.path.join(directory, DEFAULT_FILE)):
        chosen = os.path.join(directory, DEFAULT_FILE)
    if chosen is not None:
        match _read_file(chosen):
            case Failure(message):
                return Failure(message)
            case Success(table):
                for name, value in table.items():
                    values[name], sources[name] = (value, chosen)
    for variable, text in sorted(environ.items()):
        if not variable.startswith(ENV_PREFIX) or variable == ENV_CONFIG_FILE:
            continue
        name = variable[len(ENV_PREFIX) :].lower()
        if name not in FIELDS:
            return Failure(f"{variable}: unknown setting{_suggest(name)}")
        values[name], sources[name] = text, variable
    return _build(values, sources)


def describe(settings: Settings) -> dict[str, Any]:
    """Every setting with its value (the token masked) and source, for ``plexsync config``."""
    described: dict[str, Any] = {}
    for name in FIELDS:
        value = getattr(settings.config, name)
        if name == "plex_token":
            value = "*" * 8
        elif name == "path_mappings":
            value = [f"{m.host_prefix}={m.plex_prefix}" for m in value]
        elif isinstance(value, tuple):
            value = list(value)
        described[name] = {"value": value, "source": settings.sources.get(name, "default")}
    return described


def _read_file(path: str) -> Result[dict[str, Any], str]:
    try:
        with open(path, "rb") as handle:
            table = tomllib.load(handle)
    except FileNotFoundError:
        return Failure(f"config file {path} does not exist")
    except OSError as exc:
        return Failure(f"cannot read config file {path}: {exc.strerror}")
    except tomllib.TOMLDecodeError as exc:
        return Failure(f"{path}: not valid TOML: {exc}")
    for name in table:
        if name not in FIELDS:
            return Failure(f"{path}: unknown setting {name!r}{_suggest(name)}")
    return Success(table)


def _build(values: dict[str, Any], sources: dict[str, str]) -> Result[Settings, str]:
    converted: dict[str, Any] = {}
    for name, value in values.items():
        try:
            converted[name] = _convert(name, value)
        except (ValueError, TypeError) as exc:
            return Failure(f"{sources[name]}: {name} {exc}")
    for required in ("plex_url", "plex_token"):
        if required not in converted:
            return Failure(
                f"missing setting {required}: set it in {DEFAULT_FILE} or as "
                f"{ENV_PREFIX}{required.upper()}"
            )
    try:
        config = PlexSyncConfig(**converted)
    except ValueError as exc:
        message = str(exc)
        field = message.split(" ", 1)[0]
        where = sources.get(field)
        return Failure(f"{where}: {message}" if where else message)
    return Success(Settings(config=config, sources=dict(sources)))


def _convert(name: str, value: Any) -> Any:  # noqa: ANN401 - one rule per kind of setting
    """The setting as the config wants it; strings (from variables) are parsed by kind."""
    if name == "path_mappings":
        return tuple(_mapping(item) for item in _items(value, separator=";"))
    if name in _LISTS:
        return tuple(_items(value, separator=","))
    if name in _TEXT:
        if not isinstance(value, str):
            raise TypeError(f"must be a string, got {type(value).__name__}")
        return value
    if isinstance(value, str):
        return _number(name, value)
    return value


def _number(name: str, text: str) -> float:
    """A number from a variable: whole for counts, days for ``_days``, else a duration."""
    try:
        if name in _INTS:
            return int(text.strip())
        if name.endswith("_days"):
            return float(text)
    except ValueError:
        kind = "whole number" if name in _INTS else "number of days"
        raise ValueError(f"must be a {kind}, got {text!r}") from None
    return parse_duration(text)


def _items(value: Any, *, separator: str) -> list[Any]:  # noqa: ANN401
    if isinstance(value, str):
        return [part.strip() for part in value.split(separator) if part.strip()]
    if isinstance(value, list):
        return value
    raise TypeError(f"must be a list, got {type(value).__name__}")


def _mapping(item: Any) -> PathMapping:  # noqa: ANN401
    if isinstance(item, str) and "=" in item:
        host, plex = item.split("=", 1)
        return PathMapping(host.strip(), plex.strip())
    if isinstance(item, dict) and set(item) == {"host", "plex"}:
        return PathMapping(item["host"], item["plex"])
    raise ValueError(f"entries must be 'host=plex' or {{host = ..., plex = ...}}, got {item!r}")


def _suggest(name: str) -> str:
    close = difflib.get_close_matches(name, FIELDS, n=1)
    return f" (did you mean {close[0]}?)" if close else ""
