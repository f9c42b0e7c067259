"""`litmine run` when Prefect itself cannot start: one line, exit 1, and the run recorded as failed."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from litmine.config import load_settings
from litmine.store import Store

# `litmine run` starts Prefect's temporary server (given no time to answer): a real server process, and
# 8 s of CPU importing Prefect (25 s wall at a load average of 12, 2026-12-07), so not in `make check`.
pytestmark = pytest.mark.integration


def test_prefect_failing_to_start_is_one_line_and_a_failed_run(data_dir, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    # a temporary Prefect server given no time to start: Prefect gives up at once
    env.update(PREFECT_HOME=str(tmp_path / "prefect"), PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="0")
    proc = subprocess.run([sys.executable, "-m", "litmine", "run", "--stage", "survey"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.startswith("Error: Prefect could not start its temporary server: Timed out while attempting to connect to "
                                  "ephemeral Prefect API server: run it again, or start a server (`prefect server "
                                  "start`) and set PREFECT_API_URL (run_id=")
    assert proc.stderr.count("\n") == 1
    with Store(load_settings().database).connect(read_only=True) as con:
        assert con.execute("SELECT command, status, error IS NOT NULL FROM runs").fetchall() == [("run", "failed", True)]
