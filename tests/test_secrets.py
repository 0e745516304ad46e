"""Secrets: the API key, the secret and their base64 form never show up in a log line, an
exception, a repr, a written file or CLI output, on success and on a 401, even when the server
echoes the Authorization header back in its bodies, headers and status line; credentials in
the base URL are refused without being repeated; Authorization is never sent to another
host, even through a redirect.
"""

from __future__ import annotations

import base64
import logging
import os
import pickle
import socket
import subprocess
import sys
import traceback
from pathlib import Path
from urllib.parse import quote, quote_plus

import orjson
import pytest
from _scripted_server import scripted

from scenario_frames import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ScenarioAPIError,
)
from scenario_frames.demo import serve_demo
from scenario_frames.errors import ClientConfigError
from scenario_frames.fetch import fetch_pages
from scenario_frames.transport.client import ScenarioClient

KEY = "sfk_live_Q7pW2TESTKEY"
SECRET = "sfs_Zx81mTESTSECRET"
B64 = base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()
NEEDLES = (KEY, SECRET, B64)
LAUNCH = "import sys; from scenario_frames.cli import main; sys.exit(main())"


def assert_clean(text: str | bytes, where: str) -> None:
    data = text.encode() if isinstance(text, str) else text
    for needle in NEEDLES:
        assert needle.encode() not in data, f"credential material found in {where}"


def scan_folder(folder: Path) -> int:
    n = 0
    for path in folder.rglob("*"):
        if path.is_file():
            assert_clean(path.read_bytes(), str(path))
            n += 1
    return n


@pytest.fixture
def creds_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("SCENARIO_SDK_API_KEY", "SCENARIO_SDK_API_SECRET", "SCENARIO_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SCENARIO_API_KEY", KEY)
    monkeypatch.setenv("SCENARIO_API_SECRET", SECRET)


@pytest.mark.parametrize("secret_on_server", [SECRET, "another-secret"], ids=["success", "401"])
def test_no_credential_in_logs_errors_reprs_or_files(
    creds_env, secret_on_server, caplog, tmp_path
) -> None:
    with serve_demo(models=60, seed=31, api_key=KEY, api_secret=secret_on_server) as srv:
        with caplog.at_level(logging.DEBUG):
            client = ScenarioClient(srv.base_url)
            assert_clean(
                repr(client) + str(client) + repr(client._auth) + repr(vars(client)), "client repr"
            )
            with pytest.raises(TypeError):
                pickle.dumps(client._auth)
            try:
                res = fetch_pages(
                    {"privacy": "private"},
                    client=client,
                    workers=3,
                    page_size=10,
                    checkpoint=tmp_path / "ckpt",
                    progress=False,
                )
                assert secret_on_server == SECRET and res.stats.models > 0
            except AuthenticationError as exc:
                assert secret_on_server != SECRET and exc.status == 401
                text = (
                    "".join(traceback.format_exception(exc))
                    + str(exc)
                    + repr(exc)
                    + repr(vars(exc))
                )
                assert_clean(text, "the 401 exception")
        assert [r.auth for r in srv.stats.log][:1] in (["basic"], ["invalid"])
    for record in caplog.records:
        assert_clean(record.getMessage() + repr(record.args), f"log record {record.name}")
    assert caplog.records, "expected some logging to scan"
    scan_folder(tmp_path)


