"""Mistakes and surprises at the command line, each run as a real ``plexsync`` process: one
``plexsync: error:`` line (after the command's usage when the command line itself is wrong), or
the right thing done, never a traceback and never a quiet surprise.
"""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import time
from pathlib import Path

import shell
from shell.cli.errors import Exit
from tests.builders import metadata
from tests.cli_process import Cli, fails_with, plexsync_command
from tests.test_cli import dead_letter

NOT_UTF8 = b'[{"key": "k", "path": "/media/caf\xe9.mkv"}]'
"""A jobs file written in Latin-1: the é is byte 0xe9."""


def test_a_jobs_file_that_is_not_utf8_is_one_line(cli: Cli) -> None:
    """A jobs file (or stdin) in another encoding is named, with the offending byte."""
    (cli.directory / "latin1.json").write_bytes(NOT_UTF8)
    fails_with(
        cli("enqueue", "--from-json", "latin1.json"),
        Exit.ERROR,
        "latin1.json: not UTF-8 text (byte 0xe9 at offset 33); save it as UTF-8",
    )
    fails_with(cli("enqueue", "--from-json", "-", stdin=NOT_UTF8), Exit.ERROR, "-: not UTF-8")
    assert not (cli.directory / "queue.db").exists()


def test_a_plot_that_cannot_be_written_is_refused_before_simulating(cli: Cli) -> None:
    """A missing folder or a format matplotlib cannot draw is refused at once (a million jobs
    would take minutes to simulate first).
    """
    started = time.monotonic()
    fails_with(
        cli("simulate", "--jobs", "1000000", "--plot", "no/such/folder/t.png"),
        Exit.ERROR,
        "no/such/folder/t.png: there is no folder no/such/folder",
    )
    fails_with(
        cli("simulate", "--jobs", "1000000", "--plot", "timeline.txt"),
        Exit.ERROR,
        "timeline.txt: cannot draw a .txt file; name it .png, .svg or .pdf",
    )
    fails_with(
        cli("simulate", "--jobs", "1000000", "--plot", "timeline"),
        Exit.ERROR,
        "timeline: cannot draw a file without an extension",
    )
    assert time.monotonic() - started < 60


def test_an_unknown_setting_in_a_scenario_suggests_the_right_one(cli: Cli) -> None:
    """A misspelt setting in a scenario's [config] table is named, with a guess."""
    (cli.directory / "s.toml").write_text("jobs = 5\n[config]\nmax_retrys = 3\n")
    fails_with(
        cli("simulate", "--scenario", "s.toml"),
        Exit.ERROR,
        "s.toml [config]: unknown setting 'max_retrys' (did you mean max_retries?)",
    )
    (cli.directory / "d.toml").write_text('jobs = 5\n[config]\npoll_interval = "2m"\n')
    assert cli("simulate", "--scenario", "d.toml").returncode == Exit.OK  # read as settings are


def test_output_into_a_closed_pipe_stops_quietly(cli: Cli) -> None:
    """``plexsync explain | head -1``: the reader goes away; no traceback, exit 141."""
    reader, writer = os.pipe()
    os.close(reader)
    try:
        result = subprocess.run(
            [*plexsync_command(), "explain"],
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            cwd=cli.directory,
            env=cli.env,
            check=False,
            timeout=60,
        )
    finally:
        os.close(writer)
    assert result.returncode == Exit.OUTPUT_CLOSED
    assert result.stderr == ""


def test_the_default_outage_meets_the_work_it_is_meant_to_hold(cli: Cli) -> None:
    """``--jobs 1000 --outage 6h`` puts the outage where jobs are still queued, so it holds work
    and recovery is measured.
    """
    data = cli.json("simulate", "--jobs", "1000", "--outage", "6h")
    assert data["done"] == 1000
    assert data["job_calls_during_outage"] >= 1
    assert data["calls_during_outage"] > 10  # probes all through the six hours
    assert data["recovery_to_empty_seconds"] > 0
    assert data["simulated_seconds"] > 6 * 3600
    assert data["warnings"] == []


def test_a_scenario_that_cannot_show_what_was_asked_says_so(cli: Cli) -> None:
    """An outage that starts after the queue emptied holds nothing: a warning says so, and the
    summary does not claim a recovery.
    """
    result = cli("simulate", "--jobs", "100", "--outage", "1h", "--outage-start", "1h")
    assert result.returncode == Exit.OK, result.stderr
    assert result.stderr.startswith("plexsync: warning: the queue was empty 5s in, before the ")
    assert "start it earlier (--outage-start) or queue more jobs (--jobs)" in result.stderr
    assert "recovery       none: the queue was empty before the outage began" in result.stdout
    rare = cli("simulate", "--jobs", "10", "--transient-rate", "0.001")
    assert "plexsync: warning: no call met the transient rate asked for" in rare.stderr


def test_the_progress_line_is_ended_before_the_summary(cli: Cli) -> None:
    """On a terminal, the summary starts on a line of its own, not after the progress count."""
    main, secondary = pty.openpty()
    process = subprocess.Popen(
        [*plexsync_command(), "simulate", "--jobs", "3000"],
        stdin=subprocess.DEVNULL,
        stdout=secondary,
        stderr=secondary,
        cwd=cli.directory,
        env=cli.env,
    )
    os.close(secondary)
    output = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        output += chunk
    os.close(main)
    assert process.wait(timeout=60) == Exit.OK
    text = output.decode()
    assert "jobs left: " in text
    assert re.search(r"(\n|\x1b\[K)jobs +3000: 3000 done", text), repr(text[-400:])


