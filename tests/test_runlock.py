"""Two runs started at once: the second refuses cleanly; a killed run leaves no stale lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from litmine.runlock import RunInProgress, run_lock

HOLD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from litmine.runlock import run_lock
    with run_lock(Path(sys.argv[1]), "run"):
        print("holding", flush=True)
        time.sleep(60)
""")


def _holder(data_dir):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(data_dir)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "holding"
    return proc


def test_second_run_refuses_and_names_the_first(data_dir):
    first = _holder(data_dir)
    try:
        with pytest.raises(RunInProgress, match=rf"another litmine run is in progress \(`litmine run`, pid {first.pid}, since "):
            with run_lock(data_dir, "run"):
                pass
    finally:
        first.kill()
        first.wait()


def test_a_killed_run_leaves_no_stale_lock(data_dir):
    first = _holder(data_dir)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    with run_lock(data_dir, "run"):  # taken at once: the kernel released the dead holder's lock
        pass


def test_lock_is_released_after_an_error(data_dir):
    with pytest.raises(ValueError):
        with run_lock(data_dir, "run"):
            raise ValueError("stage failed")
    with run_lock(data_dir, "run"):
        pass
