"""HTTP client for the Scenario API: auth, transport safety and retries in one place.

``ScenarioClient`` wraps a ``requests.Session`` with connection pooling, gzip and timeouts.
It decides once where credentials come from, keeps them in an object that never prints
them, refuses plain http except on loopback, follows redirects itself (so Authorization
provably never leaves the base URL's host) and retries transient failures with tenacity,
honouring ``Retry-After``.  Every worker of a parallel listing shares one client, so a 429
seen by one of them pauses all of them (the back-off gate).
"""

from __future__ import annotations

import base64
import functools
import ipaddress
import logging
import os
import random
import threading
import time
import weakref
import zlib
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, quote_plus, urljoin, urlsplit

import orjson
import requests
import urllib3
from requests.adapters import HTTPAdapter
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_before_delay,
)
from tenacity.stop import stop_base

from .._version import __version__
from ..errors import (
    APIConnectionError,
    APIRequest,
    APIResponse,
    APIResponseValidationError,
    APITimeoutError,
    ClientConfigError,
    RateLimitError,
    ScenarioAPIError,
    error_for_status,
)

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.cloud.scenario.com/v1"
PUBLIC_TOKEN = "public-auth-token"
# What a credential echoed back in a 200 body (or a pagination token) is replaced with.
REDACTED = "[redacted-credentials]"

# The longest Retry-After we sleep through.  The official scenario-sdk honours 0-60 s; we
# take the same ceiling: a server asking for more is saying "come back later", and a
# notebook or cron job should hear that at once (as an error naming both values) rather than
# sit silent for hours.  Raise it with ``max_retry_after=`` / ``--max-retry-after``.
DEFAULT_MAX_RETRY_AFTER = 60.0
# The largest page body we read, counted after decoding (gzip included).  A full page of
# 500 models weighs a few MB; 64 MiB leaves a wide margin while a hostile or broken server
# cannot make us hold gigabytes.  ``max_page_bytes=`` changes it.
DEFAULT_MAX_PAGE_BYTES = 64 << 20
# Attempts for a connection that cannot even be opened (refused, DNS failure): the host is
# either down or misspelled, and eight attempts with back-off would only hide that.
CONNECT_ATTEMPTS = 3

RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504}) | frozenset(range(505, 600))
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

# A body check gets the parsed JSON and returns why it is unusable, or None when it is fine.
BodyCheck = Callable[[Any], "str | None"]
# A body reader gets the raw bytes of a 200 and returns (what it read, why the body is
# unusable or None).  It raises ``ValueError`` (``orjson.JSONDecodeError`` is one) when the
# body is not valid JSON.  Either way the response is retried like a 5xx.
BodyReader = Callable[[bytes], "tuple[Any, str | None]"]


def expect_list(key: str) -> BodyCheck:
    """A body check: the JSON must be an object holding a list under ``key``.

    ``GET /models`` uses ``expect_list("models")``; the usage endpoint ``"modelUsages"``.
    A 200 failing the check is treated like a transient server error and retried.
    """

    def check(data: Any) -> str | None:
        if not isinstance(data, dict):
            return f"200 body is not a JSON object (expected a {key!r} list)"
        if not isinstance(data.get(key), list):
            return f"200 body has no {key!r} list"
        return None

    check.__name__ = f"expect_list_{key}"
    return check


MODELS_BODY: BodyCheck = expect_list("models")


def checked_json(check: BodyCheck) -> BodyReader:
    """The plain body reader: parse with orjson, then apply ``check`` to the result."""

    def read(body: bytes) -> tuple[Any, str | None]:
        data = orjson.loads(body)
        return data, check(data)

    return read


# ---------------------------------------------------------------------------------------------
# Credentials: kept out of every repr, log line and message
# ---------------------------------------------------------------------------------------------


