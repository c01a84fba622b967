"""A Python client generated from the live document (openapi-python-client, offline) round-trips
an assistant, a tool, an outbound call and a call record without losing a field."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from tests.calls.conftest import make_number
from tests.contract.conftest import wsgi_app

ASSISTANT = {
    "name": "Receptionist", "first_message": "Hello {{name}}!", "webhook_events": ["status-update"],
    "stt_config": {"provider": "deepgram", "model": "nova-3", "language": "en"},
    "llm_config": {"provider": "openai", "model": "gpt-4o-mini",
                   "messages": [{"role": "system", "content": "You help {{name}}."}],
                   "tools": [{"type": "function", "name": "book", "description": "Book a slot", "async": True,
                              "url": "https://hooks.example.test/book",
                              "parameters": {"type": "object", "properties": {"day": {"type": "string"}}}}]},
    "tts_config": {"provider": "elevenlabs", "voice_id": "voice-1"},
    "analysis_plan": {"structured_data_plan": {"enabled": True, "schema": {
        "type": "object", "properties": {"booked": {"type": "boolean"}}, "required": ["booked"]}}},
    "metadata": {"crm_id": "42"},
}


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """Generate the client package from the document (no network: openapi-python-client reads a file)."""
    import app as app_module  # noqa: F401 - registers every endpoint
    from chalicelib.api.openapi import build_spec

    work = tmp_path_factory.mktemp("client")
    (work / "openapi.json").write_text(json.dumps(build_spec()))
    (work / "config.yml").write_text("post_hooks: []\npackage_name_override: voice_client\n")
    exe = Path(sys.executable).with_name("openapi-python-client")
    run = subprocess.run(  # noqa: S603 - our own venv's tool on our own files
        [str(exe), "generate", "--path", "openapi.json", "--config", "config.yml", "--output-path",
         "voice_client", "--meta", "none"], cwd=work, capture_output=True, text=True, timeout=240, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    skipped = [line for line in run.stdout.splitlines() if line.startswith(("Unable", "Cannot", "Invalid"))]
    # The only part a JSON client cannot use is the JavaScript asset of the reference page.
    assert all("application/javascript" in line for line in skipped), skipped
    sys.path.insert(0, str(work))
    try:
        yield importlib.import_module("voice_client")
    finally:
        sys.path.remove(str(work))
        for name in [m for m in sys.modules if m == "voice_client" or m.startswith("voice_client.")]:
            del sys.modules[name]


def _client(generated, client, key):
    return generated.AuthenticatedClient(base_url="http://testserver/api/v1", token=key,
                                         httpx_args={"transport": httpx.WSGITransport(app=wsgi_app(client))})


_DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")


def _norm(value):
    """Compare values, not spellings: the client turns date-times into datetime and back (+00:00, not Z)."""
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_norm(v) for v in value]
    if isinstance(value, str) and _DATETIME.match(value):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value


def _mod(name):
    return importlib.import_module(f"voice_client.{name}")


def test_assistant_and_call_round_trip(generated, client, org, api, twilio):
    c = _client(generated, client, org[1])
    body = _mod("models.assistant_create").AssistantCreate.from_dict(json.loads(json.dumps(ASSISTANT)))
    assert body.to_dict() == ASSISTANT  # the request model keeps schema, async and metadata

    created = _mod("api.assistants.post_assistants").sync_detailed(client=c, body=body)
    assert created.status_code == 201, created.content
    raw = json.loads(created.content)["assistant"]
    assert _norm(created.parsed.to_dict()["assistant"]) == _norm(raw)  # nothing the server sent is lost in the model
    assert raw["analysis_plan"]["structured_data_plan"]["schema"] == ASSISTANT["analysis_plan"][
        "structured_data_plan"]["schema"]
    assert raw["llm_config"]["tools"][0]["async"] is True and raw["metadata"] == {"crm_id": "42"}

    got = _mod("api.assistants.get_assistants_assistant_id").sync_detailed(client=c, assistant_id=raw["id"])
    assert _norm(got.parsed.to_dict()["assistant"]) == _norm(raw)

    make_number(api, "+14155550100", raw["id"])
    outbound = _mod("models.outbound_call_request").OutboundCallRequest.from_dict(
        {"destination": "+31612345678", "assistant_id": raw["id"], "metadata": {"lead": "7"}})
    placed = _mod("api.calls.post_calls_outbound").sync_detailed(client=c, body=outbound)
    assert placed.status_code == 200, placed.content
    assert _norm(placed.parsed.to_dict()) == _norm(json.loads(placed.content))
    call_id = placed.parsed.call_id
    twilio.progress(list(twilio.calls)[-1], "completed")

    record = _mod("api.calls.get_calls_call_id").sync_detailed(client=c, call_id=call_id)
    raw_call = json.loads(record.content)
    assert _norm(record.parsed.to_dict()) == _norm(raw_call)
    assert raw_call["twilio_call_sid"] and raw_call["first_message"]
    assert raw_call["metadata"]["lead"] == "7" and "context" in raw_call and raw_call["status"] == "ended"

    listed = _mod("api.calls.get_calls").sync_detailed(client=c)
    assert _norm(listed.parsed.to_dict()) == _norm(json.loads(listed.content))
