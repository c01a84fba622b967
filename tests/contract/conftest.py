"""Contract tests reuse the calls feature's fakes (Twilio, media control, webhook receiver, SQS)."""

from __future__ import annotations

import json
import re
from http import HTTPStatus

import pytest
from jsonschema import Draft202012Validator

from tests.calls.conftest import control_server, receiver, setup, twilio, webhook_queue  # noqa: F401
from tests.resources.conftest import SECRET_RESEND, resend  # noqa: F401


class Contract:
    """The live OpenAPI document, and a check of real responses against it."""

    def __init__(self, doc: dict):
        self.doc = doc
        self.seen: set[tuple[str, str]] = set()
        self._paths = [(re.compile("^" + re.sub(r"{[^}]+}", "[^/]+", p) + "$"), p) for p in doc["paths"]]

    def operation(self, method: str, url: str) -> tuple[str, dict]:
        path = url.split("?", 1)[0].removeprefix("/api/v1")
        matches = [p for rx, p in self._paths if rx.match(path)]
        matches.sort(key=lambda p: p.count("{"))  # a literal segment wins over a parameter
        assert matches, f"{url} is not in the document"
        op = self.doc["paths"][matches[0]].get(method.lower())
        assert op is not None, f"{method} {matches[0]} is not in the document"
        return matches[0], op

    def check(self, method: str, url: str, resp) -> None:
        path, op = self.operation(method, url)
        status = str(resp.status_code)
        assert status in op["responses"], f"{method} {path} answered {status}, not documented: {resp.body[:300]}"
        self.seen.add((method.upper(), path))
        content = op["responses"][status].get("content", {}).get("application/json")
        if content is None:
            return
        body = json.loads(resp.body)
        schema = {**content["schema"], "components": self.doc["components"]}
        errs = sorted(Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
                      .iter_errors(body), key=lambda e: list(e.absolute_path))
        assert not errs, f"{method} {path} {status}: " + "; ".join(
            f"{list(e.absolute_path)}: {e.message[:200]}" for e in errs[:10])


@pytest.fixture
def contract(client):
    return Contract(json.loads(client.http.get("/api/v1/openapi.json").body))


@pytest.fixture
def checked(api, contract):
    """The ``api`` helper, with every response validated against the document."""
    original = api.request

    def request(method, path, body=None, **kw):
        resp = original(method, path, body, **kw)
        contract.check(method, path if path.startswith("/api/") else "/api/v1" + path, resp)
        return resp

    api.request = request
    return api


def wsgi_app(client):
    """A WSGI callable that hands every request to the Chalice app through its local gateway."""

    def app(environ, start_response):
        path = environ.get("PATH_INFO", "/")
        if environ.get("QUERY_STRING"):
            path += "?" + environ["QUERY_STRING"]
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        resp = client.http.request(environ["REQUEST_METHOD"], path, headers=headers, body=body)
        reason = HTTPStatus(resp.status_code).phrase if resp.status_code in HTTPStatus._value2member_map_ else ""
        out = [(k, ", ".join(v) if isinstance(v, list) else str(v)) for k, v in resp.headers.items()]
        start_response(f"{resp.status_code} {reason}", out)
        body_out = resp.body
        return [body_out if isinstance(body_out, bytes) else str(body_out or "").encode()]

    return app