class _Credentials:
    """An API key/secret pair turned into a Basic header; never shows its content."""

    __slots__ = ("_header", "_needles", "_byte_needles", "__weakref__")

    def __init__(self, key: str, secret: str) -> None:
        token = base64.b64encode(f"{key}:{secret}".encode()).decode("ascii")
        self._header = f"Basic {token}"
        # Everything that would leak the pair if it showed up in text: the key, the secret and
        # the base64 token, with or without its "=" padding, raw or URL-encoded ("+" -> %2B,
        # "=" -> %3D, "/" -> %2F), longest first so a longer form is replaced whole.
        forms = {key, secret, token, token.rstrip("=")}
        forms |= {
            enc(f) for f in tuple(forms) for enc in (quote, quote_plus, lambda t: quote(t, safe=""))
        }
        self._needles = tuple(sorted((n for n in forms if len(n) >= 3), key=len, reverse=True))
        # In bodies, only forms long enough not to match ordinary data (a key "demo" would).
        self._byte_needles = tuple(n.encode() for n in self._needles if len(n) >= 8)

    @property
    def public(self) -> bool:
        return False

    def authorization(self) -> str:
        return self._header

    def scrub(self, text: str) -> str:
        """Replace any occurrence of the key, the secret or their base64 form with ``***``."""
        for needle in self._needles:
            text = text.replace(needle, "***")
        return text

    def redact(self, body: bytes) -> tuple[bytes, bool]:
        """``body`` with every form of the credentials replaced by ``REDACTED``; (body, whether any)."""
        found = False
        for needle in self._byte_needles:
            if body.find(needle) != -1:
                body = body.replace(needle, REDACTED.encode())
                found = True
        return body, found

    def __repr__(self) -> str:
        return "<credentials: api key and secret (hidden)>"

    __str__ = __repr__

    def __reduce__(self) -> Any:  # no pickling, so they cannot be written out by accident
        raise TypeError("credentials cannot be pickled")


class _PublicAccess:
    """Anonymous access to the public catalog (``Authorization: public-auth-token``)."""

    __slots__ = ()

    @property
    def public(self) -> bool:
        return True

    def authorization(self) -> str:
        return PUBLIC_TOKEN

    def scrub(self, text: str) -> str:
        return text

    def redact(self, body: bytes) -> tuple[bytes, bool]:
        return body, False

    def __repr__(self) -> str:
        return "<public access>"


class _ScrubLogs(logging.Filter):
    """Scrubs the credentials of every live client out of urllib3's log records.

    urllib3 logs each request line at DEBUG, URL and query string included; a server that
    redirects to (or hands back a pagination token holding) the Authorization header would
    otherwise put the credentials in ``--debug`` logs.
    """

    live: weakref.WeakSet[_Credentials] = weakref.WeakSet()

    def filter(self, record: logging.LogRecord) -> bool:
        creds = list(self.live)
        if creds:
            text = original = record.getMessage()
            for c in creds:
                text = c.scrub(text)
            if text != original:
                record.msg, record.args = text, None
        return True


_SCRUB_LOGS = _ScrubLogs()
for _name in (
    "urllib3",
    "urllib3.connectionpool",
    "urllib3.poolmanager",
    "urllib3.response",
    "urllib3.util.retry",
):
    logging.getLogger(_name).addFilter(_SCRUB_LOGS)


def _resolve_credentials(
    api_key: str | None, api_secret: str | None
) -> _Credentials | _PublicAccess:
    """Arguments first, then SCENARIO_API_*, then the official client's SCENARIO_SDK_API_*."""
    if api_key or api_secret:
        if not (api_key and api_secret):
            raise ClientConfigError("pass both api_key and api_secret, or neither (public access)")
        return _Credentials(api_key, api_secret)
    for key_var, secret_var in (
        ("SCENARIO_API_KEY", "SCENARIO_API_SECRET"),
        ("SCENARIO_SDK_API_KEY", "SCENARIO_SDK_API_SECRET"),
    ):
        key, secret = os.environ.get(key_var) or "", os.environ.get(secret_var) or ""
        if key or secret:
            if not (key and secret):
                raise ClientConfigError(f"{key_var} and {secret_var} must be set together")
            return _Credentials(key, secret)
    return _PublicAccess()


# ---------------------------------------------------------------------------------------------
# URL policy
# ---------------------------------------------------------------------------------------------


def is_loopback_host(host: str | None) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ::1: the only hosts plain http may talk to.

    Only literal addresses and the name ``localhost`` count: ``<name>.localhost`` is sent to
    the system resolver like any other name, which may answer with a remote address.
    """
    if not host:
        return False
    h = host.strip("[]").lower()
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def _netloc(url: str) -> str:
    """``host:port`` of a URL (never its userinfo), as errors name it."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{host}:{port}" if port else host


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


def check_url(url: str) -> None:
    """Refuse anything but https, except http to a loopback host (the demo server).

    A URL carrying credentials (``https://user:pass@host/v1``) is refused too, without
    repeating it: a URL ends up in logs, reprs, checkpoints and manifests, and the password
    with it.  Credentials belong in the environment variables.
    """
    parts = urlsplit(url)
    if "@" in (parts.netloc or ""):
        raise ClientConfigError(
            "the base URL carries credentials (user:password@host); they are refused there because "
            "URLs end up in logs and files. Remove them from the URL and set SCENARIO_API_KEY and "
            "SCENARIO_API_SECRET in the environment instead (recommended)"
        )
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and is_loopback_host(parts.hostname):
        return
    if parts.scheme == "http":
        raise ClientConfigError(
            f"refusing plain http to {parts.hostname!r}: credentials and data would travel "
            "unencrypted; use https (plain http is only allowed for loopback hosts)"
        )
    raise ClientConfigError(f"unsupported URL {url!r}: expected https://host/...")


