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


def test_llm_threads_reach_the_llama_cpp_backend_and_a_negative_count_is_refused(tmp_path, monkeypatch):
    import os

    from litmine.classify import env_from_settings
    from litmine.store import Store

    monkeypatch.chdir(tmp_path)
    env = {"LITMINE_LLM_BACKEND": "llama-cpp", "LITMINE_LLM_MODEL": str(tmp_path / "m.gguf")}
    store = Store(tmp_path / "db.duckdb")
    assert env_from_settings(load_settings(env=env), store).llm.backend.n_threads == (os.cpu_count() or 1)
    threaded = load_settings(env={**env, "LITMINE_LLM_THREADS": "3"})
    assert threaded.llm_threads == 3 and env_from_settings(threaded, store).llm.backend.n_threads == 3
    with pytest.raises(ConfigError) as info:
        load_settings(env={"LITMINE_LLM_THREADS": "-1"})
    assert str(info.value) == ("LITMINE_LLM_THREADS must be 0 (the machine's cores) or more, got -1: set it to e.g. 2")
