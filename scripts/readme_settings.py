"""Regenerate the settings table of README.md from litmine.config (tests/test_docs.py checks it).

    .venv/bin/python scripts/readme_settings.py
"""

from __future__ import annotations

import re
from pathlib import Path

from litmine.config import describe

README = Path(__file__).resolve().parents[1] / "README.md"
BEGIN, END = "<!-- settings:begin -->", "<!-- settings:end -->"


def table() -> str:
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    rows += [f"| `{var}` | {f'`{default}`' if default else ''} | {meaning} |" for var, default, meaning in describe()]
    return "\n".join(rows)


def render(text: str) -> str:
    return re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), f"{BEGIN}\n{table()}\n{END}", text, flags=re.S)


if __name__ == "__main__":
    README.write_text(render(README.read_text(encoding="utf-8")), encoding="utf-8")
