"""Shared fixtures: every test gets its own data directory and database, offline."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from waits import CEILING  # tests/waits.py: one ceiling for every wait

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
    # The slowest of `make check`'s tier in its run on 2 workers, 2026-12-08 (wall at load 6 to 7: each worker
    # had about a quarter of a core); they stay in `make test`.
    "test_newpapers.py::test_evaluate_leads_with_the_new_papers",  # 241 s
    "test_cli.py::test_corrupt_database_gives_one_line_and_is_not_overwritten",  # 93 s: three `litmine` processes
    "test_resolve.py::test_fetch_survey_end_to_end_then_nothing_changes",  # 80 s
    "test_topics.py::test_topics_fill_the_tables_and_the_view",  # 79 s
    "test_topics.py::test_without_reviewed_works_the_new_label_is_not_learnt",  # 77 s
    "test_screening.py::test_fetch_survey_gives_the_candidates_their_arxiv_title_and_abstract",  # 70 s
    "test_screening.py::test_scope_is_evaluated_out_of_fold_per_stratum_with_the_bare_library_beside",  # 58 s
    "test_screening.py::test_one_id_arxiv_does_not_answer_fails_alone_never_its_batch",  # 48 s
    "test_resolve.py::test_every_second_reply_empty_resolves_as_a_clean_run",  # 45 s
    "test_classify.py::test_ensemble_pools_its_members_with_weights_learnt_out_of_fold",  # 43 s
    "test_newpapers.py::test_the_scope_ensemble_threshold_follows_the_target_recall",  # 43 s
    "test_pipeline.py::test_offline_the_network_stages_stop_with_one_line_each_and_the_rest_run",  # 41 s
}


# pytest-xdist (`make test` runs `pytest -n auto --dist loadgroup --no-loadscope-reorder`): the unit of work
# is a file, so its module fixtures are made once; files sharing a session fixture that is a server (it
# cannot be shared between processes) are one unit. Databases built once per session are shared between
# the workers instead (`_built_once`). The units are made by the scheduler below, not by `xdist_group`
# marks: pytest 9 ignores the node id suffix through which xdist 3.8 reads those marks.
GROUPS = {
    "test_flows_dask.py": "prefect-harness", "test_flows_e2e.py": "prefect-harness",  # `harness`
    "test_flows_deploy.py": "prefect-server", "test_flows_schedule.py": "prefect-server",  # `prefect_server_api`
}
# Units the workers take first, the costliest first (`--durations` runs, 2026-12-07/08), so the run does not
# end on one worker still in a long file; the rest follow in collection order.
HEAVY = ["test_flows_kill.py", "prefect-harness", "test_one_method.py", "test_evaluate.py", "test_newpapers.py",
         "test_faults.py", "test_screening.py", "test_topics.py", "test_review.py", "test_resolve.py", "test_setup.py",
         "test_docs.py", "prefect-server", "test_classify.py", "test_digest.py", "test_browser.py", "test_llm.py",
         "test_cli.py", "test_notebook.py", "test_backup.py", "test_doctor.py", "test_pipeline.py", "test_security.py"]


def _unit(nodeid: str) -> str:
    """The unit of work of a test: its file's name, or its group's."""
    name = nodeid.split("::")[0].rsplit("/", 1)[-1]
    return GROUPS.get(name, name)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """Under `--dist loadgroup`, xdist's scheduler by scope with this suite's units as the scopes."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ByUnit(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _unit(nodeid)

    return ByUnit(config, log)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.nodeid.split("[")[0].removeprefix("tests/") in SLOW:
            item.add_marker(pytest.mark.slow)
    if getattr(config.option, "loadgroup", False):  # an xdist worker of `--dist loadgroup`: the costliest first
        rank = {unit: i for i, unit in enumerate(HEAVY)}
        items.sort(key=lambda item: rank.get(_unit(item.nodeid), len(HEAVY)))  # stable: the rest keep their order


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


def _built_once(tmp_path_factory, name: str, build) -> tuple[Path, object]:
    """A database ``build(path)`` makes once per test run, and what it returned (JSON). Alone, in a folder
    of this session; under pytest-xdist, in a folder all workers share: the first to ask builds it under a
    lock, the others wait for it and read the same file (tests copy it, never write it)."""
    import fcntl
    import json

    if "PYTEST_XDIST_WORKER" not in os.environ:
        path = tmp_path_factory.mktemp(name) / "litmine.duckdb"
        return path, build(path)
    folder = tmp_path_factory.getbasetemp().parent / f"shared-{name}"
    folder.mkdir(exist_ok=True)
    path, done = folder / "litmine.duckdb", folder / "built.json"
    with open(folder / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not done.exists():  # not built, or a build that failed part way: start again
            path.unlink(missing_ok=True)
            done.write_text(json.dumps(build(path)))
    return path, json.loads(done.read_text())


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory) -> Path:
    """An empty database with every migration applied: built once per session (the migrations take
    about half a second), copied for each test that asks for ``store``."""
    from litmine.store import Store

    def build(path):
        Store(path).migrate()

    return _built_once(tmp_path_factory, "migrated", build)[0]


@pytest.fixture
def store(migrated_db, settings):
    """A migrated, empty store in the test's own data directory (a copy of ``migrated_db``)."""
    from litmine.store import Store

    shutil.copy(migrated_db, settings.database)
    s = Store(settings.database, lock_timeout=5)
    s.migrate()  # up to date: checks and writes nothing
    return s


