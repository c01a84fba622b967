"""Ring-time admission (docs/calls.md, "Capacity"): the API asks the media fleet for a slot before a call is
dialed or connected; a task at capacity refuses and the next one is asked; a full fleet refuses the call."""

from __future__ import annotations

import contextlib

import pytest

from chalicelib.storage.calls import CallRepository
from tests.calls.conftest import PUBLIC_BASE, FakeControlServer, make_assistant, make_number, status_of

VOICE_URL = PUBLIC_BASE + "/twilio/voice"
MEDIA_NAME = "media.voice.local"


def _created(twilio) -> list:
    return [r for r in twilio.requests if r.method == "POST" and r.path.endswith("/Calls.json")]


def _outbound(api, setup, **headers):
    return api.post("/calls/outbound", {"destination": "+31612345678", "assistant_id": setup["assistant"]["id"],
                                        "number_id": setup["number"]["id"]}, headers=headers or None)


@pytest.fixture
def two_tasks(twilio, monkeypatch):
    """Two media tasks on the same control port at two addresses, behind one discovery name (like Cloud Map's
    A records): MEDIA_CONTROL_URL names the service, MEDIA_DISCOVERY_HOSTS answers with both addresses."""
    from chalicelib.settings import reset_settings

    with contextlib.ExitStack() as stack:
        first = stack.enter_context(FakeControlServer(host="127.0.0.2"))
        port = int(first.base_url.rsplit(":", 1)[1])
        second = stack.enter_context(FakeControlServer(host="127.0.0.3", port=port))
        monkeypatch.setenv("MEDIA_CONTROL_URL", f"http://{MEDIA_NAME}:{port}")
        monkeypatch.setenv("MEDIA_DISCOVERY_HOSTS", f"{MEDIA_NAME}=127.0.0.2,127.0.0.3")
        reset_settings()
        yield first, second, port


def test_a_full_task_refuses_prepare_and_the_next_task_admits_the_call(api, setup, twilio, two_tasks):
    full, free, port = two_tasks
    full.at_capacity = True
    placed = []
    for _ in range(6):  # the order of the two answers rotates per call, as DNS answers would
        r = _outbound(api, setup)
        assert r.status_code == 200, r.body
        placed.append(r.data["call_id"])
    assert [p["call_id"] for p in free.prepared] == placed  # every call admitted by the task with room
    # The row names the task that accepted (its address, not the service name): a task that gets the
    # stream instead tells that one to release the reservation (docs/media.md, "Greeting store").
    org_id = status_of(api, placed[0])["org_id"]
    rows = [CallRepository().get(org_id, c) for c in placed]
    assert {row.data["prepared_by"] for row in rows if row is not None} == {f"http://127.0.0.3:{port}"}
    assert None not in rows
    assert "prepared_by" not in status_of(api, placed[0])  # an internal address, never returned
    asked_full = [r for r in full.requests if r.path.endswith("/prepare")]
    assert 0 < len(asked_full) < 6  # asked first for some calls, refused them
    # Requests name the service, not the address (virtual-host routing works like DNS would).
    assert {r.headers.get("host") for r in free.requests} == {f"{MEDIA_NAME}:{port}"}
    assert len(_created(twilio)) == 6


def test_outbound_when_every_task_is_full_is_503_with_retry_after_and_nothing_is_dialed(api, setup, twilio,
                                                                                        two_tasks):
    first, second, _ = two_tasks
    first.at_capacity = second.at_capacity = True
    r = _outbound(api, setup, **{"Idempotency-Key": "cap-1"})
    assert r.status_code == 503
    assert r.data == {"error": "capacity_exceeded",
                      "message": "Every media task is at capacity; retry the call shortly."}
    assert r.headers["Retry-After"] == "30"
    assert _created(twilio) == []
    [row] = api.get("/calls").data["calls"]
    assert (row["status"], row["end_reason"], row["error"]) == ("failed", "failed_to_connect", "capacity_exceeded")
    # The refusal is not replayed for the key: once the fleet has room the same request dials.
    second.at_capacity = False
    again = _outbound(api, setup, **{"Idempotency-Key": "cap-1"})
    assert again.status_code == 200, again.body
    assert len(_created(twilio)) == 1 and status_of(api, again.data["call_id"])["status"] == "queued"


def test_unreachable_fleet_does_not_block_calls(api, setup, twilio, monkeypatch):
    """Prepare stays best effort: with no task answering at all (none started yet, network), the call goes
    ahead unprepared, as before admission existed."""
    from chalicelib.settings import reset_settings

    monkeypatch.setenv("MEDIA_CONTROL_URL", "http://127.0.0.1:9")  # discard port: connection refused
    reset_settings()
    r = _outbound(api, setup)
    assert r.status_code == 200, r.body
    assert len(_created(twilio)) == 1


def test_inbound_when_every_task_is_full_hears_busy_and_is_not_connected(api, twilio, control_server):
    assistant = make_assistant(api)
    make_number(api, "+14155550131", assistant["id"])
    control_server.at_capacity = True
    status, xml = twilio.incoming_call(VOICE_URL, "+14155550131", "+31612345678")
    assert status == 200
    assert "<Say>Sorry, all our agents are busy right now." in xml and "<Hangup />" in xml
    assert "<Stream" not in xml and "<Connect" not in xml
    [call] = api.get("/calls").data["calls"]
    assert call["status"] == "failed" and call["end_reason"] == "busy" and call["error"] == "capacity_exceeded"
    # With room again the next call is connected.
    control_server.at_capacity = False
    status, xml = twilio.incoming_call(VOICE_URL, "+14155550131", "+31612345679")
    assert status == 200 and "<Stream" in xml
