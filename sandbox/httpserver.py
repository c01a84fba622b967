"""A small threaded HTTP server base for protocol fakes that sync SDKs talk to.

Runs in its own thread (a sync SDK called from an event loop must not share the loop with the
fake). Routes are regexes over the path; handlers get a parsed request and return a response.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit


@dataclass
class FakeRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)  # regex groups of the route

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode(), keep_blank_values=True)

    def form_first(self) -> dict[str, str]:
        return {k: v[0] for k, v in self.form().items()}

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def basic_auth(self) -> tuple[str, str] | None:
        raw = self.headers.get("authorization", "")
        if not raw.lower().startswith("basic "):
            return None
        user, _, pw = base64.b64decode(raw[6:]).decode().partition(":")
        return user, pw


@dataclass
class FakeResponse:
    status: int = 200
    body: bytes | str | dict | list = b""
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> tuple[bytes, dict[str, str]]:
        headers = dict(self.headers)
        if isinstance(self.body, (dict, list)):
            headers.setdefault("Content-Type", "application/json")
            return json.dumps(self.body).encode(), headers
        if isinstance(self.body, str):
            return self.body.encode(), headers
        return self.body, headers


Handler = Callable[[FakeRequest], FakeResponse]


class FakeHTTPServer:
    """Subclasses call ``self.route(method, pattern, handler)`` in ``__init__``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.requests: list[FakeRequest] = []
        self._host, self._port = host, port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.lock = threading.RLock()

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append((method, re.compile("^" + pattern + "$"), handler))

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("server not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Self:
        fake = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                req = FakeRequest(self.command, parts.path, parse_qs(parts.query, keep_blank_values=True),
                                  {k.lower(): v for k, v in self.headers.items()}, body)
                resp = fake.dispatch(req)
                data, headers = resp.encoded()
                self.send_response(resp.status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        self._server = ThreadingHTTPServer((self._host, self._port), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def dispatch(self, req: FakeRequest) -> FakeResponse:
        with self.lock:
            self.requests.append(req)
        for method, pattern, handler in self._routes:
            m = pattern.match(req.path)
            if m and method == req.method:
                req.params = m.groupdict()
                try:
                    return handler(req)
                except Exception as exc:  # noqa: BLE001 - a fake reports its own bugs as 500s
                    return FakeResponse(500, {"message": f"fake error: {exc!r}"})
        return FakeResponse(404, {"code": 20404, "message": f"The requested resource {req.path} was not found",
                                  "status": 404})

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
