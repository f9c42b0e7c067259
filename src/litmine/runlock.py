"""One pipeline run at a time per data directory.

A second ``litmine run`` started while one is going refuses at once, naming the first one, rather
than interleaving with it. The lock is an OS file lock (``flock``) on ``DATA_DIR/run.lock``: the
kernel releases it when the holding process exits, however it exits, so a killed run never leaves
a stale lock behind. Within one process the lock is re-entrant: `litmine run` takes it before it
records its run, and the flow it starts takes it again (as a scheduled run does) without waiting
on itself.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from litmine.errors import LitmineError


class RunInProgress(LitmineError):
    """Another litmine run holds the data directory's run lock."""


_held: dict[Path, int] = {}  # lock files this process holds, and how deeply


@contextmanager
def run_lock(data_dir: Path, command: str) -> Iterator[None]:
    """Hold the run lock of ``data_dir`` for the block, or raise ``RunInProgress`` at once."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = (data_dir / "run.lock").resolve()
    if path in _held:  # this process holds it already: an outer block releases it
        _held[path] += 1
        try:
            yield
        finally:
            _held[path] -= 1
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            raise RunInProgress(
                f"another litmine run is in progress ({holder}): wait for it to finish; "
                "its results will be in `litmine status`",
                lock=path,
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "command": command,
                                  "started": time.strftime("%Y-%m-%d %H:%M:%S")}).encode(), 0)
        _held[path] = 1
        try:
            yield
        finally:
            del _held[path]
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _read_holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return "holder unknown"
    if not info:
        return "holder unknown"
    return f"`litmine {info.get('command', '?')}`, pid {info.get('pid', '?')}, since {info.get('started', '?')}"
