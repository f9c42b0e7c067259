"""What every client that talks to arXiv shares: spacing, one retry policy, a whole-request
deadline, redirects only to arXiv's hosts, and telling a flake from an unreachable host.

* ``Throttle`` keeps at most one request per ``delay`` seconds. Given a spacing file, the time of
  the last request is kept there, under an OS file lock, so every litmine process on the machine
  (a nightly run, a `litmine fetch` in another terminal) keeps the same spacing.
* ``PoliteClient`` is the one way the API, OAI-PMH and PDF clients send a request: throttled,
  redirects followed only to the configured hosts and each hop throttled too, the body read within
  the request's deadline, and retries with backoff only for what can succeed on retry.
* The deadline covers the whole request, from connecting to the last byte: the headers too (a
  watchdog shuts the socket down if they are not in by then), and ``body`` applies it to the whole
  body, not to each read: a server that trickles its answer one byte at a time is cut off there.
* Every answer has a byte cap, counted after decompression (a gzip bomb counts what it inflates
  to): past it, ``ResponseTooLarge`` names the URL and the setting; it is not retried.
* ``open_private`` opens a file under the shared temp directory (the spacing file) without
  following links, in a directory of mode 0700 that must be ours and not a link.
* ``not_after`` clamps a date from outside (an entry's published date) to now (``litmine.clock``).
* ``unreachable`` says whether a connection error is one that retrying cannot mend soon: a name
  that does not resolve, a refused connection, no route. Those are not retried; timeouts, 429, 5xx,
  resets and empty pages are.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import socket
import stat
import threading
import time
from datetime import timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Callable, Iterable, Iterator, TypeVar
from urllib.parse import urljoin, urlsplit

import requests
import requests.adapters
import urllib3
import urllib3.connection

from litmine import __version__
from litmine.clock import utcnow
from litmine.errors import FetchError, ResponseTooLarge, SourceUnreachable, UnsafeTempFile

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
        fd = open_private(path, "the arXiv spacing file")
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


def open_private(path: Path, what: str) -> int:
    """A descriptor of ``path`` (created, mode 0600) for reading and writing, opened without
    following links, in a directory that is ours alone: created with mode 0700; it must not be a
    link and must belong to this user (our own with a looser mode, as older versions made it, is
    tightened). Raises ``UnsafeTempFile`` otherwise: another user may have planted the link."""
    folder = path.parent
    fix = "remove it (another user may have planted it), or set TMPDIR to a directory of your own"
    folder.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        folder.mkdir(mode=0o700)
    try:
        dfd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            kind = "a symbolic link" if folder.is_symlink() else "not a directory"
            raise UnsafeTempFile(f"the folder of {what} is {kind}: {fix}", path=folder) from None
        raise UnsafeTempFile(f"cannot open the folder of {what}: {exc.strerror}; {fix}", path=folder) from None
    try:
        info = os.fstat(dfd)
        if info.st_uid != os.getuid():
            raise UnsafeTempFile(f"the folder of {what} belongs to another user (uid {info.st_uid}): {fix}",
                                 path=folder)
        if info.st_mode & 0o077:
            log.warning("tightened %s to mode 0700 (it was %o)", folder, info.st_mode & 0o777)
            os.fchmod(dfd, 0o700)
        try:
            fd = os.open(path.name, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, 0o600,
                         dir_fd=dfd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise UnsafeTempFile(f"{what} is a symbolic link: {fix}", path=path) from None
            raise UnsafeTempFile(f"cannot open {what}: {exc.strerror}; {fix}", path=path) from None
    finally:
        os.close(dfd)
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid():
        os.close(fd)
        raise UnsafeTempFile(f"{what} is not a plain file of this user: {fix}", path=path)
    os.set_blocking(fd, True)
    return fd


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
    each hop spaced like any other request; has the headers and the body in within ``timeout``
    seconds for the whole request (a watchdog, and ``body``); retries 429, 5xx, timeouts, dropped or cut-off transfers and whatever
    ``read`` raises ``Retry`` for, with exponential backoff from ``backoff`` seconds (at least what
    ``Retry-After`` asks, at most 300 s); never retries a host that cannot be reached at all
    (``SourceUnreachable``). An answer past ``max_bytes`` (decompressed) raises ``ResponseTooLarge``
    naming ``size_setting``, not retried. ``name`` and ``setting`` make its messages: "arXiv cannot
    be reached: ...; check the network, or LITMINE_ARXIV_API_URL".
    """

    def __init__(self, name: str, setting: str, *, timeout: float, retries: int, backoff: float,
                 throttle: Throttle, hosts: Iterable[str], max_bytes: int, size_setting: str,
                 session: requests.Session | None = None, max_redirects: int = 5) -> None:
        self.name = name
        self.setting = setting
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.throttle = throttle
        self.hosts = frozenset(hosts)
        self.max_bytes = max_bytes
        self.size_setting = size_setting
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        for prefix in ("http://", "https://"):  # the deadline covers the headers too
            self.session.mount(prefix, _DeadlineAdapter())
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
                    chunks = self._capped(body(resp, deadline, self.timeout), resp, url)
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

    def _capped(self, chunks: Iterator[bytes], resp: requests.Response, url: str) -> Iterator[bytes]:
        """``chunks`` (decompressed), refused with ``ResponseTooLarge`` once past ``max_bytes``,
        or at once when ``Content-Length`` announces more."""
        declared = resp.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_bytes and not resp.headers.get("Content-Encoding"):
            raise self._too_large(resp.url or url)
        received = 0
        for chunk in chunks:
            received += len(chunk)
            if received > self.max_bytes:
                raise self._too_large(resp.url or url)
            yield chunk

    def _too_large(self, url: str) -> ResponseTooLarge:
        return ResponseTooLarge(f"{self.name}'s answer is larger than {self.max_bytes} bytes (decompressed); "
                                f"raise {self.size_setting} if it is genuine", url=url)

    def _send(self, url: str, params: dict[str, str] | None) -> tuple[requests.Response, float]:
        """The answer to ``url`` once its redirects are followed, and the deadline of its request."""
        for _ in range(self.max_redirects + 1):
            self.throttle.wait()
            self.requests_made += 1
            log.debug("GET %s", url)
            deadline = time.monotonic() + self.timeout
            watchdog = _Watchdog(deadline)
            _current.watchdog = watchdog
            try:
                resp = self.session.get(url, params=params, stream=True, timeout=self.timeout, allow_redirects=False)
            except requests.ConnectionError:
                if watchdog.fired:
                    raise DeadlineExceeded(f"the headers took longer than {self.timeout:g} s") from None
                raise
            finally:
                _current.watchdog = None
            if watchdog.fired:  # the headers were cut short at the deadline, whatever was parsed of them
                resp.close()
                raise DeadlineExceeded(f"the headers took longer than {self.timeout:g} s")
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


