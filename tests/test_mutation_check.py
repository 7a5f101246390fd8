"""The mutation checker (``tests/mutation/check.py``): keys, the list, the verdict and the bar.

mutmut itself is not needed here: these are the pure parts that `just mutate` relies on.
"""

from __future__ import annotations

import pytest

from tests.mutation.check import (
    LIST,
    Entry,
    Mutant,
    changed_lines,
    function_of,
    judge,
    load_entries,
    report,
)

DIFF = """\
--- core/decide.py
+++ core/decide.py
@@ -1,3 +1,3 @@
 def _crashed(job: Job, failure: Failed, context: _Context) -> Decision:
     crashes = job.crashes + 1
-    counted = attrs.evolve(job, crashes=crashes)
+    counted = attrs.evolve(job, )
"""


def survivor(name: str = "core.decide.x__crashed__mutmut_4", old: str = "a", new: str = "b"):
    return Mutant(name, "survived", function_of(name), old, new)


def entry(kind: str = "equivalent", old: str = "a", new: str = "b") -> Entry:
    return Entry(kind, "core.decide._crashed", old, new, "no test can tell")


@pytest.mark.parametrize(
    ("name", "function"),
    [
        ("core.decide.x__crashed__mutmut_3", "core.decide._crashed"),
        ("core.backoff.x_nominal_delay__mutmut_12", "core.backoff.nominal_delay"),
        ("core.job.xǁJobǁ__attrs_post_init____mutmut_1", "core.job.Job.__attrs_post_init__"),
        ("core.decide.xǁ_Contextǁanswered__mutmut_2", "core.decide._Context.answered"),
    ],
)
def test_a_mutant_is_keyed_by_its_function_not_its_number(name: str, function: str) -> None:
    """The key drops mutmut's running number and names the function as the source does."""
    assert function_of(name) == function


def test_a_mutant_is_keyed_by_the_lines_it_changes() -> None:
    """Only removed and added lines count, stripped of indentation; headers and context don't."""
    assert changed_lines(DIFF) == (
        "counted = attrs.evolve(job, crashes=crashes)",
        "counted = attrs.evolve(job, )",
    )


def test_a_listed_survivor_leaves_the_score_and_an_unlisted_one_fails() -> None:
    """Equivalents leave the count; any other survivor is named and fails the run."""
    killed = Mutant("core.decide.x__crashed__mutmut_1", "killed", "core.decide._crashed")
    listed = survivor()
    new = survivor("core.decide.x__crashed__mutmut_5", old="a", new="c")
    verdict = judge([killed, listed, new], [entry()])
    tally = verdict.by_module["core.decide"]
    assert (tally.killed, tally.survived, tally.equivalent) == (1, 1, 1)
    assert verdict.unlisted == [new]
    assert tally.before == pytest.approx(1 / 3)
    assert tally.after == pytest.approx(1 / 2)
    text, ok = report(verdict, min_score=0.0)
    assert not ok
    assert "core.decide.x__crashed__mutmut_5" in text
    assert text.endswith("\nmutate: FAILED")
    advised, ok = report(verdict, min_score=0.0, advisory=True)
    assert not ok
    assert advised.endswith("\nmutate: below the bar above (advisory: this run does not fail)")


def test_a_pending_survivor_counts_against_the_score_without_failing_the_run() -> None:
    """A pending entry is a survivor whose test is owed: listed, counted, and not an error."""
    killed = [Mutant(f"core.decide.x__crashed__mutmut_{n}", "killed") for n in range(9)]
    verdict = judge([*killed, survivor()], [entry("pending")])
    assert verdict.total.after == pytest.approx(0.9)
    assert report(verdict, min_score=0.9)[1]
    assert not report(verdict, min_score=0.91)[1]


def test_a_listed_mutant_that_no_longer_survives_fails_the_run() -> None:
    """A list entry that matches no survivor is stale: the list must stay true."""
    killed = Mutant("core.decide.x__crashed__mutmut_4", "killed", "core.decide._crashed")
    verdict = judge([killed], [entry()])
    assert verdict.stale == [entry()]
    assert not report(verdict, min_score=0.0)[1]


def test_an_unfinished_mutant_fails_the_run() -> None:
    """A mutant not checked (or suspicious, or interrupted) gives no score to trust."""
    verdict = judge([Mutant("core.decide.x__crashed__mutmut_4", "not checked")], [])
    assert not report(verdict, min_score=0.0)[1]


def test_no_tests_counts_as_a_survivor() -> None:
    """A mutant no selected test reaches was not detected."""
    verdict = judge([Mutant("core.decide.x__crashed__mutmut_4", "no tests")], [])
    assert verdict.total.after == 0.0
    assert verdict.unlisted


def test_every_entry_needs_its_reason() -> None:
    """An entry without a why, or listed twice, is refused."""
    one = '[[equivalent]]\nfunction = "f"\nfrom = "a"\nto = "b"\n'
    with pytest.raises(ValueError, match="why"):
        load_entries(one)
    with pytest.raises(ValueError, match="twice"):
        load_entries((one + 'why = "w"\n') * 2)
    with pytest.raises(ValueError, match="unknown"):
        load_entries('[[equivalents]]\nfunction = "f"\n')


def test_the_checked_list_loads() -> None:
    """The project's own list parses, and every entry names a function of core/."""
    entries = load_entries(LIST.read_text(encoding="utf-8"))
    assert all(e.function.startswith("core.") for e in entries)
