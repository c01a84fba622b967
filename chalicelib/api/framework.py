"""The API edge: one dispatcher per path that authenticates, rate-limits, parses and maps errors.

Handlers stay thin: they receive a :class:`RequestContext`, parse input with a pydantic model,
call one service function and return the body. Every error leaves here in the contract's flat
shape; nothing a client sends produces a 500 or a stack trace.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint, Response
from pydantic import BaseModel, ValidationError

from chalicelib import errors
from chalicelib.errors import validation_error
from chalicelib.lazy import lazy_module
from chalicelib.models.auth import Principal
from chalicelib.paging import Page, list_binding, parse_page

if TYPE_CHECKING:
    from chalicelib import settings
else:  # pydantic settings model built on first request, not at import
    settings = lazy_module("chalicelib.settings")

logger = logging.getLogger("voice.api")

API_PREFIX = "/api/v1"
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
MAX_BODY_BYTES = 256 * 1024


@dataclass
class Endpoint:
    path: str
    method: str
    handler: Callable[[RequestContext], Any]
    auth: bool
    status: int
    summary: str
    tag: str
    request_model: type[BaseModel] | None = None
    response_schema: dict[str, Any] | None = None
    query: list[tuple[str, str, str]] = field(default_factory=list)  # (name, type, description)
    deprecated: bool = False
    headers: dict[str, str] = field(default_factory=dict)


# All endpoints, by path then method (read by the OpenAPI generator too).
ENDPOINTS: dict[str, dict[str, Endpoint]] = {}


class RequestContext:
    """What a handler needs from the request, already authenticated."""

    def __init__(self, request: Any, principal: Principal | None, path: str = ""):
        self.request = request
        self.path = path
        self.principal = principal
        self.path_params: dict[str, str] = request.uri_params or {}
        self.query: dict[str, str] = dict(request.query_params or {})
        self.headers = request.headers
        self._json: Any = None
        self._parsed = False

    @property
    def org_id(self) -> str:
        if self.principal is None:  # a route registered with auth=False has no org
            raise RuntimeError("org_id read on an unauthenticated route")
        return self.principal.org_id

    def page(self) -> Page:
        """``limit``/``offset``/``cursor`` of a list request; cursors are bound to this org, this list
        (path and path ids) and its filter parameters (chalicelib/paging.py)."""
        path = self.path
        for name, value in sorted(self.path_params.items()):
            path = path.replace("{" + name + "}", value)
        return parse_page(self.query, list_binding(self.org_id, path, self.query))

    def raw_body(self) -> bytes:
        return self.request.raw_body or b""

    def json(self, *, required: bool = True) -> Any:
        """The JSON body; 400 when malformed (or missing and required)."""
        if not self._parsed:
            raw = self.raw_body()
            if not raw.strip():
                if required:
                    raise errors.InvalidRequest("Request body must be a JSON object.")
                self._json = None
            else:
                try:
                    self._json = json.loads(raw, parse_constant=_reject_constant)
                except (ValueError, UnicodeDecodeError) as exc:
                    raise errors.InvalidRequest(f"Malformed JSON body: {exc}") from None
                except RecursionError:
                    raise errors.InvalidRequest(f"JSON body is nested more than {MAX_JSON_DEPTH} levels deep.") \
                        from None
                _check_json(self._json)
            self._parsed = True
        return self._json

    def body_object(self) -> dict[str, Any]:
        data = self.json()
        if not isinstance(data, dict):
            raise errors.InvalidRequest("Request body must be a JSON object.")
        return data

    def parse(self, model: type[BaseModel], data: Any = None) -> Any:
        """Validate a body against a model; validation errors become 400s naming the field."""
        payload = self.body_object() if data is None else data
        try:
            return model.model_validate(payload)
        except ValidationError as exc:
            raise validation_error(exc) from None


MAX_JSON_DEPTH = 64


def _reject_constant(name: str) -> Any:
    # json.loads accepts NaN/Infinity, which are not JSON and could not be echoed back as JSON.
    raise ValueError(f"{name} is not valid JSON")


def _check_json(value: Any) -> None:
    """Reject what parses but cannot be stored or echoed: deep nesting, lone UTF-16 surrogates."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            items: list[Any] = [*node.keys(), *node.values()]
        elif isinstance(node, list):
            items = node
        else:
            items = [node]
        if isinstance(node, (dict, list)) and depth > MAX_JSON_DEPTH:
            raise errors.InvalidRequest(f"JSON body is nested more than {MAX_JSON_DEPTH} levels deep.")
        for item in items:
            if isinstance(item, str):
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    raise errors.InvalidRequest("JSON body contains an invalid unicode escape "
                                                "(a lone surrogate).") from None
            elif isinstance(item, (dict, list)):
                stack.append((item, depth + 1))


def error_response(err: errors.ApiError, headers: dict[str, str] | None = None) -> Response:
    merged: dict[str, str | list[str]] = {"Content-Type": "application/json", **(headers or {}), **err.headers}
    return Response(body=err.body(), status_code=err.status, headers=merged)


