"""Shared fixtures: every test gets its own data directory and database, offline."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"

# Offline by default: no model hub, no telemetry, Prefect state kept inside the test session.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["DO_NOT_TRACK"] = "1"
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
# One temporary Prefect home per test session, created here (Prefect warns if it cannot create it).
os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="litmine-prefect-test-")
atexit.register(shutil.rmtree, os.environ["PREFECT_HOME"], ignore_errors=True)
for _var in [v for v in os.environ if v.startswith("LITMINE_")]:
    del os.environ[_var]


# Tests that take more than a few seconds, in files other changes were editing at the same time (issue
# 27): marked here by name so those files merge cleanly; `make check` leaves out what is marked slow.
# Measured with `pytest --durations` on 2026-12-07 (20 s and more on a machine loaded about seven times).
SLOW = {
    "test_evaluate.py::test_no_method_is_evaluated_on_works_it_was_trained_on",  # 41 s
    "test_evaluate.py::test_evaluation_on_the_seed_set_with_a_fixed_seed",  # 298 s: every method, every fold
    "test_evaluate.py::test_evaluate_command_prints_every_label_of_every_method",  # 181 s
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.nodeid.split("[")[0].removeprefix("tests/") in SLOW:
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh data directory, set as LITMINE_DATA_DIR for the library and the CLI."""
    path = tmp_path / "data"
    path.mkdir()
    monkeypatch.setenv("LITMINE_DATA_DIR", str(path))
    monkeypatch.chdir(tmp_path)  # so no litmine.toml of the developer's is read
    return path


@pytest.fixture
def settings(data_dir: Path):
    from litmine.config import load_settings

    return load_settings()


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory) -> Path:
    """An empty database with every migration applied: built once per session (the migrations take
    about half a second), copied for each test that asks for ``store``."""
    from litmine.store import Store

    path = tmp_path_factory.mktemp("migrated") / "litmine.duckdb"
    Store(path).migrate()
    return path


@pytest.fixture
def store(migrated_db, settings):
    """A migrated, empty store in the test's own data directory (a copy of ``migrated_db``)."""
    from litmine.store import Store

    shutil.copy(migrated_db, settings.database)
    s = Store(settings.database, lock_timeout=5)
    s.migrate()  # up to date: checks and writes nothing
    return s


@pytest.fixture(scope="session")
def shared() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"the shared data folder is missing: expected it at {SHARED}")
    return SHARED


from replay import ReplayServer  # noqa: E402  (the loopback arXiv: tests/replay.py)


@pytest.fixture
def replay_server(monkeypatch: pytest.MonkeyPatch):
    """A started ``ReplayServer``, with ``LITMINE_*`` set so settings loaded in the test point at it."""
    with ReplayServer() as server:
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        yield server


@pytest.fixture(scope="session")
def seeded_db(tmp_path_factory):
    """The survey seed with its works' real abstracts, embedded by the hashing embedder; built once
    per session and copied for each test that asks for ``seeded``."""
    from ml_seed import load_seed_with_abstracts

    from litmine.config import load_settings
    from litmine.embed import HashingEmbedder, embed_works
    from litmine.store import Store

    path = tmp_path_factory.mktemp("seeded") / "litmine.duckdb"
    store = Store(path)
    store.migrate()
    assert load_seed_with_abstracts(store, load_settings(env={}).seed_dir) == 251
    embed_works(store, HashingEmbedder(256))
    return path


@pytest.fixture
def seeded(seeded_db, settings):
    """A copy of ``seeded_db`` as this test's database."""
    import shutil

    from litmine.store import Store

    shutil.copy(seeded_db, settings.database)
    return Store(settings.database, lock_timeout=5)


def hashing_env():
    """Classifier collaborators with the deterministic hashing embedder (the one ``seeded`` used)."""
    from litmine.classify import ClassifierEnv
    from litmine.embed import HashingEmbedder

    emb = HashingEmbedder(256)
    return ClassifierEnv(make_embedder=lambda: emb)


def send_json(handler, status: int, obj) -> None:
    """Answer an HTTP request of a test server (``BaseHTTPRequestHandler``) with ``obj`` as JSON."""
    import json

    payload = json.dumps(obj).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    handler.wfile.write(payload)
