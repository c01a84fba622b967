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

    def authorized(self, req: FakeRequest) -> FakeResponse | None:
        """None when Basic auth matches this account, else Twilio's 401 body."""
        creds = req.basic_auth()
        if creds != (self.account_sid, self.auth_token) or req.params.get("account") != self.account_sid:
            return FakeResponse(401, {"code": 20003, "message": "Authenticate", "more_info":
                                      "https://www.twilio.com/docs/errors/20003", "status": 401})
        return None
