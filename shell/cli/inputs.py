"""What the command line reads besides its options: ``enqueue``'s jobs (from its flags, or from a
JSON file or stdin) and any file named on it. A mistake in either is a ``CliError``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from shell.cli.errors import CliError, UsageError
from shell.fields import BY_KEY, FIELDS

Job = tuple[str, dict[str, Any]]
"""A job to enqueue: the host's key and the metadata."""


def job_from_flags(args: argparse.Namespace) -> Job:
    """The one job ``enqueue``'s flags describe."""
    if not args.key or not args.path:
        raise UsageError("enqueue needs --key and --path (or --from-json FILE)")
    metadata: dict[str, Any] = {"path": args.path}
    for field in FIELDS:
        value = getattr(args, field.key)
        if value is not None:
            metadata[field.key] = value
    for name in args.clear:
        if getattr(args, name) is not None:
            flag = BY_KEY[name].flag
            raise UsageError(
                f"{flag} and --clear {name} contradict each other: give the {name} to set, or "
                "clear them"
            )
        metadata[name] = []
    return args.key, metadata


def jobs_from_json(source: str) -> list[Job]:
    """The jobs in a JSON file (``-`` for stdin): one object or a list, each with a ``key``."""
    try:
        text = _decoded("-", sys.stdin.buffer.read()) if source == "-" else read_text(source)
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"{source}: not valid JSON: {exc}") from None
    items = data if isinstance(data, list) else [data]
    jobs = []
    for number, item in enumerate(items, start=1):
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise CliError(f"{source}: job {number} must be an object with a string 'key'")
        metadata = {name: value for name, value in item.items() if name != "key"}
        jobs.append((item["key"], metadata))
    return jobs


def read_text(path: str) -> str:
    """The file at *path*, as UTF-8 text."""
    try:
        with open(path, "rb") as handle:
            return _decoded(path, handle.read())
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from None


def _decoded(name: str, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")  # a byte order mark, as some editors write, is fine
    except UnicodeDecodeError as exc:
        raise CliError(
            f"{name}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "save it as UTF-8"
        ) from None
