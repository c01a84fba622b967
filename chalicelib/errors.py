"""Domain errors. Services raise these; the API layer maps them to the contract's error shape.

``validation_error`` maps a pydantic ``ValidationError`` to the contract's 400; it lives here (not in
the API layer) because services validate nested blocks too (tool configs of templates).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import ValidationError
    from pydantic_core import ErrorDetails


class ApiError(Exception):
    """An error with an HTTP status and a machine code from the contract."""

    status = 400
    code = "invalid_request"

    def __init__(self, message: str, *, param: str | None = None,
                 details: list[str] | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        self.details = details
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The contract's flat error body: ``error``, ``message``, and ``param``/``details`` when set."""
        out: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.param is not None:
            out["param"] = self.param
        if self.details:
            out["details"] = self.details
        return out


class InvalidRequest(ApiError):
    status, code = 400, "invalid_request"


class InvalidParameter(ApiError):
    """A well-formed value the platform cannot use (e.g. a provider key in no provider's format)."""

    status, code = 400, "invalid_parameter"


class MissingField(ApiError):
    status, code = 400, "missing_field"


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"


class Forbidden(ApiError):
    status, code = 403, "forbidden"


class NotFound(ApiError):
    status, code = 404, "not_found"


class MethodNotAllowed(ApiError):
    status, code = 405, "method_not_allowed"


class Conflict(ApiError):
    status, code = 409, "conflict"


class InsufficientCredits(ApiError):
    status, code = 402, "insufficient_credits"


class PayloadTooLarge(ApiError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(ApiError):
    status, code = 415, "unsupported_media_type"


class RateLimited(ApiError):
    status, code = 429, "rate_limit_exceeded"


class CallNotActive(ApiError):
    status, code = 400, "call_not_active"


class UpstreamError(ApiError):
    status, code = 502, "upstream_error"


class CapacityExceeded(ApiError):
    """Every media task is at capacity: the call is refused before it is dialed (retry later)."""

    status, code = 503, "capacity_exceeded"


class InternalError(ApiError):
    status, code = 500, "internal_error"


# ---------------------------------------------------------------- pydantic validation -> 400
# Names pydantic puts in an error's loc for union members and tagged-union tags (not fields).
_LOC_NOISE = {"str", "int", "float", "bool", "dict", "list", "function", "endCall", "transferCall"}


def _loc(loc: tuple[int | str, ...]) -> str:
    from pydantic.alias_generators import to_snake

    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            text = str(item)
            if text.startswith("function-") or text in _LOC_NOISE:
                continue
            # "missing" errors name the camelCase alias when the model accepts both; we emit snake_case.
            parts.append(("." if parts else "") + to_snake(text))
    return "".join(parts)


def _msg(err: ErrorDetails) -> str:
    msg = str(err["msg"])
    return msg[len("Value error, "):] if msg.startswith("Value error, ") else msg


def validation_error(exc: ValidationError, prefix: str = "") -> ApiError:
    """Map a pydantic ValidationError to the contract's 400 (``missing_field`` when only missing)."""
    details: list[str] = []
    first_param: str | None = None
    all_missing = True
    all_parameter = True  # every problem is a custom "invalid_parameter" (a value no provider accepts)
    # Unknown fields first: a typo ("nme") explains the "missing name" that follows from it.
    errs = sorted(exc.errors(include_url=False), key=lambda e: e["type"] != "extra_forbidden")
    for err in errs:
        param = _loc(err["loc"])
        if prefix:
            param = f"{prefix}.{param}" if param else prefix
        kind = err["type"]
        if kind == "extra_forbidden":
            msg = f"Unknown field '{param}'"
        elif kind == "missing":
            msg = f"'{param}' is required"
        else:
            msg = f"'{param}': {_msg(err)}" if param else _msg(err)
        if kind != "missing":
            all_missing = False
        if kind != "invalid_parameter":
            all_parameter = False
        details.append(msg)
        if first_param is None:
            first_param = param or None
    message = details[0] if len(details) == 1 else f"{len(details)} validation errors: " + "; ".join(details)
    cls = MissingField if all_missing else InvalidParameter if all_parameter else InvalidRequest
    return cls(message, param=first_param, details=details)
