"""The README documents every command and every setting (docs that drift from the code fail here)."""

from __future__ import annotations

from litmine.cli import main
from litmine.config import describe
from conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _commands(group, path=()):
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from _commands(command, (*path, name))
        else:
            yield " ".join(("litmine", *path, name))


def test_every_cli_command_is_in_the_readme():
    missing = [c for c in _commands(main) if c not in README]
    assert missing == [], f"commands missing from README.md: {missing}"


def test_every_setting_is_in_the_readme():
    missing = [var for var, _, _ in describe() if var not in README]
    assert missing == [], f"settings missing from README.md: {missing}"


def test_the_settings_table_is_generated_from_the_code():
    import importlib.util

    spec = importlib.util.spec_from_file_location("readme_settings", ROOT / "scripts" / "readme_settings.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.render(README) == README, "run: .venv/bin/python scripts/readme_settings.py"
