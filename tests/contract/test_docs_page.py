"""The reference page renders the live document with a vendored Redoc, without any external URL."""

from __future__ import annotations

import re


def test_docs_page_loads_only_local_assets(client):
    page = client.http.get("/api/v1/docs")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    html = page.body.decode()
    assert "<redoc spec-url='openapi.json'" in html
    assert not re.search(r"""(src|href)=['"]?(https?:)?//""", html)  # nothing loaded from elsewhere
    for guide in ("docs/webhooks.md", "docs/campaigns.md"):
        assert guide in html
    [src] = re.findall(r"<script src='([^']+)'", html)
    asset = client.http.get("/api/v1/" + src)  # relative to /api/v1/docs
    assert asset.status_code == 200
    assert asset.headers["Content-Type"] == "application/javascript; charset=utf-8"
    assert b"redoc.standalone.js.LICENSE.txt" in asset.body[:200] and len(asset.body) > 500_000


def test_docs_routes_are_in_the_document(client):
    import json

    doc = json.loads(client.http.get("/api/v1/openapi.json").body)
    assert "text/html" in doc["paths"]["/docs"]["get"]["responses"]["200"]["content"]
    asset = doc["paths"]["/docs/assets/redoc.standalone.js"]["get"]["responses"]["200"]["content"]
    assert "application/javascript" in asset