# ---------------------------------------------------------------------------------------------
# Retry-After and the shared back-off gate
# ---------------------------------------------------------------------------------------------


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait according to ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP date).

    An HTTP date has one-second resolution; it is honoured as written (the instant it names),
    measured against our clock, or against the response's ``Date`` header when the two
    clocks disagree by more than two seconds.  Past dates mean no wait.
    """
    now = time.time() if now is None else now
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    reference = now
    server_date = headers.get("date")
    if server_date:
        try:
            server_now = parsedate_to_datetime(server_date).timestamp()
            if abs(server_now - now) > 2.0:
                reference = server_now
        except (TypeError, ValueError, IndexError):
            pass
    return max(0.0, when - reference)


class BackoffGate:
    """A point in time before which no request may start; shared by every worker.

    When any request gets a 429, the gate closes until its Retry-After instant, so the other
    workers stop hammering a server that asked us to slow down.
    """

    def __init__(self) -> None:
        self._until = 0.0  # time.monotonic() value
        self._lock = threading.Lock()

    def hold(self, seconds: float) -> None:
        """Close the gate for ``seconds`` from now (never shortens an existing hold)."""
        if seconds <= 0:
            return
        with self._lock:
            self._until = max(self._until, time.monotonic() + seconds)

    def remaining(self) -> float:
        return max(0.0, self._until - time.monotonic())

    def wait(self) -> float:
        """Sleep until the gate opens; returns the seconds slept."""
        slept = 0.0
        while True:
            left = self.remaining()
            if left <= 0:
                return slept
            time.sleep(left)
            slept += left


# ---------------------------------------------------------------------------------------------
# The client
# ---------------------------------------------------------------------------------------------


# Listing pages weigh megabytes: read them in large pieces (requests' own ``.content``
# reads 10 KiB at a time, a few hundred Python-level reads per page, all under the GIL).
_READ_CHUNK = 1 << 20


class _BodyTooLarge(Exception):
    """The body (decoded) is over the page size limit; carries the text of the error."""


class _BodyUnreadable(Exception):
    """The body comes in a Content-Encoding we did not ask for and cannot decode."""


class _BodyStalled(Exception):
    """The body did not arrive in the time left for it."""


def _decoder(encoding: str) -> Any:
    """A bounded decoder for the body's Content-Encoding, or None for identity."""
    enc = encoding.strip().lower()
    if enc in ("", "identity"):
        return None
    if enc in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if enc == "deflate":
        return zlib.decompressobj(32 + zlib.MAX_WBITS)  # zlib or gzip header, detected
    raise _BodyUnreadable(
        f"the server sent a body in an encoding we did not ask for (Content-Encoding: {enc[:40]})"
    )


def _inflate(decoder: Any, data: bytes, room: int) -> tuple[bytes, bool]:
    """Inflate ``data`` into at most ``room + 1`` bytes; (output, whether it overflowed)."""
    out = decoder.decompress(data, max(0, room) + 1)
    # Input left over means the output bound was hit: the body is larger than the room.
    return out, bool(decoder.unconsumed_tail) or len(out) > room


def _set_socket_timeout(resp: requests.Response, seconds: float) -> None:
    """Bound the next socket read of this response (the read timeout applies per read)."""
    conn = getattr(resp.raw, "connection", None)
    sock = getattr(conn, "sock", None)
    if sock is not None:
        sock.settimeout(max(0.001, seconds))


