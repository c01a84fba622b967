"""Domain errors. Services raise these; the API layer maps them to the contract's error shape."""

from __future__ import annotations


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

    def body(self) -> dict:
        out: dict = {"error": self.code, "message": self.message}
        if self.param is not None:
            out["param"] = self.param
        if self.details:
            out["details"] = self.details
        return out


class InvalidRequest(ApiError):
    status, code = 400, "invalid_request"


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


class RateLimited(ApiError):
    status, code = 429, "rate_limit_exceeded"


class CallNotActive(ApiError):
    status, code = 400, "call_not_active"


class UpstreamError(ApiError):
    status, code = 502, "upstream_error"


class InternalError(ApiError):
    status, code = 500, "internal_error"
