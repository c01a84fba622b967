"""TwiML documents the control plane answers with (rendered by the twilio SDK's builders)."""

from __future__ import annotations

from typing import Any


def stream_twiml(ws_url: str, call_id: str, org_id: str, token: str, *, action_url: str | None = None,
                 pause_seconds: int = 0) -> str:
    """``<Connect><Stream>`` to the media service; the parameters arrive in the ``start`` message.

    With ``action_url`` Twilio requests that URL when the stream ends (our server closed it, or the task
    died), so the API can reconnect the caller; ``pause_seconds`` of silence come first (a retry).
    """
    from twilio.twiml.voice_response import Connect, Stream, VoiceResponse

    response = VoiceResponse()
    if pause_seconds:
        response.pause(length=pause_seconds)
    stream = Stream(url=ws_url)
    stream.parameter(name="call_id", value=call_id)
    stream.parameter(name="org_id", value=org_id)
    stream.parameter(name="token", value=token)
    connect = Connect(action=action_url, method="POST") if action_url else Connect()
    response.append(connect.append(stream))
    return str(response)


def hang_up() -> str:
    """``<Hangup/>``: end the call."""
    from twilio.twiml.voice_response import VoiceResponse

    response = VoiceResponse()
    response.hangup()
    return str(response)


def say_and_hang_up(text: str) -> str:
    """A short spoken sentence, then hang up (unknown number, refusals)."""
    from twilio.twiml.voice_response import VoiceResponse

    response = VoiceResponse()
    response.say(text)
    response.hangup()
    return str(response)


def empty() -> str:
    """An empty response (status and AMD callbacks need no instructions)."""
    from twilio.twiml.voice_response import VoiceResponse

    return str(VoiceResponse())


def transfer_twiml(destination: str, *, message: str | None = None, caller_id: str | None = None,
                   trunk: dict[str, Any] | None = None, timeout: int = 30) -> str:
    """``<Say>`` (optional) then ``<Dial>`` to an E.164 number or a SIP URI.

    With a SIP trunk (``host``, ``port``, ``transport``, ``username``, ``password``) an E.164
    destination is dialled as ``sip:<number>@<host>:<port>;transport=<transport>`` with digest auth.
    """
    from twilio.twiml.voice_response import Dial, VoiceResponse

    response = VoiceResponse()
    if message:
        response.say(message)
    dial = Dial(caller_id=caller_id, timeout=timeout, answer_on_bridge=True)
    if destination.startswith("sip:"):
        dial.sip(destination)
    elif trunk:
        port = trunk.get("port") or 5060
        transport = trunk.get("transport") or "udp"
        uri = f"sip:{destination}@{trunk['host']}:{port};transport={transport}"
        dial.sip(uri, username=trunk.get("username") or None, password=trunk.get("password") or None)
    else:
        dial.number(destination)
    response.append(dial)
    return str(response)
