"""GET /console and its bundle files, served by the API (chalicelib/api/console.py)."""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def dist(tmp_path, monkeypatch):
    """A stand-in build (the real one is made by scripts/build_console.sh and not committed)."""
    from chalicelib.api import console

    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text('<!doctype html><html><head><script src="./assets/console.js"></script>'
                                         "</head><body></body></html>")
    (tmp_path / "assets" / "console.js").write_text("console.log('hi')")
    (tmp_path / "assets" / "index.css").write_text("body{}")
    (tmp_path / "secret.txt").write_text("not served")
    monkeypatch.setattr(console, "DIST", tmp_path)
    console._read.cache_clear()
    yield tmp_path
    console._read.cache_clear()


def test_console_page_is_html_with_a_base_under_console(client, dist):
    resp = client.http.get("/console")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "text/html; charset=utf-8"
    body = resp.body.decode()
    assert body.startswith('<!doctype html><html><head><base href="/console/">')
    csp = dict(d.strip().split(" ", 1) for d in resp.headers["Content-Security-Policy"].split(";"))
    # scripts only from the API's origin and never compiled from strings (the form validators are built ahead)
    assert csp["script-src"] == "'self'" and "unsafe-eval" not in resp.headers["Content-Security-Policy"]
    assert csp["default-src"] == "'self'" and csp["frame-ancestors"] == "'none'"


def test_console_assets_have_their_content_types(client, dist):
    js = client.http.get("/console/assets/console.js")
    assert (js.status_code, js.body) == (200, b"console.log('hi')")
    assert js.headers["Content-Type"] == "application/javascript; charset=utf-8"
    css = client.http.get("/console/assets/index.css")
    assert css.status_code == 200 and css.headers["Content-Type"] == "text/css; charset=utf-8"


@pytest.mark.parametrize("name", ["missing.js", "..%2Fsecret.txt", "..", "secret.txt", ".hidden.js"])
def test_console_serves_nothing_outside_its_assets(client, dist, name):
    resp = client.http.get(f"/console/assets/{name}")
    assert resp.status_code == 404
    assert json.loads(resp.body)["error"] == "not_found"


def test_console_not_built_is_a_flat_404(client, tmp_path, monkeypatch):
    from chalicelib.api import console

    monkeypatch.setattr(console, "DIST", tmp_path / "nothing")
    resp = client.http.get("/console")
    assert resp.status_code == 404
    assert json.loads(resp.body) == {"error": "not_found", "message": (
        "The console is not built here: run scripts/build_console.sh (make dev does).")}


def test_console_is_not_part_of_the_public_api_document(client, dist):
    spec = json.loads(client.http.get("/api/v1/openapi.json").body)
    assert not [p for p in spec["paths"] if "console" in p]


def test_console_refuses_other_methods(client, dist):
    resp = client.http.post("/console", body=b"")
    assert resp.status_code == 405 and json.loads(resp.body)["error"] == "method_not_allowed"