@pytest.mark.parametrize("secret_on_server", [SECRET, "another-secret"], ids=["success", "401"])
def test_cli_output_and_snapshot_files_are_clean(secret_on_server, tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCENARIO_")}
    env |= {"SCENARIO_API_KEY": KEY, "SCENARIO_API_SECRET": SECRET}
    with serve_demo(models=60, seed=32, api_key=KEY, api_secret=secret_on_server) as srv:
        cmd = [
            sys.executable,
            "-c",
            LAUNCH,
            "--debug",
            "snapshot",
            "--base-url",
            srv.base_url,
            "--privacy",
            "private",
            "--no-progress",
            "--out",
            str(tmp_path / "out"),
            "--checkpoint",
            str(tmp_path / "ckpt"),
            "--page-size",
            "20",
        ]
        proc = subprocess.run(cmd, capture_output=True, env=env, timeout=120)
    assert_clean(proc.stdout + proc.stderr, "CLI output")
    if secret_on_server == SECRET:
        assert proc.returncode == 0, proc.stderr.decode()[-2000:]
        assert scan_folder(tmp_path) > 3
    else:
        assert proc.returncode != 0 and b"401" in proc.stderr
        scan_folder(tmp_path)
    # The flags never take credentials: they would end up in shell history.
    help_text = subprocess.run(
        [sys.executable, "-c", LAUNCH, "snapshot", "--help"],
        capture_output=True,
        env=env,
        timeout=60,
    ).stdout.decode()
    assert (
        "--api-key" not in help_text
        and "--api-secret" not in help_text
        and "--created-after" in help_text
    )


# ---------------------------------------------------------------------------------------------
# Redirects
# ---------------------------------------------------------------------------------------------


def http_server(host: str, answer):
    """A scripted server answering by path alone; yields (base URL without /v1, request log)."""
    return scripted(lambda n, handler: answer(handler.path), host, prefix="")


OK = (200, {"Content-Type": "application/json"}, b'{"models": [{"id": "m1"}]}')


def test_cross_host_redirect_drops_authorization(creds_env) -> None:
    with http_server("127.0.0.2", lambda path: OK) as (other, other_seen):

        def answer(path: str):
            if path.startswith("/v1/models"):
                return 302, {"Location": f"{other}/v1/models?page=2"}, b""
            return OK

        with http_server("127.0.0.1", answer) as (base, base_seen):
            client = ScenarioClient(base + "/v1")
            _body, data = client.get_json("/models", {"privacy": "private"})
    assert data["models"] == [{"id": "m1"}]
    assert base_seen[0]["headers"]["Authorization"] == f"Basic {B64}"
    assert len(other_seen) == 1 and other_seen[0]["path"] == "/v1/models?page=2"
    assert "Authorization" not in other_seen[0]["headers"], "Authorization leaked to another host"
    assert client.stats()["requests"] == 2


def test_same_host_redirect_keeps_authorization(creds_env) -> None:
    def answer(path: str):
        if path.startswith("/v1/models"):
            return 307, {"Location": "/v1/moved?x=1"}, b""
        return OK

    with http_server("127.0.0.1", answer) as (base, seen):
        ScenarioClient(base + "/v1").get("/models")
    assert [s["path"] for s in seen] == ["/v1/models", "/v1/moved?x=1"]
    assert all(s["headers"]["Authorization"] == f"Basic {B64}" for s in seen)


def test_redirect_to_plain_http_elsewhere_is_refused(creds_env) -> None:
    answer = lambda path: (301, {"Location": "http://example.com/v1/models"}, b"")  # noqa: E731
    with http_server("127.0.0.1", answer) as (base, seen):
        with pytest.raises(ScenarioAPIError, match="insecure") as err:
            ScenarioClient(base + "/v1").get("/models")
    assert len(seen) == 1 and err.value.status == 301


# ---------------------------------------------------------------------------------------------
# A server that echoes the Authorization header back: in its error bodies, its headers and
# its status line.  (The demo never echoes, so only this shows that the scrubber works.)
# ---------------------------------------------------------------------------------------------


def echoing(status: int, then_ok: int | None = None):
    """Answer ``status`` with the request's Authorization copied everywhere it can go."""

    def answer(n: int, handler):
        if then_ok is not None and n >= then_ok:
            return OK
        auth = handler.headers.get("Authorization", "")
        body = orjson.dumps(
            {
                "message": f"bad credentials {auth} (decoded {KEY}:{SECRET})",
                "reason": f"echo {auth}",
                "detail": {"header": auth},
            }
        )
        headers = {
            ":reason": f"Echo {auth}",
            "WWW-Authenticate": f'Basic realm="{auth}"',
            "X-Echo-Authorization": auth,
            "X-Echo": f"seen {auth}",  # a harmless name: kept, its value scrubbed
            "Retry-After": "0",
            "Content-Type": "application/json",
        }
        return status, headers, body

    return answer


def test_echoed_credentials_are_scrubbed_from_errors_and_logs(creds_env, caplog) -> None:
    for status, exc_type in (
        (401, AuthenticationError),
        (500, ScenarioAPIError),
        (429, ScenarioAPIError),
    ):
        with scripted(echoing(status)) as (base, seen), caplog.at_level(logging.DEBUG):
            client = ScenarioClient(base, max_attempts=3, backoff=0.001, backoff_max=0.002)
            with pytest.raises(exc_type) as err:
                client.get("/models", {"privacy": "private"})
        assert seen[0]["headers"]["Authorization"] == f"Basic {B64}", (
            "the server did get the secret to echo"
        )
        e = err.value
        text = "".join(traceback.format_exception(e)) + str(e) + repr(e) + repr(vars(e))
        assert_clean(text, f"the {status} exception")
        assert_no_form(error_material(e), f"what the {status} exception carries")
        assert "***" in e.message, "the echoed message was dropped instead of scrubbed"
        # The headers and the body are carried, scrubbed rather than dropped.
        assert e.headers["x-echo"] == "seen Basic ***" and e.headers["retry-after"] == "0"
        assert e.body["detail"] == {"header": "Basic ***"}
        assert "x-echo-authorization" not in e.headers and "www-authenticate" not in e.headers
    lines = [r.getMessage() + repr(r.args) for r in caplog.records]
    assert any("retrying" in line for line in lines)
    for line in lines:
        assert_clean(line, "a log line")


def test_echoed_credentials_stay_out_of_cli_output_and_files(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCENARIO_")}
    env |= {"SCENARIO_API_KEY": KEY, "SCENARIO_API_SECRET": SECRET}
    for status in (401, 503):
        with scripted(echoing(status)) as (base, seen):
            cmd = [
                sys.executable,
                "-c",
                LAUNCH,
                "--debug",
                "snapshot",
                "--base-url",
                base,
                "--privacy",
                "private",
                "--no-progress",
                "--workers",
                "1",
                "--max-attempts",
                "2",
                "--out",
                str(tmp_path / "out"),
                "--checkpoint",
                str(tmp_path / f"ckpt{status}"),
            ]
            proc = subprocess.run(cmd, capture_output=True, env=env, timeout=120)
        assert seen, "no request reached the echo server"
        assert proc.returncode != 0
        assert_clean(proc.stdout + proc.stderr, f"CLI output after a {status}")
    # The echo on the last attempt is followed by a good page: the written files stay clean too.
    with scripted(echoing(503, then_ok=1)) as (base, seen):
        cmd = [
            sys.executable,
            "-c",
            LAUNCH,
            "snapshot",
            "--base-url",
            base,
            "--privacy",
            "private",
            "--no-progress",
            "--workers",
            "1",
            "--out",
            str(tmp_path / "out"),
            "--checkpoint",
            str(tmp_path / "ck-ok"),
        ]
        proc = subprocess.run(cmd, capture_output=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    assert_clean(proc.stdout + proc.stderr, "CLI output")
    assert scan_folder(tmp_path) >= 3


# ---------------------------------------------------------------------------------------------
# Credentials in the URL (userinfo): refused, and never repeated
# ---------------------------------------------------------------------------------------------


def test_url_userinfo_is_refused_and_never_repeated(creds_env, tmp_path, caplog) -> None:
    with scripted(lambda n, h: OK) as (base, seen), caplog.at_level(logging.DEBUG):
        url = base.replace("http://", f"http://{KEY}:{SECRET}@")
        with pytest.raises(ClientConfigError) as err:
            ScenarioClient(url)
        assert_clean(str(err.value) + repr(err.value), "the refusal")
        assert "SCENARIO_API_KEY" in str(err.value)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SCENARIO_")}
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                LAUNCH,
                "--debug",
                "snapshot",
                "--base-url",
                url,
                "--out",
                str(tmp_path / "out"),
                "--checkpoint",
                str(tmp_path / "ck"),
                "--no-progress",
            ],
            capture_output=True,
            env=env,
            timeout=120,
        )
    assert seen == []
    assert proc.returncode == 1
    assert_clean(proc.stdout + proc.stderr, "CLI output")
    for record in caplog.records:
        assert_clean(record.getMessage() + repr(record.args), "a log line")
    scan_folder(tmp_path)


# ---------------------------------------------------------------------------------------------
# Every form the credentials can be echoed in: base64 with or without padding, URL-encoded
# ---------------------------------------------------------------------------------------------

ALL_FORMS = (
    KEY,
    SECRET,
    B64,
    B64.rstrip("="),
    quote_plus(B64),
    quote(B64, safe=""),
    quote_plus(f"Basic {B64}"),
)


def assert_no_form(data: str | bytes, where: str) -> None:
    data = data.encode() if isinstance(data, str) else data
    for needle in ALL_FORMS:
        assert needle.encode() not in data, (
            f"credential material ({len(needle)} chars) found in {where}"
        )


def error_material(e: BaseException) -> bytes:
    """Everything an error shows or holds: text, reprs, attributes, descriptions, its pickle."""
    parts = [str(e), repr(e), repr(vars(e)), "".join(traceback.format_exception(e))]
    if isinstance(e, ScenarioAPIError):
        parts += [repr(e.request), repr(e.response), repr(dict(e.headers)), repr(e.body)]
        parts += [e.request.url, str(e.request_id), repr(e.status), repr(e.reason)]
    return "".join(parts).encode() + pickle.dumps(e)


def test_unpadded_and_url_encoded_echoes_are_scrubbed_from_errors(creds_env) -> None:
    def answer(n: int, handler):
        token = handler.headers.get("Authorization", "").split()[-1]
        message = f"unpadded {token.rstrip('=')} quoted {quote_plus(token)} {quote(token, safe='')}"
        return (
            400,
            {"Content-Type": "application/json"},
            orjson.dumps({"message": message, "reason": "x"}),
        )

    with scripted(answer) as (base, seen):
        with pytest.raises(ScenarioAPIError) as err:
            ScenarioClient(base).get("/models", {"privacy": "private"})
    assert seen and B64.endswith("=") and quote_plus(B64) != B64, "the forms under test differ"
    assert_no_form(
        str(err.value) + repr(err.value) + "".join(traceback.format_exception(err.value)),
        "the error",
    )
    assert_no_form(error_material(err.value), "what the error carries")
    assert "unpadded ***" in str(err.value) and "unpadded ***" in err.value.body["message"]


def _page(models: list, token: str | None) -> bytes:
    return orjson.dumps({"models": models, "nextPaginationToken": token})


def test_debug_logs_scrub_credentials_in_redirect_urls_and_tokens(tmp_path) -> None:
    """urllib3 logs each request line at DEBUG: a Location or token holding the header stays out."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCENARIO_")}
    env |= {"SCENARIO_API_KEY": KEY, "SCENARIO_API_SECRET": SECRET}

    def answer(n: int, handler):
        auth = handler.headers.get("Authorization", "")
        if "echo=" not in handler.path:
            return 302, {"Location": "/v1/models?privacy=private&echo=" + quote_plus(auth)}, b""
        if "paginationToken" not in handler.path:
            return 200, {"Content-Type": "application/json"}, _page([{"id": "m1"}], "tok-" + auth)
        return 200, {"Content-Type": "application/json"}, _page([{"id": "m2"}], None)

    with scripted(answer) as (base, seen):
        cmd = [
            sys.executable,
            "-c",
            LAUNCH,
            "--debug",
            "snapshot",
            "--base-url",
            base,
            "--privacy",
            "private",
            "--no-progress",
            "--workers",
            "1",
            "--max-attempts",
            "1",
            "--out",
            str(tmp_path / "out"),
        ]
        proc = subprocess.run(cmd, capture_output=True, env=env, timeout=120)
    assert any("echo=" in e["path"] for e in seen), "the redirect was not followed"
    assert b"DEBUG urllib3" in proc.stderr, "no urllib3 debug line to check"
    assert_no_form(proc.stdout + proc.stderr, "the --debug output")


def test_credentials_echoed_in_200_bodies_never_reach_checkpoints_or_snapshots(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCENARIO_")}
    env |= {"SCENARIO_API_KEY": KEY, "SCENARIO_API_SECRET": SECRET}

    def answer(fail_last: bool):
        def reply(n: int, handler):
            auth = handler.headers.get("Authorization", "")
            echo = f"{auth} {B64.rstrip('=')} {quote_plus(auth)} {KEY}:{SECRET}"
            if "paginationToken" not in handler.path:
                return (
                    200,
                    {},
                    _page([{"id": "m1", "name": "one", "description": echo}], "tok-" + auth),
                )
            if fail_last and "tok2" in handler.path:
                return 400, {}, b'{"message": "stop here"}'
            if "tok2" not in handler.path:
                return 200, {}, _page([{"id": "m2", "name": echo}], "tok2-" + B64.rstrip("="))
            return 200, {}, _page([{"id": "m3", "name": "three"}], None)

        return reply

    # A run that stops midway keeps its checkpoint (tokens included); then one that completes.
    for fail_last in (True, False):
        with scripted(answer(fail_last)) as (base, seen):
            cmd = [
                sys.executable,
                "-c",
                LAUNCH,
                "snapshot",
                "--base-url",
                base,
                "--privacy",
                "private",
                "--no-progress",
                "--workers",
                "1",
                "--max-attempts",
                "1",
                "--out",
                str(tmp_path / "out"),
                "--checkpoint",
                str(tmp_path / ("ck-stopped" if fail_last else "ck-done")),
            ]
            proc = subprocess.run(cmd, capture_output=True, env=env, timeout=120)
        assert len(seen) == 3, proc.stderr.decode()[-2000:]
        assert (proc.returncode != 0) is fail_last, proc.stderr.decode()[-2000:]
        assert_no_form(proc.stdout + proc.stderr, "CLI output")
        stderr = proc.stderr
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".parquet" for p in files) and any("ck-stopped" in str(p) for p in files)
    for path in files:
        assert_no_form(path.read_bytes(), str(path))
    assert b"[redacted-credentials]" in b"".join(
        p.read_bytes() for p in files if "ck-stopped" in str(p)
    )
    assert b"echoed the API credentials" in stderr, "no warning about the echo"


# ---------------------------------------------------------------------------------------------
# What errors carry (the request's URL, the response's headers and body): every kind of error
# with the credentials put in the query string, echoed in headers, in the body and in a
# redirect's Location
# ---------------------------------------------------------------------------------------------

# A caller who (wrongly) puts the credentials in the query, by name and under harmless names.
LEAKY_PARAMS = {
    "privacy": "private",
    "apiKey": KEY,
    "note": SECRET,
    "paginationToken": "tok-" + B64,
    "echo": quote_plus(f"Basic {B64}"),
}


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _echo_everything(n: int, handler):
    """A 400 that echoes the query string and the Authorization header wherever it can."""
    auth = handler.headers.get("Authorization", "")
    body = orjson.dumps(
        {
            "message": f"bad query {handler.path}",
            "reason": "echo",
            "apiSecret": SECRET,
            "auth": auth,
        }
    )
    headers = {
        "Content-Type": "application/json",
        "X-Request-Id": "req-echo",
        "X-Seen-Query": handler.path,
        "X-Api-Key": KEY,
        "Set-Cookie": f"session={B64}",
    }
    return 400, headers, body


def _redirect_with_credentials(n: int, handler):
    auth = handler.headers.get("Authorization", "")
    location = f"http://example.com/v1/models?auth={quote_plus(auth)}&k={KEY}&s={SECRET}"
    return 302, {"Location": location, "X-Request-Id": "req-redirect"}, b""


def test_no_error_kind_carries_credentials_in_request_headers_or_body(creds_env) -> None:
    seen_errors: dict[str, ScenarioAPIError] = {}
    with scripted(_echo_everything) as (base, log):
        with pytest.raises(BadRequestError) as err:
            ScenarioClient(base).get("/models", LEAKY_PARAMS)
        seen_errors["status"] = err.value
    assert KEY in log[0]["path"] and SECRET in log[0]["path"], "the server got the secrets to echo"
    with scripted(_redirect_with_credentials) as (base, _log):
        with pytest.raises(ScenarioAPIError, match="insecure") as err:
            ScenarioClient(base).get("/models", LEAKY_PARAMS)
        seen_errors["redirect"] = err.value
    refused = ScenarioClient(f"http://127.0.0.1:{_closed_port()}/v1", backoff=0.001)
    with pytest.raises(APIConnectionError) as err:
        refused.get("/models", LEAKY_PARAMS)
    seen_errors["refused"] = err.value
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # never accepts: a read timeout
    with listener:
        silent = ScenarioClient(
            f"http://127.0.0.1:{listener.getsockname()[1]}/v1", timeout=(5.0, 0.05), max_attempts=1
        )
        with pytest.raises(APITimeoutError) as err:
            silent.get("/models", LEAKY_PARAMS)
        seen_errors["timeout"] = err.value

    for kind, e in seen_errors.items():
        assert_no_form(error_material(e), f"the {kind} error")
        # The request is carried all the same: harmless parameters and the redacted ones.
        assert "privacy=private" in e.request.url and "apiKey=***" in e.request.url, kind
        assert "note=***" in e.request.url and "paginationToken=***" in e.request.url, kind
    status = seen_errors["status"]
    assert status.request_id == "req-echo" and "x-api-key" not in status.headers
    assert "set-cookie" not in status.headers and "note=***" in status.headers["x-seen-query"]
    assert status.body["apiSecret"] == "***" and status.body["auth"] == "***"
    assert "note=***" in status.body["message"]
    redirect = seen_errors["redirect"]
    assert redirect.status == 302 and redirect.request_id == "req-redirect"
    assert redirect.headers["location"] == "http://example.com/v1/models?auth=***&k=***&s=***"
