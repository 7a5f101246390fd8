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
    """The Plex server's address: ``http://host:32400`` (``https://`` when Plex requires secure
    connections)."""
    plex_token: str = field(validator=check.secret, repr=False)
    """The token sent with every request (``X-Plex-Token``). Keep it out of files: set
    ``PLEXSYNC_PLEX_TOKEN``. It is never logged, stored or printed."""
    plex_ca_bundle: str | None = field(default=None, validator=check.optional_text)
    """A PEM file of CA certificates to trust for an https ``plex_url`` (a reverse proxy's own
    CA, or its self-signed certificate) instead of the usual ones. The shell checks at start
    that it can be read (``shell.tls.ca_bundle_problem``)."""
    plex_verify_certificate: bool = field(default=True, validator=check.boolean)
    """``false`` skips verifying Plex's certificate (the connection stays encrypted, but anyone
    on the way could pose as Plex and receive the token); every start logs a warning."""
    db_path: str = field(default="plexsync.db", validator=check.text)
    """The queue's SQLite file, created when first needed. A relative path in a settings file is
    beside that file; in a variable, in the current folder."""

    library_sections: tuple[str, ...] = field(default=(), converter=tuple, validator=check.names)
    """The library sections (by title or key) jobs go to; none named means every movie section."""
    path_mappings: tuple[PathMapping, ...] = field(
        default=(), converter=tuple, validator=check.each(PathMapping)
    )
    """Host path prefixes and the Plex path prefix each stands for, when the host and Plex see
    the files under different folders (containers, NAS shares); the longest match wins."""

    connect_timeout_seconds: float = field(default=5.0, validator=check.duration)
    """How long a request to Plex may take to connect."""
    read_timeout_seconds: float = field(default=30.0, validator=check.duration)
    """How long a request to Plex may wait for the answer once connected. A stop timeout
    (systemd, Docker) must be longer than one call: see the README."""
    health_timeout_seconds: float = field(default=5.0, validator=check.duration)
    """How long a health call may take: the one that checks a failure that looks like Plex's as a
    whole, and each probe while work is held."""

    poll_interval: float = field(default=5.0, validator=check.duration)
    """The longest the worker sleeps before looking at the queue again (seconds)."""

    max_retries: int = field(default=8, validator=check.count)
    """Retries of a job whose own call failed on a healthy Plex, before it is dead-lettered."""
    retry_wait_initial_seconds: float = field(default=10.0, validator=check.duration)
    """The wait before the first of those retries; each next wait is ``retry_backoff_base``
    times longer."""
    retry_wait_max_seconds: float = field(default=900.0, validator=check.duration)
    """The longest wait between those retries."""
    retry_backoff_base: float = field(default=2.0, validator=check.growth)
    """How many times longer each retry waits than the one before."""
    jitter_fraction: float = field(default=0.2, validator=check.fraction)
    """At most this share of a delay is added at random, so that retries spread out; jitter only
    ever adds."""

    not_found_max_retries: int = field(default=24, validator=check.count)
    """Retries of a job whose file Plex does not know yet (its scan has not reached it)."""
    not_found_wait_initial_seconds: float = field(default=60.0, validator=check.duration)
    """The wait before the first not-found retry; also how old the path index must be before a
    path missing from it rebuilds it."""
    not_found_wait_max_seconds: float = field(default=1800.0, validator=check.duration)
    """The longest wait between not-found retries."""
    not_found_window_seconds: float = field(default=12 * 3600.0, validator=check.duration)
    """No not-found retry later than this after the first not-found answer: the job is then
    dead-lettered."""

    retry_after_max_seconds: float = field(default=3600.0, validator=check.duration)
    """The longest wait a server's Retry-After is obeyed for; a longer one is cut to this."""

    breaker_failure_threshold: int = field(default=1, validator=check.at_least_one)
    """Outage failures in a row, each confirmed by a failed health call, before work is held.
    One is proof enough: a job call and a health call that both fail."""
    failing_edits_threshold: int = field(default=5, validator=check.at_least_two)
    """Edits failing in a row (a 5xx or an unreadable answer) on this many different items, with
    none going through in between, mean that Plex is failing as a whole although it answers its
    health call: all work is held (no attempt charged) and one real job probes it."""
    breaker_cooldown_seconds: float = field(default=10.0, validator=check.duration)
    """The wait before the first probe once work is held; it doubles after each failed probe."""
    breaker_max_cooldown_seconds: float = field(default=300.0, validator=check.duration)
    """The longest wait between probes."""

    max_in_flight: int = field(default=4, validator=check.at_least_one)
    """The most Plex calls one worker keeps in flight at once. Plex also serves people: the
    default is modest, and the worker only goes as high as Plex answers as fast as it does with
    fewer calls (``adaptive_concurrency``)."""
    adaptive_concurrency: bool = field(default=True, validator=check.boolean)
    """Find how many calls Plex can take, up to ``max_in_flight``: start with one, add more while
    answers stay fast, back off when they slow down or Plex says it is overloaded (429, 503, a
    timeout), and start again from one after work was held. ``false`` keeps ``max_in_flight``
    calls in flight throughout."""

    late_edit_window_seconds: float = field(default=300.0, validator=check.duration)
    """How long after an edit timed out Plex may still carry it out. Until then, a later edit of
    the same item is not final: it is sent once more when the window has passed, so that the
    older edit, landing late, cannot win."""

    job_lease_seconds: float = field(default=300.0, validator=check.duration)
    """How long a claimed job stays its worker's; a worker that died loses it then (at once, on
    the same host). Longer than one Plex call."""
    max_crashes: int = field(default=3, validator=check.count)
    """Workers that may die on one job before it is dead-lettered as ``crashed_repeatedly``."""

    dlq_retention_days: float = field(default=30.0, validator=check.days)
    """Dead letters older than this are deleted by the worker (it looks once an hour)."""

    read_back_fraction: float = field(default=0.0, validator=check.fraction)
    """Which share of edits is read back to check that Plex holds them: 0 (off, the default)
    trusts Plex's success; 1 reads back every job, at one more request each; a share in between
    reads back that share of jobs (chosen by their metadata, so a retried job is checked again).
    An item that reads back otherwise than the job set it is a transient failure."""

    sqlite_synchronous: str = field(default="normal", validator=check.one_of("normal", "full"))
    """``normal`` (WAL's usual setting) loses nothing when a process dies; ``full`` also keeps the
    last commits through a power cut, at the price of one disk flush per commit."""

    def __attrs_post_init__(self) -> None:
        if self.plex_ca_bundle is not None and not self.plex_verify_certificate:
            raise ValueError(
                f"plex_ca_bundle ({self.plex_ca_bundle}) is set but plex_verify_certificate is "
                "false, so nothing would be verified against it: keep one of the two"
            )
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
    def stop_seconds(self) -> float:
        """The longest a worker takes to stop after SIGTERM: the job in hand finishes its call
        (connect and read) and the health call that may settle it. A service manager's stop
        timeout must be longer, or it kills the worker mid-job (which loses nothing, but redoes
        the job).
        """
        return (
            self.connect_timeout_seconds + self.read_timeout_seconds + self.health_timeout_seconds
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
    def attempt_seconds(self) -> float:
        """The longest one attempt can take: a call (connect and read) and its health check."""
        return (
            self.connect_timeout_seconds + self.read_timeout_seconds + self.health_timeout_seconds
        )

    @property
    def longest_wait_seconds(self) -> float:
        """The longest wait plexsync ever schedules: a retry's greatest delay with its jitter, a
        server's Retry-After, the breaker's longest cooldown, an edit's late-landing window. A
        due time further ahead than this was set by a clock that has since stepped back.
        """
        jitter = 1 + self.jitter_fraction
        return max(
            self.retry_wait_max_seconds * jitter,
            self.not_found_wait_max_seconds * jitter,
            self.retry_after_max_seconds + self.retry_wait_max_seconds * self.jitter_fraction,
            self.breaker_max_cooldown_seconds,
            self.probe_lease_seconds,
            self.late_edit_window_seconds,
        )

    @property
    def probe_lease_seconds(self) -> float:
        """How long a half-open breaker waits for its one probe before admitting another.

        Long enough for a health call to time out twice, so a live prober is never doubled; short
        enough that a worker that died mid-probe does not hold the breaker for long.
        """
        return 2 * self.health_timeout_seconds + 1.0
