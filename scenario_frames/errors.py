"""Every error class of scenario_frames, in one place (the foundation layer: imports only ``urls``).

API errors follow the shape of httpx and of the official ``scenario-sdk``: each carries the
request it was about (``request``: method and URL, cleaned) and, when the server answered,
the response (``response``: status, headers and parsed body), so a notebook user can read
the request id, the ``Retry-After`` or the server's own explanation without a traceback
dive.  Nothing an error holds contains a credential: URLs lose their userinfo and the values
of credential-like query parameters, credential-like headers are dropped, and the client
scrubs its own key and secret out of every string it hands over.

The API errors::

    ScenarioAPIError                  every API error; always has .request
    ├── APIStatusError                the server answered with an error status (.response set)
    │   ├── BadRequestError           400
    │   ├── AuthenticationError       401
    │   ├── PermissionDeniedError     403
    │   ├── NotFoundError             404
    │   ├── RateLimitError            429
    │   └── ServerError               5xx
    │       └── APIResponseValidationError   a body we refuse (invalid JSON on a 200, too large, ...)
    ├── APIConnectionError            no complete answer: refused, DNS failure, connection dropped
    │   └── APITimeoutError           connect or read timeout, a body too slow, the deadline
    └── PaginationError               the listing loops, makes no progress or hits the page cap
"""

from __future__ import annotations

import errno
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .urls import host_and_port


class ScenarioFramesError(Exception):
    """Base class of every error this package raises on purpose.

    One ``except ScenarioFramesError`` catches them all: the API errors
    (``ScenarioAPIError`` and its subclasses), a query refused before any request
    (``QueryError``), and the configuration, checkpoint, usage-column and snapshot errors.
    (The demo server's ``PortInUseError`` is an ``OSError`` instead.)  A bug's own
    exception (a ``TypeError``, a ``KeyError``) is not one, so catching this class never
    hides a bug.

    See Also
    --------
    ScenarioAPIError : The base of the errors about a request to the API.
    QueryError : A query the API would refuse, caught before it is sent.

    Examples
    --------
    >>> from scenario_frames import ModelQuery, ScenarioFramesError
    >>> try:
    ...     ModelQuery.build(privacy="public", created_after="yesterday")
    ... except ScenarioFramesError as exc:
    ...     print(type(exc).__name__, isinstance(exc, ValueError))
    QueryError True
    """


class QueryError(ScenarioFramesError, ValueError):
    """A query breaks one of the documented rules of ``GET /models``; raised before any request.

    Checking the rules on our side means a mistake costs no round trip and the error names
    what to change.  It is also a ``ValueError``, so code that already catches bad
    arguments catches it too.
    ``query.cli_message(exc)`` words the same error with the command line's flags.

    Parameters
    ----------
    rule : str
        A short, stable identifier of the broken rule (e.g. ``"type-with-types"``) that
        tests and callers can match on without parsing the message.
    message : str
        What is wrong and how to fix the query, in Python terms.  ``str(exc)`` puts the rule
        in front of it: ``"[rule] message"``.
    params : tuple of str, optional
        The snake_case keywords at fault, when they are known (the command line names their
        flags from them); empty otherwise.

    Attributes
    ----------
    rule, message, params
        As given.

    See Also
    --------
    ModelQuery.build : Checks a query's arguments and raises this error.

    Examples
    --------
    >>> from scenario_frames import ModelQuery, QueryError
    >>> try:
    ...     ModelQuery.build(privacy="public", status="trained")
    ... except QueryError as exc:
    ...     error = exc
    >>> error.rule, error.params
    ('private-only', ('status', 'collection_id'))
    >>> str(error).startswith("[private-only] status and collectionId")
    True
    """

    def __init__(self, rule: str, message: str, *, params: tuple[str, ...] = ()) -> None:
        super().__init__(f"[{rule}] {message}")
        self.rule = rule
        self.message = message
        self.params = (
            params  # the snake_case keywords at fault, when known (the CLI names their flags)
        )


# ---------------------------------------------------------------------------------------------
# What an API error carries: the request it was about and the response, both scrubbed
# ---------------------------------------------------------------------------------------------

Scrub = Callable[[str], str]
"""A function that removes known secrets from a piece of text (the client's credentials)."""