def test_read_only_commands_do_not_create_a_missing_queue(cli: Cli) -> None:
    """``status`` and the ``dlq`` commands on a db_path where there is no queue say so, and
    leave no empty database behind to hide the mistake.
    """
    for command in (
        ["status"],
        ["dlq", "list"],
        ["dlq", "show", "1"],
        ["dlq", "export"],
        ["dlq", "retry", "--all"],
        ["dlq", "purge", "--all"],
    ):
        fails_with(cli(*command), Exit.ERROR, f"no queue database at {cli.directory / 'queue.db'}")
    assert list(cli.directory.iterdir()) == []


def test_a_relative_db_path_in_a_file_is_beside_the_file(cli: Cli, tmp_path: Path) -> None:
    """``db_path = "queue.db"`` in /etc/x/plexsync.toml means /etc/x/queue.db, from any folder."""
    settings = tmp_path / "settings"
    settings.mkdir()
    (settings / "plexsync.toml").write_text('db_path = "queue.db"\n')
    env = {"PLEXSYNC_CONFIG": str(settings / "plexsync.toml")}
    del cli.env["PLEXSYNC_DB_PATH"]
    assert cli("enqueue", "--key", "k", "--path", "/media/a.mkv", env=env).returncode == 0
    assert (settings / "queue.db").exists()
    assert not (cli.directory / "queue.db").exists()
    plex = {"PLEXSYNC_PLEX_URL": "http://p:1", "PLEXSYNC_PLEX_TOKEN": "t"}
    shown = json.loads(cli("config", "--json", env=env | plex).stdout)
    assert shown["db_path"]["value"] == str(settings / "queue.db")


def test_clearing_a_list_and_setting_it_at_once_is_refused(cli: Cli) -> None:
    """``--clear genres --genre Drama`` contradicts itself: a usage error, nothing queued."""
    result = cli("enqueue", "--key", "k", "--path", "/a.mkv", "--clear", "genres", "--genre", "D")
    fails_with(
        result,
        Exit.USAGE,
        "--genre and --clear genres contradict each other: give the genres to set, or clear them",
    )
    assert result.stderr.startswith("usage: plexsync enqueue")
    assert not (cli.directory / "queue.db").exists()


def test_retrying_an_id_that_never_existed_fails(cli: Cli) -> None:
    """``dlq retry 99`` for an id never issued is a mistake (exit 1); re-driving an entry twice
    is not (exit 0 both times), and ids are never reused after a purge.
    """
    dead_letter(cli.config, "a", "b")
    fails_with(cli("dlq", "retry", "99"), Exit.ERROR, "no dead letter ever had the id 99")
    assert cli("dlq", "retry", "2").returncode == Exit.OK
    assert cli("dlq", "retry", "2").returncode == Exit.OK  # already re-driven: idempotent
    assert cli("dlq", "purge", "--all").stdout == "purged 1 dead letter\n"
    dead_letter(cli.config, "c")  # b's job, re-driven, fails again too
    assert sorted(e["id"] for e in cli.json("dlq", "list")) == [3, 4]


def test_counts_of_one_are_singular(cli: Cli) -> None:
    """'1 dead letter', '1 attempt', '1 time': never '1 dead letters' or '1 attempts'."""
    dead_letter(cli.config, "a")
    assert cli("dlq", "purge", "--all", "--dry-run").stdout == "would purge 1 dead letter\n"
    once = cli("explain", env={"PLEXSYNC_MAX_RETRIES": "0", "PLEXSYNC_NOT_FOUND_MAX_RETRIES": "1"})
    assert "retried 0 times on a healthy Plex (at most 1 attempt)" in once.stdout
    assert "retried up to 1 time, never later" in once.stdout


def test_a_mistyped_command_gets_a_guess(cli: Cli) -> None:
    """An unknown command or choice is answered with the nearest one."""
    fails_with(cli("stauts"), Exit.USAGE, "invalid choice: 'stauts'")
    assert cli("stauts").stderr.rstrip().endswith("(did you mean status?)")
    assert cli("dlq", "lst").stderr.rstrip().endswith("(did you mean list?)")
    assert (
        cli("dlq", "list", "--reason", "not-found")
        .stderr.rstrip()
        .endswith("(did you mean not_found?)")
    )


def test_a_subcommand_mistake_shows_that_subcommand_usage(cli: Cli) -> None:
    """A mistake in a subcommand's arguments prints its own usage, not the top level's."""
    shell.enqueue(cli.config, key="k", metadata=metadata(1))
    unknown = cli("dlq", "list", "--bogus")
    fails_with(unknown, Exit.USAGE, "unrecognized arguments: --bogus")
    assert unknown.stderr.startswith("usage: plexsync dlq list")
    missing = cli("enqueue", "--key", "a")
    fails_with(missing, Exit.USAGE, "enqueue needs --key and --path")
    assert missing.stderr.startswith("usage: plexsync enqueue")
    neither = cli("dlq", "retry")
    fails_with(neither, Exit.USAGE, "give dead letter ids, or --all")
    assert neither.stderr.startswith("usage: plexsync dlq retry")
