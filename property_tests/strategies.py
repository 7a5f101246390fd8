"""Strategies for the core's inputs: valid configs, jobs, outcomes, instants and jitter."""

from __future__ import annotations

from hypothesis import strategies as st

from core import ErrorClass, Failed, Job, PlexSyncConfig, Succeeded

T0 = 1_700_000_000.0

instants = st.floats(min_value=T0 - 10**7, max_value=T0 + 10**8)
jitters = st.floats(min_value=0.0, max_value=1.0, exclude_max=True)
attempts = st.integers(min_value=1, max_value=10_000)


@st.composite
def configs(draw: st.DrawFn) -> PlexSyncConfig:
    """Any valid config: caps above their starts, every budget and threshold in range."""
    seconds = st.floats(min_value=0.01, max_value=10_000)
    growth = st.floats(min_value=1.0, max_value=1_000.0)
    initial, nf_initial, cooldown = draw(seconds), draw(seconds), draw(seconds)
    return PlexSyncConfig(
        plex_url="http://127.0.0.1:32400",
        plex_token="token",
        max_retries=draw(st.integers(0, 30)),
        retry_wait_initial_seconds=initial,
        retry_wait_max_seconds=initial * draw(growth),
        retry_backoff_base=draw(st.floats(min_value=1.0, max_value=10.0)),
        jitter_fraction=draw(st.floats(min_value=0.0, max_value=1.0)),
        not_found_max_retries=draw(st.integers(0, 60)),
        not_found_wait_initial_seconds=nf_initial,
        not_found_wait_max_seconds=nf_initial * draw(growth),
        not_found_window_seconds=draw(st.floats(min_value=1.0, max_value=10**6)),
        retry_after_max_seconds=draw(st.floats(min_value=1.0, max_value=10**5)),
        breaker_failure_threshold=draw(st.integers(1, 10)),
        failing_edits_threshold=draw(st.integers(2, 10)),
        breaker_cooldown_seconds=cooldown,
        breaker_max_cooldown_seconds=cooldown * draw(growth),
        max_crashes=draw(st.integers(0, 10)),
    )


@st.composite
def jobs(draw: st.DrawFn) -> Job:
    """A job with any counters (consistent with each other)."""
    not_found = draw(st.integers(0, 100))
    return Job(
        id=draw(st.integers(0, 2**62)),
        key=draw(st.text(min_size=1, max_size=20).filter(str.strip)),
        first_enqueued_at=draw(instants),
        transient_failures=draw(st.integers(0, 100)),
        not_found_failures=not_found,
        not_found_since_at=draw(instants) if not_found else None,
        crashes=draw(st.integers(0, 20)),
        rate_limited_deferrals=draw(st.integers(0, 10_000)),
        outage_deferrals=draw(st.integers(0, 10_000)),
    )


def failures(error_class: ErrorClass) -> st.SearchStrategy[Failed]:
    """Failures of one class; rate limiting sometimes carries a hint (past, near or absurd)."""
    if error_class is ErrorClass.RATE_LIMITED:
        hints = st.none() | instants | st.floats(min_value=T0, max_value=1e15)
        return st.builds(Failed, st.just(error_class), st.text(max_size=30), hints)
    return st.builds(Failed, st.just(error_class), st.text(max_size=30))


outcomes = st.just(Succeeded()) | st.sampled_from(ErrorClass).flatmap(failures)
