"""TwiML documents the control plane answers with (rendered by the twilio SDK's builders)."""

from __future__ import annotations


def stream_twiml(ws_url: str, call_id: str, org_id: str, token: str) -> str:
    """``<Connect><Stream>`` to the media service; the parameters arrive in the ``start`` message."""
    from twilio.twiml.voice_response import Connect, VoiceResponse

    response = VoiceResponse()
    connect = Connect()
    stream = connect.stream(url=ws_url)
    stream.parameter(name="call_id", value=call_id)
    stream.parameter(name="org_id", value=org_id)
    stream.parameter(name="token", value=token)
    response.append(connect)
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
