"""Reading an edit back: which jobs are chosen, and how an item Plex shows differs from a job."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from shell.payload import Metadata
from shell.read_back import MISMATCH, chosen, describe, differences

PATH = "/media/a.mkv"


def shown(attributes: str = "", children: str = "", locked: tuple[str, ...] = ()) -> ET.Element:
    """A full <Video> as Plex shows it, with *locked* fields."""
    fields = "".join(f'<Field name="{name}" locked="1"/>' for name in locked)
    return ET.fromstring(f'<Video title="A" {attributes}>{children}{fields}</Video>')  # noqa: S314


def test_none_every_or_a_share_of_jobs_are_chosen() -> None:
    """0 chooses no job, 1 every job, and a share in between about that share of jobs."""
    jobs = [Metadata(path=f"/media/{n}.mkv", title="T") for n in range(2000)]
    assert not any(chosen(job, 0.0) for job in jobs)
    assert all(chosen(job, 1.0) for job in jobs)
    assert 0.2 < sum(chosen(job, 0.25) for job in jobs) / len(jobs) < 0.3


def test_the_same_job_is_always_chosen_or_never() -> None:
    """The choice is a function of the metadata: a retried job is read back again; another
    edit of the same item may not be.
    """
    job = Metadata(path=PATH, title="T")
    assert len({chosen(Metadata(path=PATH, title="T"), 0.5) for _ in range(20)}) == 1
    edits = [Metadata(path=PATH, title=f"T{n}") for n in range(50)]
    assert {chosen(edit, 0.5) for edit in edits} == {True, False}
    assert chosen(job, 0.5) == chosen(job, 0.5)


def test_an_item_holding_the_job_shows_no_difference() -> None:
    """Values equal up to line endings and surrounding blanks, tags in any order and case, and
    every field set locked: no difference. Fields the job leaves alone are not looked at.
    """
    job = Metadata(path=PATH, title="A", summary="One\nTwo", genres=("Drama", "Noir"))
    item = shown(
        'summary="One&#13;&#10;Two " studio="Elsewhere"',
        '<Genre tag="noir"/><Genre tag="Drama"/>',
        locked=("title", "summary", "genre"),
    )
    assert differences(job, item) == []


@pytest.mark.parametrize(
    ("job", "item", "found"),
    [
        (
            Metadata(path=PATH, title="New"),
            shown(locked=("title",)),
            ["title is 'A', not 'New'"],
        ),
        (
            Metadata(path=PATH, tagline="Go"),
            shown(),
            ["tagline is empty, not 'Go'", "tagline not locked"],
        ),
        (
            Metadata(path=PATH, genres=("Drama", "Noir")),
            shown(children='<Genre tag="Drama"/><Genre tag="Old"/>', locked=("genre",)),
            ["genres lack 'Noir'", "genres still have 'Old'"],
        ),
        (
            Metadata(path=PATH, labels=()),
            shown(children='<Label tag="stale"/>', locked=("label",)),
            ["labels still have 'stale'"],
        ),
        (
            Metadata(path=PATH, summary="x" * 100),
            shown('summary="y"', locked=("summary",)),
            [f"summary is 'y', not '{'x' * 39}…'"],
        ),
    ],
)
def test_each_difference_is_named(job: Metadata, item: ET.Element, found: list[str]) -> None:
    """A value Plex did not take, a tag missing or left over, a field left unlocked: each is
    one phrase naming the field (long values cut short).
    """
    assert differences(job, item) == found


def test_the_message_has_its_own_beginning() -> None:
    """Every read-back failure reads the same way first, so it is found in logs and the DLQ."""
    assert describe(["title not locked"]) == f"{MISMATCH}: title not locked"
