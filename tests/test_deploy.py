"""The deployment examples in docs/deploy/: what can be checked without systemd running or a
Docker engine. The systemd unit passes ``systemd-analyze verify`` (where that tool is installed),
the Dockerfile and the Compose file are read and held to what the README promises (a restart
policy, a stop timeout longer than one job's turn, the token kept in an environment file, the
queue on a volume), and every command they run is a command line plexsync accepts.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from core import parse_duration
from shell.cli.parser import build_parser
from tests.builders import make_config
from tests.cli_process import plexsync_command

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "docs" / "deploy"
STOP_SECONDS = make_config().stop_seconds
"""The longest the worker takes to stop with the default timeouts (one call and a health call)."""


def unit_file() -> dict[str, dict[str, list[str]]]:
    """The systemd unit: each section's keys, each with every value it is given."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in (DEPLOY / "plexsync.service").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"a setting outside any section: {line}"
        key, value = line.split("=", 1)
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions, in order: (INSTRUCTION, its arguments)."""
    instructions = []
    for raw in (DEPLOY / "Dockerfile").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            instructions.append((word.upper(), rest.strip()))
    return instructions


def compose_service() -> dict[str, Any]:
    data = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    service: dict[str, Any] = data["services"]["plexsync"]
    return service


def accepts(argv: list[str]) -> None:
    """*argv* (``plexsync`` and its arguments) is a command line plexsync accepts."""
    assert Path(argv[0]).name == "plexsync", argv
    build_parser().parse_args(argv[1:])


def test_the_systemd_unit_restarts_stops_in_time_and_keeps_the_token_out() -> None:
    """Restart=, a stop timeout longer than one job's turn, the token in an EnvironmentFile."""
    service = unit_file()["Service"]
    assert service["Restart"] == ["on-failure"]
    assert parse_duration(service["TimeoutStopSec"][0]) >= STOP_SECONDS + 10
    assert service["KillSignal"] == ["SIGTERM"]
    assert service["EnvironmentFile"] == ["/etc/plexsync/plexsync.env"]
    text = (DEPLOY / "plexsync.service").read_text(encoding="utf-8")
    assert "PLEXSYNC_PLEX_TOKEN=" not in "".join(service.get("Environment", []))
    assert "PLEXSYNC_PLEX_TOKEN=..." in text  # the comment says where the token goes
    assert service["StateDirectory"] == ["plexsync"]  # /var/lib/plexsync, the README's db_path
    accepts(shlex.split(service["ExecStart"][0]))
    assert unit_file()["Install"]["WantedBy"] == ["multi-user.target"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not here")
def test_the_systemd_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    """The unit passes systemd's own check (run against the plexsync installed here, since it
    checks that ExecStart's program exists).
    """
    text = (DEPLOY / "plexsync.service").read_text(encoding="utf-8")
    installed = " ".join(plexsync_command())
    unit = tmp_path / "plexsync.service"
    unit.write_text(text.replace("/opt/plexsync/bin/plexsync", installed), encoding="utf-8")
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr


def test_the_dockerfile_runs_the_worker_as_a_user_with_the_queue_on_a_volume() -> None:
    """A Python 3.11+ image, the package's files copied, a user of its own, the database under
    the volume, and ``plexsync run`` as the command.
    """
    instructions = dockerfile()
    image = next(arguments for word, arguments in instructions if word == "FROM")
    assert image.startswith("python:3.1")
    assert int(image.split(":")[1].split(".")[1].split("-")[0]) >= 11
    for word, arguments in instructions:
        if word == "COPY":
            for source in arguments.split()[:-1]:
                assert (ROOT / source).exists(), source
    assert ("USER", "plexsync") in instructions
    env = dict(a.split("=", 1) for w, a in instructions if w == "ENV")
    volume = next(arguments for word, arguments in instructions if word == "VOLUME")
    assert os.path.dirname(env["PLEXSYNC_DB_PATH"]) == volume
    assert ("STOPSIGNAL", "SIGTERM") in instructions
    entrypoint = json.loads(next(a for w, a in instructions if w == "ENTRYPOINT"))
    command = json.loads(next(a for w, a in instructions if w == "CMD"))
    accepts([*entrypoint, *command])
    assert command == ["run"]


def test_the_compose_file_gives_time_to_stop_a_volume_and_the_token_file() -> None:
    """stop_grace_period longer than one job's turn (Docker's 10 s is not), a restart policy,
    the token from an env_file, the queue in a mounted folder, and a build of the Dockerfile.
    """
    service = compose_service()
    assert parse_duration(service["stop_grace_period"]) >= STOP_SECONDS + 10
    assert service["restart"] == "unless-stopped"
    assert service["env_file"] == "plexsync.env"
    assert "PLEXSYNC_PLEX_TOKEN" not in service["environment"]
    mounts = [m.split(":") for m in service["volumes"]]
    assert any(inside == "/var/lib/plexsync" for _, inside in mounts)
    build = service["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
    assert "command" not in service  # the image's own: plexsync run
    assert service["environment"]["PLEXSYNC_PATH_MAPPINGS"] == "/data/scenes=/media"


def test_the_compose_settings_are_settings_plexsync_reads(tmp_path: Path) -> None:
    """The variables the Compose file sets (with a token, as plexsync.env would give it) make a
    configuration ``plexsync config`` accepts.
    """
    environment = {str(k): str(v) for k, v in compose_service()["environment"].items()}
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLEXSYNC_")}
    env |= environment | {"PLEXSYNC_PLEX_TOKEN": "t", "PLEXSYNC_DB_PATH": str(tmp_path / "q.db")}
    result = subprocess.run(
        [*plexsync_command(), "config", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["path_mappings"]["value"] == ["/data/scenes=/media"]
