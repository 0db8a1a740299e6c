"""A real HTTP server on 127.0.0.1 standing in for SMS, push and webhook providers: it
records every request and answers from a queue of scripted responses."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Captured:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass
class Scripted:
    status: int = 200
    body: bytes = b"{}"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class ProviderServer:
    def __init__(self) -> None:
        self.requests: list[Captured] = []
        self._script: list[Scripted] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with server._lock:
                    server.requests.append(Captured(
                        self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                        body,
                    ))
                    answer = server._script.pop(0) if server._script else Scripted()
                if answer.delay:
                    time.sleep(answer.delay)
                try:
                    self.send_response(answer.status)
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(answer.body)))
                    self.end_headers()
                    self.wfile.write(answer.body)
                except OSError:
                    pass  # the client gave up (timeout tests)

            do_GET = do_POST = _handle

            def log_message(self, *args) -> None:
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def respond(self, status: int = 200, body=b"{}", headers: dict | None = None,
                delay: float = 0.0) -> None:
        if isinstance(body, dict | list):
            body = json.dumps(body).encode()
        self._script.append(Scripted(status, body, headers or {}, delay))


@pytest.fixture
def provider():
    server = ProviderServer()
    server.thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()
