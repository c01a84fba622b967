"""The web console (console/, built by scripts/build_console.sh) served at /console, same origin as the API.

Served by the API itself rather than S3 + CloudFront: the build lands in chalicelib/api/console_dist/, which
Chalice packages with the Lambda, so `make dev` and AWS serve it the same way with no second origin (no
CORS, the API key never leaves the API's origin) and no extra stack resources. The bundle is ~0.7 MB of text.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from chalice.app import Blueprint, Response

from chalicelib import errors
from chalicelib.api.framework import ApiRouter, RequestContext

bp = Blueprint(__name__)
api = ApiRouter(bp, "Console")

DIST = Path(__file__).with_name("console_dist")
CONTENT_TYPES = {".js": "application/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
_ASSET_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")


@lru_cache(maxsize=64)
def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


@api.route("/console", "GET", auth=False, prefix="", summary="Web console (single page; sign in with an API key)")
def console_page(ctx: RequestContext) -> Response:
    index = DIST / "index.html"
    if not index.is_file():
        raise errors.NotFound("The console is not built here: run scripts/build_console.sh (make dev does).")
    # The build uses relative asset URLs; <base> makes them resolve under /console/ whatever the stage prefix
    # (API Gateway's request path carries it, e.g. /api/console).
    request_path = (ctx.request.context or {}).get("path") or "/console"
    base = request_path.rstrip("/") + "/"
    html = _read(index).replace("<head>", f'<head><base href="{base}">', 1)
    return Response(body=html, status_code=200, headers={
        "Content-Type": "text/html; charset=utf-8",
        "Cache-Control": "no-cache",
        # The page talks only to its own origin; media from presigned S3 URLs and the call sockets. No
        # 'unsafe-eval': the form validators are compiled at build time (console/scripts/compile-validators.mjs).
        "Content-Security-Policy": "default-src 'self'; script-src 'self'; "
                                   "connect-src 'self' https: http: wss: ws:; "
                                   "media-src 'self' https: http: blob:; img-src 'self' data:; "
                                   "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
        "X-Content-Type-Options": "nosniff",
    })


@api.route("/console/assets/{name}", "GET", auth=False, prefix="", summary="Web console bundle files")
def console_asset(ctx: RequestContext) -> Response:
    name = ctx.path_params.get("name", "")
    path = DIST / "assets" / name
    content_type = CONTENT_TYPES.get(path.suffix)
    if not _ASSET_NAME.match(name) or content_type is None or not path.is_file():
        raise errors.NotFound(f"No console file named {name!r}.")
    return Response(body=_read(path), status_code=200, headers={
        "Content-Type": content_type, "Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"})
