"""`prefect deploy` from the repository's flows/ folder against a real `prefect server` on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import requests
import yaml
from conftest import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FLOWS = ROOT / "flows"


def _prefect(args: list[str], api: str, home, cwd=FLOWS) -> subprocess.CompletedProcess:
    env = dict(os.environ, PREFECT_API_URL=api, PREFECT_HOME=str(home), DO_NOT_TRACK="1",
               PREFECT_SERVER_ANALYTICS_ENABLED="false")
    return subprocess.run([sys.executable, "-m", "prefect", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_prefect_deploy_from_flows_registers_the_nightly_and_a_worker_runs_it(prefect_server, data_dir, tmp_path):
    home = tmp_path / "prefect-client"
    before = _git_status()

    pool = _prefect(["work-pool", "create", "litmine", "--type", "process"], prefect_server, home)
    assert pool.returncode == 0, pool.stdout + pool.stderr
    deploy = _prefect(["--no-prompt", "deploy", "--all"], prefect_server, home)
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    assert "Deployment 'litmine-nightly/nightly' successfully created" in " ".join(deploy.stdout.split())

    # Ask the server: the deployment of the package's flow, its cron, its pool, and where its runs start.
    deps = requests.post(f"{prefect_server}/deployments/filter", json={}, timeout=10).json()
    assert [d["name"] for d in deps] == ["nightly"]
    (dep,) = deps
    flow = requests.get(f"{prefect_server}/flows/{dep['flow_id']}", timeout=10).json()
    assert flow["name"] == "litmine-nightly"
    assert dep["entrypoint"] == "nightly.py:nightly"
    assert dep["work_pool_name"] == "litmine"
    assert dep["pull_steps"] == [{"prefect.deployments.steps.set_working_directory": {"directory": str(FLOWS)}}]
    (schedule,) = dep["schedules"]
    assert schedule["active"] is True
    assert (schedule["schedule"]["cron"], schedule["schedule"]["timezone"]) == ("30 1 * * 1-5", "UTC")

    # The CLI a Prefect user would use shows it too.
    listed = _prefect(["deployment", "ls"], prefect_server, home)
    assert listed.returncode == 0, listed.stderr
    assert "litmine-nightly/nightly" in listed.stdout

    # A worker of the pool runs it: the pull step, the entry point, the package's flow and its run.
    run = _prefect(["deployment", "run", "litmine-nightly/nightly", "--param", 'stages=["decisions"]'],
                   prefect_server, home)
    assert run.returncode == 0, run.stdout + run.stderr
    worker = _prefect(["worker", "start", "--pool", "litmine", "--run-once"], prefect_server, home)
    assert worker.returncode == 0, worker.stdout + worker.stderr
    (flow_run,) = requests.post(f"{prefect_server}/flow_runs/filter", json={
        "deployments": {"id": {"any_": [dep["id"]]}}, "flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}}},
        timeout=10).json()
    assert flow_run["parameters"] == {"stages": ["decisions"]}
    assert (data_dir / "litmine.duckdb").exists()  # the run's own record, in LITMINE_DATA_DIR

    # `prefect deploy` wrote nothing into the repository (prefect.yaml is saved back only when interactive).
    assert _git_status() == before


def _git_status() -> str:
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all", "--", "."], cwd=FLOWS,
                          capture_output=True, text=True, check=True).stdout


def test_prefect_yaml_schedule_is_litmine_schedule_default():
    """The cron in flows/prefect.yaml is the one `litmine schedule` registers by default."""
    from litmine.config import Settings

    config = yaml.safe_load((FLOWS / "prefect.yaml").read_text())
    (dep,) = config["deployments"]
    (schedule,) = dep["schedules"]
    assert (schedule["cron"], schedule["timezone"]) == (Settings().schedule_cron, Settings().schedule_timezone)
