"""Every setting of plexsync, in one frozen value that cannot be built invalid.

Durations carry their unit in their name (``_seconds``, ``_days``). ``max_retries`` and
``poll_interval`` (seconds) keep the names the original plugin gave them, and there is exactly one
field for each. A bad value raises ``ValueError`` naming the field, so a bad config stops start-up
instead of failing a job later.
"""

from __future__ import annotations

from attrs import field, frozen

from core import validation as check
from core.backoff import RetryPolicy


@frozen
class PathMapping:
    """Rewrite a host path that starts with ``host_prefix`` to start with ``plex_prefix`` instead.

    The host application and Plex often see one file under different mounts (containers, NAS
    shares). Prefixes match whole path components: ``/data`` maps ``/data/a.mkv`` but not
    ``/database/a.mkv``.
    """

    host_prefix: str = field(validator=check.text)
    plex_prefix: str = field(validator=check.text)


@frozen(kw_only=True)
class PlexSyncConfig:
    """All settings. Only ``plex_url`` and ``plex_token`` have no default.

    Retry budgets (``plexsync explain`` prints the schedule they produce):

    * transient failures (the job's own call failed on a healthy Plex): ``max_retries`` retries,
      ``retry_wait_initial_seconds * retry_backoff_base ** (n - 1)`` apart, capped at
      ``retry_wait_max_seconds``;
    * not found in Plex (the library scan has not reached the file yet): its own
      ``not_found_max_retries`` with longer delays, never later than ``not_found_window_seconds``
      after the first not-found answer;
    * outages, rate limiting and a rejected token never cost a job an attempt: the circuit breaker
      holds all work and probes Plex after ``breaker_cooldown_seconds``, doubling after each failed
      probe up to ``breaker_max_cooldown_seconds``.

    Jitter only ever adds to a delay, at most ``jitter_fraction`` of it.
    """

    plex_url: str = field(validator=check.url)
    plex_token: str = field(validator=check.secret, repr=False)
    db_path: str = field(default="plexsync.db", validator=check.text)

    library_sections: tuple[str, ...] = field(default=(), converter=tuple, validator=check.names)
    path_mappings: tuple[PathMapping, ...] = field(
        default=(), converter=tuple, validator=check.each(PathMapping)
    )

    connect_timeout_seconds: float = field(default=5.0, validator=check.positive)
    read_timeout_seconds: float = field(default=30.0, validator=check.positive)
    health_timeout_seconds: float = field(default=5.0, validator=check.positive)

    poll_interval: float = field(default=5.0, validator=check.positive)

    max_retries: int = field(default=8, validator=check.count)
    retry_wait_initial_seconds: float = field(default=10.0, validator=check.positive)
    retry_wait_max_seconds: float = field(default=900.0, validator=check.positive)
    retry_backoff_base: float = field(default=2.0, validator=check.growth)
    jitter_fraction: float = field(default=0.2, validator=check.fraction)

    not_found_max_retries: int = field(default=24, validator=check.count)
    not_found_wait_initial_seconds: float = field(default=60.0, validator=check.positive)
    not_found_wait_max_seconds: float = field(default=1800.0, validator=check.positive)
    not_found_window_seconds: float = field(default=12 * 3600.0, validator=check.positive)

    retry_after_max_seconds: float = field(default=3600.0, validator=check.positive)

    breaker_failure_threshold: int = field(default=1, validator=check.at_least_one)
    """Outage failures in a row, each confirmed by a failed health call, before work is held.
    One is proof enough: a job call and a health call that both fail."""
    failing_edits_threshold: int = field(default=5, validator=check.at_least_two)
    """Edits failing in a row (a 5xx or an unreadable answer) on this many different items, with
    none going through in between, mean that Plex is failing as a whole although it answers its
    health call: all work is held (no attempt charged) and one real job probes it."""
    breaker_cooldown_seconds: float = field(default=10.0, validator=check.positive)
    breaker_max_cooldown_seconds: float = field(default=300.0, validator=check.positive)

    late_edit_window_seconds: float = field(default=300.0, validator=check.positive)
    """How long after an edit timed out Plex may still carry it out. Until then, a later edit of
    the same item is not final: it is sent once more when the window has passed, so that the
    older edit, landing late, cannot win."""

    job_lease_seconds: float = field(default=300.0, validator=check.positive)
    max_crashes: int = field(default=3, validator=check.count)

    dlq_retention_days: float = field(default=30.0, validator=check.positive)

    sqlite_synchronous: str = field(default="normal", validator=check.one_of("normal", "full"))
    """``normal`` (WAL's usual setting) loses nothing when a process dies; ``full`` also keeps the
    last commits through a power cut, at the price of one disk flush per commit."""

    def __attrs_post_init__(self) -> None:
        ordered = (
            ("retry_wait_initial_seconds", "retry_wait_max_seconds"),
            ("not_found_wait_initial_seconds", "not_found_wait_max_seconds"),
            ("breaker_cooldown_seconds", "breaker_max_cooldown_seconds"),
        )
        for lower, upper in ordered:
            if getattr(self, upper) < getattr(self, lower):
                raise ValueError(
                    f"{upper} ({getattr(self, upper)}) must be >= {lower} ({getattr(self, lower)})"
                )
        one_call = self.connect_timeout_seconds + self.read_timeout_seconds
        if self.job_lease_seconds <= one_call:
            raise ValueError(
                f"job_lease_seconds ({self.job_lease_seconds}) must be longer than one Plex call "
                f"(connect_timeout_seconds + read_timeout_seconds = {one_call})"
            )

    @property
    def transient_policy(self) -> RetryPolicy:
        """The backoff for transient failures (and for rate limiting without a server hint)."""
        return RetryPolicy(
            wait_initial=self.retry_wait_initial_seconds,
            wait_max=self.retry_wait_max_seconds,
            wait_exp_base=self.retry_backoff_base,
            jitter_fraction=self.jitter_fraction,
        )

    @property
    def not_found_policy(self) -> RetryPolicy:
        """The longer backoff for items Plex has not scanned yet."""
        return RetryPolicy(
            wait_initial=self.not_found_wait_initial_seconds,
            wait_max=self.not_found_wait_max_seconds,
            wait_exp_base=self.retry_backoff_base,
            jitter_fraction=self.jitter_fraction,
        )

    @property
    def probe_lease_seconds(self) -> float:
        """How long a half-open breaker waits for its one probe before admitting another.

        Long enough for a health call to time out twice, so a live prober is never doubled; short
        enough that a worker that died mid-probe does not hold the breaker for long.
        """
        return 2 * self.health_timeout_seconds + 1.0
