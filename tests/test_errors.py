"""The error model: what an API error carries, which class each failure gets, and the hierarchy.

Every failure is produced by a real loopback server: the demo with its fault injection, the
scripted servers of ``_scripted_server``, a socket that listens but never answers, and a port
nobody listens on.  (The leak checks of the same errors live in ``test_secrets.py``.)
"""

from __future__ import annotations

import dataclasses
import pickle
import socket
from collections.abc import Iterator

import orjson
import pytest
from _bounded import bounded
from _scripted_server import scripted

import scenario_frames as sf
from scenario_frames import errors as E
from scenario_frames.demo import Faults, serve_demo
from scenario_frames.transport.client import ScenarioClient

JSON = {"Content-Type": "application/json"}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (
        "SCENARIO_API_KEY",
        "SCENARIO_API_SECRET",
        "SCENARIO_SDK_API_KEY",
        "SCENARIO_SDK_API_SECRET",
        "SCENARIO_BASE_URL",
    ):
        monkeypatch.delenv(var, raising=False)


def quick(base: str, **kw: object) -> ScenarioClient:
    """A client whose back-off is tiny, so retries take no noticeable time."""
    kw.setdefault("backoff", 0.001)
    kw.setdefault("backoff_max", 0.002)
    return ScenarioClient(base, **kw)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# The hierarchy and the exports
# ---------------------------------------------------------------------------------------------

API_ERRORS = (
    "ScenarioAPIError",
    "APIStatusError",
    "BadRequestError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "RateLimitError",
    "ServerError",
    "APIResponseValidationError",
    "APIConnectionError",
    "APITimeoutError",
    "PaginationError",
)


def test_every_api_error_is_exported_from_errors_and_the_package() -> None:
    for name in (*API_ERRORS, "APIRequest", "APIResponse"):
        assert getattr(sf, name) is getattr(E, name), name
        assert name in sf.__all__, name


def test_the_hierarchy() -> None:
    sub = issubclass
    for name in API_ERRORS:
        assert sub(getattr(E, name), E.ScenarioAPIError) and sub(
            getattr(E, name), E.ScenarioFramesError
        )
    for cls in (
        E.BadRequestError,
        E.AuthenticationError,
        E.PermissionDeniedError,
        E.NotFoundError,
        E.RateLimitError,
        E.ServerError,
    ):
        assert sub(cls, E.APIStatusError)
    assert sub(E.APIResponseValidationError, E.ServerError)
    assert sub(E.APITimeoutError, E.APIConnectionError)
    # A failed connection proves nothing about the server: not a status error.
    assert not sub(E.APIConnectionError, E.APIStatusError)
    assert not sub(E.PaginationError, E.APIStatusError)
    assert [E.error_for_status(s) for s in (400, 401, 403, 404, 408, 418, 429, 500, 503, 599)] == [
        E.BadRequestError,
        E.AuthenticationError,
        E.PermissionDeniedError,
        E.NotFoundError,
        E.APIStatusError,
        E.APIStatusError,
        E.RateLimitError,
        E.ServerError,
        E.ServerError,
        E.ServerError,
    ]


# ---------------------------------------------------------------------------------------------
# Status errors carry the status, the headers, the parsed body and the request
# ---------------------------------------------------------------------------------------------


