"""What every client that talks to arXiv shares: spacing, a whole-request deadline, and telling a
flake from an unreachable host.

* ``Throttle`` keeps at most one request per ``delay`` seconds. Given a spacing file, the time of
  the last request is kept there, under an OS file lock, so every litmine process on the machine
  (a nightly run, a `litmine fetch` in another terminal) keeps the same spacing.
* ``get_within`` applies the timeout to the whole request (connecting, headers and body), not to
  each read: a server that trickles its answer one byte at a time is cut off at the deadline.
* ``unreachable`` says whether a connection error is one that retrying cannot mend soon: a name
  that does not resolve, a refused connection, no route. Those are not retried; timeouts, 429, 5xx,
  resets and empty pages are.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path

import requests
import urllib3

log = logging.getLogger(__name__)


class Throttle:
    """At most one request per ``delay`` seconds, waiting only for the time still owed. Thread-safe;
    with ``path``, shared by every process that names the same file."""

    def __init__(self, delay: float, path: Path | None = None) -> None:
        self.delay = delay
        self.path = path
        self._last: float | None = None
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            if self.path is not None and self.delay > 0:
                self._wait_shared(self.path)
                return
            if self._last is not None:
                _sleep_owed(self.delay - (time.monotonic() - self._last))
            self._last = time.monotonic()

    def _wait_shared(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # the others queue here while this one sleeps
            try:
                last = float(os.pread(fd, 64, 0).decode().strip() or "nan")
            except (ValueError, UnicodeDecodeError):
                last = float("nan")
            now = time.time()
            if last == last and last <= now:  # not NaN, and not in the future (a clock step back)
                _sleep_owed(self.delay - (now - last))
            stamp = f"{time.time():.6f}".encode()
            os.ftruncate(fd, 0)
            os.pwrite(fd, stamp, 0)
        finally:
            os.close(fd)  # closing releases the lock


def _sleep_owed(owed: float) -> None:
    if owed > 0:
        log.debug("politeness: sleeping %.2f s", owed)
        time.sleep(owed)


class DeadlineExceeded(requests.Timeout):
    """The whole request took longer than its deadline (a trickled answer)."""


def get_within(session: requests.Session, url: str, timeout: float, **kw) -> requests.Response:
    """GET ``url`` with ``timeout`` seconds for the whole request, body included; the response's
    content is read. Raises ``requests.Timeout`` past the deadline."""
    deadline = time.monotonic() + timeout
    resp = session.get(url, timeout=timeout, stream=True, **kw)
    chunks: list[bytes] = []
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeadlineExceeded(f"the answer took longer than {timeout:g} s in all")
            chunk = _read_some(resp, remaining)
            if not chunk:
                break
            chunks.append(chunk)
    except urllib3.exceptions.ReadTimeoutError:
        raise DeadlineExceeded(f"the answer took longer than {timeout:g} s in all") from None
    except urllib3.exceptions.HTTPError as exc:  # cut off, or undecodable: a flake like a dropped connection
        raise requests.ConnectionError(exc) from None
    finally:
        resp.close()
    resp._content = b"".join(chunks)
    resp._content_consumed = True
    return resp


def _read_some(resp: requests.Response, remaining: float) -> bytes:
    """Whatever part of the body arrives next (at most 64 KiB), waiting at most ``remaining`` s."""
    sock = _socket_of(resp.raw)
    if sock is not None:
        sock.settimeout(max(0.01, min(remaining, sock.gettimeout() or remaining)))
    try:
        return resp.raw.read1(65536, decode_content=True)
    except TimeoutError:
        raise DeadlineExceeded("the answer stopped arriving") from None


def _socket_of(raw) -> object | None:
    fp = getattr(raw, "_fp", None)
    fp = getattr(fp, "fp", None)
    inner = getattr(fp, "raw", None)
    return getattr(inner, "_sock", None)


def retry_after(resp: requests.Response) -> float | None:
    """Seconds the server asks us to wait (``Retry-After``: seconds or an HTTP date), or None."""
    value = resp.headers.get("Retry-After")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        try:
            return max(0.0, (parsedate_to_datetime(value) - datetime.now(timezone.utc)).total_seconds())
        except (TypeError, ValueError):
            return None


def unreachable(exc: requests.ConnectionError) -> str | None:
    """Why the host cannot be reached at all (no retry will help soon), or None for a flake."""
    reason = getattr(exc.args[0] if exc.args else None, "reason", None)
    if isinstance(reason, urllib3.exceptions.NameResolutionError):
        return "its name does not resolve (no network, or no DNS)"
    if isinstance(reason, urllib3.exceptions.NewConnectionError):
        text = str(reason).lower()
        if "refused" in text:
            return "the connection was refused"
        return "no connection could be opened (no network, or no route)"
    return None
