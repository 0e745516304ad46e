"""A tiny scripted HTTP server on loopback for transport tests.

Some behaviours (a looping token, a redirect to another host, a body that is valid JSON but not
a page) cannot be asked of the demo server, so tests script the answers: ``answer(n, handler)``
returns ``(status, headers, body)`` for the n-th request.  Every request is logged with its
arrival time, path, parsed query, headers and peer.

``body`` is bytes (sent with its Content-Length), or a ``Writer``: a callable that gets the
socket file and the request's log entry and writes the body itself (dripping it, say); it
sends its own Content-Length header if it wants one.  The log entry gets ``"done": True``
once a writer returned, and ``"cut"`` with the error when the client hung up first, so
tests can order events on what the server did rather than on the clock.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import BinaryIO
from urllib.parse import parse_qsl, urlsplit

Writer = Callable[[BinaryIO, dict], None]
Answer = tuple[int, dict[str, str], "bytes | Writer"]


@contextlib.contextmanager
def scripted(
    answer: Callable[[int, BaseHTTPRequestHandler], Answer],
    host: str = "127.0.0.1",
    prefix: str = "/v1",
) -> Iterator[tuple[str, list[dict]]]:
    """Serve ``answer(n, handler)`` for the n-th request; yields (base URL, request log)."""
    log: list[dict] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:  # no Nagle delay between the header and body writes
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_GET(self) -> None:  # noqa: N802
            entry = {
                "t": time.time(),
                "path": self.path,
                "headers": dict(self.headers),
                "params": dict(parse_qsl(urlsplit(self.path).query)),
                "peer": self.client_address,
            }
            with lock:
                n = len(log)
                log.append(entry)
            status, headers, body = answer(n, self)
            headers = dict(headers)
            self.send_response(
                status, headers.pop(":reason", None)
            )  # ":reason": the status line's phrase
            for k, v in headers.items():
                self.send_header(k, v)
            if isinstance(body, bytes):
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                if isinstance(body, bytes):
                    self.wfile.write(body)
                else:
                    self.wfile.flush()
                    body(self.wfile, entry)
                entry["done"] = True
            except OSError as exc:  # the client hung up
                entry["cut"] = repr(exc)
                self.close_connection = True

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer((host, 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://{host}:{httpd.server_address[1]}{prefix}", log
    finally:
        httpd.shutdown()
        httpd.server_close()