def test_a_4xx_carries_status_headers_body_and_the_cleaned_request() -> None:
    body = {"message": "no such thing", "reason": "not-found", "detail": {"id": "m-1"}}
    headers = {
        **JSON,
        "X-Request-Id": "req-4242",
        "Set-Cookie": "session=abc",
        "X-RateLimit-Remaining": "0",
    }
    with scripted(lambda n, h: (404, headers, orjson.dumps(body))) as (base, log):
        params = {"privacy": "public", "paginationToken": "tok-77", "pageSize": "5"}
        with pytest.raises(sf.NotFoundError) as err:
            quick(base).get("/models", params)
    e = err.value
    assert len(log) == 1, "a 404 is not retried"
    assert (e.status, e.message, e.reason) == (404, "no such thing", "not-found")
    assert e.body == body and e.response is not None and e.response.status == 404
    assert e.request_id == "req-4242" and e.headers["x-request-id"] == "req-4242"
    assert (
        e.headers["Content-Type"] == "application/json"
        and e.headers["x-ratelimit-remaining"] == "0"
    )
    assert "set-cookie" not in e.headers, "a credential-like header was kept"
    # The URL is the one requested, with its query; the token's value is not kept.
    assert e.request.url == f"{base}/models?privacy=public&paginationToken=***&pageSize=5"
    assert "tok-77" not in repr(e) + repr(vars(e))
    assert (e.method, e.path) == ("GET", "/v1/models")
    assert (
        str(e) == "GET /v1/models -> 404: no such thing (reason: not-found) [request id req-4242]"
    )
    assert "request_id='req-4242'" in repr(e) and "NotFoundError(status=404" in repr(e)


def test_a_5xx_from_the_demo_carries_its_json_body() -> None:
    faults = Faults(rate=1.0, kinds=("503",), seed=1)
    with serve_demo(models=10, seed=1, faults=faults) as srv:
        with pytest.raises(sf.ServerError) as err:
            quick(srv.base_url, max_attempts=2).get("/models", {"privacy": "public"})
        assert srv.stats.total_faults == 2
    e = err.value
    assert type(e) is sf.ServerError and e.status == 503
    assert e.body == {"message": "injected server error 503", "reason": "injected-fault"}
    assert e.request.url == f"{srv.base_url}/models?privacy=public"


def test_a_429_keeps_retry_after_in_its_headers() -> None:
    faults = Faults(rate=1.0, kinds=("429-seconds",), seed=2, retry_after=0.0)
    with serve_demo(models=10, seed=2, faults=faults) as srv:
        with pytest.raises(sf.RateLimitError) as err:
            quick(srv.base_url, max_attempts=2).get("/models", {"privacy": "public"})
    e = err.value
    assert (
        e.status == 429 and e.headers["retry-after"] == "0" and e.body["reason"] == "rate-limited"
    )


def test_a_retry_after_over_the_cap_keeps_the_servers_value() -> None:
    answer = (429, {**JSON, "Retry-After": "7200", "X-Request-Id": "r-9"}, b'{"message": "later"}')
    with scripted(lambda n, h: answer) as (base, log):
        with pytest.raises(sf.RateLimitError) as err:
            quick(base).get("/models")
    assert len(log) == 1 and err.value.headers["Retry-After"] == "7200"
    assert err.value.request_id == "r-9" and err.value.body == {"message": "later"}


def test_a_body_that_is_not_json_is_kept_as_a_bounded_excerpt() -> None:
    text = b"<html>" + b"x" * 50_000 + b"</html>"
    with scripted(lambda n, h: (400, {"Content-Type": "text/html"}, text)) as (base, _log):
        with pytest.raises(sf.BadRequestError) as err:
            quick(base).get("/models")
    body = err.value.body
    assert isinstance(body, str) and body.startswith("<html>xxx")
    assert len(body) < E.BODY_EXCERPT_CHARS + 100 and "50,013 characters in all" in body


def test_a_broken_200_body_is_a_response_validation_error() -> None:
    with scripted(lambda n, h: (200, JSON, b'{"models": [1,')) as (base, log):
        with pytest.raises(sf.APIResponseValidationError) as err:
            quick(base, max_attempts=2).get("/models")
    e = err.value
    assert len(log) == 2 and isinstance(e, sf.ServerError)
    assert (e.status, e.reason, e.body) == (200, "invalid-body", '{"models": [1,')