def _read_body(resp: requests.Response, *, limit: int, until: float) -> bytes:
    """The whole body, decoded, at most ``limit`` bytes, and over by ``until`` (monotonic).

    Reads the raw bytes piece by piece (``read1``: whatever one socket read brings) so a body
    dripped byte by byte cannot outlast ``until``: before each read the socket timeout is set
    to the time left.  gzip and deflate are inflated here with a bound on the output, so a
    small compressed body cannot inflate past the limit (a "gzip bomb" costs at most
    ``limit`` bytes of memory).  A cut body raises urllib3's errors, a stalled one
    ``_BodyStalled``, one over the limit ``_BodyTooLarge``.  The result is kept as
    ``resp.content``.
    """
    if resp._content is not False:  # noqa: SLF001 - requests' marker for "not read yet"
        return resp.content
    decoder = _decoder(resp.headers.get("content-encoding", ""))
    declared = resp.headers.get("content-length", "")
    if decoder is None and declared.isdigit() and int(declared) > limit:
        resp.close()
        raise _BodyTooLarge(f"the server announced a {int(declared):,}-byte body")
    pieces: list[bytes] = []
    size = 0
    while True:
        left = until - time.monotonic()
        if left <= 0:
            resp.close()
            raise _BodyStalled(f"the body was still arriving after {size:,} bytes")
        _set_socket_timeout(resp, left)
        try:
            chunk = resp.raw.read1(_READ_CHUNK, decode_content=False)
        except (urllib3.exceptions.TimeoutError, TimeoutError):
            resp.close()
            raise _BodyStalled(f"the body stopped arriving after {size:,} bytes") from None
        if not chunk:
            break
        if decoder is not None:
            chunk, over = _inflate(decoder, chunk, limit - size)
            if decoder.eof and decoder.unused_data:  # a gzip body may hold several members
                rest = decoder.unused_data
                decoder = _decoder(resp.headers.get("content-encoding", ""))
                more, over2 = _inflate(decoder, rest, limit - size - len(chunk))
                chunk, over = chunk + more, over or over2
            if over:
                size = limit
        size += len(chunk)
        if size > limit:
            resp.close()
            raise _BodyTooLarge(
                "the body grew past the limit while it was read"
                + (" and decoded" if decoder is not None else "")
            )
        pieces.append(chunk)
    if decoder is not None:
        if not decoder.eof:
            resp.close()
            raise urllib3.exceptions.ProtocolError("the compressed body ends before its end marker")
        tail = decoder.flush()
        if size + len(tail) > limit:
            resp.close()
            raise _BodyTooLarge("the body grew past the limit while it was decoded")
        pieces.append(tail)
    body = b"".join(pieces)
    resp._content = body  # noqa: SLF001 - what ``.content`` would have stored
    resp._content_consumed = True  # noqa: SLF001
    resp.close()  # the connection goes back to the pool
    return body


