"""Fake Twilio REST API (api.twilio.com/2010-04-01) that the real ``twilio`` SDK talks to.

Point the SDK at it with ``client.api.base_url = fake.base_url`` (or TWILIO_API_URL in settings).
Form-encoded bodies, HTTP Basic auth (Account SID + Auth Token), JSON responses.

Resources are added by the features that need them:
- IncomingPhoneNumbers (numbers: voice URL / status callback configuration)
- Calls create / update, with signed status callbacks (calls)
"""

from __future__ import annotations

import secrets
from typing import Any

from sandbox.httpserver import FakeHTTPServer, FakeRequest, FakeResponse

API = "/2010-04-01/Accounts/(?P<account>AC[0-9a-fA-F]{32})"


def sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


class FakeTwilio(FakeHTTPServer):
    def __init__(self, account_sid: str | None = None, auth_token: str = "test-auth-token", **kw: Any):
        super().__init__(**kw)
        self.account_sid = account_sid or ("AC" + "0" * 32)
        self.auth_token = auth_token
        self.incoming_numbers: dict[str, dict[str, Any]] = {}  # PN sid -> resource
        self.calls: dict[str, dict[str, Any]] = {}  # CA sid -> resource
        self._incoming_number_routes()

    def authorized(self, req: FakeRequest) -> FakeResponse | None:
        """None when Basic auth matches this account, else Twilio's 401 body."""
        creds = req.basic_auth()
        if creds != (self.account_sid, self.auth_token) or req.params.get("account") != self.account_sid:
            return FakeResponse(401, {"code": 20003, "message": "Authenticate", "more_info":
                                      "https://www.twilio.com/docs/errors/20003", "status": 401})
        return None

    # ---------------------------------------------------------------- IncomingPhoneNumbers (numbers feature)
    def _incoming_number_routes(self) -> None:
        self.route("GET", API + r"/IncomingPhoneNumbers\.json", self._list_incoming_numbers)
        self.route("GET", API + r"/IncomingPhoneNumbers/(?P<sid>PN[0-9a-fA-F]{32})\.json", self._fetch_incoming_number)
        self.route("POST", API + r"/IncomingPhoneNumbers/(?P<sid>PN[0-9a-fA-F]{32})\.json",
                   self._update_incoming_number)

    def provision_number(self, phone_number: str, friendly_name: str | None = None,
                         voice_url: str | None = None) -> dict[str, Any]:
        """Pre-provision a number in this fake account (as if bought in the Twilio console)."""
        pn_sid = sid("PN")
        uri = f"/2010-04-01/Accounts/{self.account_sid}/IncomingPhoneNumbers/{pn_sid}.json"
        resource = {
            "account_sid": self.account_sid, "address_requirements": "none", "address_sid": None,
            "api_version": "2010-04-01", "beta": False,
            "capabilities": {"voice": True, "sms": True, "mms": False, "fax": False},
            "date_created": "Mon, 16 Nov 2026 10:00:00 +0000", "date_updated": "Mon, 16 Nov 2026 10:00:00 +0000",
            "emergency_status": "Inactive", "emergency_address_sid": None, "emergency_address_status": "unregistered",
            "friendly_name": friendly_name or phone_number, "identity_sid": None, "origin": "twilio",
            "phone_number": phone_number, "sid": pn_sid, "sms_application_sid": "", "sms_fallback_method": "POST",
            "sms_fallback_url": "", "sms_method": "POST", "sms_url": "", "status_callback": "",
            "status_callback_method": "POST", "trunk_sid": None, "uri": uri, "voice_application_sid": None,
            "voice_caller_id_lookup": False, "voice_fallback_method": "POST", "voice_fallback_url": None,
            "voice_method": "POST", "voice_url": voice_url or "https://demo.twilio.com/welcome/voice/",
            "voice_receive_mode": "voice", "status": "in-use", "bundle_sid": None,
            "subresource_uris": {"assigned_add_ons": uri.replace(".json", "/AssignedAddOns.json")},
        }
        with self.lock:
            self.incoming_numbers[pn_sid] = resource
        return dict(resource)

    def incoming_number_updates(self) -> list[dict[str, str]]:
        """Form fields of every IncomingPhoneNumber update this fake received, in order."""
        with self.lock:
            return [dict(r.form_first(), sid=r.params.get("sid", "")) for r in self.requests
                    if r.method == "POST" and "/IncomingPhoneNumbers/" in r.path]

    def _not_found(self, req: FakeRequest) -> FakeResponse:
        return FakeResponse(404, {"code": 20404, "message": f"The requested resource {req.path} was not found",
                                  "more_info": "https://www.twilio.com/docs/errors/20404", "status": 404})

    def _list_incoming_numbers(self, req: FakeRequest) -> FakeResponse:
        denied = self.authorized(req)
        if denied:
            return denied
        q = {k: v[0] for k, v in req.query.items()}
        size = max(1, min(int(q.get("PageSize", "50")), 1000))
        page = int(q.get("Page", "0"))
        with self.lock:
            items = list(self.incoming_numbers.values())
        if q.get("PhoneNumber"):
            items = [n for n in items if n["phone_number"] == q["PhoneNumber"]]
        if q.get("FriendlyName"):
            items = [n for n in items if n["friendly_name"] == q["FriendlyName"]]
        chunk = items[page * size:(page + 1) * size]
        base = f"/2010-04-01/Accounts/{self.account_sid}/IncomingPhoneNumbers.json"
        extra = f"&PhoneNumber={q['PhoneNumber']}" if q.get("PhoneNumber") else ""
        more = (page + 1) * size < len(items)
        return FakeResponse(200, {
            "incoming_phone_numbers": chunk,
            "end": page * size + max(len(chunk) - 1, 0), "start": page * size, "page": page, "page_size": size,
            "first_page_uri": f"{base}?PageSize={size}&Page=0{extra}",
            "previous_page_uri": f"{base}?PageSize={size}&Page={page - 1}{extra}" if page > 0 else None,
            "next_page_uri": f"{base}?PageSize={size}&Page={page + 1}{extra}" if more else None,
            "uri": f"{base}?PageSize={size}&Page={page}{extra}",
        })

    def _fetch_incoming_number(self, req: FakeRequest) -> FakeResponse:
        denied = self.authorized(req)
        if denied:
            return denied
        with self.lock:
            resource = self.incoming_numbers.get(req.params["sid"])
        return FakeResponse(200, dict(resource)) if resource else self._not_found(req)

    def _update_incoming_number(self, req: FakeRequest) -> FakeResponse:
        denied = self.authorized(req)
        if denied:
            return denied
        fields = {"VoiceUrl": "voice_url", "VoiceMethod": "voice_method", "StatusCallback": "status_callback",
                  "StatusCallbackMethod": "status_callback_method", "FriendlyName": "friendly_name",
                  "VoiceFallbackUrl": "voice_fallback_url", "VoiceFallbackMethod": "voice_fallback_method"}
        if getattr(self, "fail_number_updates", False):  # failure injection for tests
            return FakeResponse(500, {"code": 20500, "message": "Internal Server Error", "status": 500,
                                      "more_info": "https://www.twilio.com/docs/errors/20500"})
        form = req.form_first()
        for name in ("VoiceMethod", "StatusCallbackMethod", "VoiceFallbackMethod"):
            if name in form and form[name] not in ("GET", "POST"):
                return FakeResponse(400, {"code": 21205, "message": f"{name} is not valid", "status": 400,
                                          "more_info": "https://www.twilio.com/docs/errors/21205"})
        with self.lock:
            resource = self.incoming_numbers.get(req.params["sid"])
            if resource is None:
                return self._not_found(req)
            for form_name, attr in fields.items():
                if form_name in form:
                    resource[attr] = form[form_name]
            resource["date_updated"] = "Tue, 24 Nov 2026 12:00:00 +0000"
            return FakeResponse(200, dict(resource))
