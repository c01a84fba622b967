"""Twilio IncomingPhoneNumbers through the official ``twilio`` SDK.

Used when a deployment has Twilio credentials: a registered number that exists in that account is
pointed at this deployment's ``/twilio/voice`` and ``/twilio/status`` callbacks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib import errors
from chalicelib.settings import get_settings


@dataclass
class TwilioNumber:
    sid: str
    phone_number: str
    voice_url: str | None


class TwilioNumbers:
    def __init__(self, account_sid: str, auth_token: str, api_url: str | None = None):
        from twilio.rest import Client

        self.client = Client(account_sid, auth_token)
        if api_url:
            # Any Twilio-compatible endpoint (the sandbox fake, a proxy) stands in for api.twilio.com.
            self.client.api.base_url = api_url.rstrip("/")

    def find(self, e164: str) -> TwilioNumber | None:
        """The account's IncomingPhoneNumber for this E.164 number, or None."""
        from twilio.base.exceptions import TwilioException

        try:
            found = self.client.incoming_phone_numbers.list(phone_number=e164, limit=1)
        except TwilioException as exc:
            raise _upstream("look up the number in Twilio", exc) from exc
        if not found:
            return None
        pn = found[0]
        return TwilioNumber(pn.sid or "", pn.phone_number or e164, pn.voice_url)

    def point_at(self, sid: str, voice_url: str, status_url: str) -> None:
        """Set the number's voice webhook and call status callback."""
        from twilio.base.exceptions import TwilioException

        try:
            self.client.incoming_phone_numbers(sid).update(
                voice_url=voice_url, voice_method="POST",
                status_callback=status_url, status_callback_method="POST",
            )
        except TwilioException as exc:
            raise _upstream("configure the number in Twilio", exc) from exc


def _upstream(action: str, exc: Any) -> errors.UpstreamError:
    # TwilioRestException carries status/msg; a failed list page carries the HTTP response in args.
    status = getattr(exc, "status", None)
    detail = getattr(exc, "msg", None)
    if status is None and len(exc.args) > 1:
        status = getattr(exc.args[1], "status_code", None)
        detail = exc.args[0]
    return errors.UpstreamError(f"Could not {action} (Twilio {status or 'error'}: {detail or type(exc).__name__}).")


def twilio_numbers() -> TwilioNumbers | None:
    """A client for the deployment's Twilio account, or None when Twilio is not configured."""
    s = get_settings()
    if not (s.twilio_account_sid and s.twilio_auth_token):
        return None
    return TwilioNumbers(s.twilio_account_sid, s.twilio_auth_token, s.twilio_api_url)


def callback_urls() -> tuple[str, str]:
    base = get_settings().public_base_url
    return f"{base}/twilio/voice", f"{base}/twilio/status"
