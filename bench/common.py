"""Shared by the benchmarks: run a function in a fresh process and measure it.

Each measured function runs in its own spawned process, so its peak memory (``ru_maxrss``) is its
own and not the benchmark's, and litmine and the bare library it is compared with start equal.
"""

from __future__ import annotations

import multiprocessing
import os
import platform
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
for _p in (ROOT / "src", ROOT / "tests"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))


def _child(queue, func, args, kwargs):
    start = time.perf_counter()
    try:
        result = func(*args, **kwargs)
        error = None
    except BaseException as exc:  # reported to the parent, which raises it
        result, error = None, f"{type(exc).__name__}: {exc}"
    seconds = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put((result, seconds, peak_mib, error))


def measure(func, *args, **kwargs) -> tuple[object, float, float]:
    """(result, seconds, peak MiB) of ``func(*args, **kwargs)`` run in a fresh process."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(queue, func, args, kwargs))
    proc.start()
    result, seconds, peak, error = queue.get()
    proc.join()
    if error:
        raise RuntimeError(f"{getattr(func, '__name__', func)} failed: {error}")
    return result, seconds, peak


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def header(title: str) -> None:
    print(f"== {title} ({time.strftime('%Y-%m-%d')}, {machine()})", flush=True)
