"""Fake Resend API (api.resend.com): domains and emails, Bearer auth, Resend's JSON shapes.

Point a client at it with RESEND_URL (settings.resend_url). Each API key is its own Resend
account: domains created with one key are invisible to another, as on the real service.
Verification is simulated: ``POST /domains/{id}/verify`` moves a domain to ``pending`` and the
next read reports ``verified`` (or ``failed`` for names listed in ``fail_verification``).
"""

from __future__ import annotations

import re
import threading
from typing import Any

from sandbox import ids
from sandbox.httpserver import FakeHTTPServer, FakeRequest, FakeResponse

_DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
REGIONS = ("us-east-1", "eu-west-1", "sa-east-1", "ap-northeast-1")
ID = r"(?P<domain_id>[0-9a-fA-F-]{36})"


def _error(status: int, name: str, message: str) -> FakeResponse:
    return FakeResponse(status, {"statusCode": status, "name": name, "message": message})


class FakeResend(FakeHTTPServer):
    def __init__(self, api_keys: set[str] | None = None, **kw: Any):
        super().__init__(**kw)
        self.api_keys = set(api_keys or {"re_test_key"})
        self.domains: dict[str, dict[str, Any]] = {}  # id -> domain (with "_account": api key)
        self.emails: list[dict[str, Any]] = []  # accepted emails (with "_account")
        self.fail_verification: set[str] = set()
        self._verify_started: set[str] = set()
        self._mutex = threading.Lock()
        self.route("POST", r"/domains", self._create)
        self.route("GET", r"/domains", self._list)
        self.route("GET", r"/domains/" + ID, self._get)
        self.route("POST", r"/domains/" + ID + r"/verify", self._verify)
        self.route("DELETE", r"/domains/" + ID, self._delete)
        self.route("POST", r"/emails", self._send)

    # ---------------------------------------------------------------- helpers
    def account(self, req: FakeRequest) -> str | None:
        raw = req.headers.get("authorization", "")
        if not raw.startswith("Bearer "):
            return None
        key = raw[7:]
        return key if key in self.api_keys else None

    def _denied(self, req: FakeRequest) -> FakeResponse:
        if not req.headers.get("authorization"):
            return _error(401, "missing_api_key", "Missing API key in the authorization header. Include the "
                                                  "following header in the request: Authorization: Bearer YOUR_API_KEY")
        return _error(403, "invalid_api_key", "API key is invalid")

    def add_domain(self, api_key: str, name: str, status: str = "not_started",
                   region: str = "us-east-1") -> dict[str, Any]:
        """Pre-create a domain in an account (as if added in Resend's dashboard)."""
        domain = self._new_domain(api_key, name, region)
        domain["status"] = status
        for r in domain["records"]:
            r["status"] = status if status in ("verified", "failed") else r["status"]
        return self._view(domain)

    def _new_domain(self, account: str, name: str, region: str) -> dict[str, Any]:
        records = [
            {"record": "SPF", "name": "send", "type": "MX", "ttl": "Auto", "status": "not_started",
             "value": f"feedback-smtp.{region}.amazonses.com", "priority": 10},
            {"record": "SPF", "name": "send", "value": '"v=spf1 include:amazonses.com ~all"', "type": "TXT",
             "ttl": "Auto", "status": "not_started"},
            {"record": "DKIM", "name": "resend._domainkey", "value": "p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQ"
             + ids.token_hex(16), "type": "TXT", "status": "not_started", "ttl": "Auto"},
        ]
        domain = {"id": ids.uuid4(), "name": name, "status": "not_started",
                  "created_at": "2026-11-24 12:00:00.000000+00", "region": region, "records": records,
                  "capabilities": {"sending": "enabled", "receiving": "disabled"}, "_account": account}
        with self._mutex:
            self.domains[domain["id"]] = domain
        return domain

    @staticmethod
    def _view(domain: dict[str, Any], *, records: bool = True) -> dict[str, Any]:
        out = {k: v for k, v in domain.items() if not k.startswith("_")}
        if not records:
            out.pop("records", None)
        return out

    def _owned(self, req: FakeRequest) -> tuple[str | None, dict[str, Any] | None, FakeResponse | None]:
        acct = self.account(req)
        if acct is None:
            return None, None, self._denied(req)
        with self._mutex:
            domain = self.domains.get(req.params["domain_id"])
        if domain is None or domain["_account"] != acct:
            return acct, None, _error(404, "not_found", "Domain not found")
        return acct, domain, None

    def _advance(self, domain: dict[str, Any]) -> None:
        """A domain whose verification was requested is verified (or failed) at the next read."""
        with self._mutex:
            if domain["id"] in self._verify_started and domain["status"] == "pending":
                final = "failed" if domain["name"] in self.fail_verification else "verified"
                domain["status"] = final
                for r in domain["records"]:
                    r["status"] = final

    # ---------------------------------------------------------------- routes
    def _create(self, req: FakeRequest) -> FakeResponse:
        acct = self.account(req)
        if acct is None:
            return self._denied(req)
        body = req.json() or {}
        name = body.get("name")
        if not isinstance(name, str) or not name:
            return _error(422, "missing_required_field", "Missing `name` field.")
        if not _DOMAIN_RE.match(name):
            return _error(422, "validation_error", "The domain name is invalid.")
        region = body.get("region", "us-east-1")
        if region not in REGIONS:
            return _error(422, "invalid_region", f"Region must be one of: {', '.join(REGIONS)}.")
        with self._mutex:
            taken = any(d["name"] == name and d["_account"] == acct for d in self.domains.values())
        if taken:
            return _error(403, "validation_error", f"The domain {name} has been registered already.")
        domain = self._new_domain(acct, name, region)
        out = self._view(domain)
        out.pop("capabilities", None)
        return FakeResponse(201, out)

    def _list(self, req: FakeRequest) -> FakeResponse:
        acct = self.account(req)
        if acct is None:
            return self._denied(req)
        with self._mutex:
            mine = [d for d in self.domains.values() if d["_account"] == acct]
        for d in mine:
            self._advance(d)
        return FakeResponse(200, {"object": "list", "has_more": False,
                                  "data": [self._view(d, records=False) for d in mine]})

    def _get(self, req: FakeRequest) -> FakeResponse:
        _, domain, err = self._owned(req)
        if err or domain is None:
            return err or _error(404, "not_found", "Domain not found")
        self._advance(domain)
        return FakeResponse(200, {"object": "domain", **self._view(domain)})

    def _verify(self, req: FakeRequest) -> FakeResponse:
        _, domain, err = self._owned(req)
        if err or domain is None:
            return err or _error(404, "not_found", "Domain not found")
        with self._mutex:
            if domain["status"] != "verified":
                domain["status"] = "pending"
                for r in domain["records"]:
                    r["status"] = "pending"
                self._verify_started.add(domain["id"])
        return FakeResponse(200, {"object": "domain", "id": domain["id"]})

    def _delete(self, req: FakeRequest) -> FakeResponse:
        _, domain, err = self._owned(req)
        if err or domain is None:
            return err or _error(404, "not_found", "Domain not found")
        with self._mutex:
            self.domains.pop(domain["id"], None)
        return FakeResponse(200, {"object": "domain", "id": domain["id"], "deleted": True})

    def _send(self, req: FakeRequest) -> FakeResponse:
        acct = self.account(req)
        if acct is None:
            return self._denied(req)
        body = req.json() or {}
        for field in ("from", "to", "subject"):
            if not body.get(field):
                return _error(422, "missing_required_field", f"Missing `{field}` field.")
        sender_domain = str(body["from"]).rsplit("@", 1)[-1].rstrip(">").strip().lower()
        with self._mutex:
            verified = any(d["_account"] == acct and d["name"] == sender_domain and d["status"] == "verified"
                           for d in self.domains.values())
        if not verified:
            return _error(403, "validation_error", f"The {sender_domain} domain is not verified. Please, add and "
                                                   "verify your domain on https://resend.com/domains")
        email_id = ids.uuid4()
        with self._mutex:
            self.emails.append({"id": email_id, **body, "_account": acct})
        return FakeResponse(200, {"id": email_id})
