"""`make run` installs litmine without its extras (no llama.cpp, notebooks, Dask, test tools): nothing on
the run's path may need one. The extras' modules are hidden from a child process, as in a run-only venv;
litmine importing one is a failure, a library trying one (an optional import) just finds it missing."""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import re
import socket
import subprocess
import sys
import textwrap

import pytest

from waits import CEILING

from conftest import ROOT


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _closure(extras: set[str]) -> set[str]:
    """The distributions ``pip install -e '.[extras]'`` brings in: litmine's requirements, followed."""
    from packaging.requirements import Requirement

    seen: set[str] = set()
    todo = [("litmine", frozenset(extras))]
    while todo:
        dist, wanted = todo.pop()
        for line in md.requires(dist) or []:
            req = Requirement(line)
            if req.marker is not None and not any(req.marker.evaluate({"extra": e}) for e in (*wanted, "")):
                continue
            name = _norm(req.name)
            if name == "litmine":  # litmine[llm,dask,notebooks] inside the test extra
                todo.append(("litmine", frozenset(req.extras)))
                continue
            key = (name, frozenset(req.extras))
            if key in seen or name not in _INSTALLED:
                continue
            seen.add(key)
            todo.append((name, frozenset(req.extras)))
    return {name for name, _ in seen}


_INSTALLED = {_norm(d.metadata["Name"]) for d in md.distributions()}


def extras_only_modules() -> list[str]:
    """Top-level modules that only the extras install: absent from a venv set up by `make run`."""
    optional = _closure({"test"}) - _closure(set())
    assert {"llama-cpp-python", "nbformat", "jupyterlab", "selenium", "prefect-dask"} <= optional
    return sorted(mod for mod, dists in md.packages_distributions().items()
                  if mod.isidentifier() and all(_norm(d) in optional for d in dists))


# A child process: the extras' modules are not found (as where they are not installed); an import of one
# in litmine's own code is noted. Sys.meta_path's PathFinder is wrapped, so ``importlib.util.find_spec``
# answers None for them, as a library probing for an optional module expects.
HIDE = textwrap.dedent("""
    import importlib.machinery, json, linecache, os, sys
    HIDDEN = set(json.loads(os.environ["LITMINE_TEST_HIDDEN"]))
    NOTED = os.environ["LITMINE_TEST_NOTED"]

    class Hide(importlib.machinery.PathFinder):
        @classmethod
        def find_spec(cls, name, path=None, target=None):
            if name.partition(".")[0] not in HIDDEN:
                return super().find_spec(name, path, target)
            frame = sys._getframe(1)
            while frame and frame.f_globals.get("__name__", "").startswith(("importlib", "_frozen_importlib")):
                frame = frame.f_back
            caller = frame.f_globals.get("__name__", "") if frame else ""
            line = linecache.getline(frame.f_code.co_filename, frame.f_lineno) if frame else ""
            # litmine's own import statement; not a probe from C (duckdb looks for pandas, finds none: fine)
            if caller.split(".")[0] == "litmine" and "import" in line:
                with open(NOTED, "a") as f:
                    f.write(f"{caller} imports {name}\\n")
            return None

    sys.meta_path[:] = [Hide if f is importlib.machinery.PathFinder else f for f in sys.meta_path]
    sys.path_importer_cache.clear()
""")


def _child_env(tmp_path) -> dict[str, str]:
    env = dict(os.environ, LITMINE_TEST_HIDDEN=json.dumps(extras_only_modules()),
               LITMINE_TEST_NOTED=str(tmp_path / "noted.txt"))
    (tmp_path / "noted.txt").write_text("")
    return env


def test_every_litmine_module_imports_without_the_extras(tmp_path):
    code = HIDE + textwrap.dedent("""
        import importlib, pkgutil, litmine
        for m in pkgutil.walk_packages(litmine.__path__, "litmine."):
            if not m.name.endswith(".__main__"):  # `python -m litmine`: it runs the command line
                importlib.import_module(m.name)
    """)
    proc = subprocess.run([sys.executable, "-c", code], env=_child_env(tmp_path), capture_output=True, text=True,
                          timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "noted.txt").read_text() == ""


@pytest.mark.slow
@pytest.mark.integration
def test_an_offline_litmine_run_needs_no_extra(data_dir, tmp_path):
    """`litmine run` as `make run` runs it (every stage, offline: arXiv refused), with the extras hidden."""
    with socket.socket() as sock:  # a port nothing listens on: connections are refused
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    env = _child_env(tmp_path)
    env = {k: v for k, v in env.items() if not k.startswith("PREFECT_API")}
    env.update(PREFECT_HOME=str(tmp_path / "prefect"), LITMINE_ARXIV_API_URL=f"{url}/api/query",
               LITMINE_ARXIV_OAI_URL=f"{url}/oai", LITMINE_ARXIV_PDF_URL=f"{url}/pdf", LITMINE_ARXIV_RETRIES="1")
    code = HIDE + "from litmine.cli import main\nmain(['run'])\n"
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600,
                          cwd=tmp_path)
    assert (tmp_path / "noted.txt").read_text() == ""
    assert "No module named" not in proc.stdout + proc.stderr
    assert proc.returncode == 1, proc.stderr  # the arXiv stages failed, the others ran
    from litmine.config import load_settings
    from litmine.store import Store

    with Store(load_settings().database).connect(read_only=True) as con:
        failed = con.execute("SELECT stage, reason FROM failures").fetchall()
    assert failed and {stage for stage, _ in failed} <= {"fetch-survey", "fetch-arxiv", "pdfs"}, failed
    assert not [reason for _, reason in failed if "No module" in reason], failed


def test_the_make_targets_keep_the_run_set_up_free_of_the_extras():
    """`make run`'s recipe installs litmine without an extra; `make test`'s adds the test extra."""
    dry = subprocess.run(["make", "-n", "-B", "run", "VENV=/nonexistent-venv"], cwd=ROOT, capture_output=True,
                         text=True, timeout=CEILING)
    assert dry.returncode == 0, dry.stderr
    installs = [line for line in dry.stdout.splitlines() if " pip install" in line]
    assert installs and all("[" not in line and "llama" not in line.lower() for line in installs), installs
    dry = subprocess.run(["make", "-n", "-B", "setup-test", "VENV=/nonexistent-venv"], cwd=ROOT,
                         capture_output=True, text=True, timeout=CEILING)
    assert '-e ".[test]"' in dry.stdout, dry.stdout


def test_the_replay_server_of_the_readme_has_a_command_line():
    """The README's fetch transcripts run against `python tests/replay.py --port 8080`."""
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "replay.py"), "--help"], capture_output=True,
                          text=True, timeout=CEILING)
    assert proc.returncode == 0, proc.stderr
    assert "--port" in proc.stdout and "--as-of" in proc.stdout
    assert "tests/replay.py --port 8080" in (ROOT / "README.md").read_text(encoding="utf-8")