# ---------------------------------------------------------------------------------------------
# Connection failures and timeouts have their own classes
# ---------------------------------------------------------------------------------------------


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_a_refused_connection_is_an_api_connection_error() -> None:
    base = f"http://127.0.0.1:{_closed_port()}/v1"
    client = quick(base)
    with pytest.raises(sf.APIConnectionError) as err:
        bounded(lambda: client.get("/models", {"privacy": "public"}), 60)
    e = err.value
    assert type(e) is sf.APIConnectionError
    assert e.status is None and e.response is None and e.body is None and dict(e.headers) == {}
    assert e.request.url == f"{base}/models?privacy=public"
    assert "could not connect" in e.message and base.split("//")[1].split("/")[0] in str(e)


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A socket that listens and never accepts: the kernel completes the connection, no answer comes."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    finally:
        sock.close()


def test_a_server_that_never_answers_is_an_api_timeout_error(silent_server: str) -> None:
    client = quick(silent_server, timeout=(5.0, 0.05), max_attempts=2)
    with pytest.raises(sf.APITimeoutError) as err:
        bounded(lambda: client.get("/models"), 60)
    e = err.value
    assert isinstance(e, sf.APIConnectionError) and not isinstance(e, sf.ServerError)
    assert e.reason == "timeout" and "read timeout" in e.message
    assert e.status is None and e.response is None
    assert client.stats() == {"requests": 2, "retries": 1}, "a timeout is retried"


def test_a_dropped_connection_keeps_the_status_line_it_got() -> None:
    def answer(n: int, handler) -> tuple:
        handler.close_connection = True

        def cut(wfile, entry: dict) -> None:
            wfile.write(b'{"models": [')  # 12 of the 100 bytes announced, then hang up

        return 200, {**JSON, "Content-Length": "100", "X-Request-Id": f"cut-{n}"}, cut

    with scripted(answer) as (base, log):
        with pytest.raises(sf.APIConnectionError) as err:
            bounded(lambda: quick(base, max_attempts=2).get("/models"), 60)
    e = err.value
    assert type(e) is sf.APIConnectionError and len(log) == 2
    assert e.status is None and e.response is not None and e.response.status == 200
    assert e.request_id == "cut-1" and e.body is None


def test_the_deadline_passing_before_the_first_attempt_is_a_timeout() -> None:
    with scripted(lambda n, h: (200, JSON, b'{"models": []}')) as (base, log):
        client = quick(base, deadline=0.05)
        client.gate.hold(0.2)  # another worker's 429 closed the shared gate past the deadline
        with pytest.raises(sf.APITimeoutError) as err:
            bounded(lambda: client.get("/models"), 30)
    assert log == [] and err.value.reason == "deadline" and "0.05 s deadline" in str(err.value)


def test_the_deadline_ending_retries_reports_the_failure_that_was_retried() -> None:
    """The back-off gate runs past the deadline between attempts: the 503 is what failed."""
    holder: dict[str, ScenarioClient] = {}

    def answer(n: int, _h: object) -> tuple:
        holder["client"].gate.hold(0.5)  # lands before the client sees the answer
        return 503, {**JSON, "X-Request-Id": "five-oh-three"}, b'{"message": "down"}'

    with scripted(answer) as (base, log):
        client = holder["client"] = quick(base, deadline=0.2, max_attempts=5)
        with pytest.raises(sf.ServerError) as err:
            bounded(lambda: client.get("/models"), 30)
    assert len(log) == 1 and type(err.value) is sf.ServerError
    assert err.value.status == 503 and err.value.request_id == "five-oh-three"


# ---------------------------------------------------------------------------------------------
# The descriptions themselves: cleaned however they are made, immutable, picklable
# ---------------------------------------------------------------------------------------------


