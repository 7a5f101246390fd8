"""Settings for the command line: a TOML file and ``PLEXSYNC_<FIELD>`` variables, environment over
file, checked into one ``PlexSyncConfig``.

The file is the first found of: ``--config PATH``, ``$PLEXSYNC_CONFIG``, ``plexsync.toml`` in the
current folder, ``plexsync/plexsync.toml`` in the user's config folder (``$XDG_CONFIG_HOME`` or
``~/.config`` on Linux, ``~/Library/Application Support`` on macOS, ``%APPDATA%`` on Windows),
and ``/etc/plexsync/plexsync.toml`` (not on Windows). Only that one file is read. A relative
``db_path`` in a file is relative to the file's folder; in a variable, to the current folder.

This is a seam where outside data comes in, so it answers with a ``Result``: the config, or one line
naming the setting at fault and where it came from. Durations in seconds may be written as ``90m``
or ``6h``; lists in a variable are comma-separated, path mappings ``host=plex`` separated by ``;``.

A cattrs converter (a copy of ``shell.serialise``'s) reads each setting by its type in
``PlexSyncConfig``, so a new setting of a known kind needs nothing here, and shows them for
``plexsync config``.
"""

from __future__ import annotations

import difflib
import os
import sys
import tomllib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import attrs
from attrs import frozen
from cattrs.errors import AttributeValidationNote, ClassValidationError
from cattrs.gen import make_dict_structure_fn, override
from returns.result import Failure, Result, Success

from core import PathMapping, PlexSyncConfig, parse_duration
from shell.serialise import converter

DEFAULT_FILE: Final = "plexsync.toml"
SYSTEM_FOLDER: Final = "/etc/plexsync"
ENV_PREFIX: Final = "PLEXSYNC_"
ENV_CONFIG_FILE: Final = "PLEXSYNC_CONFIG"
"""Names the config file when ``--config`` is not given (it is not a setting itself)."""
OFFLINE_DEFAULTS: Final[Mapping[str, str]] = {
    "plex_url": "http://plex.invalid:32400",
    "plex_token": "unset",
}
"""Stand-ins for the two required settings, for commands that never talk to Plex."""

FIELDS: Final = {f.name: f for f in attrs.fields(PlexSyncConfig)}


@frozen(kw_only=True)
class Settings:
    """The effective config and where each setting came from (a file, a variable, or default)."""

    config: PlexSyncConfig
    sources: Mapping[str, str]


def config_search_path(
    environ: Mapping[str, str], *, directory: str = ".", platform: str = sys.platform
) -> list[str]:
    """Where a settings file is looked for when none is named, in order (see the module)."""
    home = environ.get("HOME") or os.path.expanduser("~")
    if platform == "win32":
        user = environ.get("APPDATA") or os.path.join(home, "AppData", "Roaming")
    elif platform == "darwin":
        user = os.path.join(home, "Library", "Application Support")
    else:
        user = environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    found = [os.path.join(directory, DEFAULT_FILE), os.path.join(user, "plexsync", DEFAULT_FILE)]
    if platform != "win32":
        found.append(os.path.join(SYSTEM_FOLDER, DEFAULT_FILE))
    return found


def load_settings(
    path: str | None,
    environ: Mapping[str, str],
    *,
    directory: str = ".",
    defaults: Mapping[str, Any] | None = None,
    search: Sequence[str] | None = None,
) -> Result[Settings, str]:
    """Read the file (``path``, else ``$PLEXSYNC_CONFIG``, else the first of *search* that
    exists: by default ``config_search_path``), overlay the environment, and check everything.

    *defaults* fill settings neither source gives (below both); commands that never reach Plex use
    them to run without a URL or token.
    """
    values: dict[str, Any] = dict(defaults or {})
    sources: dict[str, str] = dict.fromkeys(values, "default")
    chosen = path or environ.get(ENV_CONFIG_FILE)
    if chosen is None:
        candidates = config_search_path(environ, directory=directory) if search is None else search
        chosen = next((c for c in candidates if os.path.isfile(c)), None)
    if chosen is not None:
        match _read_file(chosen):
            case Failure(message):
                return Failure(message)
            case Success(table):
                for name, value in table.items():
                    values[name], sources[name] = (value, chosen)
                db_path = table.get("db_path")
                if isinstance(db_path, str) and db_path and not os.path.isabs(db_path):
                    # Beside the file, wherever the command runs from.
                    folder = os.path.dirname(os.path.abspath(chosen))
                    values["db_path"] = os.path.join(folder, db_path)
    for variable, text in sorted(environ.items()):
        if not variable.startswith(ENV_PREFIX) or variable == ENV_CONFIG_FILE:
            continue
        name = variable[len(ENV_PREFIX) :].lower()
        if name not in FIELDS:
            return Failure(f"{variable}: unknown setting{_suggest(name)}")
        values[name], sources[name] = text, variable
    return _build(values, sources)


def load_config(
    path: str | None = None, environ: Mapping[str, str] | None = None
) -> PlexSyncConfig:
    """The settings as ``plexsync`` reads them (``load_settings``), for a host application:
    a bad or missing setting raises ``ValueError`` with the one line that names it.
    """
    match load_settings(path, os.environ if environ is None else environ):
        case Success(Settings(config=config)):
            return config
        case Failure(message):
            raise ValueError(message)
    raise AssertionError("unreachable")  # pragma: no cover - a Result is one of the two


