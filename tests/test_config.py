"""PlexSyncConfig: sensible defaults, and a bad value stops start-up naming its field."""

from __future__ import annotations

import math
from typing import Any

import pytest

from core import PathMapping, PlexSyncConfig, RetryPolicy
from tests.builders import TOKEN, make_config


def test_defaults_need_only_url_and_token() -> None:
    """Every setting but the Plex URL and token has a default, and the defaults are valid."""
    config = PlexSyncConfig(plex_url="http://plex:32400", plex_token="abc")
    assert config.max_retries == 8
    assert config.poll_interval == 5.0
    assert config.dlq_retention_days == 30


def test_url_and_token_are_required() -> None:
    """A config without a URL or a token cannot be built."""
    with pytest.raises(TypeError, match="plex_token"):
        PlexSyncConfig(plex_url="http://plex:32400")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="plex_url"):
        PlexSyncConfig(plex_token="abc")  # type: ignore[call-arg]


def test_token_never_appears_in_repr() -> None:
    """The token is a secret: repr and str of a config leave it out."""
    config = make_config()
    assert TOKEN not in repr(config)
    assert TOKEN not in str(config)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("plex_url", "plex:32400"),
        ("plex_url", "ftp://plex"),
        ("plex_url", "http://"),
        ("plex_url", ""),
        ("plex_token", ""),
        ("plex_token", "has space"),
        ("db_path", "  "),
        ("library_sections", ("Movies", "")),
        ("path_mappings", ("/a=/b",)),
        ("connect_timeout_seconds", 0),
        ("read_timeout_seconds", -1.0),
        ("health_timeout_seconds", math.inf),
        ("poll_interval", math.nan),
        ("poll_interval", "5"),
        ("max_retries", -1),
        ("max_retries", 2.5),
        ("max_retries", True),
        ("retry_wait_initial_seconds", 0.0),
        ("retry_backoff_base", 0.5),
        ("jitter_fraction", 1.5),
        ("jitter_fraction", -0.1),
        ("read_back_fraction", 1.5),
        ("read_back_fraction", "all"),
        ("not_found_max_retries", -3),
        ("not_found_window_seconds", 0),
        ("retry_after_max_seconds", -5),
        ("breaker_failure_threshold", 0),
        ("breaker_cooldown_seconds", 0),
        ("job_lease_seconds", -1),
        ("max_crashes", None),
        ("dlq_retention_days", 0),
        ("sqlite_synchronous", "off"),
        ("sqlite_synchronous", 1),
    ],
)
def test_bad_value_names_its_field(field: str, value: Any) -> None:
    """Each invalid value raises ValueError whose message starts with the field's name."""
    with pytest.raises(ValueError, match=rf"^{field}\b"):
        make_config(**{field: value})


def test_bad_token_message_does_not_quote_the_token() -> None:
    """Even a malformed token is not echoed back: it may be most of a real one."""
    with pytest.raises(ValueError, match="plex_token") as caught:
        make_config(plex_token="almost secret")
    assert "almost secret" not in str(caught.value)


@pytest.mark.parametrize(
    ("lower", "upper"),
    [
        ("retry_wait_initial_seconds", "retry_wait_max_seconds"),
        ("not_found_wait_initial_seconds", "not_found_wait_max_seconds"),
        ("breaker_cooldown_seconds", "breaker_max_cooldown_seconds"),
    ],
)
def test_a_cap_below_its_start_is_refused(lower: str, upper: str) -> None:
    """A maximum smaller than the value it caps is a contradiction, named in the error."""
    with pytest.raises(ValueError, match=rf"^{upper} \(5\) must be >= {lower} \(10\)"):
        make_config(**{lower: 10, upper: 5})


def test_job_lease_must_outlast_one_plex_call() -> None:
    """A lease shorter than a call's timeouts would hand a live worker's job to another."""
    with pytest.raises(ValueError, match=r"^job_lease_seconds"):
        make_config(job_lease_seconds=30, connect_timeout_seconds=5, read_timeout_seconds=30)


def test_lists_become_tuples() -> None:
    """Sections and mappings given as lists are stored as tuples, so the config stays frozen."""
    config = make_config(
        library_sections=["Movies"], path_mappings=[PathMapping("/data", "/media")]
    )
    assert config.library_sections == ("Movies",)
    assert config.path_mappings == (PathMapping("/data", "/media"),)


def test_path_mapping_needs_both_prefixes() -> None:
    """An empty prefix would map every path: refused, naming the side."""
    with pytest.raises(ValueError, match=r"^plex_prefix"):
        PathMapping("/data", "")


def test_policies_follow_the_config() -> None:
    """The retry policies are views of the config's fields, not second copies of them."""
    config = make_config(
        retry_wait_initial_seconds=2,
        retry_wait_max_seconds=30,
        retry_backoff_base=3,
        jitter_fraction=0.5,
        not_found_wait_initial_seconds=7,
        not_found_wait_max_seconds=70,
    )
    assert config.transient_policy == RetryPolicy(
        wait_initial=2, wait_max=30, wait_exp_base=3, jitter_fraction=0.5
    )
    assert config.not_found_policy == RetryPolicy(
        wait_initial=7, wait_max=70, wait_exp_base=3, jitter_fraction=0.5
    )


def test_probe_lease_outlasts_two_health_timeouts() -> None:
    """A live probe is never doubled: its lease covers two health-call timeouts."""
    assert make_config(health_timeout_seconds=4).probe_lease_seconds > 8


def test_retry_policy_refuses_a_cap_below_its_start() -> None:
    """RetryPolicy keeps the same invariant as the config it is built from."""
    with pytest.raises(ValueError, match="wait_max"):
        RetryPolicy(wait_initial=10, wait_max=1, wait_exp_base=2, jitter_fraction=0)


def test_one_failing_item_is_never_plex_failing_edits() -> None:
    """failing_edits_threshold below 2 would take one item that always fails for a failing
    server, and hold all work for it: refused, naming the setting.
    """
    with pytest.raises(ValueError, match="failing_edits_threshold must be at least 2, got 1"):
        make_config(failing_edits_threshold=1)


def test_a_stop_takes_at_most_one_call_and_a_health_call() -> None:
    """The stop time service files must allow: connect, read and health timeouts added up."""
    assert make_config().stop_seconds == 5 + 30 + 5
    assert make_config(read_timeout_seconds=60, health_timeout_seconds=2).stop_seconds == 67
