"""The embedded demo Scenario API: a real threaded HTTP server on loopback.

It speaks the wire format of ``GET /v1/models`` and ``GET /v1/usages`` over a lazily
generated catalog (see ``generator``), so the toolkit, its tests and its notebooks run
without internet or an account.  Which models a listing page holds is the query engine's
answer (``engine``: rules, filters, order, tokens); this module owns HTTP, credentials,
usage, faults and statistics, and turns the engine's pages into bytes.

Decisions where the reference leaves room, documented here once (the engine carries out
sorting, pagination and filters):

* **Auth.**  HTTP Basic with the demo key/secret (default ``demo``/``demo``) may list
  ``privacy=private`` (which returns the team's private *and* unlisted models) and
  ``privacy=public``.  ``Authorization: public-auth-token`` may list ``privacy=public`` only:
  asking it for private models (explicitly, or by leaving privacy out, since private is the
  default) gets **403** with a message telling to add ``privacy=public``.  Missing or wrong
  credentials get 401.  Order of checks: 401, then the documented rules (400), then 403.
* **Sorting.**  Defaults follow the reference: public listings sort by ``score``, private ones
  by ``createdAt``.  The direction defaults to ``desc`` and is only read when ``sortBy`` is
  given; for public listings sorted by score it is ignored (always best first).  The order
  is total: equal sort keys are ordered by model id, in the same direction.
* **Pagination** is keyset based: a token carries the last (sort key, id) of its page and an
  HMAC (per-server random secret) over that position and the query fingerprint (every
  parameter but ``pageSize`` and ``paginationToken``).  Models added or removed between pages
  therefore never shift the others, a token can be reused with another page size, and a
  forged token or one from another query gets ``400`` (reason ``invalid-pagination-token``).
* **Filters.**  ``tags``, ``collectionIds`` and ``types`` match any of the listed values;
  ``status=deleted`` matches nothing (deleted models are gone); ``loadedOnly=true`` keeps the
  models flagged as loaded on GPU; ``blacklisted=true`` also lists models flagged as
  blacklisted (none unless the catalog is made with ``blacklist_rate``); asset URLs carry a
  transformation suffix that ``originalAssets=true`` removes.
* **Faults** are drawn per request from a seeded stream before routing: error statuses
  (429, 5xx) and connection resets replace the answer; ``truncated`` and ``slow-body`` spoil
  the real answer's body.  ``max_faults`` caps how many are injected in total.
* **Usages** cover a deterministic subset of the catalog (among the privacies of
  ``usage_privacies``: every private and unlisted model, one public model in ten; at most
  ``usage_models``), one point per UTC day, each value a pure function of (seed, model, day)
  so that overlapping calls agree.  Basic auth only.  The CLI's ``usage --demo`` keeps to
  public models, the ones ``snapshot --demo`` lists, so the two outputs join.
* **One demo catalog.**  The defaults (2,000 models, seed 0) are what every ``--demo`` of the
  CLI serves and what ``serve_demo()`` starts, so outputs of different commands join.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import gzip
import hmac
import logging
import math
import random
import socket
import struct
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

from ..errors import PortInUseError
from ..listing.query import LIST_PARAMS, parse_iso
from . import generator as g
from .engine import DEFAULT_PRIVACY, QueryEngine, QueryRejected, split_values
from .generator import DemoCatalog, iso_ms

_dumps = orjson.dumps  # the demo's JSON writer (compact, key order kept)


log = logging.getLogger(__name__)

ALL_FAULTS: tuple[str, ...] = (
    "429-seconds",
    "429-date",
    "500",
    "502",
    "503",
    "504",
    "reset",
    "truncated",
    "slow-body",
)
PUBLIC_TOKEN = "public-auth-token"
USAGE_TYPES = (
    "usages",
    "activity",
    "consumption",
    "model-usages",
    "asset-usages",
    "nsfw-usages",
    "quality-gate-usages",
)
TIME_RANGES = {
    "last-hour": timedelta(hours=1),
    "last-day": timedelta(days=1),
    "last-three-days": timedelta(days=3),
    "last-seven-days": timedelta(days=7),
    "last-thirty-one-days": timedelta(days=31),
}
MAX_USAGE_DAYS = 120
_URL_SUFFIX = g.URL_SUFFIX.encode()
_LIST_PARAMS = (*LIST_PARAMS, "projectIds")  # comma-joined when repeated


# ---------------------------------------------------------------------------------------------
# Faults and statistics
# ---------------------------------------------------------------------------------------------


@dataclass
class Faults:
    """Which faults to inject, how often, and how: a seeded, thread-safe draw per request.

    ``rate`` is the chance that a request gets a fault; ``kinds`` the faults drawn from (see
    ``ALL_FAULTS``); ``retry_after`` the delay in seconds announced by 429 answers;
    ``max_faults`` caps the total injected; ``slow_body_s`` how long a slow body takes.
    """

    rate: float = 0.0
    kinds: tuple[str, ...] = ALL_FAULTS
    seed: int = 0
    retry_after: float = 1.0
    max_faults: int | None = None
    slow_body_s: float = 0.2
    _rng: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)
    _count: int = field(init=False, repr=False, default=0)

    def __post_init__(self) -> None:
        self.kinds = tuple(self.kinds)
        unknown = [k for k in self.kinds if k not in ALL_FAULTS]
        if unknown:
            raise ValueError(f"unknown fault kind(s) {unknown}; known: {', '.join(ALL_FAULTS)}")
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError("fault rate must be between 0 and 1")
        self._rng = random.Random(self.seed)

    def draw(self) -> str | None:
        """The fault for the next request, or None."""
        if self.rate <= 0 or not self.kinds:
            return None
        with self._lock:
            if self.max_faults is not None and self._count >= self.max_faults:
                return None
            if self._rng.random() >= self.rate:
                return None
            self._count += 1
            return self._rng.choice(self.kinds)


@dataclass(frozen=True)
class RequestRecord:
    """One request as the server saw it (never the credentials)."""

    t: float  # wall time when the request arrived (time.time())
    method: str
    path: str
    params: dict[str, str]
    status: int | None  # None when the connection was reset before any answer
    fault: str | None
    auth: str  # 'basic', 'public', 'none' or 'invalid'


class Stats:
    """Thread-safe counters of a running server: requests, injected faults and a request log."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.faults: dict[str, int] = {}
        self.log: list[RequestRecord] = []

    def _count_request(self) -> None:
        with self._lock:
            self.requests += 1

    def _record(self, rec: RequestRecord) -> None:
        with self._lock:
            if rec.fault:
                self.faults[rec.fault] = self.faults.get(rec.fault, 0) + 1
            self.log.append(rec)

    @property
    def total_faults(self) -> int:
        return sum(self.faults.values())


