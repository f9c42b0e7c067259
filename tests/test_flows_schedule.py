"""`litmine schedule` against a real `prefect server` started on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
import requests

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _litmine(*args, env_extra=None):
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run([str(BIN / "litmine"), *args], capture_output=True, text=True, env=env, timeout=180)


def test_schedule_registers_cron_and_the_server_schedules_runs(prefect_server, data_dir):
    result = _litmine("schedule", "--api-url", prefect_server,
                      env_extra={"LITMINE_SCHEDULE_CRON": "30 21 * * 0-4",
                                 "LITMINE_SCHEDULE_TIMEZONE": "America/New_York"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == (f'registered litmine-nightly/nightly with {prefect_server}: '
                        f'cron "30 21 * * 0-4" in America/New_York')
    assert lines[1].startswith("next runs: ")
    assert lines[-1] == "to execute them, keep `litmine schedule --serve` running"

    # Ask the server itself: the deployment, its cron schedule, and the runs its scheduler made.
    deps = requests.post(f"{prefect_server}/deployments/filter", json={}, timeout=10).json()
    assert [d["name"] for d in deps] == ["nightly"]
    (schedule,) = deps[0]["schedules"]
    assert schedule["schedule"]["cron"] == "30 21 * * 0-4"
    assert schedule["schedule"]["timezone"] == "America/New_York"
    assert schedule["active"] is True
    runs = requests.post(f"{prefect_server}/flow_runs/filter", json={
        "deployments": {"id": {"any_": [deps[0]["id"]]}}, "sort": "EXPECTED_START_TIME_ASC"}, timeout=10).json()
    assert len(runs) >= 3
    from zoneinfo import ZoneInfo

    for run in runs:
        assert run["state"]["type"] == "SCHEDULED"
        when = datetime.fromisoformat(run["expected_start_time"]).astimezone(ZoneInfo("America/New_York"))
        assert (when.hour, when.minute) == (21, 30)
        assert when.weekday() in (6, 0, 1, 2, 3)  # cron 0-4 = Sunday to Thursday

    # Registering again updates the one deployment instead of adding another.
    again = _litmine("schedule", "--api-url", prefect_server)
    assert again.returncode == 0, again.stderr
    assert 'cron "30 1 * * 1-5" in UTC' in again.stdout.splitlines()[0]
    deps = requests.post(f"{prefect_server}/deployments/filter", json={}, timeout=10).json()
    assert len(deps) == 1
    assert deps[0]["schedules"][0]["schedule"]["cron"] == "30 1 * * 1-5"


def test_schedule_without_a_server_says_how_to_start_one(data_dir):
    url = f"http://127.0.0.1:{_free_port()}/api"
    result = _litmine("schedule", "--api-url", url)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: no Prefect server answers at {url}: start one with `prefect server start` "
        f"or set LITMINE_PREFECT_API_URL (api_url={url})")
