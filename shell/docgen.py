"""The documentation's generated blocks, made from the code so they cannot drift from it.

A block sits between ``<!-- generated: NAME -->`` and ``<!-- end generated -->`` in one of the
files of ``GENERATED``: the state diagrams (from the core's transition tables), the exit statuses
(from ``shell.cli.errors``) and the settings reference (from ``PlexSyncConfig``'s fields and
their docstrings). ``python -m shell.docgen`` rewrites them in place; ``tests/test_readme.py``
fails when a file differs from what the code says.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import re
import sys
import types
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

import attrs

import core.config
from core import PathMapping, PlexSyncConfig, format_duration
from shell.cli.errors import MEANING
from shell.diagrams import breaker_diagram, job_diagram
from shell.settings import ENV_PREFIX

ROOT: Final = Path(__file__).resolve().parent.parent

_BLOCK: Final = re.compile(
    r"(<!-- generated: (?P<name>[a-z-]+) -->\n)(.*?)(<!-- end generated -->)", re.DOTALL
)


def exit_statuses() -> str:
    """The exit statuses and what each means, as a Markdown table."""
    lines = ["| status | meaning |", "| --- | --- |"]
    lines += [f"| {int(code)} | {_cell(meaning)} |" for code, meaning in MEANING.items()]
    return "\n".join(lines) + "\n"


_SAMPLES: Final[Mapping[str, str]] = {
    "plex_url": "http://plex.lan:32400",
    "plex_token": "YOUR-PLEX-TOKEN",
    "library_sections": "Movies,Films",
    "path_mappings": "/data=/media;/more=/media/more",
    "plex_ca_bundle": "/etc/plexsync/proxy-ca.pem",
}
"""Example values of the settings whose default shows nothing (none, or an empty list)."""


def setting_docs() -> dict[str, str]:
    """Each setting's docstring (the string just below its field in ``core/config.py``)."""
    tree = ast.parse(inspect.getsource(core.config))
    body = next(
        node.body
        for node in tree.body
        if isinstance(node, ast.ClassDef) and node.name == PlexSyncConfig.__name__
    )
    docs: dict[str, str] = {}
    for field, after in itertools.pairwise(body):
        if (
            isinstance(field, ast.AnnAssign)
            and isinstance(field.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[field.target.id] = " ".join(inspect.cleandoc(after.value.value).split())
    return docs


def settings_reference() -> str:
    """Every setting with its meaning, kind, default and an example, as a Markdown table."""
    docs = setting_docs()
    attrs.resolve_types(PlexSyncConfig)  # the annotations are strings until resolved
    lines = [
        "| setting | meaning | kind | default | example (as a variable) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for field in attrs.fields(PlexSyncConfig):
        meaning = _cell(docs.get(field.name, "").replace("``", "`"))
        kind, written = _kind(field)
        required = field.default is attrs.NOTHING
        default = "required" if required else (written(field.default) or "none")
        example = _SAMPLES.get(field.name) or written(field.default)
        lines.append(
            f"| `{field.name}` | {meaning} | {kind} | {default} "
            f"| `{ENV_PREFIX}{field.name.upper()}={example}` |"
        )
    return "\n".join(lines) + "\n"


def _kind(field: attrs.Attribute[Any]) -> tuple[str, Callable[[Any], str]]:
    """What kind of value a setting holds, and how a value of it is written in a variable."""
    name, kind = field.name, field.type
    number: Callable[[Any], str] = "{:g}".format
    kinds: list[tuple[bool, str, Callable[[Any], str]]] = [
        (
            name.endswith("_seconds") or name == "poll_interval",
            "duration: seconds, or 45s, 90m, 6h, 2d",
            format_duration,
        ),
        (name.endswith("_days"), "days", number),
        (name.endswith("_fraction"), "fraction, 0 to 1", number),
        (
            kind == tuple[PathMapping, ...],
            "list of `host=plex` prefixes (`;` between them)",
            _mappings,
        ),
        (kind == tuple[str, ...], "list of names (`,` between them)", ",".join),
        (kind is bool, "`true` or `false`", lambda value: str(value).lower()),
        (kind == str | None, "text, or not set", lambda value: "" if value is None else value),
        (kind is int, "whole number", str),
        (kind is float, "number", number),
    ]
    return next(((words, writer) for applies, words, writer in kinds if applies), ("text", str))


def _cell(text: str) -> str:
    """*text* as a cell of a Markdown table: its own ``|`` kept from ending the cell."""
    return text.replace("|", "\\|")


def _mappings(value: tuple[PathMapping, ...]) -> str:
    return ";".join(f"{m.host_prefix}={m.plex_prefix}" for m in value)


GENERATED: Final[Mapping[str, Mapping[str, Callable[[], str]]]] = types.MappingProxyType(
    {
        "README.md": {
            "job-diagram": job_diagram,
            "breaker-diagram": breaker_diagram,
            "exit-statuses": exit_statuses,
        },
        "docs/settings.md": {"settings-reference": settings_reference},
    }
)
"""Each documentation file (from the repository's root) and the blocks generated in it."""


def render(text: str, blocks: Mapping[str, Callable[[], str]]) -> str:
    """*text* with every generated block replaced by what the code says now."""

    def replace(match: re.Match[str]) -> str:
        content = blocks[match.group("name")]()
        return f"{match.group(1)}{content}{match.group(4)}"

    return _BLOCK.sub(replace, text)


def main(root: Path = ROOT) -> int:
    """Rewrite every generated block under *root*; exit 1 if any file had to change."""
    changed = []
    for name, blocks in GENERATED.items():
        path = root / name
        text = path.read_text(encoding="utf-8")
        updated = render(text, blocks)
        if updated != text:
            path.write_text(updated, encoding="utf-8")
            changed.append(name)
    for name in changed:
        print(f"{name}: generated blocks updated", file=sys.stderr)
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
