"""Settings: defaults, environment, litmine.toml, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from litmine.config import Settings, describe, load_settings
from litmine.errors import ConfigError


def test_defaults_work_with_nothing_set(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = load_settings(env={})
    assert s.database == s.data_dir / "litmine.duckdb"
    assert s.arxiv_delay_seconds == 3.0
    assert s.arxiv_categories == ("cs.LG", "cs.AI", "cs.CV", "cs.CL", "stat.ML")
    assert (s.seed_dir / "survey.json").is_file()


def test_environment_beats_file_beats_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "litmine.toml").write_text(
        '[litmine]\ndata_dir = "from-file"\narxiv_delay_seconds = 5\narxiv_categories = ["cs.LG"]\n')
    s = load_settings(env={"LITMINE_ARXIV_DELAY_SECONDS": "7.5"})
    assert s.data_dir == Path("from-file")
    assert s.pdf_dir == Path("from-file") / "pdfs"
    assert s.arxiv_delay_seconds == 7.5
    assert s.arxiv_categories == ("cs.LG",)


def test_unknown_key_in_file_lists_the_known_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "litmine.toml").write_text("[litmine]\ndelay = 1\n")
    with pytest.raises(ConfigError, match=r"unknown setting 'delay' in litmine.toml; known: data_dir, "):
        load_settings(env={})


def test_api_key_is_not_in_repr():
    s = Settings(llm_api_key="sk-secret-value")
    assert "sk-secret-value" not in repr(s)


def test_every_setting_is_described():
    rows = describe()
    assert all(var.startswith("LITMINE_") and meaning for var, _, meaning in rows)
    assert len(rows) == len(Settings.__dataclass_fields__)
