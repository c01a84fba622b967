"""/openapi.json, the /docs reference page and its vendored assets (no auth)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from chalice.app import Blueprint, Response

from chalicelib.api.framework import ApiRouter, RequestContext

bp = Blueprint(__name__)
api = ApiRouter(bp, "Meta")

ASSETS = Path(__file__).with_name("assets")
REDOC_VERSION = "2.5.0"  # npm redoc, bundles/redoc.standalone.js (see assets/README.md)
# Files the page may load, with their content types (nothing else under assets/ is served).
ASSET_TYPES = {"redoc.standalone.js": "application/javascript; charset=utf-8"}


@api.route("/openapi.json", "GET", auth=False, summary="OpenAPI 3.1 document")
def openapi_json(ctx: RequestContext) -> dict[str, Any]:
    from chalicelib.api.openapi import build_spec

    return build_spec()


@api.route("/docs", "GET", auth=False, summary="API reference page (Redoc, rendered from openapi.json)")
def docs_page(ctx: RequestContext) -> Response:
    from chalicelib.api.openapi import docs_html

    return Response(body=docs_html(), status_code=200, headers={"Content-Type": "text/html; charset=utf-8"})


@lru_cache(maxsize=len(ASSET_TYPES))
def _asset(name: str) -> str:
    return (ASSETS / name).read_text(encoding="utf-8")


@api.route("/docs/assets/redoc.standalone.js", "GET", auth=False,
           summary=f"Redoc {REDOC_VERSION} standalone bundle (vendored; the reference page loads it)")
def docs_asset(ctx: RequestContext) -> Response:
    name = "redoc.standalone.js"
    return Response(body=_asset(name), status_code=200,
                    headers={"Content-Type": ASSET_TYPES[name], "Cache-Control": "public, max-age=86400"})