def read_table(table: Mapping[str, Any], source: str) -> Result[PlexSyncConfig, str]:
    """Settings given in a table of another file (a scenario's ``[config]``), read and checked
    as a settings file's are, over the defaults and ``OFFLINE_DEFAULTS``.
    """
    for name in table:
        if name not in FIELDS:
            return Failure(f"{source}: unknown setting {name!r}{_suggest(name)}")
    sources = {**dict.fromkeys(OFFLINE_DEFAULTS, "default"), **dict.fromkeys(table, source)}
    match _build({**OFFLINE_DEFAULTS, **table}, sources):
        case Failure(message):
            return Failure(message)
        case Success(Settings(config=config)):
            return Success(config)
    raise AssertionError("unreachable")  # pragma: no cover - a Result is one of the two


def describe(settings: Settings) -> dict[str, Any]:
    """Every setting with its value (the token masked) and source, for ``plexsync config``."""
    values = _SETTINGS.unstructure(settings.config)
    values["plex_token"] = "*" * 8
    return {
        name: {"value": value, "source": settings.sources.get(name, "default")}
        for name, value in values.items()
    }


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
    for required in ("plex_url", "plex_token"):
        if required not in values:
            return Failure(
                f"missing setting {required}: set it in {DEFAULT_FILE} or as "
                f"{ENV_PREFIX}{required.upper()}"
            )
    try:
        config = _SETTINGS.structure(values, PlexSyncConfig)
    except ClassValidationError as errors:
        return Failure(_one_line(errors, sources))
    return Success(Settings(config=config, sources=dict(sources)))


def _one_line(errors: ClassValidationError, sources: Mapping[str, str]) -> str:
    """The first thing wrong, naming the setting and where it came from."""
    error = errors.exceptions[0]
    if not isinstance(error, ValueError | TypeError):
        raise errors  # a bug, not a bad setting
    for note in getattr(error, "__notes__", ()):
        if isinstance(note, AttributeValidationNote):  # a value that could not be read
            return f"{sources[note.name]}: {note.name} {error}"
    message = str(error)  # the config refused a value: its messages start with the setting
    where = sources.get(message.split(" ", 1)[0])
    return f"{where}: {message}" if where else message


# How each kind of setting is read, chosen by its type in PlexSyncConfig (and days by the name).
# Text, as a variable gives it, is parsed; a value from the file is passed on as it is, for the
# config's validators to judge.
def _text(value: object, _: type) -> str:
    if not isinstance(value, str):
        raise TypeError(f"must be a string, got {type(value).__name__}")
    return value


def _parsed(parse: Callable[[str], object], kind: str) -> Callable[[object, type], object]:
    """A hook that reads text with *parse*, and says a *kind* was expected when it cannot."""

    def hook(value: object, _: type) -> object:
        if not isinstance(value, str):
            return value
        try:
            return parse(value)
        except ValueError:
            raise ValueError(f"must be a {kind}, got {value!r}") from None

    return hook


def _seconds(value: object, _: type) -> object:
    """Any other number: text may carry a unit (``90m``), and a bare number is itself."""
    return parse_duration(value) if isinstance(value, str) else value


def _names(value: object, _: type) -> tuple[object, ...]:
    return tuple(_items(value, separator=","))


def _mappings(value: object, _: type) -> tuple[PathMapping, ...]:
    return tuple(_mapping(item) for item in _items(value, separator=";"))


def _items(value: object, *, separator: str) -> list[Any]:
    if isinstance(value, str):
        return [part.strip() for part in value.split(separator) if part.strip()]
    if isinstance(value, list):
        return value
    raise TypeError(f"must be a list, got {type(value).__name__}")


def _mapping(item: object) -> PathMapping:
    if isinstance(item, str) and "=" in item:
        host, plex = item.split("=", 1)
        return PathMapping(host.strip(), plex.strip())
    if isinstance(item, dict) and set(item) == {"host", "plex"}:
        return PathMapping(item["host"], item["plex"])
    raise ValueError(f"entries must be 'host=plex' or {{host = ..., plex = ...}}, got {item!r}")


_SETTINGS: Final = converter.copy(detailed_validation=True)
"""Reads settings into a config, an error noted against each setting, and shows them as every
output is shown, but for a path mapping, written ``host=plex`` as in a variable."""
_SETTINGS.register_structure_hook(str, _text)
_SETTINGS.register_structure_hook(int, _parsed(int, "whole number"))
_SETTINGS.register_structure_hook(float, _seconds)
_SETTINGS.register_structure_hook_func(lambda kind: kind == tuple[str, ...], _names)
_SETTINGS.register_structure_hook_func(lambda kind: kind == tuple[PathMapping, ...], _mappings)
_SETTINGS.register_unstructure_hook(PathMapping, lambda m: f"{m.host_prefix}={m.plex_prefix}")
_IN_DAYS: Final[Mapping[str, Any]] = {  # Any: cattrs types these as its keyword arguments
    name: override(struct_hook=_parsed(float, "number of days"))
    for name in FIELDS
    if name.endswith("_days")
}
_SETTINGS.register_structure_hook(
    PlexSyncConfig, make_dict_structure_fn(PlexSyncConfig, _SETTINGS, **_IN_DAYS)
)


def _suggest(name: str) -> str:
    close = difflib.get_close_matches(name, FIELDS, n=1)
    return f" (did you mean {close[0]}?)" if close else ""
