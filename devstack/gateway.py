"""API Gateway behaviour that Chalice's local gateway lacks.

Deployed, API Gateway answers an unknown route with a "Missing Authentication Token" gateway
response, which the CDK stack maps to a flat 404 (see infra). Locally we apply the same mapping.
"""

from __future__ import annotations

import json

from chalice.local import ForbiddenError, LocalGateway

# A str body: chalice.test decodes str bodies, and the local HTTP server encodes either.
NOT_FOUND_BODY = json.dumps({"error": "not_found", "message": "Unknown route."})


class FlatErrorGateway(LocalGateway):
    def handle_request(self, method, path, headers, body):  # type: ignore[override]
        try:
            return super().handle_request(method, path, headers, body)
        except ForbiddenError:
            # Only raised for paths that match no route (the app does its own auth).
            return {"statusCode": 404, "headers": {"Content-Type": "application/json"},
                    "multiValueHeaders": {}, "body": NOT_FOUND_BODY}


def install() -> None:
    """Make chalice.local and chalice.test use the flat-404 gateway."""
    import chalice.local
    import chalice.test

    chalice.local.LocalGateway = FlatErrorGateway  # type: ignore[misc]
    chalice.test.LocalGateway = FlatErrorGateway  # type: ignore[misc]
