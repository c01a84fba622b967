"""Health: the API answers and its tables are reachable."""

from __future__ import annotations

from chalice.app import Response

from chalicelib.storage.tables import ApiKeyModel, OrgModel


def check() -> Response:
    try:
        # DescribeTable on the two tables every request needs.
        ok = OrgModel.exists() and ApiKeyModel.exists()
    except Exception:  # noqa: BLE001 - any storage failure means "unhealthy", reported not raised
        ok = False
    if ok:
        return Response(body={"status": "ok"}, status_code=200)
    return Response(body={"error": "unavailable", "message": "Storage is not reachable."}, status_code=503)