REDACTED_VALUE = "***"
# A query parameter, header or JSON key whose name holds one of these (compared lower-case,
# without "-" and "_") is taken for a credential: its value is replaced, or the header dropped.
SENSITIVE_NAME_PARTS = (
    "auth",
    "cookie",
    "credential",
    "key",
    "passw",
    "secret",
    "session",
    "signature",
    "token",
)
# Where servers and the proxies in front of them put the id support asks for, first match wins.
REQUEST_ID_HEADERS = (
    "x-request-id",
    "request-id",
    "x-amzn-requestid",
    "x-amz-request-id",
    "x-correlation-id",
)
# Headers whose value is a URL: cleaned like the request's URL (a redirect target may carry
# a query string the server built from our credentials).
URL_HEADERS = ("location", "content-location")
# Bounds on what an error keeps of a response, so an exception stays small whatever the server
# sent: bodies up to BODY_PARSE_BYTES are parsed as JSON, anything else is kept as a text
# excerpt of BODY_EXCERPT_CHARS; nesting deeper than BODY_MAX_DEPTH is cut.
BODY_PARSE_BYTES = 64 << 10
BODY_EXCERPT_CHARS = 2000
BODY_MAX_DEPTH = 32
MAX_HEADERS = 64
HEADER_VALUE_CHARS = 512


def is_sensitive_name(name: str) -> bool:
    """True when a parameter, header or key name suggests its value is a credential."""
    folded = name.lower().replace("-", "").replace("_", "")
    return any(part in folded for part in SENSITIVE_NAME_PARTS)


def _no_scrub(text: str) -> str:
    return text