def test_a_request_url_loses_userinfo_fragment_and_credential_like_values() -> None:
    req = sf.APIRequest(
        "get",
        "https://user:pw@api.example:8443/v1/models?privacy=public&api_key=k&X-Signature=s"
        "&clientSecret=c&password=p&token=t&tags=a%2Cb#frag",
    )
    assert req.method == "GET" and req.path == "/v1/models"
    assert req.url == (
        "https://api.example:8443/v1/models?privacy=public&api_key=***&X-Signature=***"
        "&clientSecret=***&password=***&token=***&tags=a%2Cb"
    )
    assert sf.APIRequest("GET", req.url) == req, "cleaning is stable"
    assert sf.APIRequest("GET", "http://[::1]:9/v1?x=1").url == "http://[::1]:9/v1?x=1"
    scrub = lambda t: t.replace("hunter2", "***")  # noqa: E731
    built = sf.APIRequest.build("GET", "http://h/v1/m", {"q": "hunter2-x"}, scrub=scrub)
    assert built.url == "http://h/v1/m?q=***-x"


def test_a_response_drops_credential_like_headers_and_bounds_the_rest() -> None:
    headers = {
        "Authorization": "Basic abc",
        "WWW-Authenticate": "Basic realm=x",
        "Proxy-Authenticate": "x",
        "Set-Cookie": "a=b",
        "X-Api-Key": "k",
        "X-Auth-Token": "t",
        "Retry-After": "3",
        "retry-after-ms": "3000",
        "Content-Type": "application/json",
        "Location": "https://u:p@elsewhere/v1/models?apiKey=k&page=2",
        "X-Long": "v" * 5000,
        **{f"X-Extra-{i}": str(i) for i in range(100)},
    }
    resp = sf.APIResponse.build(502, headers, b"")
    kept = dict(resp.headers)
    assert not {"authorization", "www-authenticate", "proxy-authenticate", "set-cookie"} & set(kept)
    assert not {"x-api-key", "x-auth-token"} & set(kept)
    assert kept["retry-after"] == "3" and kept["retry-after-ms"] == "3000"
    assert kept["location"] == "https://elsewhere/v1/models?apiKey=***&page=2"
    assert len(kept["x-long"]) == E.HEADER_VALUE_CHARS and len(kept) == E.MAX_HEADERS
    assert resp.body is None and resp.request_id is None


def test_a_response_body_replaces_credential_like_keys_and_cuts_deep_nesting() -> None:
    nested: object = "bottom"
    for _ in range(E.BODY_MAX_DEPTH + 10):
        nested = [nested]
    body = {"message": "m", "apiKey": "k", "auth": {"user": "u"}, "deep": nested}
    resp = sf.APIResponse.build(400, {}, orjson.dumps(body))
    assert resp.body["message"] == "m"
    assert resp.body["apiKey"] == "***" and resp.body["auth"] == "***"
    assert "bottom" not in repr(resp.body) and "[nested too deep]" in repr(resp.body)
    # Made directly (not from bytes), the same rules hold.
    assert sf.APIResponse(400, {"Cookie": "c"}, {"password": "p"}) == sf.APIResponse(
        400, {}, {"password": "***"}
    )


def test_descriptions_are_immutable_and_errors_pickle_with_them() -> None:
    req = sf.APIRequest("GET", "http://127.0.0.1:1/v1/models?privacy=public")
    resp = sf.APIResponse.build(404, {"X-Request-Id": "r1"}, b'{"message": "gone"}')
    with pytest.raises(dataclasses.FrozenInstanceError):
        req.url = "http://elsewhere/"  # type: ignore[misc]
    with pytest.raises(TypeError):
        resp.headers["x-request-id"] = "r2"  # type: ignore[index]
    err = sf.NotFoundError("gone", reason="nope", request=req, response=resp)
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is sf.NotFoundError and str(back) == str(err) and repr(back) == repr(err)
    assert (back.request, back.response, back.status) == (req, resp, 404)


def test_older_keyword_arguments_still_describe_the_request() -> None:
    e = sf.ScenarioAPIError("boom", status=418, reason="teapot", method="get", path="/v1/models")
    assert (e.method, e.path, e.request.url, e.response, e.body) == (
        "GET",
        "/v1/models",
        "/v1/models",
        None,
        None,
    )
    assert str(e) == "GET /v1/models -> 418: boom (reason: teapot)"
