"""``plexsync simulate``'s scenario: a TOML file's keys and the command's options, read into a
``SimulationSpec`` and the config overrides in the file's ``[config]`` table.
"""

from __future__ import annotations

import argparse
import tomllib
from typing import TYPE_CHECKING, Any, Final

from returns.result import Failure, Success

from core import parse_duration
from shell.cli.errors import CliError
from shell.cli.inputs import read_text
from shell.settings import read_table

if TYPE_CHECKING:
    from shell.simulate import SimulationSpec

SCENARIO_KEYS: Final = {
    "jobs": "jobs",
    "outage": "outage_seconds",
    "outage_start": "outage_start_seconds",
    "scan_delay": "scan_delay_seconds",
    "transient_rate": "transient_rate",
    "permanent_rate": "permanent_rate",
    "rate_limit": "rate_limit_per_minute",
    "seed": "seed",
}
"""Scenario keys (file keys and option names alike) -> SimulationSpec fields."""


def simulation_spec(args: argparse.Namespace) -> tuple[SimulationSpec, dict[str, Any]]:
    """The scenario file's spec and config overrides, with the options on top."""
    from shell.simulate import SimulationSpec  # noqa: PLC0415 - keeps `plexsync --help` quick

    fields, overrides = read_scenario(args.scenario) if args.scenario else ({}, {})
    for option, name in SCENARIO_KEYS.items():
        value = getattr(args, option)
        if value is not None:
            fields[name] = value
    try:
        return SimulationSpec(**fields), overrides
    except (TypeError, ValueError) as exc:
        raise CliError(f"scenario: {exc}") from None


def read_scenario(path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A scenario file: spec keys at the top (durations as text or seconds), config overrides in
    a ``[config]`` table.
    """
    try:
        data = tomllib.loads(read_text(path))
    except tomllib.TOMLDecodeError as exc:
        raise CliError(f"{path}: not valid TOML: {exc}") from None
    table = data.pop("config", {})
    if not isinstance(table, dict):
        raise CliError(f"{path}: config must be a table ([config]) of settings")
    match read_table(table, f"{path} [config]"):
        case Failure(message):
            raise CliError(message)
        case Success(config):
            overrides = {name: getattr(config, name) for name in table}
    names = SCENARIO_KEYS
    spec: dict[str, Any] = {}
    for key, given in data.items():
        if key not in names:
            raise CliError(f"{path}: unknown scenario key {key!r} (known: {', '.join(names)})")
        value = given
        if names[key].endswith("_seconds") and isinstance(given, str):
            try:
                value = parse_duration(given)
            except ValueError as exc:
                raise CliError(f"{path}: {key}: {exc}") from None
        spec[names[key]] = value
    return spec, overrides
