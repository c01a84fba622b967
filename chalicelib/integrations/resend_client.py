"""Resend REST API (domains and emails) over the process's pooled HTTP session.

Why not the ``resend`` package: it keeps the API key and base URL in module globals
(``resend.api_key``, ``resend.api_url``), and each org brings its own key; a per-request client is
the only way to keep two orgs' keys apart in one process. The wire format is Resend's own.
"""

from __future__ import annotations

from typing import Any

from chalicelib import errors
from chalicelib.httpclient import session
from chalicelib.settings import get_settings

DEFAULT_URL = "https://api.resend.com"
TIMEOUT = 10.0


class ResendClient:
    def __init__(self, api_key: str, base_url: str | None = None):
        self._key = api_key
        self.base_url = (base_url or get_settings().resend_url or DEFAULT_URL).rstrip("/")

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        import requests

        headers = {"Authorization": f"Bearer {self._key}", "Accept": "application/json",
                   "User-Agent": "voice-platform"}
        try:
            resp = session().request(method, self.base_url + path, json=body, headers=headers, timeout=TIMEOUT)
        except requests.RequestException as exc:
            raise errors.UpstreamError(f"Could not reach Resend ({type(exc).__name__}).") from exc
        try:
            data = resp.json() if resp.content else {}
        except ValueError:
            data = {}
        if resp.status_code >= 400:
            raise _error(resp.status_code, data if isinstance(data, dict) else {})
        return data

    # ---- domains
    def create_domain(self, name: str, region: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"name": name}
        if region:
            body["region"] = region
        return self._call("POST", "/domains", body)

    def list_domains(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/domains").get("data") or [])

    def get_domain(self, domain_id: str) -> dict[str, Any]:
        return self._call("GET", f"/domains/{domain_id}")

    def verify_domain(self, domain_id: str) -> dict[str, Any]:
        return self._call("POST", f"/domains/{domain_id}/verify")

    def delete_domain(self, domain_id: str) -> dict[str, Any]:
        return self._call("DELETE", f"/domains/{domain_id}")

    # ---- emails
    def send_email(self, sender: str, to: list[str], subject: str, text: str) -> str | None:
        data = self._call("POST", "/emails", {"from": sender, "to": to, "subject": subject, "text": text})
        return data.get("id")


def _error(status: int, data: dict[str, Any]) -> errors.ApiError:
    """Map a Resend error body (``{"statusCode","name","message"}``) to our error codes."""
    detail = str(data.get("message") or data.get("name") or f"HTTP {status}")
    name = str(data.get("name") or "")
    if status == 401 or name in {"invalid_api_key", "missing_api_key", "restricted_api_key"}:
        return errors.InvalidRequest(f"Resend rejected the stored Resend API key ({detail}). "
                                     "Update it with POST /byok (provider 'resend').")
    if status == 404:
        return errors.NotFound(f"Resend: {detail}")
    if status == 409:
        return errors.Conflict(f"Resend: {detail}")
    if status in (400, 403, 422):
        return errors.InvalidRequest(f"Resend: {detail}")
    if status == 429:
        return errors.RateLimited(f"Resend rate limit: {detail}")
    return errors.UpstreamError(f"Resend error {status}: {detail}")
