"""The documentation cannot drift from the code: its generated blocks (the state diagrams, the
exit statuses, the settings reference) are what the code says, every setting is explained, and
every command is documented.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import attrs
from returns.result import Success

from core import PlexSyncConfig
from shell import docgen
from shell.cli.errors import MEANING
from shell.cli.parser import build_parser
from shell.diagrams import breaker_diagram, job_diagram
from shell.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def test_generated_blocks_match_the_code() -> None:
    """Regenerating every generated block of the documentation changes nothing."""
    for name, blocks in docgen.GENERATED.items():
        text = (ROOT / name).read_text(encoding="utf-8")
        assert docgen.render(text, blocks) == text, f"{name}: run python -m shell.docgen"
        for block in blocks:
            assert f"<!-- generated: {block} -->" in text, (name, block)
    readme = README.read_text(encoding="utf-8")
    assert breaker_diagram() in readme
    assert job_diagram() in readme


def test_the_settings_reference_lists_every_setting_with_its_meaning() -> None:
    """Each field of PlexSyncConfig has a docstring, and a row of docs/settings.md."""
    docs = docgen.setting_docs()
    reference = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    for field in attrs.fields(PlexSyncConfig):
        assert docs.get(field.name), f"{field.name} has no docstring in core/config.py"
        assert f"| `{field.name}` | {docs[field.name]}".replace("``", "`") in reference


def test_every_example_of_the_settings_reference_is_accepted_as_written() -> None:
    """Each row's example variable, set as the row shows it, is read back as a valid setting (a
    file the example names need not exist here: being looked for shows it was read as a path).
    """
    examples = re.findall(
        r"\| `(PLEXSYNC_\w+)=([^`]*)` \|$", docgen.settings_reference(), flags=re.MULTILINE
    )
    assert len(examples) == len(attrs.fields(PlexSyncConfig))
    base = {"PLEXSYNC_PLEX_URL": "http://plex.lan:32400", "PLEXSYNC_PLEX_TOKEN": "t"}
    for variable, value in examples:
        loaded = load_settings(None, {**base, variable: value}, search=[])
        missing = f"no such file: {value}"
        assert isinstance(loaded, Success) or missing in loaded.failure(), (variable, loaded)


def test_the_exit_statuses_are_in_the_readme_once() -> None:
    """The README's table of exit statuses is the code's, and there is only one."""
    readme = README.read_text(encoding="utf-8")
    assert docgen.exit_statuses() in readme
    assert readme.count("| status | meaning |") == 1
    assert len(MEANING) == docgen.exit_statuses().count("\n") - 2


def test_every_command_is_documented_with_an_example() -> None:
    """Each command (and each dlq and db command) appears in the README as it is typed."""
    text = README.read_text(encoding="utf-8")
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name, sub in commands.items():
        if name in {"dlq", "db"}:
            for sub_name in sub._subparsers._group_actions[0].choices:  # type: ignore[union-attr]
                assert f"plexsync {name} {sub_name}" in text
        else:
            assert f"plexsync {name}" in text


def test_the_generator_rewrites_stale_documentation(tmp_path: Path) -> None:
    """``python -m shell.docgen`` fixes a drifted block and says so with its exit status."""
    for name in docgen.GENERATED:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    stale = README.read_text(encoding="utf-8").replace("--> running: claimed", "--> lost")
    (tmp_path / "README.md").write_text(stale, encoding="utf-8")
    settings = tmp_path / "docs" / "settings.md"
    settings.write_text(settings.read_text(encoding="utf-8").replace("`max_retries`", "`x`"))
    assert docgen.main(tmp_path) == 1
    for name in docgen.GENERATED:
        assert (tmp_path / name).read_text(encoding="utf-8") == (ROOT / name).read_text(
            encoding="utf-8"
        )
    assert docgen.main(tmp_path) == 0
