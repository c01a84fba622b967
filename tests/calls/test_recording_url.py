"""recording_url: presigned on read from the stored key (GET, list, end-of-call-report); GDPR cleanup deletes."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from chalicelib.storage.calls import Call, CallRepository
from chalicelib.timeutil import now_iso

BUCKET = "test-call-recordings"
WAV = b"RIFF....WAVEfmt fake recording bytes"


@pytest.fixture
def s3(aws, monkeypatch):
    import boto3

    from chalicelib.services import recordings
    from chalicelib.settings import reset_settings

    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    monkeypatch.setenv("RECORDINGS_BUCKET", BUCKET)
    reset_settings()
    recordings.reset_client()
    yield client
    recordings.reset_client()
    reset_settings()


def make_call(org_id: str, *, recorded: bool, s3=None, **config) -> tuple[str, str | None]:
    call_id = str(uuid.uuid4())
    key = None
    data = {"config": config, "caller_phone": "+31612345678", "end_reason": "customer_hangup"}
    if recorded:
        from chalicelib.services.recordings import upload_wav

        key = upload_wav(org_id, call_id, WAV)
        data["recording_key"] = key
    now = now_iso()
    CallRepository().create(Call(org_id=org_id, id=call_id, status="ended", direction="outbound", created_at=now,
                                 updated_at=now, data=data))
    return call_id, key


def test_get_and_list_presign_the_recording_and_never_show_the_key(api, other_api, org, s3):
    org_id = org[0].id
    call_id, key = make_call(org_id, recorded=True)
    assert key == f"recordings/{org_id}/{call_id}.wav"
    assert key is not None
    stored = s3.head_object(Bucket=BUCKET, Key=key)
    assert stored["ServerSideEncryption"] == "AES256" and stored["ContentType"] == "audio/wav"

    resp = api.get(f"/calls/{call_id}")
    assert resp.status_code == 200
    url = resp.data["recording_url"]
    assert "recording_key" not in resp.data and key not in str({k: v for k, v in resp.data.items()
                                                                   if k != "recording_url"})
    parsed, params = urlparse(url), parse_qs(urlparse(url).query)
    assert parsed.path.endswith(f"/{key}") and BUCKET in parsed.netloc + parsed.path
    assert params["X-Amz-Expires"] == ["3600"] and params["X-Amz-Signature"][0]
    got = requests.get(url, timeout=10)
    assert got.status_code == 200 and got.content == WAV

    # computed on read: never written to the row
    row = CallRepository().get(org_id, call_id)
    assert row is not None and "recording_url" not in row.data

    listed = api.get("/calls").data["calls"]
    assert urlparse(next(c for c in listed if c["id"] == call_id)["recording_url"]).path == parsed.path

    assert other_api.get(f"/calls/{call_id}").status_code == 404


def test_no_recording_is_null_and_expiry_is_a_setting(api, org, s3, monkeypatch):
    from chalicelib.settings import reset_settings

    org_id = org[0].id
    plain_id, _ = make_call(org_id, recorded=False)
    assert api.get(f"/calls/{plain_id}").data["recording_url"] is None

    call_id, _ = make_call(org_id, recorded=True)
    monkeypatch.setenv("RECORDING_URL_EXPIRY_SECONDS", "600")
    reset_settings()
    url = api.get(f"/calls/{call_id}").data["recording_url"]
    assert parse_qs(urlparse(url).query)["X-Amz-Expires"] == ["600"]

    monkeypatch.delenv("RECORDINGS_BUCKET")  # recording switched off for the deployment: no dangling links
    reset_settings()
    assert api.get(f"/calls/{call_id}").data["recording_url"] is None


def test_openapi_documents_recording_url_and_the_assistant_switch(api):
    spec = api.get("/api/v1/openapi.json")
    if spec.status_code != 200:
        spec = api.get("/openapi.json")
    assert spec.status_code == 200
    schemas = spec.data["components"]["schemas"]
    assert schemas["Call"]["properties"]["recording_url"]["type"] == ["string", "null"]
    assert "recording_key" not in schemas["Call"]["properties"]
    text = str(spec.data)
    assert "recording_enabled" in text


def test_assistant_recording_enabled_defaults_true_and_accepts_camel_case(api, other_api):
    created = api.post("/assistants", {"name": "Rec"})
    assert created.status_code == 201 and created.data["assistant"]["recording_enabled"] is True
    assistant_id = created.data["assistant"]["id"]
    off = api.post("/assistants", {"name": "No rec", "recordingEnabled": False})
    assert off.status_code == 201 and off.data["assistant"]["recording_enabled"] is False
    patched = api.patch(f"/assistants/{assistant_id}", {"recording_enabled": False})
    assert patched.status_code == 200
    assert api.get(f"/assistants/{assistant_id}").data["assistant"]["recording_enabled"] is False
    assert api.post("/assistants", {"name": "Bad", "recording_enabled": "maybe"}).status_code == 400
    assert other_api.get(f"/assistants/{assistant_id}").status_code == 404


def test_the_switch_reaches_the_call_config_and_plan(org):
    from chalicelib.services.calls import resolve_assistant
    from media.plan import build_plan

    resolved = resolve_assistant(org[0].id, assistant_id=None, transient={"recording_enabled": False})
    assert resolved.config["recording_enabled"] is False
    default = resolve_assistant(org[0].id, assistant_id=None, transient={})
    assert default.config["recording_enabled"] is True
    data = {"config": {**resolved.config, "llm_config": {"provider": "openai"}}}
    assert build_plan(org[0].id, str(uuid.uuid4()), "outbound", data).recording_enabled is False
    data = {"config": {**default.config, "llm_config": {"provider": "openai"}}}
    assert build_plan(org[0].id, str(uuid.uuid4()), "outbound", data).recording_enabled is True


def test_end_of_call_report_carries_a_longer_lived_url(org, s3):
    from sandbox.webhook_receiver import WebhookReceiver

    with WebhookReceiver() as receiver:
        _end_of_call_report(org, receiver)


def _end_of_call_report(org, receiver):
    from chalicelib.services.calls import get_call
    from chalicelib.webhooks.delivery import emit

    org_id = org[0].id
    hook = {"webhook_url": receiver.url(), "webhook_events": ["end-of-call-report"]}
    call_id, key = make_call(org_id, recorded=True, **hook)
    plain_id, _ = make_call(org_id, recorded=False, **hook)
    for sent_id in (call_id, plain_id):
        sent = emit(org_id, "end-of-call-report", get_call(org_id, sent_id))
        assert sent is not None and sent.status == "delivered"
    by_call = {r.message["call"]["id"]: r.message for r in receiver.events("end-of-call-report")}
    url = by_call[call_id]["recording_url"]
    assert urlparse(url).path.endswith(f"/{key}")
    assert parse_qs(urlparse(url).query)["X-Amz-Expires"] == ["21600"]
    assert requests.get(url, timeout=10).content == WAV
    assert "recording_url" not in by_call[plain_id]
    assert "recording_key" not in str(by_call[call_id])


def test_gdpr_cleanup_deletes_a_recording(org, s3):
    from chalicelib.services.analysis import gdpr_cleanup
    from chalicelib.workflows.events import AnalysisInput

    org_id = org[0].id
    call_id, key = make_call(org_id, recorded=True, gdpr_mode=True)
    keep_id, keep_key = make_call(org_id, recorded=True)
    gdpr_cleanup(AnalysisInput(org_id=org_id, call_id=call_id))
    gdpr_cleanup(AnalysisInput(org_id=org_id, call_id=keep_id))  # not gdpr: untouched
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    assert keys == [keep_key]
    row = CallRepository().get(org_id, call_id)
    assert row is not None
    assert row.data["recording_key"] is None and row.data["gdpr_cleaned_at"]
    gdpr_cleanup(AnalysisInput(org_id=org_id, call_id=call_id))  # a retried step is harmless


def test_recording_url_is_minted_fresh_on_every_read_and_never_stored(api, org, s3):
    import time

    import boto3

    from chalicelib.settings import table_name

    org_id = org[0].id
    call_id, _ = make_call(org_id, recorded=True)
    first = parse_qs(urlparse(api.get(f"/calls/{call_id}").data["recording_url"]).query)
    time.sleep(1.1)  # SigV4 dates have one-second resolution
    second = parse_qs(urlparse(api.get(f"/calls/{call_id}").data["recording_url"]).query)
    assert first["X-Amz-Date"] != second["X-Amz-Date"]
    assert first["X-Amz-Signature"] != second["X-Amz-Signature"]
    assert int(second["X-Amz-Expires"][0]) <= 3600  # short-lived
    # nothing presigned anywhere in the stored row (any attribute), after GET and list reads
    api.get("/calls")
    items = boto3.client("dynamodb").scan(TableName=table_name("calls"))["Items"]  # test-only inspection
    raw = str([i for i in items if i["id"]["S"] == call_id])
    assert "X-Amz-" not in raw and "recording_url" not in raw