class _ApiError(Exception):
    def __init__(self, status: int, message: str, reason: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason


# ---------------------------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------------------------


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr: tuple[str, int], demo: DemoServer) -> None:
        self.demo = demo
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(addr, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-answer is routine (say, one refusing a body over its size
        limit): log it at debug instead of socketserver's traceback on stderr."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            log.debug("client %s dropped the connection: %s", client_address, type(exc).__name__)
            return
        super().handle_error(request, client_address)


DEMO_API_KEY = "demo"
DEMO_API_SECRET = "demo"  # the demo's default key pair: it guards nothing real
# The one demo catalog: every ``--demo`` of the CLI and ``serve_demo()`` without arguments
# serve these models, so the outputs of the demo commands join with each other.
DEMO_MODELS = 2000
DEMO_SEED = 0
USAGE_PRIVACIES = ("public", "private", "unlisted")
_SPLIT_EXACT_UP_TO = 50_000  # larger catalogs get a sampled estimate of their privacy split


@dataclass(frozen=True)
class PrivacySplit:
    """How many models of a demo catalog each privacy holds (``exact`` False: estimated)."""

    public: int
    private: int
    unlisted: int
    exact: bool = True

    @property
    def total(self) -> int:
        return self.public + self.private + self.unlisted

    def describe(self) -> str:
        """``2,000 models: 1,212 public, 608 private, 180 unlisted`` (``about`` when estimated)."""
        about = "" if self.exact else "about "
        return (
            f"{self.total:,} models: {about}{self.public:,} public, {self.private:,} private, "
            f"{self.unlisted:,} unlisted"
        )


class DemoServer:
    """The demo Scenario API over a ``DemoCatalog``; start/stop it or use it as a context manager."""

    def __init__(
        self,
        models: int = DEMO_MODELS,
        seed: int = DEMO_SEED,
        latency_ms: float = 0.0,
        faults: Faults | None = None,
        drift: bool = False,
        api_key: str = DEMO_API_KEY,
        api_secret: str = DEMO_API_SECRET,
        host: str = "127.0.0.1",
        port: int = 0,
        catalog: DemoCatalog | None = None,
        usage_models: int = 300,
        types: tuple[str, ...] | None = None,
        usage_privacies: tuple[str, ...] = USAGE_PRIVACIES,
    ) -> None:
        self.catalog = (
            catalog
            if catalog is not None
            else DemoCatalog(models, seed=seed, drift=drift, types=types)
        )
        self.seed = self.catalog.seed
        self.latency_ms = latency_ms
        self.faults = faults if faults is not None else Faults()
        self.api_key = api_key
        self.api_secret = api_secret
        self.usage_models = usage_models
        self.usage_privacies = tuple(usage_privacies)
        self.host = host
        self.port = port
        self.stats = Stats()
        self.engine = QueryEngine(self.catalog)
        self._cache: dict[int, bytes] = {}
        self._cache_lock = threading.Lock()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._split: tuple[tuple[int, int], PrivacySplit] | None = None  # (catalog version, size)

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT/v1``, the base URL clients are pointed at."""
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> DemoServer:
        """Bind (port 0 picks a free one) and serve in a background thread.

        A port already taken raises ``PortInUseError`` naming it (the bare ``[Errno 98]``
        would not say which address was meant).
        """
        try:
            self._httpd = _HTTPServer((self.host, self.port), self)
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                raise PortInUseError(exc.errno, self.host, self.port) from None
            raise
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"demo-server-{self.port}",
            daemon=True,
        )
        self._thread.start()
        if log.isEnabledFor(logging.INFO):  # the split costs a pass over the catalog
            log.info(
                "demo Scenario API at %s serving %s; %s",
                self.base_url,
                self.privacy_split().describe(),
                self.credentials_note(),
            )
        return self

    def credentials_note(self) -> str:
        """Which credentials list what; names the key pair only when it is the public demo one."""
        pair = (
            f"HTTP Basic {DEMO_API_KEY}/{DEMO_API_SECRET}"
            if (self.api_key, self.api_secret) == (DEMO_API_KEY, DEMO_API_SECRET)
            else "the configured key pair (HTTP Basic)"
        )
        return (
            f"{pair} lists the private and unlisted models (and usage), "
            "'Authorization: public-auth-token' the public ones"
        )

    def privacy_split(self) -> PrivacySplit:
        """How many models are public, private and unlisted right now.

        Exact up to 50,000 models (a fraction of a second); above, estimated from an even
        sample of 5,000 (counting every model of a 10-million catalog takes minutes).
        """
        cat = self.catalog
        cached = self._split
        if cached is not None and cached[0] == (cat.version, len(cat)):
            return cached[1]
        total = len(cat)
        if total <= _SPLIT_EXACT_UP_TO:
            public, private = (
                sum(1 for _ in self.engine.ordered("createdAt", False, frozenset({p})))
                for p in ("public", "private")
            )
            split = PrivacySplit(public, private, total - public - private)
            self._split = ((cat.version, total), split)
            return split
        step = max(1, total // 5_000)  # an even sample of indices (removed ones barely matter)
        sample = [cat.facts(i).privacy for i in range(0, total, step)]
        share = {p: sample.count(p) / max(1, len(sample)) for p in USAGE_PRIVACIES}
        public, private = round(total * share["public"]), round(total * share["private"])
        split = PrivacySplit(public, private, total - public - private, exact=False)
        self._split = ((cat.version, total), split)
        return split

    def stop(self) -> None:
        """Stop serving, close open keep-alive connections and join the serving thread."""
        httpd = self._httpd
        if httpd is None:
            return
        httpd.shutdown()
        with httpd.sockets_lock:
            for s in list(httpd.open_sockets):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None

    def __enter__(self) -> DemoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset_stats(self) -> None:
        """Forget counters and the request log (the fault stream keeps its position)."""
        self.stats = Stats()

    # -- credentials ------------------------------------------------------------------------

    def auth_kind(self, header: str | None) -> str:
        """'basic' (valid key/secret), 'public' (the public token), 'none' or 'invalid'."""
        if not header:
            return "none"
        header = header.strip()
        if header == PUBLIC_TOKEN:
            return "public"
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return "invalid"
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return "invalid"
        key, sep, secret = decoded.partition(":")
        ok = (
            sep
            and hmac.compare_digest(key.encode(), self.api_key.encode())
            and hmac.compare_digest(secret.encode(), self.api_secret.encode())
        )
        return "basic" if ok else "invalid"

    # -- serialization ----------------------------------------------------------------------

    def record_bytes(self, index: int) -> bytes:
        """A record as JSON bytes, cached for records without overlays."""
        cat = self.catalog
        if not cat.is_plain(index):
            return _dumps(cat.record(index))
        b = self._cache.get(index)
        if b is None:
            b = _dumps(cat.record(index))
            with self._cache_lock:
                if len(self._cache) >= 200_000:
                    self._cache.clear()
                self._cache[index] = b
        return b

    # -- GET /v1/models ---------------------------------------------------------------------

    def list_models(self, params: dict[str, str], auth: str) -> bytes:
        """The body of one ``GET /v1/models`` page (raises _ApiError for 4xx answers).

        Checks in order: credentials (401), the documented rules (400), what the public
        token may list (403); the engine then picks the page, and this turns it into bytes.
        """
        if auth in ("none", "invalid"):
            raise _ApiError(
                401,
                "missing or invalid credentials: use HTTP Basic with your API key "
                "and secret, or the header 'Authorization: public-auth-token' "
                "with privacy=public",
                "unauthorized",
            )
        try:
            self.engine.check(params)
            if auth == "public" and params.get("privacy", DEFAULT_PRIVACY) != "public":
                raise _ApiError(
                    403,
                    "the public-auth-token may only list public models: add "
                    "privacy=public (private is the default), or use your API key "
                    "and secret",
                    "public-token-private-listing",
                )
            page = self.engine.page(params)
        except QueryRejected as e:
            raise _ApiError(400, e.message, e.reason) from None
        parts = [b'{"models":[', b",".join(self.record_bytes(i) for i in page.indices), b"]"]
        if page.next_token is not None:
            parts.append(b',"nextPaginationToken":"' + page.next_token.encode() + b'"')
        parts.append(b"}")
        body = b"".join(parts)
        if params.get("originalAssets") == "true":
            body = body.replace(_URL_SUFFIX, b"")
        return body

    # -- GET /v1/usages ---------------------------------------------------------------------

    def project_of(self, index: int) -> str:
        """The project a model's usage is billed to (one of four per seed)."""
        return self.project_ids()[g._h(self.seed, index, 33) % 4]

    def project_ids(self) -> list[str]:
        """The four project ids usage points are spread over."""
        return [f"project_{g._b62(g._h(self.seed, k, 32), 22)}" for k in range(4)]

    def usage_indices(self) -> list[int]:
        """The models that have usage, among those of ``usage_privacies``: every private and
        unlisted one, one public model in ten; at most ``usage_models``."""
        out = []
        wanted = self.usage_privacies
        for i in self.catalog.indices():
            f = self.catalog.facts(i)
            if f.privacy not in wanted:
                continue
            if f.privacy != "public" or g._h(self.seed, i, 34) % 10 == 0:
                out.append(i)
                if len(out) >= self.usage_models:
                    break
        return out

    def usage_point(self, index: int, day_ms: int) -> dict[str, Any]:
        """Usage of one model on one UTC day: a pure function of (seed, model, day)."""
        f = self.catalog.facts(index)
        day = day_ms // g._DAY_MS
        h = g._h(self.seed, index * 100_003 + day, 35)
        created_day = f.created // g._DAY_MS
        if day < created_day or h % 5 == 0:
            jobs = 0
        else:
            jobs = 1 + (h >> 8) % (60 if f.privacy == "public" else 25)
        unit = 0.5 + ((g._h(self.seed, index, 36) % 400) / 10.0)
        cost = round(jobs * unit, 2)
        discount = round(cost * ((h >> 20) % 30) / 100.0, 2)
        api_share = ((h >> 28) % 101) / 100.0
        return {
            "time": iso_ms(day * g._DAY_MS),
            "jobs": jobs,
            "cost": cost,
            "discount": discount,
            "apiKeyCost": round(cost * api_share, 2),
            "apiKeyDiscount": round(discount * api_share, 2),
        }

    def usages(self, params: dict[str, str], auth: str) -> bytes:
        """The body of ``GET /v1/usages`` (only ``model-usages`` carries data in the demo)."""
        if auth in ("none", "invalid"):
            raise _ApiError(
                401,
                "missing or invalid credentials: usages need your API key and secret",
                "unauthorized",
            )
        if auth != "basic":
            raise _ApiError(403, "usages are not available with the public-auth-token", "forbidden")
        kinds = split_values(params.get("type", "usages"))
        unknown = [k for k in kinds if k not in USAGE_TYPES]
        if unknown:
            raise _ApiError(
                400,
                f"type must be among {', '.join(USAGE_TYPES)}; got {', '.join(unknown)}",
                "usage-type-enum",
            )
        start_s, end_s = params.get("startDate"), params.get("endDate")
        if (start_s is None) != (end_s is None):
            raise _ApiError(
                400,
                "startDate and endDate go together: give both or neither",
                "usage-dates-both-or-neither",
            )
        if start_s is not None and end_s is not None:
            try:
                start, end = parse_iso(start_s), parse_iso(end_s)
            except ValueError:
                raise _ApiError(
                    400, "startDate and endDate must be ISO 8601 dates", "iso-date"
                ) from None
        else:
            tr = params.get("timeRange", "last-thirty-one-days")
            if tr not in TIME_RANGES:
                raise _ApiError(
                    400,
                    f"timeRange must be one of {', '.join(TIME_RANGES)}",
                    "usage-time-range-enum",
                )
            end = datetime.now(UTC)
            start = end - TIME_RANGES[tr]
        if end < start:
            raise _ApiError(400, "endDate must not be before startDate", "usage-date-order")
        if end - start > timedelta(days=MAX_USAGE_DAYS):
            raise _ApiError(
                400,
                f"the range from startDate to endDate is over {MAX_USAGE_DAYS} days: "
                "split it into several calls",
                "usage-range-too-long",
            )
        out: dict[str, Any] = {}
        for kind in kinds:
            if kind != "model-usages":
                out[{"usages": "usages"}.get(kind, _camel(kind))] = []
        if "model-usages" in kinds:
            projects = set(split_values(params["projectIds"])) if params.get("projectIds") else None
            drop_zero = params.get("dropZeroPoints") == "true"
            start_ms = int(start.timestamp() * 1000)
            end_ms = int(end.timestamp() * 1000)
            first_day = start_ms // g._DAY_MS * g._DAY_MS
            days = list(range(first_day, max(end_ms, first_day + 1), g._DAY_MS))
            usages = []
            for i in self.usage_indices():
                if projects is not None and self.project_of(i) not in projects:
                    continue
                pts = [self.usage_point(i, d) for d in days]
                if drop_zero:
                    pts = [p for p in pts if p["jobs"]]
                usages.append({"modelId": self.catalog.facts(i).id, "points": pts})
            out["modelUsages"] = usages
        return _dumps(out)


def _camel(kind: str) -> str:
    head, *rest = kind.split("-")
    return head + "".join(w.title() for w in rest)


# ---------------------------------------------------------------------------------------------
# The request handler
# ---------------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "scenario-frames-demo"
    timeout = 30  # idle keep-alive connections are closed after this many seconds
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.sockets_lock:
            self.server.open_sockets.add(self.connection)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        with self.server.sockets_lock:
            self.server.open_sockets.discard(self.connection)

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        log.debug("%s " + format, self.address_string(), *args)

    def _params(self, query: str) -> dict[str, str]:
        params: dict[str, str] = {}
        for k, v in parse_qsl(query, keep_blank_values=True):
            if k in _LIST_PARAMS and k in params:
                params[k] = f"{params[k]},{v}"  # repeated list parameters are accepted too
            elif k.endswith("[]") and k[:-2] in LIST_PARAMS:
                base = k[:-2]
                params[base] = f"{params[base]},{v}" if base in params else v
            else:
                params[k] = v
        return params

    def do_GET(self) -> None:  # noqa: N802 (stdlib name)
        demo = self.server.demo
        stats = demo.stats
        stats._count_request()
        arrived = time.time()  # the record's time is the arrival, so Retry-After checks are exact
        split = urlsplit(self.path)
        path = split.path.rstrip("/") or "/"
        params = self._params(split.query)
        auth = demo.auth_kind(self.headers.get("Authorization"))
        if demo.latency_ms > 0:
            time.sleep(demo.latency_ms / 1000.0)
        fault = demo.faults.draw()
        status, body, headers = self._answer(demo, path, params, auth, fault)
        # Logged before the answer leaves, so a client that got it also finds it in the log.
        stats._record(RequestRecord(arrived, "GET", path, dict(params), status, fault, auth))
        try:
            if status is None:
                self._reset()
            else:
                self._send_body(status, body, headers, fault=fault)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _answer(
        self, demo: DemoServer, path: str, params: dict[str, str], auth: str, fault: str | None
    ) -> tuple[int | None, bytes, dict[str, str]]:
        """Status (None for a reset), body and extra headers of one request."""
        if fault == "reset":
            return None, b"", {}
        if fault in ("429-seconds", "429-date"):
            delay = demo.faults.retry_after
            ra = (
                str(max(0, math.ceil(delay)))
                if fault == "429-seconds"
                else formatdate(time.time() + delay, usegmt=True)
            )
            return (
                429,
                _dumps(
                    {
                        "message": "Too many requests: slow down and retry later",
                        "reason": "rate-limited",
                    }
                ),
                {"Retry-After": ra},
            )
        if fault in ("500", "502", "503", "504"):
            return (
                int(fault),
                _dumps({"message": f"injected server error {fault}", "reason": "injected-fault"}),
                {},
            )
        try:
            if path == "/v1/models":
                return 200, demo.list_models(params, auth), {}
            if path == "/v1/usages":
                return 200, demo.usages(params, auth), {}
            raise _ApiError(404, f"no route for GET {path}", "not-found")
        except _ApiError as e:
            return e.status, _dumps({"message": e.message, "reason": e.reason}), {}
        except Exception as exc:  # pragma: no cover - a bug in the demo itself
            log.exception("demo server error")
            return 500, _dumps({"message": f"demo server bug: {exc}", "reason": "internal"}), {}

    def _not_allowed(self) -> None:
        self.server.demo.stats._count_request()
        self._send_body(
            405,
            _dumps({"message": f"{self.command} is not supported by the demo", "reason": "method"}),
        )

    do_POST = do_PUT = do_DELETE = do_PATCH = _not_allowed  # noqa: N815

    def _reset(self) -> None:
        """Abort the connection: SO_LINGER 0 makes close() send a TCP RST."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()

    def _send_body(
        self,
        status: int,
        body: bytes,
        headers: Mapping[str, str] | None = None,
        fault: str | None = None,
    ) -> None:
        accept = self.headers.get("Accept-Encoding", "")
        gz = "gzip" in accept.lower() and len(body) > 512
        if gz:
            body = gzip.compress(body, compresslevel=1, mtime=0)
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        if gz:
            self.send_header("Content-Encoding", "gzip")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if fault == "truncated":
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_WR)
            return
        if fault == "slow-body":
            chunks = 10
            step = max(1, math.ceil(len(body) / chunks))
            pause = self.server.demo.faults.slow_body_s / chunks
            for start in range(0, len(body), step):
                self.wfile.write(body[start : start + step])
                time.sleep(pause)
            return
        self.wfile.write(body)


# ---------------------------------------------------------------------------------------------
# Entry point for tests and notebooks
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def serve_demo(
    models: int = DEMO_MODELS,
    seed: int = DEMO_SEED,
    *,
    latency_ms: float = 0.0,
    faults: Faults | None = None,
    drift: bool = False,
    api_key: str = DEMO_API_KEY,
    api_secret: str = DEMO_API_SECRET,
    host: str = "127.0.0.1",
    port: int = 0,
    catalog: DemoCatalog | None = None,
    usage_models: int = 300,
    types: tuple[str, ...] | None = None,
    usage_privacies: tuple[str, ...] = USAGE_PRIVACIES,
) -> Iterator[DemoServer]:
    """Run a demo server in-process on a free loopback port for the duration of a with-block.

    The demo is an embedded Scenario API (``GET /v1/models`` and ``GET /v1/usages``) over a
    generated catalog: a way to try the toolkit, and to test against, with no account and no
    network.  Without arguments it serves the one demo catalog of the CLI's ``--demo``
    (2,000 models, seed 0), so notebook and command outputs join.  The same ``models`` and
    ``seed`` always give the same catalog.

    Parameters
    ----------
    models : int, default 2000
        How many models the generated catalog holds (across every privacy).
    seed : int, default 0
        The generator's seed.
    latency_ms : float, default 0.0
        A delay added to every answer.
    faults : Faults, optional
        Errors to inject (``Faults(rate=0.1)``); default none.
    drift : bool, default False
        Add fields and enum values the API reference does not list.
    api_key, api_secret : str, default "demo"
        The HTTP Basic pair that lists the private and unlisted models and reads usage
        (the public token lists the public models).
    host : str, default "127.0.0.1"
        The address to bind (loopback unless you mean otherwise).
    port : int, default 0
        The port to bind; 0 picks a free one.
    catalog : DemoCatalog, optional
        Serve this catalog instead of generating one from ``models`` and ``seed``.
    usage_models : int, default 300
        The most models that have usage.
    types : tuple of str, optional
        Restrict the model types drawn (e.g. to what a given client release knows).
    usage_privacies : tuple of str, default ("public", "private", "unlisted")
        The privacies the models with usage are drawn from: every private and unlisted
        model among them, and one public model in ten.

    Yields
    ------
    DemoServer
        The started server; ``server.base_url`` is the URL to point clients at, and
        ``server.catalog`` the generated catalog (add, update or remove models there).

    Raises
    ------
    PortInUseError
        ``port`` is already taken.

    Examples
    --------
    >>> from scenario_frames import fetch_catalog, serve_demo
    >>> with serve_demo(models=40, seed=1) as demo:
    ...     account = {"base_url": demo.base_url, "api_key": "demo", "api_secret": "demo"}
    ...     public = fetch_catalog(**account, privacy="public", progress=False)
    ...     private = fetch_catalog(**account, privacy="private", progress=False)
    >>> url = demo.base_url
    >>> url.startswith("http://127.0.0.1:"), url.endswith("/v1")
    (True, True)
    >>> len(public), len(private)
    (26, 14)
    """
    server = DemoServer(
        models=models,
        seed=seed,
        latency_ms=latency_ms,
        faults=faults,
        drift=drift,
        api_key=api_key,
        api_secret=api_secret,
        host=host,
        port=port,
        catalog=catalog,
        usage_models=usage_models,
        types=types,
        usage_privacies=usage_privacies,
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()
