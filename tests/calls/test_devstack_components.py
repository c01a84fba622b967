"""The dev-stack components of the calls feature: fake Twilio wiring and the webhook queue consumer."""

from __future__ import annotations

import time

from tests.calls.conftest import WEBHOOK_SECRET, make_assistant, make_number


def test_webhook_queue_component_retries_through_the_chalice_handler(api, org, twilio, receiver, monkeypatch,
                                                                      tmp_path):
    from chalicelib.storage.webhooks import WebhookDeliveryRepository
    from devstack.platform import webhook_queue_component
    from devstack.stack import Stack

    monkeypatch.setenv("WEBHOOK_QUEUE_URL", "")
    monkeypatch.setenv("WEBHOOK_QUEUE_NAME", "dev-webhooks")
    stack = Stack(state_dir=tmp_path)
    component = webhook_queue_component()
    assert component.stop is not None
    component.start(stack)
    try:
        assistant = make_assistant(api, webhook_url=receiver.url(), webhook_secret=WEBHOOK_SECRET,
                                   webhook_events=["status-update"])
        make_number(api, "+14155550180", assistant["id"])
        api.post("/calls/outbound", {"destination": "+31612345678", "assistant_id": assistant["id"]})
        receiver.fail_times = 1
        twilio.progress(list(twilio.calls)[-1], "answered")
        got = receiver.wait_for("status-update", count=2, timeout=8)
        assert [r.status for r in got] == [500, 200]
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            [delivery] = WebhookDeliveryRepository().list(org[0].id)
            if delivery.status == "delivered":
                break
            time.sleep(0.05)
        assert delivery.status == "delivered" and len(delivery.data["attempts"]) == 2
    finally:
        stack.stop_event.set()
        component.stop(stack)


def test_fake_twilio_component_configures_the_app(aws, monkeypatch, tmp_path):
    from devstack.platform import fake_twilio_component
    from devstack.stack import Stack

    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_API_URL", "PUBLIC_BASE_URL"):
        monkeypatch.setenv(name, "")
    monkeypatch.setenv("API_PORT", "8123")
    stack = Stack(state_dir=tmp_path)
    component = fake_twilio_component()
    assert component.stop is not None
    component.start(stack)
    try:
        fake = stack.values["fake_twilio"]
        from chalicelib.settings import get_settings
        from chalicelib.telephony.twilio_client import telephony

        s = get_settings()
        assert s.twilio_api_url == fake.base_url and s.twilio_account_sid == fake.account_sid
        assert s.public_base_url == "http://127.0.0.1:8123" and fake.auto_progress == "answered"
        fake.auto_progress = None
        client = telephony()
        assert client is not None
        sid = client.dial(__import__("chalicelib.telephony.twilio_client", fromlist=["x"]).DialRequest(
            to="+31612345678", from_="+14155550100", twiml="<Response/>",
            status_callback="http://127.0.0.1:8123/twilio/status"))
        assert sid in fake.calls
    finally:
        component.stop(stack)
        from chalicelib.settings import reset_settings

        reset_settings()


def test_call_reaper_component_ends_a_call_whose_media_task_stopped(api, org, twilio, monkeypatch, tmp_path):
    from chalicelib.services import call_reaper
    from chalicelib.services.call_events import call_started
    from devstack.platform import call_reaper_component
    from devstack.stack import Stack

    monkeypatch.setattr(call_reaper, "STALE_AFTER_SECONDS", 0.5)
    monkeypatch.setenv("DEV_REAPER_SECONDS", "")
    assistant = make_assistant(api)
    make_number(api, "+14155550181", assistant["id"])
    call_id = api.post("/calls/outbound", {"destination": "+31612345678", "assistant_id": assistant["id"]}
                       ).data["call_id"]
    call_started(org[0].id, call_id, "http://127.0.0.1:9")  # then no heartbeat ever comes
    stack = Stack(state_dir=tmp_path)
    component = call_reaper_component(interval=0.2)
    assert component.stop is not None
    component.start(stack)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and api.get(f"/calls/{call_id}").data["status"] == "in-progress":
            time.sleep(0.1)
        call = api.get(f"/calls/{call_id}").data
        assert (call["status"], call["end_reason"]) == ("failed", "media_failure")
    finally:
        stack.stop_event.set()
        component.stop(stack)


def test_fake_twilio_component_keeps_an_externally_set_twilio_api_url(monkeypatch, tmp_path):
    from devstack.platform import fake_twilio_component
    from devstack.stack import Stack

    monkeypatch.setenv("TWILIO_API_URL", "http://127.0.0.1:9/twilio-proxy")
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC" + "e" * 32)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "external-token")
    stack = Stack(state_dir=tmp_path)
    component = fake_twilio_component()
    component.start(stack)
    try:
        import os

        assert os.environ["TWILIO_API_URL"] == "http://127.0.0.1:9/twilio-proxy"
        assert os.environ["TWILIO_ACCOUNT_SID"] == "AC" + "e" * 32
        assert stack.dev_env["TWILIO_API_URL"] == "http://127.0.0.1:9/twilio-proxy"
        assert "fake_twilio" not in stack.values
    finally:
        assert component.stop is not None
        component.stop(stack)
