"""What every client that talks to arXiv shares: spacing, one retry policy, a whole-request
deadline, redirects only to arXiv's hosts, and telling a flake from an unreachable host.

* ``Throttle`` keeps at most one request per ``delay`` seconds. Given a spacing file, the time of
  the last request is kept there, under an OS file lock, so every litmine process on the machine
  (a nightly run, a `litmine fetch` in another terminal) keeps the same spacing.
* ``PoliteClient`` is the one way the API, OAI-PMH and PDF clients send a request: throttled,
  redirects followed only to the configured hosts and each hop throttled too, the body read within
  the request's deadline, and retries with backoff only for what can succeed on retry.
* ``body`` applies the timeout to the whole request's body, not to each read: a server that
  trickles its answer one byte at a time, or sends a huge one, is cut off at the deadline.
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
from typing import Callable, Iterable, Iterator, TypeVar
from urllib.parse import urljoin, urlsplit

import requests
import urllib3

from litmine import __version__
from litmine.errors import FetchError, SourceUnreachable

log = logging.getLogger(__name__)

T = TypeVar("T")

USER_AGENT = f"litmine/{__version__} (literature mining for interpretability research; python-requests)"


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


class CutOff(requests.exceptions.ChunkedEncodingError):
    """The answer ended before the length its headers announced (a dropped transfer)."""


class Retry(Exception):
    """Raised by a ``read`` function for an answer worth asking for again (an empty page where
    results were expected, an unreadable feed); ``str()`` says why."""


class PoliteClient:
    """The one retry policy of every client that talks to arXiv (API, OAI-PMH, PDFs).

    ``get`` sends a GET once ``throttle`` allows it; follows redirects itself, only to ``hosts``,
    each hop spaced like any other request; reads the body within ``timeout`` seconds for the whole
    request (``body``); retries 429, 5xx, timeouts, dropped or cut-off transfers and whatever
    ``read`` raises ``Retry`` for, with exponential backoff from ``backoff`` seconds (at least what
    ``Retry-After`` asks, at most 300 s); never retries a host that cannot be reached at all
    (``SourceUnreachable``). ``name`` and ``setting`` make its messages: "arXiv cannot be reached:
    ...; check the network, or LITMINE_ARXIV_API_URL".
    """

    def __init__(self, name: str, setting: str, *, timeout: float, retries: int, backoff: float,
                 throttle: Throttle, hosts: Iterable[str], session: requests.Session | None = None,
                 max_redirects: int = 5) -> None:
        self.name = name
        self.setting = setting
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.throttle = throttle
        self.hosts = frozenset(hosts)
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        self.max_redirects = max_redirects
        self.requests_made = 0

    def get(self, url: str, params: dict[str, str] | None = None,
            read: Callable[[requests.Response, Iterator[bytes]], T] | None = None) -> T | requests.Response:
        """``read(response, body)`` of the answer (any status but 429, 5xx and a redirect), ``body``
        yielding the body's chunks within the deadline; without ``read``, the response with its
        content read. Raises ``FetchError`` past the retries."""
        last, hint = "no attempt made", None
        for attempt in range(self.retries + 1):
            if attempt:
                pause = self.backoff * 2 ** (attempt - 1)
                if hint is not None:
                    pause = max(pause, min(hint, 300.0))
                if pause > 0:
                    log.info("retrying in %.1f s (%s): %s", pause, last, url)
                    time.sleep(pause)
            hint = None
            try:
                resp, deadline = self._send(url, params)
                with resp:
                    if resp.status_code == 429 or resp.status_code >= 500:
                        last, hint = f"HTTP {resp.status_code}", retry_after(resp)
                        continue
                    chunks = body(resp, deadline, self.timeout)
                    if read is not None:
                        return read(resp, chunks)
                    resp._content = b"".join(chunks)
                    resp._content_consumed = True
                    return resp
            except Retry as exc:
                last = str(exc)
            except requests.Timeout:
                last = f"no answer within {self.timeout:g} s"
            except requests.exceptions.ChunkedEncodingError:
                last = "the answer broke off before its end"
            except requests.ConnectionError as exc:
                why = unreachable(exc)
                if why is not None:
                    raise SourceUnreachable(f"{self.name} cannot be reached: {why}; check the network, or "
                                            f"{self.setting}", url=url) from None
                last = f"connection failed: {type(exc).__name__}"
        raise FetchError(f"{self.name} did not answer after {self.retries + 1} tries: {last}", url=url)

    def _send(self, url: str, params: dict[str, str] | None) -> tuple[requests.Response, float]:
        """The answer to ``url`` once its redirects are followed, and the deadline of its request."""
        for _ in range(self.max_redirects + 1):
            self.throttle.wait()
            self.requests_made += 1
            log.debug("GET %s", url)
            deadline = time.monotonic() + self.timeout
            resp = self.session.get(url, params=params, stream=True, timeout=self.timeout, allow_redirects=False)
            if not resp.is_redirect:
                return resp, deadline
            target = urljoin(resp.url, resp.headers["Location"])
            resp.close()
            host = urlsplit(target).hostname
            if host not in self.hosts:
                raise FetchError(f"refused a redirect to {host}, not a configured arXiv host "
                                 "(LITMINE_ARXIV_API_URL, LITMINE_ARXIV_OAI_URL, LITMINE_ARXIV_PDF_URL)",
                                 url=url, to=target)
            url, params = target, None
        raise FetchError(f"more than {self.max_redirects} redirects", url=url)


def hosts_of(*urls: str) -> set[str]:
    """The host names of ``urls``: where a redirect may lead."""
    return {host for host in (urlsplit(u).hostname for u in urls if u) if host}


def body(resp: requests.Response, deadline: float, timeout: float) -> Iterator[bytes]:
    """The body's chunks (at most 64 KiB each), every one by ``deadline``: a server that trickles
    its answer, or sends more than it can in the time, is cut off there (``DeadlineExceeded``).
    A body shorter than its ``Content-Length`` raises ``CutOff``."""
    declared = resp.headers.get("Content-Length", "")
    expected = int(declared) if declared.isdigit() and not resp.headers.get("Content-Encoding") else None
    received = 0
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeadlineExceeded(f"the answer took longer than {timeout:g} s in all")
            chunk = _read_some(resp, remaining)
            if not chunk:
                break
            received += len(chunk)
            yield chunk
    except urllib3.exceptions.ReadTimeoutError:
        raise DeadlineExceeded(f"the answer took longer than {timeout:g} s in all") from None
    except urllib3.exceptions.ProtocolError as exc:  # IncompleteRead, or the connection dropped mid-body
        raise CutOff(str(exc)) from None
    except urllib3.exceptions.HTTPError as exc:  # undecodable: a flake like a dropped connection
        raise requests.ConnectionError(exc) from None
    if expected is not None and received != expected:
        raise CutOff(f"got {received} of {expected} bytes")


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
