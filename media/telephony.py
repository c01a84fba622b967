"""Twilio REST from the media service (hang up, transfer) and transfer TwiML."""

from __future__ import annotations

import asyncio
import logging
from functools import lru_cache
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from chalicelib.settings import get_settings

log = logging.getLogger("voice.media.telephony")


@lru_cache(maxsize=4)
def _client(account_sid: str, auth_token: str, base_url: str | None):
    from twilio.rest import Client

    client = Client(account_sid, auth_token)
    if base_url:
        client.api.base_url = base_url.rstrip("/")
    return client


def twilio_client(account_sid: str | None):
    s = get_settings()
    sid = s.twilio_account_sid or account_sid or "AC" + "0" * 32
    return _client(sid, s.twilio_auth_token or "sandbox-token", s.twilio_api_url)


def _update_call(account_sid: str | None, call_sid: str, **kwargs: Any) -> bool:
    from twilio.base.exceptions import TwilioRestException

    try:
        twilio_client(account_sid).calls(call_sid).update(**kwargs)
        return True
    except TwilioRestException as exc:
        if exc.status == 404:  # already over
            return False
        log.warning("twilio call update failed: %s", exc.status)
        return False
    except Exception as exc:  # network: the call still ends when we close the stream
        log.warning("twilio call update failed: %s", type(exc).__name__)
        return False


async def hang_up(account_sid: str | None, call_sid: str | None) -> bool:
    if not call_sid:
        return False
    return await asyncio.to_thread(_update_call, account_sid, call_sid, status="completed")


async def redirect(account_sid: str | None, call_sid: str | None, twiml: str) -> bool:
    if not call_sid:
        return False
    return await asyncio.to_thread(_update_call, account_sid, call_sid, twiml=twiml)


def transfer_twiml(destination: str, *, caller_id: str | None = None, trunk: dict[str, Any] | None = None) -> str:
    """``<Dial><Number>`` for a phone number, ``<Dial><Sip>`` for a SIP URI or through a trunk."""
    attrs = ' answerOnBridge="true"'
    if caller_id:
        attrs += f" callerId={quoteattr(caller_id)}"
    if destination.startswith("sip:") or trunk:
        if destination.startswith("sip:"):
            uri = destination
        else:
            host = trunk["host"]
            port = trunk.get("port") or 5060
            transport = trunk.get("transport") or "udp"
            uri = f"sip:{destination}@{host}:{port};transport={transport}"
        auth = ""
        if trunk and trunk.get("username"):
            auth += f" username={quoteattr(trunk['username'])}"
        if trunk and trunk.get("password"):
            auth += f" password={quoteattr(trunk['password'])}"
        inner = f"<Sip{auth}>{escape(uri)}</Sip>"
    else:
        inner = f"<Number>{escape(destination)}</Number>"
    return f'<?xml version="1.0" encoding="UTF-8"?><Response><Dial{attrs}>{inner}</Dial></Response>'