def clean_url(url: str, scrub: Scrub | None = None) -> str:
    """``url`` fit to be shown: no userinfo, no fragment, credential-like query values replaced.

    ``scrub`` (the client's) also removes the credentials' own text wherever it appears, in
    the path or in a value whose name looks harmless (a pagination token echoing them).
    """
    scrub = scrub or _no_scrub
    text = scrub(str(url))
    try:
        parts = urlsplit(text)
        netloc = host_and_port(parts)
    except ValueError:
        return "<unparsable URL>"
    pairs = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        name = scrub(name)
        value = REDACTED_VALUE if is_sensitive_name(name) else scrub(value)
        pairs.append((name, value))
    query = urlencode(pairs, safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def _excerpt(text: str, scrub: Scrub) -> str:
    """At most about ``BODY_EXCERPT_CHARS`` of ``text``, scrubbed before it is cut.

    Scrubbing a wider window first means a credential straddling the cut is replaced whole,
    never left half visible.  A text that is already an excerpt (marker included) is kept
    whole, so describing a description changes nothing.
    """
    if len(text) <= BODY_EXCERPT_CHARS + 64:
        return scrub(text)
    window = scrub(text[: BODY_EXCERPT_CHARS * 4])
    return window[:BODY_EXCERPT_CHARS] + f" [... {len(text):,} characters in all]"


def _clean_body(value: Any, scrub: Scrub, depth: int = 0) -> Any:
    """A copy of a parsed body with credential-like keys replaced and every string scrubbed."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return _excerpt(value, scrub)
    if depth >= BODY_MAX_DEPTH:
        return "[nested too deep]"
    if isinstance(value, Mapping):
        return {
            scrub(str(k)): REDACTED_VALUE
            if is_sensitive_name(str(k))
            else _clean_body(v, scrub, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_clean_body(v, scrub, depth + 1) for v in value]
    return _excerpt(repr(value), scrub)


def _parse_body(raw: bytes | str, scrub: Scrub) -> Any:
    """The body as parsed JSON when it is small and valid, else a text excerpt; scrubbed."""
    if len(raw) <= BODY_PARSE_BYTES:
        try:
            return _clean_body(json.loads(raw), scrub)
        except (ValueError, RecursionError):  # not JSON (UnicodeDecodeError is a ValueError)
            pass
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return _excerpt(text, scrub) if text else None


class Headers(Mapping[str, str]):
    """Read-only response headers, looked up without regard to case (names kept lower-case).

    Immutable and picklable, unlike the live header objects of HTTP libraries.

    Examples
    --------
    >>> h = Headers({"Retry-After": "2"})
    >>> h["retry-after"], h.get("RETRY-AFTER"), dict(h)
    ('2', '2', {'retry-after': '2'})
    """

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        pairs = items.items() if isinstance(items, Mapping) else items
        seen: dict[str, str] = {}
        for name, value in pairs:
            seen.setdefault(str(name).lower(), str(value))
        self._items: tuple[tuple[str, str], ...] = tuple(seen.items())

    def __getitem__(self, name: str) -> str:
        wanted = name.lower()
        for key, value in self._items:
            if key == wanted:
                return value
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return (key for key, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(self._items)

    def __repr__(self) -> str:
        return f"Headers({dict(self._items)!r})"


def _clean_headers(headers: Mapping[str, str], scrub: Scrub) -> Headers:
    """Headers without credential-like ones, values scrubbed and bounded, URLs cleaned."""
    kept: list[tuple[str, str]] = []
    for name, value in headers.items():
        low = str(name).lower()
        if is_sensitive_name(low):
            continue
        text = clean_url(str(value), scrub) if low in URL_HEADERS else scrub(str(value))
        kept.append((low, text[:HEADER_VALUE_CHARS]))
        if len(kept) >= MAX_HEADERS:
            break
    return Headers(kept)


@dataclass(frozen=True)
class APIRequest:
    """The request an API error is about, as it may be shown: method and a cleaned URL.

    The URL never holds userinfo or a fragment, and the value of every query parameter whose
    name looks like a credential (``key``, ``secret``, ``token``, ...) is replaced by
    ``***``; this holds however the object is made.  ``APIRequest.build`` also removes the
    client's own credentials wherever their text appears.

    Parameters
    ----------
    method : str
        The HTTP method, upper-cased.
    url : str
        The URL (absolute, or just a path when no more is known); cleaned on construction.

    Attributes
    ----------
    method : str
    url : str
    path : str
        The URL's path, e.g. ``/v1/models``.

    Examples
    --------
    >>> APIRequest("get", "https://u:p@api.example/v1/models?privacy=public&apiKey=k1")
    APIRequest(method='GET', url='https://api.example/v1/models?privacy=public&apiKey=***')
    """

    method: str = "GET"
    url: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "method", str(self.method).upper()[:16])
        object.__setattr__(self, "url", clean_url(self.url))

    @classmethod
    def build(
        cls,
        method: str,
        url: str,
        params: Mapping[str, str] | None = None,
        *,
        scrub: Scrub | None = None,
    ) -> APIRequest:
        """The description of ``method url`` with ``params`` as its query string, scrubbed."""
        if params:
            url += ("&" if "?" in url else "?") + urlencode(list(params.items()))
        return cls(method, clean_url(url, scrub))

    @property
    def path(self) -> str:
        return urlsplit(self.url).path


@dataclass(frozen=True)
class APIResponse:
    """What the server answered, as far as an error keeps it: status, headers and body.

    Credential-like headers (``Authorization``, ``WWW-Authenticate``, ``Set-Cookie``,
    ``X-Api-Key``, ...) are dropped; the rest (the request id, ``Retry-After``,
    ``Content-Type``, rate-limit headers) are kept, bounded in number and length.  The body
    is the parsed JSON when it is small and valid JSON, else a text excerpt (or None when
    empty or unread), with credential-like keys replaced.  ``APIResponse.build`` also removes
    the client's own credentials from every header value and every string of the body.

    Parameters
    ----------
    status : int
        The HTTP status code.
    headers : Mapping[str, str]
        The response headers; filtered on construction.
    body : Any
        The parsed JSON body, a text excerpt, or None.

    Attributes
    ----------
    status : int
    headers : Mapping[str, str]
        A ``Headers``: read-only and case-insensitive.
    body : Any
    request_id : str or None
        The server's id of the request (``X-Request-Id`` and its relatives), for support.

    Examples
    --------
    >>> r = APIResponse.build(
    ...     429, {"Retry-After": "3", "Set-Cookie": "s=1"}, b'{"message": "slow down"}'
    ... )
    >>> r.status, dict(r.headers), r.body
    (429, {'retry-after': '3'}, {'message': 'slow down'})
    """

    status: int
    headers: Mapping[str, str] = field(default_factory=Headers)
    body: Any = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "headers", _clean_headers(self.headers, _no_scrub))
        object.__setattr__(self, "body", _clean_body(self.body, _no_scrub))

    @classmethod
    def build(
        cls,
        status: int,
        headers: Mapping[str, str],
        body: bytes | str | None,
        *,
        scrub: Scrub | None = None,
    ) -> APIResponse:
        """Describe a raw response: parse (or excerpt) ``body`` and scrub everything."""
        scrub = scrub or _no_scrub
        return cls(
            int(status),
            _clean_headers(headers, scrub),
            None if body is None else _parse_body(body, scrub),
        )

    @property
    def request_id(self) -> str | None:
        for name in REQUEST_ID_HEADERS:
            value = self.headers.get(name)
            if value:
                return value
        return None


_NO_HEADERS = Headers()


class ScenarioAPIError(ScenarioFramesError):
    """The API answered with an error, or could not be reached in the allowed attempts.

    The base of every API error: ``except ScenarioAPIError`` catches them all.  It always
    carries the request (``request``); ``response`` is set when the server sent a status line,
    and None for connection failures that got none.  Nothing it holds contains a credential.

    Parameters
    ----------
    message : str
        What went wrong, in words (the server's ``message`` when it sent one).
    status : int, optional
        The HTTP status; defaults to ``response.status``.
    reason : str, optional
        A short machine-readable cause: the server's ``reason``, or ours (``"slow-body"``,
        ``"invalid-body"``, ``"page-cap"`` ...).
    method, path : str
        Used to describe the request when ``request`` is not given.
    request : APIRequest, optional
        The request the error is about, already cleaned; by default one made of ``method``
        and ``path``.
    response : APIResponse, optional
        What the server answered (status, kept headers, parsed body), already cleaned; None
        (the default) when no status line came back.

    Attributes
    ----------
    message, reason, status, method, path
        As above; ``method`` and ``path`` are the request's.
    request : APIRequest
        Method and cleaned URL (query string included, credential-like values replaced).
    response : APIResponse or None
    headers : Headers
        The response headers (empty without a response).
    body : Any
        The parsed JSON body, or a text excerpt, or None.
    request_id : str or None
        The server's request id, when it sent one.

    Examples
    --------
    >>> err = NotFoundError(
    ...     "no such model",
    ...     request=APIRequest("GET", "https://api.example/v1/models/m1"),
    ...     response=APIResponse.build(404, {"X-Request-Id": "r-1"}, b'{"message": "no such model"}'),
    ... )
    >>> str(err)
    'GET /v1/models/m1 -> 404: no such model [request id r-1]'
    >>> err.status, err.body, err.request_id
    (404, {'message': 'no such model'}, 'r-1')
    """

    # Whether ``status`` defaults to the response's: not for a connection that failed after
    # the status line came, where the status says nothing about what went wrong.
    _status_from_response = True

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        reason: str | None = None,
        method: str = "GET",
        path: str = "",
        request: APIRequest | None = None,
        response: APIResponse | None = None,
    ) -> None:
        super().__init__(message)
        self.request = request if request is not None else APIRequest(method, path)
        self.response = response
        if status is None and response is not None and self._status_from_response:
            status = response.status
        self.status = status
        self.message = message
        self.reason = reason
        self.method = self.request.method
        self.path = path or self.request.path

    @property
    def headers(self) -> Mapping[str, str]:
        return self.response.headers if self.response is not None else _NO_HEADERS

    @property
    def body(self) -> Any:
        return self.response.body if self.response is not None else None

    @property
    def request_id(self) -> str | None:
        return self.response.request_id if self.response is not None else None

    def __str__(self) -> str:
        head = f"{self.method} {self.path}".strip()
        if self.status is not None:
            head += f" -> {self.status}"
        detail = self.message + (f" (reason: {self.reason})" if self.reason else "")
        if self.request_id:
            detail += f" [request id {self.request_id}]"
        return f"{head}: {detail}" if head else detail

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, message={self.message!r}, "
            f"reason={self.reason!r}, method={self.method!r}, url={self.request.url!r}, "
            f"request_id={self.request_id!r})"
        )


class APIStatusError(ScenarioAPIError):
    """The server answered with an error status (the statuses without a class of their own).

    Its subclasses stand for the statuses a caller handles differently; any other 4xx (or a
    408/409 still answered after every retry) is an ``APIStatusError`` itself.
    ``response`` is set whenever the error comes from the client.

    See Also
    --------
    ScenarioAPIError : The parent class, whose parameters and attributes this one shares.
    error_for_status : The class that stands for a given status.
    """


class BadRequestError(APIStatusError):
    """400: the server refused the query.

    See Also
    --------
    APIStatusError : The parent class (the parameters and attributes are the same).
    QueryError : The rules checked before a query is sent, which catch many a 400 earlier.
    """


class AuthenticationError(APIStatusError):
    """401: missing or wrong credentials.

    A 401 is not retried: the same credentials would be refused again.

    See Also
    --------
    APIStatusError : The parent class (the parameters and attributes are the same).
    PermissionDeniedError : The credentials are known but may not do this (403).

    Examples
    --------
    Ask the embedded demo for its private models with a wrong secret:

    >>> from scenario_frames import AuthenticationError, fetch_catalog, serve_demo
    >>> with serve_demo(models=40, seed=1) as demo:
    ...     try:
    ...         fetch_catalog(
    ...             base_url=demo.base_url,
    ...             api_key="demo",
    ...             api_secret="not-the-secret",
    ...             privacy="private",
    ...             progress=False,
    ...         )
    ...     except AuthenticationError as exc:
    ...         error = exc
    >>> error.status, error.reason, error.request.path
    (401, 'unauthorized', '/v1/models')
    >>> "not-the-secret" in str(error) + repr(error)
    False
    """


class PermissionDeniedError(APIStatusError):
    """403: the credentials may not do this.

    See Also
    --------
    APIStatusError : The parent class (the parameters and attributes are the same).
    AuthenticationError : The credentials are missing or wrong (401).
    """


class NotFoundError(APIStatusError):
    """404: no such endpoint or resource.

    See Also
    --------
    APIStatusError : The parent class (the parameters and attributes are the same).
    """


class RateLimitError(APIStatusError):
    """429 still answered after every allowed attempt, or with a Retry-After over the cap.

    ``headers["retry-after"]`` holds the server's own value.  The cap is the client's
    ``max_retry_after`` (60 seconds unless changed): a longer wait is not slept through but
    raised at once, so that a notebook or a scheduled job hears about it.

    See Also
    --------
    APIStatusError : The parent class (the parameters and attributes are the same).
    ScenarioClient : Where ``max_retry_after`` and the number of attempts are set.

    Examples
    --------
    A demo that answers every request with a 429 asking for two minutes of patience:

    >>> from scenario_frames import RateLimitError, fetch_catalog, serve_demo
    >>> from scenario_frames.demo import Faults
    >>> always_429 = Faults(rate=1.0, kinds=("429-seconds",), retry_after=120)
    >>> with serve_demo(models=40, seed=1, faults=always_429) as demo:
    ...     try:
    ...         fetch_catalog(
    ...             base_url=demo.base_url,
    ...             api_key="demo",
    ...             api_secret="demo",
    ...             privacy="public",
    ...             progress=False,
    ...         )
    ...     except RateLimitError as exc:
    ...         error = exc
    >>> error.status, error.reason, error.headers["retry-after"]
    (429, 'rate-limited', '120')
    >>> "over the max_retry_after cap of 60 s" in error.message
    True
    """


class ServerError(APIStatusError):
    """5xx still answered after every allowed attempt: the fault is on the server's side.

    See Also
    --------
    APIStatusError : The parent class (the parameters and attributes are the same).
    APIResponseValidationError : A server fault shown by a body rather than a status.
    """


class APIResponseValidationError(ServerError):
    """The server answered, but with a body we refuse: still a server-side fault.

    A 200 whose body is not valid JSON or lacks what the endpoint promises (``reason``
    ``"invalid-body"``), a body over ``max_page_bytes`` (``"body-too-large"``) or in an
    encoding we did not ask for (``"unsupported-encoding"``).  It is a ``ServerError`` so
    that code catching server faults catches these too; ``status`` is the status the body
    came with (usually 200).

    See Also
    --------
    ServerError : The parent class (the parameters and attributes are the same).
    """


class APIConnectionError(ScenarioAPIError):
    """No complete answer: the connection could not be opened, or dropped, after every attempt.

    Refused connections and DNS failures are tried ``CONNECT_ATTEMPTS`` times, a connection
    cut in the middle of an answer ``max_attempts`` times.  ``status`` is None: no error
    status was answered.  When the server had sent its status line and headers before the
    connection dropped, ``response`` holds them (its body is None), so ``request_id`` still
    works.  Not a ``ServerError``: nothing proves the server itself failed.

    See Also
    --------
    ScenarioAPIError : The parent class (the parameters and attributes are the same).
    APITimeoutError : The answer did not come in time.

    Examples
    --------
    >>> err = APIConnectionError("could not connect", request=APIRequest("GET", "http://127.0.0.1:9/v1/models"))
    >>> err.status is None and err.response is None
    True
    """

    _status_from_response = False


class APITimeoutError(APIConnectionError):
    """An answer did not come in time: connect or read timeout, a body too slow, the deadline.

    ``reason`` tells which: ``"timeout"`` (connect or read timeout), ``"slow-body"`` (the
    body as a whole did not arrive within the read timeout) or ``"deadline"``.  The first
    two are retried like a dropped connection, up to the client's ``max_attempts``; the
    deadline ends the retries.

    See Also
    --------
    APIConnectionError : The parent class (the parameters and attributes are the same).
    ScenarioClient : Where ``timeout``, ``max_attempts`` and ``deadline`` are set.

    Examples
    --------
    A socket that listens but never answers, and a client that waits a tenth of a second
    for an answer and tries once:

    >>> import socket
    >>> from scenario_frames import APITimeoutError, ScenarioClient, fetch_catalog
    >>> with socket.create_server(("127.0.0.1", 0)) as silent:
    ...     url = f"http://127.0.0.1:{silent.getsockname()[1]}/v1"
    ...     with ScenarioClient(url, "demo", "demo", timeout=(1.0, 0.1), max_attempts=1) as client:
    ...         try:
    ...             fetch_catalog(client=client, privacy="public", progress=False)
    ...         except APITimeoutError as exc:
    ...             error = exc
    >>> error.reason, error.status, error.response is None
    ('timeout', None, True)
    >>> "read timeout" in error.message
    True
    """


class PaginationError(ScenarioAPIError):
    """Paging went wrong: a token came back twice (a loop), no progress, or the page cap was reached.

    ``reason`` tells which: ``"token-loop"``, ``"no-progress"`` or ``"page-cap"``.

    See Also
    --------
    ScenarioAPIError : The parent class (the parameters and attributes are the same).
    """


STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    429: RateLimitError,
}


def error_for_status(status: int) -> type[APIStatusError]:
    """The exception class that stands for an HTTP status (``APIStatusError`` for the rest)."""
    if status >= 500:
        return ServerError
    return STATUS_ERRORS.get(status, APIStatusError)


class ClientConfigError(ScenarioFramesError, ValueError):
    """The client was configured in a way we refuse (e.g. plain http to a remote host)."""


class CheckpointMismatchError(ScenarioFramesError, ValueError):
    """The checkpoint folder holds the pages of a different query or server."""


class UsageColumnError(ScenarioFramesError, ValueError):
    """A usage table lacks a column we need, or a column holds values we cannot read.

    ``seen`` lists the columns the source had and ``tried`` the names that were looked for,
    so the message alone tells the user which argument (``model_column=...``) to pass.
    """

    def __init__(
        self, message: str, *, target: str, seen: Sequence[str] = (), tried: Sequence[str] = ()
    ) -> None:
        super().__init__(message)
        self.target = target
        self.seen = list(seen)
        self.tried = list(tried)


class SnapshotError(ScenarioFramesError, ValueError):
    """A snapshot is missing, damaged (a sha256 mismatch) or cannot serve the request."""


class PortInUseError(OSError):
    """The demo server could not bind its port; the message names the host and the port."""

    def __init__(self, code: int, host: str, port: int) -> None:
        why = "is already in use" if code == errno.EADDRINUSE else "may not be bound by this user"
        super().__init__(code, f"port {port} on {host} {why}")
        self.host, self.port = host, port

    def __str__(self) -> str:
        return f"{self.strerror}; choose another port, or 0 for a free one"
