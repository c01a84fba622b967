"""FAKE_TWILIO_RING_SECONDS (the greeting bench's ring time): a call rings that long before it is answered."""

from __future__ import annotations

import threading
import time

import pytest

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("ring", [0.0, 0.4])
def test_an_auto_progressed_call_is_answered_after_its_ring_time(ring):
    from twilio.rest import Client

    from sandbox.twilio import FakeTwilio

    tw = FakeTwilio(account_sid="AC" + "7" * 32, auth_token="ring-token").start()  # noqa: S106 - the fake's token
    try:
        answered = threading.Event()
        seen: dict[str, object] = {}

        def on_answer(resource: dict, twiml: str) -> None:
            seen.update(at=time.monotonic(), status=resource["status"], twiml=twiml)
            answered.set()

        tw.on_answer, tw.auto_progress, tw.ring_seconds = on_answer, "answered", ring
        client = Client(tw.account_sid, "ring-token")
        client.api.base_url = tw.base_url
        created = time.monotonic()
        call = client.calls.create(to="+31612345678", from_="+14155550100", twiml="<Response><Pause/></Response>")
        assert answered.wait(5)
        waited = float(seen["at"]) - created  # type: ignore[arg-type]
        assert seen["status"] == "in-progress" and seen["twiml"] == "<Response><Pause/></Response>"
        assert (waited >= ring) and (ring > 0 or waited < 0.4), waited
        assert tw.calls[str(call.sid)]["status"] == "in-progress"
    finally:
        tw.stop()
