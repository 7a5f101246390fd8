"""The plugin's entry point, run by Stash for every hook and task (through the launcher that
``plexsync stash install-plugin`` writes).

Stash writes one JSON document to stdin and reads stdout to the end: stdout carries exactly one
JSON object, ``{"output": ..., "error": ...}``, and everything else goes to stderr as Stash log
lines. A failure, ours or Stash's, is one error line in Stash's log and the ``error`` of the
answer; never a traceback on stdout, never a secret anywhere.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Mapping
from typing import Any, BinaryIO, TextIO

from shell.redact import redact
from shell.stash.context import PluginError, Run
from shell.stash.graphql import StashError
from shell.stash.stashlog import StashLog
from shell.store import StoreError


def main(
    stdin: BinaryIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """Run one hook or task as Stash asks on *stdin*; always exits 0 (errors are in the answer)."""
    console = StashLog(stderr)
    output: Any = None
    error: str | None = None
    try:
        output = run(
            (stdin or sys.stdin.buffer).read(), console, os.environ if environ is None else environ
        )
    except (PluginError, StashError, StoreError) as failure:
        error = redact(str(failure), limit=None)
        console.error(error)
    except Exception as bug:  # noqa: BLE001 - a bug must still answer Stash in its own format
        error = redact(f"plexsync failed: {type(bug).__name__}: {bug}", limit=None)
        console.error(error)
        console.debug(traceback.format_exc())
    (stdout or sys.stdout).write(json.dumps({"output": output, "error": error}) + "\n")
    (stdout or sys.stdout).flush()
    return 0


def run(raw: bytes, console: StashLog, environ: Mapping[str, str]) -> str:
    """Dispatch the plugin input *raw* to the hook or the task it asks for."""
    try:
        plugin_input = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise PluginError(
            f"the input on stdin is not JSON ({len(raw)} bytes): is Stash running the plugin?"
        ) from None
    if not isinstance(plugin_input, Mapping):
        raise PluginError("the input on stdin is not a JSON object: is Stash running the plugin?")
    args = plugin_input.get("args")
    args = args if isinstance(args, Mapping) else {}
    current = Run.start(plugin_input, console, environ)
    try:
        if isinstance(args.get("hookContext"), Mapping):
            from shell.stash.hook import run_hook  # noqa: PLC0415 - import what the run needs

            return run_hook(current, args["hookContext"])
        from shell.stash.tasks import run_task  # noqa: PLC0415

        return run_task(current, args)
    finally:
        current.client.close()