class ApiRouter:
    """Registers endpoints on a Chalice blueprint, one dispatcher per path for every method."""

    def __init__(self, blueprint: Blueprint, tag: str):
        self.bp = blueprint
        self.tag = tag

    def route(self, path: str, method: str, *, auth: bool = True, status: int = 200,
              summary: str = "", request_model: type[BaseModel] | None = None,
              response_schema: dict[str, Any] | None = None, query: list[tuple[str, str, str]] | None = None,
              deprecated: bool = False, headers: dict[str, str] | None = None,
              prefix: str = API_PREFIX) -> Callable:
        full = prefix + path if path != "/" else prefix

        def register(fn: Callable[[RequestContext], Any]) -> Callable:
            endpoint = Endpoint(full, method, fn, auth, status, summary or fn.__doc__ or "", self.tag,
                                request_model, response_schema, query or [], deprecated,
                                headers or {})
            methods = ENDPOINTS.get(full)
            if methods is None:
                methods = ENDPOINTS[full] = {}
                dispatcher = _make_dispatcher(self.bp, full)
                self.bp.route(full, methods=ALL_METHODS, content_types=_CONTENT_TYPES)(dispatcher)
            methods[method] = endpoint
            return fn

        return register


# Chalice answers content types outside this list itself, in its own (non-contract) error shape: let
# every type through ("*/*") and decide here, so API routes answer the flat 415 and the Twilio
# callbacks (form-encoded, not API routes) keep working.
_CONTENT_TYPES = [
    "application/json",
    "application/x-www-form-urlencoded",
    "text/plain",
    "application/octet-stream",
    "*/*",
]


def is_json_content_type(header: str | None) -> bool:
    """``application/json`` or ``application/<anything>+json``, parameters (charset) allowed."""
    media = (header or "").split(";", 1)[0].strip().lower()
    kind, _, subtype = media.partition("/")
    return kind == "application" and (subtype == "json" or subtype.endswith("+json"))


def _make_dispatcher(bp: Blueprint, path: str) -> Callable[..., Response]:
    def dispatch(**_uri_params: str) -> Response:
        return handle(bp.current_request, path)

    # Chalice names Lambda views after the function; keep them unique and readable.
    dispatch.__name__ = "route_" + "".join(c if c.isalnum() else "_" for c in path).strip("_")
    return dispatch


def handle(request: Any, path: str) -> Response:
    """Run one request through auth, rate limit, handler and error mapping; count it by status class."""
    from chalicelib.observability import count_request

    response = _handle(request, path)
    count_request(response.status_code)
    return response


def _handle(request: Any, path: str) -> Response:
    from chalicelib.services import auth as auth_service  # imported on first request, not at import

    rate_headers: dict[str, str] = {}
    try:
        endpoint = ENDPOINTS[path].get(request.method)
        if endpoint is None:
            allowed = ", ".join(sorted(ENDPOINTS[path]))
            raise errors.MethodNotAllowed(
                f"Method {request.method} is not allowed on {path}. Allowed: {allowed}.",
                headers={"Allow": allowed},
            )
        raw = request.raw_body or b""
        if len(raw) > MAX_BODY_BYTES:
            raise errors.PayloadTooLarge("Request body is larger than 256 KB.")
        principal = None
        if endpoint.auth:
            principal = auth_service.authenticate(request.headers.get("authorization"))
            _bind_log_context(request, principal.org_id)
            rate_headers = auth_service.check_rate_limit(principal.key_hash,
                                                         settings.get_settings().rate_limit_per_minute)
        content_type = request.headers.get("content-type")
        if path.startswith(API_PREFIX) and raw.strip() and not is_json_content_type(content_type):
            raise errors.UnsupportedMediaType(
                "Request bodies must be JSON: send Content-Type: application/json.",
                headers={"Accept": "application/json"})
        ctx = RequestContext(request, principal, path)
        result = endpoint.handler(ctx)
        if isinstance(result, Response):
            result.headers = {**rate_headers, **endpoint.headers, **(result.headers or {})}
            if not isinstance(result.body, (str, bytes)) and not any(
                    k.lower() == "content-type" for k in result.headers):
                result.headers["Content-Type"] = "application/json"
            return result
        return Response(body=result, status_code=endpoint.status,
                        headers={"Content-Type": "application/json", **rate_headers, **endpoint.headers})
    except errors.ApiError as err:
        if err.status >= 500:
            logger.error("request failed: %s", err.message)
        return error_response(err, rate_headers)
    except ValidationError as exc:
        return error_response(validation_error(exc), rate_headers)
    except Exception:  # noqa: BLE001 - last line of defence: log it, never leak a stack trace
        logger.exception("unhandled error on %s %s", request.method, path)
        return error_response(errors.InternalError("Something went wrong on our side."), rate_headers)


def _bind_log_context(request: Any, org_id: str) -> None:
    from chalicelib.observability import logger as plogger

    ctx = getattr(request, "context", None) or {}
    plogger.append_keys(org_id=org_id, request_id=ctx.get("requestId"))


# ---------------------------------------------------------------- list helpers
# Query parameters of every list endpoint (for the OpenAPI document).
PAGE_QUERY = [
    ("limit", "integer", "Page size (default 100, max 1000)"),
    ("offset", "integer", "Items to skip (prefer cursor: DynamoDB has no cheap offset)"),
    ("cursor", "string", "next_cursor of the previous page"),
]
