"""Regenerate the settings table of docs/configuration.md from litmine.config (tests/test_docs.py checks it).

    .venv/bin/python scripts/settings_table.py
"""

from __future__ import annotations

import re
from pathlib import Path

from litmine.config import describe

TARGET = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
BEGIN, END = "<!-- settings:begin -->", "<!-- settings:end -->"


def table() -> str:
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    rows += [f"| `{var}` | {f'`{default}`' if default else ''} | {meaning} |" for var, default, meaning in describe()]
    return "\n".join(rows)


def render(text: str) -> str:
    return re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), f"{BEGIN}\n{table()}\n{END}", text, flags=re.S)


if __name__ == "__main__":
    TARGET.write_text(render(TARGET.read_text(encoding="utf-8")), encoding="utf-8")
