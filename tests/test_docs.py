"""The README and docs/ document every command and every setting, the README stays a short user's guide
whose links resolve, and the transcripts marked as tested print what they say (docs that drift from
the code fail here)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from litmine.cli import main
from litmine.config import describe
from conftest import ROOT

README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
TEXTS = {path: path.read_text(encoding="utf-8") for path in [README, *DOCS]}
ALL_TEXT = "\n".join(TEXTS.values())

# A transcript that tests/test_docs.py runs: this line, then the indented block (`$ command`, then what
# it prints; a line `...` stands for any lines). Each block runs in a fresh data directory.
TRANSCRIPT_MARK = "<!-- transcript: tests/test_docs.py runs it in a fresh data directory -->"
README_MAX_LINES = 300


def _commands(group, path=()):
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from _commands(command, (*path, name))
        else:
            yield " ".join(("litmine", *path, name))


def test_every_cli_command_is_in_the_readme_or_docs():
    missing = [c for c in _commands(main) if c not in ALL_TEXT]
    assert missing == [], f"commands missing from README.md and docs/*.md: {missing}"


def test_every_setting_is_in_the_readme_or_docs():
    missing = [var for var, _, _ in describe() if var not in ALL_TEXT]
    assert missing == [], f"settings missing from README.md and docs/*.md: {missing}"


def test_the_settings_table_is_generated_from_the_code():
    import importlib.util

    spec = importlib.util.spec_from_file_location("settings_table", ROOT / "scripts" / "settings_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = TEXTS[module.TARGET]
    assert module.BEGIN in text, f"{module.TARGET} has no generated settings table"
    assert module.render(text) == text, "run: .venv/bin/python scripts/settings_table.py"


def test_the_readme_is_a_short_guide():
    lines = TEXTS[README].splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines: move detail to docs/ (at most {README_MAX_LINES})"


def test_the_readme_shows_the_morning_loop_in_its_first_screen():
    first = "\n".join(TEXTS[README].splitlines()[:40])
    assert "litmine digest" in first or "digest.html" in first, first
    assert "notebooks/review_queue.ipynb" in first, first


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(text: str) -> set[str]:
    return {_slug(m.group(1)) for m in re.finditer(r"^#{1,6} (.+)$", text, flags=re.M)}


def _links(text: str):
    """Relative links and images of a Markdown text, outside indented blocks: (line number, target)."""
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("    "):
            continue
        for m in re.finditer(r"\]\(([^)\s]+)\)", line):
            if not re.match(r"[a-z]+:", m.group(1)):
                yield number, m.group(1)


def test_every_relative_link_of_the_readme_and_docs_resolves():
    broken = []
    for path, text in TEXTS.items():
        for number, target in _links(text):
            file, _, anchor = target.partition("#")
            dest = (path.parent / file).resolve() if file else path
            if not dest.exists():
                broken.append(f"{path.relative_to(ROOT)}:{number}: {target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest.read_text(encoding="utf-8")):
                broken.append(f"{path.relative_to(ROOT)}:{number}: {target} (no such heading)")
    assert broken == [], "\n".join(broken)


def test_the_readme_links_its_docs():
    linked = {(README.parent / target.partition("#")[0]).resolve() for _, target in _links(TEXTS[README])}
    unlinked = [p.name for p in DOCS if p.resolve() not in linked]
    assert unlinked == [], f"docs/ files the README does not link: {unlinked}"


# A transcript no test runs (a measurement, a run against a server, a scenario set up by hand) says
# so on the line before its block, with the date it was recorded: "*Recorded on 2026-12-07; not run
# by the tests.*" (anything may follow the date). A block of commands alone (no output) needs neither.
RECORD_MARK = re.compile(r"^\*Recorded on (\d{4}-\d{2}-\d{2})\b.*\*$")

# Commands cheap enough for `make check` (a fresh database at most); a transcript that runs any other
# (loading the survey, embedding, classifying) is marked slow.
LIGHT = {"init", "status", "query", "schema", "config", "backup", "doctor", "llm"}


def _blocks(text: str):
    """(line number of the line before it, that line, its lines unindented) of each indented block of
    a Markdown text that shows a command (`$ ...`)."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if not (lines[i].startswith("    ") and (i == 0 or not lines[i - 1].strip())):
            i += 1
            continue
        j, block = i, []
        while j < len(lines) and (lines[j].startswith("    ") or not lines[j].strip()):
            block.append(lines[j][4:])
            j += 1
        while block and not block[-1].strip():
            block.pop()
        if any(line.startswith("$ ") for line in block):
            k = i - 1
            while k >= 0 and not lines[k].strip():
                k -= 1
            yield k + 1, lines[k].strip() if k >= 0 else "", block
        i = j


def _transcripts():
    for path, text in TEXTS.items():
        for number, before, block in _blocks(text):
            if before != TRANSCRIPT_MARK:
                continue
            light = all(args[:1] and (args[0] in LIGHT or "--help" in args) for _, args, _ in _steps(block))
            yield pytest.param(block, id=f"{path.relative_to(ROOT)}:{number + 1}",
                               marks=() if light else pytest.mark.slow)


