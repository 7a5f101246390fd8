"""Score a mutmut run of ``core/`` and hold it to the project's bar (``just mutate`` runs this).

It reads mutmut's results from ``mutants/`` (run ``mutmut run`` first), takes away the mutants
listed in ``tests/mutation/equivalent.toml`` and prints, per module and in total, the score before
and after. It fails (exit 1) when

* a mutant survived that the list does not name: a new survivor stands out;
* a listed mutant no longer survives (killed, or gone): the list must stay true;
* a mutant was not checked, or its run was interrupted, crashed or looked suspicious;
* the score, counting only non-equivalent mutants, is below ``--min-score`` (97 %).

The list keys each mutant by the function it lives in and by the lines it changes (``from`` and
``to``, stripped), never by line number or mutmut's running number, so it survives unrelated edits.
A ``[[pending]]`` entry has the same keys and names a survivor not dealt with yet (a test owed, or
its equivalence not yet argued): it counts against the score as any survivor does, but does not
fail the run. An ``[[equivalent]]`` entry names a mutant no test can tell apart from the original;
it leaves the score's count. Timeouts count as detected (mutmut's own rule): the tests did not pass.
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

LIST = Path(__file__).with_name("equivalent.toml")
MUTANTS = Path("mutants")

DETECTED = frozenset({"killed", "timeout", "caught by type check"})
UNDETECTED = frozenset({"survived", "no tests"})
# Anything else ("not checked", "suspicious", "segfault", "check was interrupted by user") means
# the run did not finish cleanly, and no score is given for it.


@dataclass(frozen=True)
class Mutant:
    """One mutant as mutmut left it: its name, status, function and the lines it changed."""

    name: str
    status: str
    function: str = ""
    old: str = ""
    new: str = ""

    @property
    def module(self) -> str:
        return self.name.partition("__mutmut_")[0].rpartition(".")[0]


@dataclass(frozen=True)
class Entry:
    """A listed mutant: equivalent (no test can tell it apart) or pending (not dealt with yet)."""

    kind: str
    function: str
    old: str
    new: str
    why: str

    def matches(self, mutant: Mutant) -> bool:
        return (self.function, self.old, self.new) == (mutant.function, mutant.old, mutant.new)


@dataclass
class Tally:
    """Counts for one module (or all of them)."""

    killed: int = 0
    survived: int = 0
    equivalent: int = 0
    pending: int = 0

    @property
    def before(self) -> float:
        """The raw score, as mutmut sees it: detected over all mutants that ran."""
        return _ratio(self.killed, self.killed + self.survived + self.equivalent + self.pending)

    @property
    def after(self) -> float:
        """Detected over the mutants a test could detect (equivalents taken away)."""
        return _ratio(self.killed, self.killed + self.survived + self.pending)


@dataclass
class Verdict:
    """What the check found: the tallies and every reason to fail."""

    by_module: dict[str, Tally] = field(default_factory=dict)
    unlisted: list[Mutant] = field(default_factory=list)
    stale: list[Entry] = field(default_factory=list)
    unfinished: list[Mutant] = field(default_factory=list)

    @property
    def total(self) -> Tally:
        whole = Tally()
        for tally in self.by_module.values():
            whole.killed += tally.killed
            whole.survived += tally.survived
            whole.equivalent += tally.equivalent
            whole.pending += tally.pending
        return whole


def function_of(name: str) -> str:
    """``core.decide.x__crashed__mutmut_3`` -> ``core.decide._crashed``;
    ``core.job.xǁJobǁ__attrs_post_init____mutmut_1`` -> ``core.job.Job.__attrs_post_init__``.
    """
    mangled = name.partition("__mutmut_")[0]
    module, _, local = mangled.rpartition(".")
    if local.startswith("xǁ"):
        _, cls, method = local.split("ǁ", 2)
        return f"{module}.{cls}.{method}"
    if not local.startswith("x_"):
        raise ValueError(f"not a mutmut mutant name: {name!r}")
    return f"{module}.{local[2:]}"


def changed_lines(diff: str) -> tuple[str, str]:
    """The lines a unified diff removes and adds, each stripped, joined by newlines."""
    old, new = [], []
    for line in diff.splitlines():
        if line.startswith(("---", "+++", "@@")):
            continue
        if line.startswith("-"):
            old.append(line[1:].strip())
        elif line.startswith("+"):
            new.append(line[1:].strip())
    return "\n".join(old), "\n".join(new)


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else 1.0


def load_entries(text: str) -> list[Entry]:
    """The ``[[equivalent]]`` and ``[[pending]]`` entries of the list; each needs every key."""
    data = tomllib.loads(text)
    unknown = set(data) - {"equivalent", "pending"}
    if unknown:
        raise ValueError(f"unknown tables in the list: {sorted(unknown)}")
    entries = []
    for kind in ("equivalent", "pending"):
        for raw in data.get(kind, []):
            missing = {"function", "from", "to", "why"} - set(raw)
            if missing or not str(raw.get("why", "")).strip():
                raise ValueError(f"{kind} entry {raw!r} needs function, from, to and a why")
            entry = Entry(kind, raw["function"], raw["from"].strip(), raw["to"].strip(), raw["why"])
            entries.append(entry)
    keys = Counter((e.function, e.old, e.new) for e in entries)
    doubled = [key for key, n in keys.items() if n > 1]
    if doubled:
        raise ValueError(f"listed twice: {doubled}")
    return entries


def judge(mutants: Iterable[Mutant], entries: list[Entry]) -> Verdict:
    """Sort every mutant into killed, survived, equivalent or pending, by module."""
    verdict = Verdict()
    used: set[Entry] = set()
    for mutant in mutants:
        tally = verdict.by_module.setdefault(mutant.module, Tally())
        if mutant.status in DETECTED:
            tally.killed += 1
        elif mutant.status in UNDETECTED:
            entry = next((e for e in entries if e.matches(mutant)), None)
            if entry is None:
                tally.survived += 1
                verdict.unlisted.append(mutant)
            else:
                used.add(entry)
                if entry.kind == "equivalent":
                    tally.equivalent += 1
                else:
                    tally.pending += 1
        else:
            verdict.unfinished.append(mutant)
    verdict.stale = [e for e in entries if e not in used]
    return verdict


def report(
    verdict: Verdict, min_score: float, scope: str = "core/", *, advisory: bool = False
) -> tuple[str, bool]:
    """The printed report, and whether the run passes (an *advisory* run reports a miss as
    one, without calling the run failed).
    """
    header = (
        f"{'module':<22}{'mutants':>8}{'killed':>8}{'survived':>9}{'pending':>8}"
        f"{'equiv.':>8}{'before':>9}{'after':>9}"
    )
    lines = [header]
    rows = sorted(verdict.by_module.items())
    for module, tally in [*rows, ("total", verdict.total)]:
        count = tally.killed + tally.survived + tally.equivalent + tally.pending
        lines.append(
            f"{module:<22}{count:>8}{tally.killed:>8}{tally.survived:>9}{tally.pending:>8}"
            f"{tally.equivalent:>8}{tally.before:>8.1%}{tally.after:>9.1%}"
        )
    score = verdict.total.after
    ok = True
    if verdict.unfinished:
        ok = False
        lines.append(f"\n{len(verdict.unfinished)} mutants did not finish cleanly:")
        lines.extend(f"  {m.name}: {m.status}" for m in verdict.unfinished)
    if verdict.unlisted:
        ok = False
        lines.append(
            f"\n{len(verdict.unlisted)} survivors not in {LIST.name}: kill each with a test, or "
            "list it as equivalent with the reason no test can tell it apart:"
        )
        for m in verdict.unlisted:
            lines.append(f"  {m.name}  ({m.status})")
            lines.extend(f"      - {line}" for line in m.old.splitlines())
            lines.extend(f"      + {line}" for line in m.new.splitlines())
    if verdict.stale:
        ok = False
        lines.append(f"\n{len(verdict.stale)} listed mutants no longer survive; remove them:")
        lines.extend(f"  [{e.kind}] {e.function}: {e.old!r} -> {e.new!r}" for e in verdict.stale)
    pending = verdict.total.pending
    if pending:
        lines.append(
            f"\n{pending} pending survivors (listed, not dealt with yet) count as survivors."
        )
    verdict_line = f"\nmutation score of {scope}: {score:.1%} (at least {min_score:.0%} needed)"
    lines.append(verdict_line)
    if score < min_score:
        ok = False
    if ok:
        lines.append("mutate: ok")
    elif advisory:
        lines.append("mutate: below the bar above (advisory: this run does not fail)")
    else:
        lines.append("mutate: FAILED")
    return "\n".join(lines), ok


def read_mutants(root: Path = MUTANTS) -> Iterator[Mutant]:
    """Every mutant of the last run, from mutmut's ``.meta`` files under *root*."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant  # noqa: PLC0415 - the `mutate` extra
    from mutmut.stats import status_by_exit_code  # noqa: PLC0415

    metas = sorted(root.rglob("*.py.meta"))
    if not metas:
        raise SystemExit(f"no mutmut results under {root}/: run `mutmut run` first")
    for meta in metas:
        source = meta.relative_to(root).with_suffix("")  # core/x.py
        exit_codes: Mapping[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
        for name, code in sorted(exit_codes.items()):
            status = status_by_exit_code[code]
            if status in DETECTED:
                yield Mutant(name, status, function_of(name))
                continue
            old, new = changed_lines(get_diff_for_mutant(name, path=source))
            yield Mutant(name, status, function_of(name), old, new)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-score", type=float, default=0.97, help="least score (0.97)")
    parser.add_argument("--list", type=Path, default=LIST, help="the list of known survivors")
    parser.add_argument("--scope", default="core/", help="what was mutated, for the report")
    parser.add_argument(
        "--advisory", action="store_true", help="report, but never fail (the shell's run)"
    )
    args = parser.parse_args(argv)
    entries = load_entries(args.list.read_text(encoding="utf-8"))
    verdict = judge(read_mutants(), entries)
    text, ok = report(verdict, args.min_score, args.scope, advisory=args.advisory)
    print(text)
    return 0 if ok or args.advisory else 1


if __name__ == "__main__":
    sys.exit(main())
