"""Each fault switch of the demo server produces its fault, seeded, counted and capped."""

from __future__ import annotations

import base64
import email.utils
import socket
import time

import pytest
import requests

from scenario_frames.demo import ALL_FAULTS, Faults, serve_demo

AUTH_HEADER = "Basic " + base64.b64encode(b"demo:demo").decode()


def raw_get(
    port: int, path: str = "/v1/models?pageSize=50", timeout: float = 10
) -> tuple[bytes, bytes]:
    """Send one request on a fresh socket; return (head, body) as received until close."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(
            f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {AUTH_HEADER}\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return head, body


def one_fault(kind: str, **kw: object) -> Faults:
    return Faults(rate=1.0, kinds=(kind,), seed=1, max_faults=1, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["500", "502", "503", "504"])
def test_server_errors(kind: str) -> None:
    with serve_demo(models=20, faults=one_fault(kind)) as srv:
        r = requests.get(srv.base_url + "/models", auth=("demo", "demo"), timeout=10)
        assert r.status_code == int(kind) and r.json()["reason"] == "injected-fault"
        # max_faults=1: the next request is served normally
        assert (
            requests.get(srv.base_url + "/models", auth=("demo", "demo"), timeout=10).status_code
            == 200
        )
        assert srv.stats.faults == {kind: 1}
        assert [rec.fault for rec in srv.stats.log] == [kind, None]


def test_429_with_seconds() -> None:
    with serve_demo(models=20, faults=one_fault("429-seconds", retry_after=2.0)) as srv:
        r = requests.get(srv.base_url + "/models", auth=("demo", "demo"), timeout=10)
        assert r.status_code == 429 and r.headers["Retry-After"] == "2"
        assert srv.stats.faults == {"429-seconds": 1}


def test_429_with_http_date() -> None:
    with serve_demo(models=20, faults=one_fault("429-date", retry_after=30.0)) as srv:
        r = requests.get(srv.base_url + "/models", auth=("demo", "demo"), timeout=10)
        assert r.status_code == 429
        when = email.utils.parsedate_to_datetime(r.headers["Retry-After"])
        assert 20 < when.timestamp() - time.time() < 40
        assert srv.stats.faults == {"429-date": 1}


def test_connection_reset() -> None:
    with serve_demo(models=20, faults=one_fault("reset")) as srv:
        with pytest.raises((ConnectionResetError, ConnectionAbortedError)):
            raw_get(srv.port)
        with pytest.raises(requests.ConnectionError):  # (the fault is used up: use a new one)
            srv.faults = one_fault("reset")
            requests.get(srv.base_url + "/models", auth=("demo", "demo"), timeout=10)
        assert srv.stats.faults == {"reset": 2}
        assert srv.stats.log[0].status is None


def test_truncated_body() -> None:
    with serve_demo(models=20, faults=one_fault("truncated")) as srv:
        head, body = raw_get(srv.port)
        assert head.startswith(b"HTTP/1.1 200")
        length = int(
            next(
                line.split(b":")[1]
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
        )
        assert 0 < len(body) < length
        full = requests.get(srv.base_url + "/models?pageSize=50", auth=("demo", "demo"), timeout=10)
        assert len(full.content) == length
        assert srv.stats.faults == {"truncated": 1}


def test_truncated_body_breaks_requests() -> None:
    with serve_demo(models=20, faults=one_fault("truncated")) as srv:
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            requests.get(srv.base_url + "/models", auth=("demo", "demo"), timeout=10)


def test_slow_body() -> None:
    with serve_demo(models=20, faults=one_fault("slow-body", slow_body_s=0.6)) as srv:
        t0 = time.perf_counter()
        head, body = raw_get(srv.port)
        took = time.perf_counter() - t0
        assert head.startswith(b"HTTP/1.1 200") and body.endswith(b"}")
        assert took >= 0.5
        assert srv.stats.faults == {"slow-body": 1}


def test_latency() -> None:
    with serve_demo(models=20, latency_ms=150) as srv:
        t0 = time.perf_counter()
        assert requests.get(srv.base_url + "/models", auth=("demo", "demo"), timeout=10).ok
        assert time.perf_counter() - t0 >= 0.14


def test_fault_stream_is_seeded_and_rate_driven() -> None:
    def sequence(seed: int) -> list[str | None]:
        faults = Faults(rate=0.5, kinds=("500", "503", "429-seconds"), seed=seed, retry_after=0)
        with serve_demo(models=10, faults=faults) as srv:
            with requests.Session() as s:
                for _ in range(30):
                    s.get(srv.base_url + "/models", auth=("demo", "demo"), timeout=10)
            assert srv.stats.requests == 30
            assert sum(srv.stats.faults.values()) == sum(1 for r in srv.stats.log if r.fault)
            return [r.fault for r in srv.stats.log]

    a, b = sequence(3), sequence(3)
    assert a == b
    assert 5 < sum(1 for f in a if f) < 25
    assert sequence(4) != a


def test_max_faults_caps_the_total() -> None:
    faults = Faults(rate=1.0, kinds=("503",), max_faults=3)
    with serve_demo(models=10, faults=faults) as srv:
        codes = [
            requests.get(srv.base_url + "/models", auth=("demo", "demo"), timeout=10).status_code
            for _ in range(6)
        ]
        assert codes == [503, 503, 503, 200, 200, 200]


def test_faults_validation() -> None:
    with pytest.raises(ValueError):
        Faults(kinds=("teapot",))
    with pytest.raises(ValueError):
        Faults(rate=2.0)
    assert set(ALL_FAULTS) == {
        "429-seconds",
        "429-date",
        "500",
        "502",
        "503",
        "504",
        "reset",
        "truncated",
        "slow-body",
    }