@pytest.fixture(scope="session")
def harness():
    """One ``prefect_test_harness`` (a temporary Prefect server and database) for the whole test run,
    started by the first test that asks for it (the flow tests run in-process under it): each start
    is a uvicorn process importing the whole Prefect server. Tests that start ``litmine run`` or
    ``prefect`` as processes give them a Prefect home and server of their own."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=CEILING):  # a busy machine starts it slowly
        yield


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def prefect_server_api(tmp_path_factory):
    """A real `prefect server start` on 127.0.0.1 for the whole test run, started by the first test
    that asks for it; its API URL. Tests use it through ``prefect_server``, which empties it after each."""
    import subprocess
    import sys
    import time

    import requests

    folder = tmp_path_factory.mktemp("prefect-server")
    env = dict(os.environ, PREFECT_HOME=str(folder / "home"), PREFECT_SERVER_ANALYTICS_ENABLED="false",
               DO_NOT_TRACK="1", PREFECT_UI_ENABLED="false", PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS="2")
    env.pop("PREFECT_API_URL", None)
    port = free_port()
    log_path = folder / "server.log"
    log = log_path.open("w")
    proc = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    api = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + CEILING  # a ceiling for a busy machine, not a speed limit
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail("prefect server exited: " + log_path.read_text()[-2000:])
            try:
                if requests.get(f"{api}/health", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"prefect server did not answer in {CEILING} s: " + log_path.read_text()[-2000:])
            time.sleep(0.5)
        yield api
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture
def prefect_server(prefect_server_api):
    """The shared `prefect server`'s API URL, with no deployment and no work pool when the test starts:
    what a test made (deployments first, so the scheduler makes no more runs, then flow runs, flows and
    work pools) is deleted after it."""
    import requests

    api = prefect_server_api

    def names(kind: str) -> set[str]:
        key = "name" if kind == "work_pools" else "id"
        return {row[key] for row in requests.post(f"{api}/{kind}/filter", json={}, timeout=30).json()}

    before = {kind: names(kind) for kind in ("deployments", "flow_runs", "flows", "work_pools")}
    yield api
    for kind in before:
        for name in names(kind) - before[kind]:
            gone = requests.delete(f"{api}/{kind}/{name}", timeout=30)
            assert gone.status_code in (200, 204, 404), (kind, name, gone.status_code, gone.text)
    for kind in ("deployments", "work_pools"):
        assert names(kind) == before[kind], f"{kind} of a test left on the shared Prefect server"


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
def surveyed_db(tmp_path_factory) -> Path:
    """A migrated database with the survey seed loaded by ``load_survey`` (about 10 s of CPU, most of it
    single-row label inserts): built once per session, copied for each test that asks for ``surveyed``."""
    from litmine.config import load_settings
    from litmine.store import Store
    from litmine.survey.load import load_survey

    def build(path):
        store = Store(path)
        store.migrate()
        load_survey(store, load_settings(env={}).seed_dir)

    return _built_once(tmp_path_factory, "surveyed", build)[0]


@pytest.fixture
def surveyed(surveyed_db, settings):
    """A copy of ``surveyed_db`` as this test's database: what ``load_survey`` on ``store`` would leave."""
    from litmine.store import Store

    shutil.copy(surveyed_db, settings.database)
    return Store(settings.database, lock_timeout=5)


@pytest.fixture(scope="session")
def seeded_db(tmp_path_factory):
    """The survey seed with its works' real abstracts, embedded by the hashing embedder; built once
    per session and copied for each test that asks for ``seeded``."""
    from ml_seed import load_seed_with_abstracts

    from litmine.config import load_settings
    from litmine.embed import HashingEmbedder, embed_works
    from litmine.store import Store

    def build(path):
        store = Store(path)
        store.migrate()
        assert load_seed_with_abstracts(store, load_settings(env={}).seed_dir) == 251
        embed_works(store, HashingEmbedder(256))

    return _built_once(tmp_path_factory, "seeded", build)[0]


@pytest.fixture
def seeded(seeded_db, settings):
    """A copy of ``seeded_db`` as this test's database."""
    import shutil

    from litmine.store import Store

    shutil.copy(seeded_db, settings.database)
    return Store(settings.database, lock_timeout=5)


@pytest.fixture(scope="session")
def review_template(tmp_path_factory):
    """The review database of ``tests/test_review.py``'s ``build_review_db`` (the survey seed loaded,
    hashing embeddings, two classifiers' labels, an evaluation), built once per session: loading the
    seed alone costs about 10 s of CPU. Its path and what ``build_review_db`` returned."""
    from test_review import build_review_db

    from litmine.config import load_settings
    from litmine.store import Store

    def build(path):
        store = Store(path)
        store.migrate()
        return build_review_db(store, load_settings(env={}).seed_dir)

    return _built_once(tmp_path_factory, "review", build)


@pytest.fixture
def review_copy(review_template, store) -> dict:
    """A copy of ``review_template`` as this test's database (``store`` then reads it); returns what
    ``build_review_db`` returned, as calling it on ``store`` would have."""
    import copy

    path, built = review_template
    shutil.copy(path, store.path)
    return copy.deepcopy(built)


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
