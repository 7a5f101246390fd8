"""The command line, run as a real process against a real database.

Each test checks what an operator sees: the output, the ``--json`` shape, the exit status, and
one clear line (never a traceback) for a mistake.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

import shell
from core import ErrorClass, Failed, Health, Outcome, PlexSyncConfig
from shell import FakeClock
from shell.payload import Metadata
from tests.builders import TOKEN, metadata
from tests.cli_process import Cli, fails_with


class Refuses:
    """A healthy Plex that refuses every edit (to fill the DLQ)."""

    def apply(self, metadata: Metadata) -> Outcome:
        return Failed(ErrorClass.PERMANENT, f"(400) bad request for {metadata.get('title')}")

    def health(self) -> Health:
        return Health.UP


def dead_letter(config: PlexSyncConfig, *keys: str) -> None:
    """Put one DLQ entry per key, through the real worker, now."""
    clock = FakeClock(start_at=time.time())
    for n, key in enumerate(keys):
        shell.enqueue(config, key=key, metadata=metadata(n), now=clock.now())
    shell.run_worker(config, clock=clock, plex=Refuses(), until_idle=True)


def test_status_of_an_empty_queue(cli: Cli) -> None:
    """Status needs no Plex settings; it shows counts, breaker and DLQ."""
    shell.status(cli.config)  # the host made the queue, and queued nothing yet
    result = cli("status")
    assert result.returncode == 0, result.stderr
    assert "waiting 0, scheduled 0, running 0, done 0" in result.stdout
    assert "breaker       closed" in result.stdout
    data = cli.json("status")
    assert set(data) == {
        "waiting",
        "scheduled",
        "running",
        "done",
        "dead_lettered",
        "dead_lettered_by_reason",
        "oldest_waiting_age_seconds",
        "breaker",
        "throttled_until_at",
        "outage",
    }
    assert data["breaker"] == "closed"


def test_enqueue_from_flags_and_json(cli: Cli, tmp_path: Path) -> None:
    """Flags, a JSON file and stdin all queue jobs; the same key coalesces."""
    first = cli.json("enqueue", "--key", "a", "--path", "/m/a.mkv", "--genre", "x", "--genre", "y")
    assert first == {"job_ids": [1]}
    jobs = [{"key": "b", "path": "/m/b.mkv", "title": "B"}, {"key": "a", "path": "/m/a2.mkv"}]
    (tmp_path / "jobs.json").write_text(json.dumps(jobs))
    assert cli.json("enqueue", "--from-json", "jobs.json") == {"job_ids": [2, 1]}
    piped = cli("enqueue", "--from-json", "-", stdin=json.dumps({"key": "c", "path": "/m/c.mkv"}))
    # Ids only grow: the edit of "a" that coalesced used a number, which is never handed out.
    assert piped.stdout.strip() == "queued 1 job: 4"
    assert cli.json("status")["waiting"] == 3


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["--key", "a", "--path", "rel.mkv"], None, "metadata['path'] must be an absolute path"),
        (["--key", "a", "--path", "/a", "--date", "2020-13-01"], None, "is not a real date"),
        (["--from-json", "-"], "{oops", "-: not valid JSON"),
        (["--from-json", "-"], '[{"path": "/a"}]', "job 1 must be an object with a string 'key'"),
        (
            ["--from-json", "-"],
            '[{"key": "ok", "path": "/a"}, {"key": "k", "path": "/a", "x": 1}]',
            "jobs[1] ('k'): unknown metadata key 'x'",
        ),
        (["--from-json", "missing.json"], None, "cannot read missing.json"),
    ],
)
def test_enqueue_mistakes(cli: Cli, args: list[str], stdin: str | None, message: str) -> None:
    """Bad input is one clear line, exit 1, and nothing is stored."""
    shell.status(cli.config)
    fails_with(cli("enqueue", *args, stdin=stdin), 1, message)
    assert cli.json("status")["waiting"] == 0


def test_config_shows_sources_and_masks_the_token(cli: Cli, tmp_path: Path) -> None:
    """The environment wins over the file; the token never appears."""
    (tmp_path / "plexsync.toml").write_text(
        'plex_url = "http://plex.lan:32400"\nmax_retries = 4\npoll_interval = "2m"\n'
        'path_mappings = [{host = "/data", plex = "/media"}]\n'
    )
    result = cli("config", env={"PLEXSYNC_PLEX_TOKEN": TOKEN, "PLEXSYNC_MAX_RETRIES": "6"})
    assert result.returncode == 0, result.stderr
    assert TOKEN not in result.stdout
    assert "max_retries" in result.stdout
    data = json.loads(cli("config", "--json", env={"PLEXSYNC_PLEX_TOKEN": TOKEN}).stdout)
    assert data["plex_url"] == {"value": "http://plex.lan:32400", "source": "./plexsync.toml"}
    assert data["max_retries"]["value"] == 4
    assert data["poll_interval"]["value"] == 120
    assert data["path_mappings"]["value"] == ["/data=/media"]
    assert data["plex_token"] == {"value": "********", "source": "PLEXSYNC_PLEX_TOKEN"}
    env_wins = json.loads(
        cli(
            "config", "--json", env={"PLEXSYNC_PLEX_TOKEN": TOKEN, "PLEXSYNC_MAX_RETRIES": "6"}
        ).stdout
    )
    assert env_wins["max_retries"] == {"value": 6, "source": "PLEXSYNC_MAX_RETRIES"}


@pytest.mark.parametrize(
    ("toml", "env", "message"),
    [
        ("", {}, "missing setting plex_url"),
        ('plex_url = "http://p:1"\n', {}, "missing setting plex_token"),
        ('plex_url = "p:1"\nplex_token = "t"\n', {}, "plexsync.toml: plex_url must be an http"),
        (
            'plex_url = "http://p:1"\nplex_token = "t"\nmax_retrys = 3\n',
            {},
            "did you mean max_retries",
        ),
        ("plex_url = [", {}, "not valid TOML"),
        (
            'plex_url = "http://p:1"\nplex_token = "t"\n',
            {"PLEXSYNC_MAX_RETRIES": "many"},
            "PLEXSYNC_MAX_RETRIES: max_retries must be a whole number",
        ),
        (
            'plex_url = "http://p:1"\nplex_token = "t"\n',
            {"PLEXSYNC_POLL_INTERVAL": "soon"},
            "PLEXSYNC_POLL_INTERVAL: poll_interval not a duration",
        ),
    ],
)
def test_bad_settings_name_the_setting(
    cli: Cli, tmp_path: Path, toml: str, env: dict[str, str], message: str
) -> None:
    """A bad or missing setting stops the command with one line naming it."""
    (tmp_path / "plexsync.toml").write_text(toml)
    fails_with(cli("config", env=env), 1, message)


def test_explain_follows_the_settings(cli: Cli, tmp_path: Path) -> None:
    """Explain prints the schedule of the effective settings, Plex settings or not."""
    (tmp_path / "plexsync.toml").write_text("max_retries = 2\n")
    data = cli.json("explain")
    transient = next(d for d in data if d["error_class"] == "transient")
    assert len(transient["steps"]) == 2
    assert "retried 2 times" in cli("explain").stdout


def test_dlq_list_show_and_export(cli: Cli) -> None:
    """One line per entry; show has the history and payload; export is the whole of it."""
    dead_letter(cli.config, "scene:1", "scene:2")
    listing = cli("dlq", "list")
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.strip().splitlines()
    assert lines[0].split() == ["ID", "KEY", "REASON", "ERROR", "ATTEMPTS", "DEAD-LETTERED"]
    assert lines[1].split()[:5] == ["2", "scene:2", "permanent_error", "permanent", "1"]
    entries = cli.json("dlq", "list", "--key", "scene:1")
    assert [e["key"] for e in entries] == ["scene:1"]
    assert set(entries[0]) >= {"id", "key", "reason", "error_class", "attempts", "dead_lettered_at"}
    shown = cli("dlq", "show", "1")
    assert "(400) bad request for Item 0" in shown.stdout
    assert '"path": "/media/item-00000.mkv"' in shown.stdout
    assert "permanent -> dead-letter (permanent_error)" in shown.stdout
    exported = json.loads(cli("dlq", "export").stdout)
    assert [e["key"] for e in exported] == ["scene:2", "scene:1"]
    assert exported[0]["payload"]["title"] == "Item 1"
    assert cli("dlq", "list", "--reason", "not_found").stdout.strip() == "no matching entries"


def test_dlq_mistakes(cli: Cli) -> None:
    """A missing id and an unknown reason are clear errors, without a traceback."""
    shell.status(cli.config)
    fails_with(cli("dlq", "show", "42"), 1, "no dead letter with id 42")
    fails_with(cli("dlq", "list", "--reason", "gremlins"), 2, "invalid choice: 'gremlins'")
    fails_with(cli("dlq", "retry"), 2, "give dead letter ids, or --all")
    fails_with(cli("dlq", "retry", "1", "--reason", "not_found"), 2, "do not combine with ids")
    fails_with(cli("dlq", "list", "--since", "yesterday"), 2, "not a duration")


def test_dlq_retry_is_idempotent_and_respects_newer_edits(cli: Cli) -> None:
    """Re-driving twice queues once; an entry whose key has a newer edit is skipped."""
    dead_letter(cli.config, "scene:1", "scene:2", "scene:3")
    shell.enqueue(cli.config, key="scene:3", metadata=metadata(3, title="newer"))
    dry = cli.json("dlq", "retry", "--all", "--dry-run")
    assert dry["redriven"] == [1, 2]
    assert cli.json("status")["dead_lettered"] == 3
    first = cli("dlq", "retry", "1", "2", "3")
    assert first.returncode == 0, first.stderr
    assert "re-drove 2 of 3 (attempt counts start again at 0)" in first.stdout
    assert "skipped 1: a newer edit of this key was queued after it (3)" in first.stdout
    again = cli.json("dlq", "retry", "1", "2")
    assert again["redriven"] == []
    assert {s["why"] for s in again["skipped"]} == {"not in the DLQ (already re-driven or purged)"}
    status = cli.json("status")
    assert (status["waiting"], status["dead_lettered"]) == (3, 1)


def test_dlq_purge(cli: Cli) -> None:
    """Purge by age or all, with a dry run that deletes nothing."""
    dead_letter(cli.config, "a", "b")
    assert cli.json("dlq", "purge", "--older-than", "1d") == {"dry_run": False, "purged": 0}
    assert cli.json("dlq", "purge", "--all", "--dry-run") == {"dry_run": True, "purged": 2}
    assert cli("dlq", "purge", "--all").stdout.strip() == "purged 2 dead letters"
    fails_with(cli("dlq", "purge"), 2, "one of the arguments --older-than --all is required")


def test_simulate_a_small_outage(cli: Cli, tmp_path: Path) -> None:
    """The real loop on a fake clock: a 2-hour outage costs only probes and loses nothing."""
    data = cli.json("simulate", "--jobs", "300", "--outage", "2h", "--outage-start", "5s")
    assert data["done"] == 300
    assert data["dead_lettered"] == {}
    assert data["job_calls_during_outage"] == 1  # one failed call is confirmed, then held
    assert data["calls_during_outage"] < 60
    assert data["simulated_seconds"] > 2 * 3600
    text = cli("simulate", "--jobs", "50", "--outage", "10m").stdout
    assert "during outage" in text
    assert "simulated in" in text


def test_simulate_from_a_scenario_file_with_a_plot(cli: Cli, tmp_path: Path) -> None:
    """A TOML scenario with config overrides; --plot writes a PNG."""
    (tmp_path / "s.toml").write_text(
        'jobs = 40\nscan_delay = "1h"\ntransient_rate = 0.1\n[config]\nmax_retries = 12\n'
    )
    data = cli.json("simulate", "--scenario", "s.toml", "--plot", "timeline.png")
    assert data["done"] == 40
    assert data["simulated_seconds"] >= 3600
    assert (tmp_path / "timeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_simulate_mistakes(cli: Cli, tmp_path: Path) -> None:
    """Unknown scenario keys and bad values are named."""
    (tmp_path / "s.toml").write_text("jobz = 4\n")
    fails_with(cli("simulate", "--scenario", "s.toml"), 1, "unknown scenario key 'jobz'")
    (tmp_path / "c.toml").write_text("[config]\nmax_retries = -1\n")
    fails_with(cli("simulate", "--scenario", "c.toml"), 1, "max_retries must be a whole number")
    fails_with(cli("simulate", "--transient-rate", "2"), 2, "between 0 and 1")


def test_a_database_that_is_not_sqlite(cli: Cli, tmp_path: Path) -> None:
    """A garbage file at db_path is one line naming the file."""
    (tmp_path / "queue.db").write_bytes(b"not a database at all" * 200)
    fails_with(cli("status"), 1, f"{tmp_path / 'queue.db'}: the file is not a SQLite database")