def test_every_transcript_is_tested_or_a_dated_record():
    """A reader tells a transcript the tests run (marked for them) from a dated record (marked for the
    reader); a block of commands with no output is an instruction, and needs neither."""
    unmarked = []
    for path, text in TEXTS.items():
        for number, before, block in _blocks(text):
            shows_output = any(line.strip() and not line.startswith("$ ") for line in block)
            if shows_output and before != TRANSCRIPT_MARK and not RECORD_MARK.match(before):
                unmarked.append(f"{path.relative_to(ROOT)}:{number + 1}: {block[0]}")
    assert unmarked == [], ("transcripts neither tested nor dated: mark each with "
                            f"{TRANSCRIPT_MARK!r} or '*Recorded on YYYY-MM-DD; not run by the tests.*'\n"
                            + "\n".join(unmarked))


def _assignments(words: list[str]) -> dict[str, str]:
    env = {}
    while words and re.match(r"[A-Z_][A-Z0-9_]*=", words[0]):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    return env


def _steps(block: list[str]):
    """(environment, arguments, expected lines) for each `$ litmine ...` of a block; `$ export A=x B=y`
    sets variables for the rest of the block, `$ A=x litmine ...` for one command."""
    steps, exported = [], {}
    for line in block:
        if line.startswith("$ "):
            words = shlex.split(line[2:], comments=True)
            if words[:1] == ["export"]:
                rest = words[1:]
                exported |= _assignments(rest)
                assert rest == [], f"export takes NAME=value only: {line}"
                continue
            env = exported | _assignments(words)
            assert words[:1] == ["litmine"], f"a tested transcript runs litmine only: {line}"
            steps.append((env, words[1:], []))
        else:
            assert steps, f"a tested transcript starts with a command: {line}"
            steps[-1][2].append(line.rstrip())
    return steps


# What differs from one run to the next and is not litmine's behaviour: dates and times (a backup's
# stamp, a run's start), timings, and where the data directory is. Both sides are read through them.
_VARYING = [
    (re.compile(r"\d{8}T\d{6,12}Z?"), "<time>"),  # a backup's stamp
    (re.compile(r"\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"), "<time>"),
    (re.compile(r"\b\d+(?:\.\d+)? ?(?:ms|s|seconds?|min|minutes?)\b"), "<duration>"),
]


def _normal(line: str, data_dir: Path | None = None) -> str:
    if data_dir is not None:
        line = line.replace(str(data_dir), "data")
    for pattern, placeholder in _VARYING:
        line = pattern.sub(placeholder, line)
    return line


def _line_matches(expected: str, got: str) -> bool:
    """Equal; or, where the expected line has `...` in it, any text there (a free disk's size)."""
    if "..." not in expected:
        return expected == got
    return re.fullmatch(".*".join(re.escape(part) for part in expected.split("...")), got) is not None


def _matches(expected: list[str], got: list[str]) -> bool:
    """Line by line; a line `...` stands for any lines (none included)."""
    if not expected:
        return not got
    if expected[0] == "...":
        return any(_matches(expected[1:], got[k:]) for k in range(len(got) + 1))
    return bool(got) and _line_matches(expected[0], got[0]) and _matches(expected[1:], got[1:])


def test_the_tested_transcripts_are_found():
    assert len(list(_transcripts())) >= 2, f"no block follows {TRANSCRIPT_MARK!r}"


def test_the_transcript_check_reads_through_dates_timings_and_the_data_directory(tmp_path):
    data = tmp_path / "data"
    got = [_normal(f"backup: {data}/backups/litmine-20261207T213711354894Z.duckdb (798,720 bytes) in 0.4 s", data),
           _normal("ok       disk: 65.3 GiB free in data"), _normal("run since 2026-12-07 03:00:02")]
    assert _matches([_normal("backup: data/backups/litmine-20261201T054742509618Z.duckdb (798,720 bytes) in 12 s"),
                     "ok       disk: ... free in data", _normal("run since 2026-06-29 01:30:00")], got)
    assert not _matches([_normal("backup: data/backups/litmine-20261201T054742509618Z.duckdb (6,041,600 bytes) in 1 s")],
                        got[:1])
    assert _matches(["first", "...", "last"], ["first", "last"]) and not _matches(["first", "..."], ["other"])


@pytest.mark.parametrize("block", list(_transcripts()))
def test_a_transcript_prints_what_it_says(block, data_dir: Path):
    from click.testing import CliRunner

    runner = CliRunner()
    for env, args, expected in _steps(block):
        env = {name: str((ROOT / value).resolve()) if (ROOT / value).exists() and "/" in value else value
               for name, value in env.items()}
        result = runner.invoke(main, args, env=env, catch_exceptions=False, prog_name="litmine")  # --help: 80 wide
        got = [_normal(line.rstrip(), data_dir) for line in result.output.rstrip("\n").splitlines()]
        assert _matches([_normal(line) for line in expected], got), \
            f"$ litmine {shlex.join(args)}\nexpected:\n" + "\n".join(expected) + "\ngot:\n" + "\n".join(got)
