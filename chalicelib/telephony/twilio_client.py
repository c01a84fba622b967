"""Twilio Programmable Voice calls through the official ``twilio`` SDK.

``client.api.base_url`` is pointed at ``TWILIO_API_URL`` when set, so the sandbox fake (or any
Twilio-compatible endpoint) stands in for api.twilio.com with the same SDK code path.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from chalicelib.settings import get_settings

STATUS_EVENTS = ["initiated", "ringing", "answered", "completed"]
REQUEST_TIMEOUT_SECONDS = 10.0


class TwilioCallError(Exception):
    """Twilio refused or failed a Calls API request; ``reason`` is safe to store and show."""

    def __init__(self, reason: str, status: int | None = None, code: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.code = code


@dataclass
class DialRequest:
    to: str
    from_: str
    twiml: str
    status_callback: str
    amd_callback: str | None = None
    time_limit: int | None = None


class TwilioTelephony:
    def __init__(self, account_sid: str, auth_token: str, api_url: str | None = None,
                 timeout: float | None = None):
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        self.account_sid = account_sid
        # The SDK waits forever by default; a Lambda handler must not.
        http_client = TwilioHttpClient(timeout=timeout or REQUEST_TIMEOUT_SECONDS)
        self.client = Client(account_sid, auth_token, http_client=http_client)
        if api_url:
            self.client.api.base_url = api_url.rstrip("/")

    def dial(self, req: DialRequest) -> str:
        """Create the call; returns its CallSid. Raises TwilioCallError when Twilio refuses."""
        kwargs: dict[str, Any] = {
            "to": req.to, "from_": req.from_, "twiml": req.twiml,
            "status_callback": req.status_callback, "status_callback_method": "POST",
            "status_callback_event": STATUS_EVENTS,
        }
        if req.time_limit:
            kwargs["time_limit"] = req.time_limit
        if req.amd_callback:
            kwargs.update(machine_detection="DetectMessageEnd", async_amd="true",
                          async_amd_status_callback=req.amd_callback, async_amd_status_callback_method="POST")
        return self._run(lambda: self.client.calls.create(**kwargs)).sid

    def hang_up(self, call_sid: str) -> None:
        """End a live call (``completed``); a call Twilio no longer knows is already over."""
        try:
            self._run(lambda: self.client.calls(call_sid).update(status="completed"))
        except TwilioCallError as exc:
            if exc.status != 404:
                raise

    def cancel(self, call_sid: str) -> None:
        """Cancel a call that has not been answered yet."""
        try:
            self._run(lambda: self.client.calls(call_sid).update(status="canceled"))
        except TwilioCallError as exc:
            if exc.status != 404:
                raise

    def redirect(self, call_sid: str, twiml: str) -> None:
        """Replace the running TwiML of a call (transfers)."""
        self._run(lambda: self.client.calls(call_sid).update(twiml=twiml))

    @staticmethod
    def _run(fn: Any) -> Any:
        from twilio.base.exceptions import TwilioException, TwilioRestException

        try:
            return fn()
        except TwilioRestException as exc:
            detail = exc.msg or "refused"
            raise TwilioCallError(f"Twilio {exc.status}: {detail}", exc.status, exc.code) from exc
        except TwilioException as exc:
            raise TwilioCallError(f"Twilio error: {exc}") from exc
        except OSError as exc:  # connection refused, DNS, timeouts from requests
            raise TwilioCallError(f"Twilio unreachable: {type(exc).__name__}") from exc


@lru_cache(maxsize=4)
def _cached(account_sid: str, auth_token: str, api_url: str | None) -> TwilioTelephony:
    return TwilioTelephony(account_sid, auth_token, api_url)


def telephony() -> TwilioTelephony | None:
    """The deployment's Twilio adapter (cached per credentials), or None when not configured."""
    s = get_settings()
    if not (s.twilio_account_sid and s.twilio_auth_token):
        return None
    return _cached(s.twilio_account_sid, s.twilio_auth_token, s.twilio_api_url)
