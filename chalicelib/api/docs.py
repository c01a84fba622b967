"""/openapi.json and /docs (no auth)."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, Response

from chalicelib.api.framework import ApiRouter, RequestContext

bp = Blueprint(__name__)
api = ApiRouter(bp, "Meta")


@api.route("/openapi.json", "GET", auth=False, summary="OpenAPI 3.1 document")
def openapi_json(ctx: RequestContext) -> dict[str, Any]:
    from chalicelib.api.openapi import build_spec

    return build_spec()


@api.route("/docs", "GET", auth=False, summary="API reference page")
def docs_page(ctx: RequestContext) -> Response:
    from chalicelib.api.openapi import docs_html

    return Response(body=docs_html(), status_code=200, headers={"Content-Type": "text/html; charset=utf-8"})
