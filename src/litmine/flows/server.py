"""Prefect's temporary API server, tied to the `litmine run` that starts it.

Without a Prefect server configured (``PREFECT_API_URL``), Prefect starts a temporary one in a child
process and stops it at exit; a run killed with SIGKILL never reaches its exit, and the server would
run on, one more per kill. So `litmine run` starts that server itself, first thing, and with it a
small watchdog process (``python -m litmine.flows.server PARENT SERVER``) that stops the server as
soon as the run's process is gone, however it ended. Prefect's clients then find the server running.

The watchdog imports nothing heavy: it asks the kernel for its parent every half second (a parent
that died leaves it to another), and exits itself when the server is gone. (Not the kernel's
parent-death signal: Prefect may start its server from a thread, and that signal fires when the
thread ends.)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

POLL_SECONDS = 0.5


def start_tied_server() -> int | None:
    """Start Prefect's temporary server with its watchdog, unless a server is configured; the
    server's pid (None when a configured server is used). Call after ``config.prefect_environment``."""
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():
        return None
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()  # the one Prefect's clients use when no server is configured
    server.start()
    pid = server.server_process.pid
    # Its own session: a signal to the run's process group (Ctrl-C, a service stopping) is for the
    # run and its server; the watchdog stays to clean up after them.
    subprocess.Popen([sys.executable, "-m", "litmine.flows.server", str(os.getpid()), str(pid)],
                     stdin=subprocess.DEVNULL, start_new_session=True)
    return pid


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (dead, not yet reaped by its parent) is gone for our purpose
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def stop(pid: int, grace: float = 5.0) -> None:
    """SIGTERM to ``pid``, then SIGKILL if it still runs after ``grace`` seconds."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def watch(parent: int, server: int) -> None:  # pragma: no cover - runs as its own process
    """Stop ``server`` once ``parent`` is gone; return when the server is gone."""
    while _alive(server):
        if os.getppid() != parent or not _alive(parent):
            stop(server)
            return
        time.sleep(POLL_SECONDS)


if __name__ == "__main__":  # pragma: no cover
    watch(int(sys.argv[1]), int(sys.argv[2]))