# -- the deadline of the headers ----------------------------------------------------------------
#
# requests' timeout bounds each read of the socket, not the whole: headers trickled a byte at a time
# would never be cut off. While a connection waits for its answer's headers, a watchdog timer shuts
# its socket down at the request's deadline; the blocked read then ends, and ``_send`` reports it as
# a timeout. (The body is read within the deadline by ``body``.)

_current = threading.local()  # the watchdog of the request this thread is sending


class _Watchdog:
    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.fired = False

    @contextlib.contextmanager
    def guard(self, sock: socket.socket) -> Iterator[None]:
        timer = threading.Timer(max(0.0, self.deadline - time.monotonic()), self._cut, (sock,))
        timer.daemon = True
        timer.start()
        try:
            yield
        finally:
            timer.cancel()

    def _cut(self, sock: socket.socket) -> None:
        self.fired = True
        log.debug("cutting off a request whose headers did not arrive by its deadline")
        with contextlib.suppress(OSError):
            # the plain socket's shutdown, also under TLS: it wakes the blocked read, leaving the TLS state alone
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _HeadersByTheDeadline:
    """Mixed into urllib3's connections: the answer's headers must arrive by the request's deadline."""

    sock: socket.socket | None

    def getresponse(self, *args, **kw):
        watchdog = getattr(_current, "watchdog", None)
        if watchdog is None or not isinstance(self.sock, socket.socket):
            return super().getresponse(*args, **kw)
        with watchdog.guard(self.sock):
            return super().getresponse(*args, **kw)


class _HTTPConnection(_HeadersByTheDeadline, urllib3.connection.HTTPConnection):
    pass


class _HTTPSConnection(_HeadersByTheDeadline, urllib3.connection.HTTPSConnection):
    pass


class _HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class _DeadlineAdapter(requests.adapters.HTTPAdapter):
    """requests' adapter, on connections whose headers must arrive by the request's deadline."""

    _pools = {"http": _HTTPPool, "https": _HTTPSPool}

    def init_poolmanager(self, *args, **kw) -> None:
        super().init_poolmanager(*args, **kw)
        self.poolmanager.pool_classes_by_scheme = self._pools

    def proxy_manager_for(self, proxy, **kw):
        manager = super().proxy_manager_for(proxy, **kw)
        manager.pool_classes_by_scheme = self._pools
        return manager


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
            when = parsedate_to_datetime(value)  # an HTTP date is in GMT: naive only when it says -0000
            when = when.astimezone(timezone.utc).replace(tzinfo=None) if when.tzinfo else when
            return max(0.0, (when - utcnow()).total_seconds())
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
