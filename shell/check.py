"""``plexsync check``: whether Plex can be used as configured, found out before any job does.

It goes through the real gateway (``shell.plex``), so it meets Plex exactly as a job would: it
connects with the configured URL and token (which shows that the server is Plex and takes the
token), lists the library sections jobs will go to with their folders, and looks up sample
paths as the host sees them: how each maps (``path_mappings``), whether it lies in a library
folder, and whether Plex has an item for it. It never asks Plex to scan and changes nothing.

Each problem says what is wrong and which setting fixes it. A problem that would hold all work
carries the ``PauseCause`` the worker would hold it for; the command line turns that into its
exit status.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from attrs import evolve, frozen
from returns.result import Success

from core import ErrorClass, Failed, Health, PauseCause, PlexSyncConfig
from shell.payload import decode_payload
from shell.plex import PlexServerGateway
from shell.plex_library import in_folder, map_path
from shell.redact import redact, url_for_people
from shell.store import Store


@frozen(kw_only=True)
class Problem:
    """Something that stops jobs from reaching Plex, in plain words."""

    what: str
    """What is wrong, ending with what to check."""
    setting: str
    """The setting that fixes it."""
    holds: PauseCause | None = None
    """What the worker would hold all work for; ``None`` for a problem of some jobs only."""


@frozen(kw_only=True)
class Section:
    """A library section jobs go to."""

    title: str
    kind: str
    folders: tuple[str, ...]


@frozen(kw_only=True)
class SamplePath:
    """A path as the host sees it, as Plex sees it, and what Plex has there."""

    host_path: str
    plex_path: str
    mapped: bool
    """Whether a ``path_mappings`` entry applied."""
    verdict: str
    """In a few words: in Plex, not in Plex, outside every library folder."""
    item: str | None = None
    """The item Plex has for it (title and ratingKey), if it has one."""
    problem: Problem | None = None


@frozen(kw_only=True)
class CheckReport:
    """What ``plexsync check`` found."""

    plex_url: str
    server: str | None = None
    """The server's name and version, once it answered as Plex and took the token."""
    sections: tuple[Section, ...] = ()
    paths: tuple[SamplePath, ...] = ()
    problems: tuple[Problem, ...] = ()

    @property
    def held_by(self) -> PauseCause | None:
        """What would hold all work, if anything found would."""
        return next((p.holds for p in self.problems if p.holds is not None), None)


def sample_paths(store: Store, limit: int) -> list[str]:
    """The paths of the newest queued jobs, newest first, each once."""
    with store.reading():
        payloads = store.jobs.newest_payloads(limit)
    paths = []
    for payload in payloads:
        match decode_payload(payload):
            case Success(metadata):
                paths.append(metadata.path)
            case _:  # a payload that no longer decodes has no path to try
                pass
    return list(dict.fromkeys(paths))


def check(config: PlexSyncConfig, paths: Sequence[str]) -> CheckReport:
    """Check *config* against its Plex server, and each of *paths* (as the host sees them)."""
    gateway = PlexServerGateway(config)
    try:
        return _check(gateway, config, paths)
    finally:
        gateway.close()


def _check(gateway: PlexServerGateway, config: PlexSyncConfig, paths: Sequence[str]) -> CheckReport:
    url = url_for_people(config.plex_url)
    report = CheckReport(plex_url=url)
    server = gateway.server()
    if isinstance(server, Failed):
        return evolve(report, problems=(_unusable(server, url),))
    if gateway.health() is Health.NOT_PLEX:
        problem = Problem(
            what=f"{url} answered, but its health check is not Plex's; check plex_url",
            setting="plex_url",
            holds=PauseCause.MISCONFIGURED,
        )
        return evolve(report, problems=(problem,))
    report = evolve(report, server=redact(f"{server.friendlyName!r}, Plex {server.version}"))
    sections = gateway.sections()
    if isinstance(sections, Failed):
        return evolve(report, problems=(_unusable(sections, url),))
    found = tuple(_section(s) for s in sections)
    samples = tuple(_sample(gateway, config, found, path) for path in paths)
    problems = tuple(s.problem for s in samples if s.problem is not None)
    return evolve(report, sections=found, paths=samples, problems=problems)


def _section(section: Any) -> Section:  # noqa: ANN401 - plexapi's LibrarySection
    return Section(title=section.title, kind=section.type, folders=tuple(section.locations))


def _sample(
    gateway: PlexServerGateway, config: PlexSyncConfig, sections: Sequence[Section], host_path: str
) -> SamplePath:
    plex_path = map_path(host_path, config.path_mappings)
    sample = SamplePath(
        host_path=host_path, plex_path=plex_path, mapped=plex_path != host_path, verdict="in Plex"
    )
    folders = [folder for section in sections for folder in section.folders]
    if not in_folder(plex_path, folders):
        what = f"{plex_path} is outside every library folder ({', '.join(folders)}); " + (
            "check path_mappings" if sample.mapped else "add a path_mappings entry for it"
        )
        problem = Problem(what=what, setting="path_mappings", holds=PauseCause.MISCONFIGURED)
        return evolve(sample, verdict="outside every library folder", problem=problem)
    found = gateway.find(plex_path)
    if not isinstance(found, Failed):
        return evolve(sample, item=f"{found.title!r} (ratingKey {found.ratingKey})")
    if found.error_class is ErrorClass.NOT_FOUND:
        what = (
            f"Plex has no item for {plex_path}: if the file is new, Plex has not scanned it yet "
            "(a job would ask for a scan); if Plex knows it under another path, check "
            "path_mappings"
        )
        problem = Problem(what=what, setting="path_mappings")
        return evolve(sample, verdict="not in Plex", problem=problem)
    problem = Problem(what=found.message, setting="path_mappings")
    return evolve(sample, verdict="cannot be looked up", problem=problem)


def _unusable(failure: Failed, url: str) -> Problem:
    """The problem a failure to connect, or to find the sections, is."""
    match failure.error_class:
        case ErrorClass.AUTH:
            return Problem(
                what=f"Plex at {url} rejects the token: {failure.message}; check plex_token",
                setting="plex_token",
                holds=PauseCause.AUTH,
            )
        case ErrorClass.NOT_PLEX:
            return Problem(
                what=f"{url} is not a Plex server: {failure.message}; check plex_url",
                setting="plex_url",
                holds=PauseCause.MISCONFIGURED,
            )
        case ErrorClass.MISCONFIGURED:
            return Problem(
                what=failure.message, setting="library_sections", holds=PauseCause.MISCONFIGURED
            )
        case ErrorClass.CERTIFICATE:
            return Problem(
                what=f"Plex at {url} fails certificate verification: {failure.message}",
                setting="plex_url",
                holds=PauseCause.CERTIFICATE,
            )
        case _:
            return Problem(
                what=(
                    f"cannot use Plex at {url}: {failure.message}; check plex_url, and that "
                    "Plex is running"
                ),
                setting="plex_url",
                holds=PauseCause.OUTAGE,
            )
