"""A call prepared at ring time on one task and streamed on another: the task that got the stream tells the
preparing one, which frees its reservation at once (docs/media.md, "Greeting store"; ``media.release``)."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp

from chalicelib.security import sign_control
from chalicelib.services import media_client
from chalicelib.settings import reset_settings
from tests.media.conftest import ORG, OTHER_ORG, ServerThread, Stack, wait_for
from tests.media.test_greeting_store import ASSISTANT
from tests.media.test_server_ops import _get

SECRET = "test-control-secret"


async def _release(base: str, call_id: str, org_id: str | None = ORG, *, secret: str = SECRET) -> tuple[int, dict]:
    """POST a signed ``ReleasePreparation``, as another media task sends it (no ``org_id``: a bad body)."""
    message: dict[str, object] = {"version": 1, "call_id": call_id}
    if org_id is not None:
        message["org_id"] = org_id
    body = json.dumps(message).encode()
    ts = str(int(time.time()))
    headers = {"X-Control-Timestamp": ts, "X-Control-Signature": sign_control(secret, ts, body),
               "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as http, http.post(f"{base}/calls/{call_id}/release", data=body,
                                                          headers=headers) as resp:
        return resp.status, await resp.json()


def _admit_on(stack: Stack, monkeypatch, call_id: str) -> None:
    """The control plane's ring-time admission, with MEDIA_CONTROL_URL naming the first task."""
    monkeypatch.setenv("MEDIA_CONTROL_URL", stack.media.http_url)
    reset_settings()
    assert media_client.admit(ORG, call_id) is media_client.Admission.ADMITTED
    wait_for(lambda: call_id in stack.media.media.prepared, 5)


def test_stream_on_another_task_releases_the_preparing_tasks_reservation_and_warm_sockets(stack, monkeypatch):
    preparer = stack.media
    preparer.media.max_calls = 1
    other = ServerThread().start()  # the task the load balancer sends the stream to
    try:
        call_id, token = stack.call(ASSISTANT)
        _admit_on(stack, monkeypatch, call_id)
        # Admission recorded which task accepted the prepare (never returned by the API: not a public key).
        assert stack.row(call_id).data["prepared_by"] == preparer.http_url
        assert _get(preparer.http_url + "/readyz") == (
            503, {"status": "full", "active_calls": 0, "callers": 0, "reserved": 1, "max_calls": 1})
        ring_time_stt = stack.deepgram.sessions[0]  # the preparer's warm socket

        receiving = Stack(other, stack.deepgram, stack.openai, stack.tts, stack.twilio, stack.hooks)

        async def stream_on_other_task() -> tuple[tuple[int, dict], tuple[int, dict], int | None]:
            c = receiving.caller(call_id, token)
            await c.connect()
            # Freed while the call is live on the other task, not at the end of the 60 s ring window.
            for _ in range(250):
                if preparer.media.prepared.reserved() == 0 and ring_time_stt.closed_code is not None:
                    break
                await asyncio.sleep(0.02)
            ready = await asyncio.to_thread(_get, preparer.http_url + "/readyz")
            closed = ring_time_stt.closed_code
            assert await c.wait_agent_turn(c.log.started_at, timeout=10) is not None
            holder = await asyncio.to_thread(_get, other.http_url + "/readyz")
            await c.hang_up()
            return ready, holder, closed

        ready, holder, closed = asyncio.run(stream_on_other_task())
        assert ready == (200, {"status": "ok", "active_calls": 0, "callers": 0, "reserved": 0, "max_calls": 1})
        assert holder[1]["active_calls"] == 1  # the call was still live there
        assert call_id not in preparer.media.prepared
        # The preparer's warm Deepgram socket was closed cleanly, having carried no audio.
        assert closed == 1000 and ring_time_stt.audio_bytes == 0
        assert ring_time_stt.received_control[-1] == {"type": "CloseStream"}
        row = stack.wait_ended(call_id)
        assert row.data["control_url"] == other.http_url and row.data["end_reason"] == "customer_hangup"
    finally:
        other.stop()


def test_stream_on_the_preparing_task_sends_no_release(stack, monkeypatch):
    call_id, token = stack.call(ASSISTANT)
    _admit_on(stack, monkeypatch, call_id)
    released: list[str] = []

    async def scenario() -> None:
        c = stack.caller(call_id, token)
        await c.connect()
        assert await c.wait_agent_turn(c.log.started_at, timeout=10) is not None
        await c.hang_up()

    import media.release

    async def record(base: str, org_id: str, call_id: str) -> None:
        released.append(base)

    monkeypatch.setattr(media.release, "_send", record)
    asyncio.run(scenario())
    row = stack.wait_ended(call_id)
    assert row.data["control_url"] == stack.media.http_url and released == []


def test_release_is_signed_validated_scoped_to_the_org_and_404_for_an_unknown_call(stack, monkeypatch):
    call_id, _ = stack.call(ASSISTANT)
    _admit_on(stack, monkeypatch, call_id)
    base = stack.media.http_url

    async def scenario() -> list[tuple[int, dict]]:
        return [await _release(base, call_id, secret="wrong-secret"),
                await _release(base, call_id, None),
                await _release(base, call_id, OTHER_ORG),
                await _release(base, "44444444-4444-4444-8444-444444444444"),
                await _release(base, call_id),
                await _release(base, call_id)]

    bad_sig, bad_body, other_org, unknown, released, again = asyncio.run(scenario())
    assert bad_sig == (401, {"error": "unauthorized", "message": "Bad control signature."})
    assert bad_body == (400, {"error": "invalid_request", "message": "org_id: Field required"})
    assert other_org[0] == 404 and other_org[1]["error"] == "not_found"  # another org's call is not seen
    assert unknown[0] == 404 and unknown[1]["error"] == "not_found"
    assert released == (200, {"success": True, "status": "released"})
    assert again[0] == 404  # nothing left to release
    assert call_id not in stack.media.media.prepared and stack.media.media.prepared.reserved() == 0


def test_release_of_a_preparation_still_running_frees_the_slot_and_drops_it_when_done(monkeypatch):
    import media.prepared_calls
    from media.call.prepared import Prepared
    from media.plan import build_plan
    from media.prepared_calls import PreparedCalls
    from tests.media.conftest import ASSISTANT_MIN

    async def scenario() -> tuple[int, bool, int, bool]:
        finish = asyncio.Event()

        async def slow_prepare(org_id: str, call_id: str) -> Prepared:
            await finish.wait()
            return Prepared(plan=build_plan(org_id, call_id, "outbound", {"config": ASSISTANT_MIN}), greeting=None)

        monkeypatch.setattr(media.prepared_calls, "prepare", slow_prepare)
        calls = PreparedCalls()
        calls.start(ORG, "call-1", lambda _: False)
        await asyncio.sleep(0)
        before = calls.reserved()
        refused = calls.release("call-1", OTHER_ORG)
        accepted = calls.release("call-1", ORG)
        during = calls.reserved()
        finish.set()
        for _ in range(50):
            if not calls.known("call-1"):
                break
            await asyncio.sleep(0.01)
        return before, refused, during, accepted and not calls.known("call-1")

    before, refused, during, dropped = asyncio.run(scenario())
    assert (before, refused, during, dropped) == (1, False, 0, True)