class _Transient(Exception):
    """An attempt failed in a way worth retrying; carries the error to raise if we give up."""

    def __init__(
        self,
        reason: str,
        error: ScenarioAPIError,
        retry_after: float | None = None,
        *,
        connect_failure: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.error = error
        self.retry_after = retry_after
        self.connect_failure = connect_failure


class _StopConnectFailures(stop_base):
    """Stop early when the connection itself cannot be opened, ``CONNECT_ATTEMPTS`` times."""

    def __call__(self, state: RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        if (
            isinstance(exc, _Transient)
            and exc.connect_failure
            and state.attempt_number >= CONNECT_ATTEMPTS
        ):
            exc.error.message += f" ({state.attempt_number} attempts)"
            exc.error.args = (exc.error.message,)
            return True
        return False


def _transport_failure(exc: BaseException) -> tuple[str, bool, bool]:
    """(what went wrong in words, whether the connection could not be opened at all, whether
    it was a timeout)."""
    seen: set[int] = set()
    chain: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:  # walk the causes and the wrapped reasons (MaxRetryError.reason, ...)
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        chain.append(e)
        todo += [
            e.__cause__,
            e.__context__,
            getattr(e, "reason", None)
            if isinstance(getattr(e, "reason", None), BaseException)
            else None,
        ]
        todo += [a for a in getattr(e, "args", ()) if isinstance(a, BaseException)]
    names = {type(e).__name__ for e in chain}
    if "NameResolutionError" in names or any(
        isinstance(e, OSError)
        and "resolve" in str(e).lower()
        or "Name or service not known" in str(e)
        for e in chain
    ):
        return "DNS lookup failed (no such host?)", True, False
    if any(isinstance(e, ConnectionRefusedError) for e in chain) or "NewConnectionError" in names:
        return "could not connect (connection refused or unreachable)", True, False
    if any(
        isinstance(e, requests.ConnectTimeout | urllib3.exceptions.ConnectTimeoutError)
        for e in chain
    ):
        return "connect timeout", False, True
    if any(
        isinstance(e, requests.Timeout | urllib3.exceptions.TimeoutError | TimeoutError)
        for e in chain
    ):
        return "read timeout", False, True
    return "connection error", False, False


class ScenarioClient:
    """A thread-safe client for the Scenario API (one per fetch, shared by its workers).

    It holds everything that makes a request safe and patient: where the credentials come
    from (kept in an object that never shows them), https only (plain http is allowed for
    loopback hosts alone), redirects followed by hand so that Authorization never leaves
    the base URL's host, and retries of transient failures with exponential back-off and
    jitter, honouring ``Retry-After``.  The workers of a parallel listing share one client,
    so a 429 seen by one of them pauses them all (``gate``).

    Parameters
    ----------
    base_url : str, optional
        The API's base URL; default ``SCENARIO_BASE_URL``, else the real service
        (``https://api.cloud.scenario.com/v1``).  It may not carry ``user:password@``.
    api_key, api_secret : str, optional
        The credentials, passed together.  Without them they are read from
        ``SCENARIO_API_KEY``/``SCENARIO_API_SECRET``, else from
        ``SCENARIO_SDK_API_KEY``/``SCENARIO_SDK_API_SECRET`` (the official client's);
        with none at all, public access (public models only).
    timeout : tuple of float, default (5.0, 60.0)
        The connect and the read timeout in seconds.  The read timeout bounds each
        attempt's body as a whole, not each socket read, so a body that drips fails.
    max_attempts : int, default 8
        How many times a request is tried in all (at least 1).
    deadline : float, optional
        Seconds a request may take, its retries and the reading of every body included;
        default no bound beyond ``max_attempts``.
    user_agent : str, optional
        The ``User-Agent`` header; default ``scenario-frames/<version>``.
    pool_size : int, default 16
        The most connections kept open to the host (at least 4).
    backoff, backoff_max : float, default 0.5 and 8.0
        The first and the longest wait in seconds of the exponential back-off, used when
        the server gives no ``Retry-After``.
    max_redirects : int, default 5
        The most redirects followed for one request.
    compress : bool, optional
        Ask for gzip bodies.  By default on, except for loopback servers, where
        compressing only burns CPU on both ends.
    max_retry_after : float, default 60.0
        The longest ``Retry-After`` in seconds that is slept through (the official SDK's
        ceiling); a server asking for more gets an error at once naming both values.
    max_page_bytes : int, default 64 MiB
        The largest body read, counted after decoding (gzip or not); a larger one fails
        the request naming the limit.

    Attributes
    ----------
    base_url : str
        The base URL in use, without a trailing slash.
    host : str
        ``host:port`` of the base URL, as errors name it.
    is_public : bool
        True when no credentials were found.
    gate : BackoffGate
        The shared pause that a 429 closes for every worker.
    requests_sent, retries : int
        Counters so far (``stats()`` reads both at once).

    Raises
    ------
    ClientConfigError
        On construction, for a URL that is not https (or http to a loopback host) or that
        carries credentials, a key without a secret (or the reverse), ``max_attempts`` or
        ``max_page_bytes`` under 1, a negative ``max_retry_after`` or a ``deadline`` that
        is not positive.

    See Also
    --------
    fetch_catalog : Builds a client from the same arguments, or takes one as ``client=``.

    Notes
    -----
    Every wait is bounded: a ``Retry-After`` over ``max_retry_after`` fails at once; each
    attempt's body must arrive within ``timeout[1]`` as a whole; a connection that cannot
    be opened (refused, DNS failure) is tried ``CONNECT_ATTEMPTS`` times, not
    ``max_attempts``.  Every body is bounded by ``max_page_bytes``.

    Failures raise the classes of ``scenario_frames.errors``, each carrying the request
    (``describe_request``: credentials scrubbed) and the response when there was one: an
    error status its ``APIStatusError`` subclass, a refused body
    ``APIResponseValidationError``, no complete answer ``APIConnectionError``, and an
    answer that did not come in time ``APITimeoutError``.

    Examples
    --------
    Fetch the private models of the embedded demo through a client of one's own, then
    read what it sent:

    >>> from scenario_frames import ScenarioClient, fetch_catalog, serve_demo
    >>> with serve_demo(models=40, seed=1) as demo:
    ...     with ScenarioClient(demo.base_url, "demo", "demo", max_attempts=3) as client:
    ...         catalog = fetch_catalog(client=client, privacy="private", progress=False)
    >>> len(catalog), client.is_public, client.stats()
    (14, False, {'requests': 2, 'retries': 0})
    >>> client  # doctest: +ELLIPSIS
    ScenarioClient(base_url='http://127.0.0.1:.../v1', auth=<credentials: api key and secret (hidden)>)
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        api_secret: str | None = None,
        *,
        timeout: tuple[float, float] = (5.0, 60.0),
        max_attempts: int = 8,
        deadline: float | None = None,
        user_agent: str | None = None,
        pool_size: int = 16,
        backoff: float = 0.5,
        backoff_max: float = 8.0,
        max_redirects: int = 5,
        compress: bool | None = None,
        max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
        max_page_bytes: int = DEFAULT_MAX_PAGE_BYTES,
    ) -> None:
        url = (base_url or os.environ.get("SCENARIO_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        check_url(url)
        if max_attempts < 1:
            raise ClientConfigError("max_attempts must be at least 1")
        if not max_retry_after >= 0:
            raise ClientConfigError("max_retry_after must be a number of seconds, 0 or more")
        if max_page_bytes < 1:
            raise ClientConfigError("max_page_bytes must be at least 1")
        if deadline is not None and not deadline > 0:
            raise ClientConfigError("deadline must be a positive number of seconds")
        self.base_url = url
        self._origin = _origin(url)
        self._auth = _resolve_credentials(api_key, api_secret)
        if isinstance(self._auth, _Credentials):
            _ScrubLogs.live.add(self._auth)
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.deadline = deadline
        self.backoff = backoff
        self.backoff_max = backoff_max
        self.max_redirects = max_redirects
        self.max_retry_after = float(max_retry_after)
        self.max_page_bytes = int(max_page_bytes)
        self.host = _netloc(url)
        self.gate = BackoffGate()
        self._lock = threading.Lock()
        self.requests_sent = 0
        self.retries = 0

        if compress is None:
            compress = not is_loopback_host(urlsplit(url).hostname)
        session = requests.Session()
        session.trust_env = False  # no ~/.netrc credentials slipping in; proxies handled below
        session.headers.update(
            {
                "User-Agent": user_agent or f"scenario-frames/{__version__}",
                "Accept": "application/json",
                "Accept-Encoding": "gzip, deflate" if compress else "identity",
                "Connection": "keep-alive",
            }
        )
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max(pool_size, 4), max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        self._session = session
        if self._auth.public:
            log.info("no Scenario API credentials found: using public access (public models only)")

    # -- introspection -----------------------------------------------------------------------

    @property
    def is_public(self) -> bool:
        """True when no credentials were found: only the public catalog can be listed."""
        return self._auth.public

    @property
    def default_privacy(self) -> str:
        return "public" if self.is_public else "private"

    def __repr__(self) -> str:
        return f"ScenarioClient(base_url={self.base_url!r}, auth={self._auth!r})"

    def stats(self) -> dict[str, int]:
        """Requests sent (each HTTP exchange, redirects included) and retries so far."""
        with self._lock:
            return {"requests": self.requests_sent, "retries": self.retries}

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> ScenarioClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def scrub(self, text: str) -> str:
        """Remove any trace of the credentials from a piece of text."""
        return self._auth.scrub(text)

    # -- requests ----------------------------------------------------------------------------

    def url_for(self, path: str) -> str:
        return self.base_url + "/" + path.lstrip("/")

    def describe_request(self, path: str, params: Mapping[str, str] | None = None) -> APIRequest:
        """The request ``GET path?params`` as an error may carry it: URL cleaned, credentials out."""
        return APIRequest.build("GET", self.url_for(path), params, scrub=self.scrub)

    def _describe(self, resp: requests.Response | None, body: bytes | None) -> APIResponse | None:
        """What an error keeps of ``resp`` (None without one): headers filtered, body parsed, scrubbed."""
        if resp is None:
            return None
        return APIResponse.build(resp.status_code, resp.headers, body, scrub=self.scrub)

    def get(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        *,
        check: BodyCheck | None = MODELS_BODY,
    ) -> requests.Response:
        """GET ``path`` (relative to the base URL) with retries; returns the final 200 response.

        ``check`` validates the JSON body of a 200 (None: accept any body); an unusable body
        is retried like a 5xx.
        """
        return self._request(path, params, None if check is None else checked_json(check))[0]

    def get_json(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        *,
        check: BodyCheck | None = MODELS_BODY,
    ) -> tuple[bytes, Any]:
        """Like ``get`` but returns the raw body and its parsed JSON (parsed once, by orjson)."""
        resp, data = self._request(path, params, checked_json(check or (lambda _d: None)))
        return resp.content, data

    def get_read(
        self, path: str, params: Mapping[str, str] | None = None, *, read: BodyReader
    ) -> tuple[bytes, Any]:
        """Like ``get_json`` with a caller's body reader instead of orjson and a check.

        Lets a caller validate a 200 in its own, cheaper way (``listing.paginate`` reads listing pages
        with Arrow, without the GIL) while keeping the retry of unusable bodies here.
        """
        resp, data = self._request(path, params, read)
        return resp.content, data

    def _request(
        self, path: str, params: Mapping[str, str] | None, read: BodyReader | None
    ) -> tuple[requests.Response, Any]:
        url = self.url_for(path)
        api_path = urlsplit(url).path
        # Described only when an error needs it: cleaning the URL costs more than nothing, and
        # nearly every request succeeds.
        request = functools.cache(functools.partial(self.describe_request, path, params))
        started = time.monotonic()
        stop: stop_base = stop_after_attempt(self.max_attempts) | _StopConnectFailures()
        if self.deadline is not None:
            stop = stop | stop_before_delay(self.deadline)

        failures: list[ScenarioAPIError] = []  # the error of the latest failed attempt

        def attempt() -> tuple[requests.Response, Any]:
            self.gate.wait()
            timeout = self.timeout
            now = time.monotonic()
            until = now + timeout[1]  # the whole body within the read timeout
            if self.deadline is not None:
                end = started + self.deadline
                if end - now <= 0:
                    # The deadline ended the retries (a back-off or the shared gate ran past
                    # it): report the failure that was being retried, as when tenacity stops
                    # before sleeping; only a request that never got to try times out here.
                    raise _Transient(
                        "deadline reached",
                        failures[-1]
                        if failures
                        else APITimeoutError(
                            f"no answer from {self.host} within the {self.deadline:g} s deadline",
                            reason="deadline",
                            request=request(),
                        ),
                    )
                left = end - now
                timeout = (min(timeout[0], left), min(timeout[1], left))
                until = min(until, end)
            try:
                return self._attempt(url, request, params, read, timeout, until)
            except _Transient as exc:
                failures[:] = [exc.error]
                raise

        retrying = Retrying(
            stop=stop,
            wait=self._wait,
            retry=retry_if_exception_type(_Transient),
            before_sleep=self._before_sleep(api_path),
            reraise=True,
        )
        try:
            return retrying(attempt)
        except _Transient as exc:
            raise exc.error from None

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Transient) and exc.retry_after is not None:
            delay = exc.retry_after
        else:
            high = min(self.backoff_max, self.backoff * 2 ** (state.attempt_number - 1))
            delay = high * random.uniform(0.5, 1.0)  # jitter keeps workers from retrying in step
        if isinstance(exc, _Transient) and exc.error.status == 429:
            self.gate.hold(delay)
        return delay

    def _before_sleep(self, api_path: str) -> Callable[[RetryCallState], None]:
        def note(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            reason = exc.reason if isinstance(exc, _Transient) else repr(exc)
            with self._lock:
                self.retries += 1
            log.info(
                "retrying GET %s (attempt %d of %d) in %.2f s: %s",
                api_path,
                state.attempt_number + 1,
                self.max_attempts,
                state.upcoming_sleep,
                reason,
            )

        return note

    def _send(
        self,
        url: str,
        params: Mapping[str, str] | None,
        timeout: tuple[float, float],
        request: Callable[[], APIRequest],
    ) -> requests.Response:
        """One GET, following redirects by hand so Authorization stays on the base host."""
        headers = {"Authorization": self._auth.authorization()}
        current = url
        query = dict(params) if params else None
        for _hop in range(self.max_redirects + 1):
            check_url(current)
            proxies = (
                {}
                if is_loopback_host(urlsplit(current).hostname)
                else (requests.utils.get_environ_proxies(current))
            )
            with self._lock:
                self.requests_sent += 1
            resp = self._session.get(
                current,
                params=query,
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
                proxies=proxies,
                stream=True,
            )
            location = resp.headers.get("location")
            if resp.status_code not in REDIRECT_STATUSES or not location:
                return resp
            resp.close()
            target = urljoin(resp.url, location)
            try:
                check_url(target)
            except ClientConfigError:
                raise ScenarioAPIError(
                    "refusing a redirect to an insecure or unsupported URL",
                    reason="insecure-redirect",
                    request=request(),
                    response=self._describe(resp, None),
                ) from None
            if _origin(target) != self._origin and "Authorization" in headers:
                log.info("redirect to another host: dropping the Authorization header")
                headers = {}
            current, query = target, None  # the Location carries its own query string
        raise ScenarioAPIError(
            f"too many redirects (more than {self.max_redirects})",
            reason="too-many-redirects",
            request=request(),
            response=self._describe(resp, None),
        )

    def _attempt(
        self,
        url: str,
        request: Callable[[], APIRequest],
        params: Mapping[str, str] | None,
        read: BodyReader | None,
        timeout: tuple[float, float],
        until: float,
    ) -> tuple[requests.Response, Any]:
        resp: requests.Response | None = None
        try:
            resp = self._send(url, params, timeout, request)
            body = _read_body(resp, limit=self.max_page_bytes, until=until)  # truncation shows here
        except _BodyTooLarge as exc:
            raise APIResponseValidationError(
                f"{exc} from {self.host}: over the max_page_bytes limit of {self.max_page_bytes:,} "
                "bytes (decoded); refusing it (raise max_page_bytes / --max-page-bytes if the page is genuine)",
                reason="body-too-large",
                request=request(),
                response=self._describe(resp, None),
            ) from None
        except _BodyUnreadable as exc:
            raise APIResponseValidationError(
                f"{exc} from {self.host}",
                reason="unsupported-encoding",
                request=request(),
                response=self._describe(resp, None),
            ) from None
        except _BodyStalled as exc:
            error: ScenarioAPIError = APITimeoutError(
                f"{exc}: {self.host} sends its body too slowly (the whole body must "
                f"arrive within {timeout[1]:g} s)",
                reason="slow-body",
                request=request(),
                response=self._describe(resp, None),
            )
            raise _Transient(f"slow body: {exc}", error) from None
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            what, connect, timed_out = _transport_failure(exc)
            cls = APITimeoutError if timed_out else APIConnectionError
            error = cls(
                f"{what} talking to {self.host} ({type(exc).__name__})",
                reason="timeout" if timed_out else None,
                request=request(),
                response=self._describe(resp, None),  # the status line, if it came before the cut
            )
            raise _Transient(
                f"{what}: {type(exc).__name__}", error, connect_failure=connect
            ) from None

        status = resp.status_code
        if status == 200:
            body, echoed = self._auth.redact(body)
            if echoed:  # kept, checkpointed and decoded only without them
                resp._content = body  # noqa: SLF001 - what ``resp.content`` returns
                log.warning(
                    "%s echoed the API credentials in a 200 body on GET %s: replaced them with %s",
                    self.host,
                    request().path,
                    REDACTED,
                )
            if read is None:
                return resp, None
            try:
                data, problem = read(body)
            except ValueError:  # orjson.JSONDecodeError included
                error = APIResponseValidationError(
                    "the server kept answering 200 with a body that is not valid JSON",
                    reason="invalid-body",
                    request=request(),
                    response=self._describe(resp, body),
                )
                raise _Transient(
                    f"200 with a body that is not valid JSON ({len(body)} bytes)", error
                ) from None
            if problem:
                error = APIResponseValidationError(
                    problem,
                    reason="invalid-body",
                    request=request(),
                    response=self._describe(resp, body),
                )
                raise _Transient(problem, error)
            return resp, data

        message, reason = self._error_text(resp, body)
        response = self._describe(resp, body)
        error = error_for_status(status)(
            message, reason=reason, request=request(), response=response
        )
        if status in RETRY_STATUSES:
            retry_after = parse_retry_after(resp.headers)
            why = self.scrub(f"{status} {resp.reason or ''}".strip())[
                :200
            ]  # a server may echo anything
            if retry_after is not None:
                if retry_after > self.max_retry_after:
                    raw = self.scrub(
                        resp.headers.get("retry-after-ms")
                        and f"retry-after-ms: {resp.headers['retry-after-ms']}"
                        or f"Retry-After: {resp.headers.get('retry-after', '')}"
                    )[:80]
                    cls_ = RateLimitError if status == 429 else error_for_status(status)
                    raise cls_(
                        f"{self.host} asked to wait {retry_after:,.0f} s before retrying ({raw}), over the "
                        f"max_retry_after cap of {self.max_retry_after:g} s; giving up instead of sleeping "
                        f"(raise --max-retry-after / max_retry_after to wait that long). Server said: {message}",
                        reason=reason or "retry-after-over-cap",
                        request=request(),
                        response=response,
                    )
                why += f" (Retry-After {retry_after:.2f} s)"
            raise _Transient(why, error, retry_after)
        raise error

    def _error_text(self, resp: requests.Response, body: bytes) -> tuple[str, str | None]:
        message = f"HTTP {resp.status_code} {resp.reason or ''}".strip()
        reason = None
        try:
            data = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            data = None
        if isinstance(data, dict):
            if data.get("message"):
                message = str(data["message"])[:500]
            if data.get("reason"):
                reason = str(data["reason"])[:200]
        return self.scrub(message), self.scrub(reason) if reason else None
