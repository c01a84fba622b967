"""The call-analysis state machine (chalicelib/workflows/asl/call_analysis.asl.json) run by moto's
Step Functions engine with the real task handlers, the real openai SDK against the sandbox fake,
the real webhook delivery against a receiver, and FakeResend for the notification email."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.storage.calls import Call, CallRepository
from chalicelib.timeutil import new_id, now_iso
from sandbox.openai_llm import Reply
from tests.workflows.conftest import PLATFORM_OPENAI_KEY, WEBHOOK_SECRET, wait_execution

TRANSCRIPT = [
    {"role": "system", "content": "You are a dental receptionist."},
    {"role": "assistant", "content": "Hello, Acme Dental, how can I help?"},
    {"role": "user", "content": "I'd like to book a cleaning next Tuesday at 3pm. My name is Jane Doe."},
    {"role": "assistant", "content": "Booked: Tuesday 3pm for Jane Doe."},
    {"role": "user", "content": "Great, bye."},
]
SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}, "booked": {"type": "boolean"},
                                           "day": {"type": "string", "enum": ["monday", "tuesday", "friday"]}},
          "required": ["name", "booked", "day"], "additionalProperties": False}


def make_call(org_id: str, *, receiver=None, messages=None, plan: dict | None = None, duration: int = 125,
              end_reason: str = "customer_hangup", **config: Any) -> Call:
    from chalicelib.services.calls import encrypt_call_secrets

    call_id = new_id()
    cfg: dict[str, Any] = {"name": "Receptionist", "business_name": "Acme Dental",
                           "stt_config": {"provider": "deepgram"}, "llm_config": {"provider": "openai"},
                           "tts_config": {"provider": "elevenlabs", "voice_id": "v"},
                           "analysis_plan": plan if plan is not None else {"min_messages_threshold": 2}, **config}
    data: dict[str, Any] = {"config": cfg, "messages": TRANSCRIPT if messages is None else messages,
                            "duration_seconds": duration, "end_reason": end_reason, "caller_phone": "+31612345678",
                            "assistant_phone": "+14155550100", "started_at": now_iso(), "ended_at": now_iso()}
    if receiver is not None:
        cfg.update(webhook_url=receiver.url(), webhook_events=["end-of-call-report"])
        data["secrets_enc"] = encrypt_call_secrets(org_id, call_id, {"webhook_secret": WEBHOOK_SECRET})
    now = now_iso()
    return CallRepository().create(Call(org_id, call_id, "ended", "inbound", now, now, data=data))


def analyse(org_id: str, call_id: str) -> tuple[dict, Call]:
    from chalicelib.workflows.start import start_call_analysis

    arn = start_call_analysis(org_id, call_id)
    assert arn and arn.endswith(f":call-{call_id}")
    done = wait_execution(arn)
    row = CallRepository().get(org_id, call_id)
    assert row is not None
    return done, row


def balance(org_id: str) -> float:
    from chalicelib.storage.orgs import OrgRepository

    org = OrgRepository().get(org_id)
    assert org is not None
    return org.minutes_balance


def structured_requests(fake) -> list[dict]:
    return [c.body for c in fake.completions if (c.body.get("response_format") or {}).get("type") == "json_schema"]


def test_full_analysis_summary_structured_data_report_usage_and_balance(sfn, openai_fake, receiver, org):
    from chalicelib.storage.usage import UsageRepository

    org_id = org[0].id
    summary = "Jane Doe booked a cleaning for Tuesday at 3pm."
    openai_fake.add_rule(reply=lambda body: Reply(json={"name": "Jane Doe", "booked": True, "day": "tuesday"})
                         if body.get("response_format") else Reply(text=summary))
    plan = {"min_messages_threshold": 2, "structured_data_plan": {
        "enabled": True, "schema": SCHEMA,
        "messages": [{"role": "system", "content": "Extract per schema {{schema}}"},
                     {"role": "user", "content": "Call ({{endedReason}} / {{ended_reason}}):\n{{transcript}}"}]}}
    call = make_call(org_id, receiver=receiver, plan=plan, duration=125)
    before = balance(org_id)

    done, row = analyse(org_id, call.id)

    assert done["status"] == "SUCCEEDED", done
    assert row.data["summary"] == "Jane Doe booked a cleaning for Tuesday at 3pm."
    assert row.data["analysis_result"] == {"name": "Jane Doe", "booked": True, "day": "tuesday"}
    assert row.data.get("analysis_error") is None and not row.data.get("analysis_failures")
    # the structured request: platform key, default model, json_schema response format, placeholders filled
    [req] = structured_requests(openai_fake)
    assert req["model"] == "gpt-4o-mini"
    assert req["response_format"]["json_schema"]["schema"] == SCHEMA
    system, user = req["messages"][0]["content"], req["messages"][1]["content"]
    assert json.loads(system.split("Extract per schema ", 1)[1]) == SCHEMA
    assert user.startswith("Call (customer_hangup / customer_hangup):\nAssistant: Hello, Acme Dental")
    assert "Caller: I'd like to book a cleaning" in user and "You are a dental receptionist" not in user
    assert all(c.headers["authorization"] == f"Bearer {PLATFORM_OPENAI_KEY}" for c in openai_fake.completions)
    # the end-of-call report: signed, with summary, analysis and transcript
    [report] = receiver.wait_for("end-of-call-report")
    assert report.signature_valid is True
    msg = report.message
    assert msg["type"] == "end-of-call-report" and msg["call"]["id"] == call.id
    assert msg["summary"] == "Jane Doe booked a cleaning for Tuesday at 3pm."
    assert msg["analysis"] == {"name": "Jane Doe", "booked": True, "day": "tuesday"}
    assert msg["duration_seconds"] == 125 and len(msg["messages"]) == len(TRANSCRIPT)
    # usage: 125 s -> 3 minutes, cost 3 * price, BYOK flags false (platform keys); balance -3
    [(_, usage)] = list(UsageRepository().iterate(org_id))
    assert usage["call_id"] == call.id and usage["duration_seconds"] == 125 and usage["minutes_used"] == 3
    assert usage["cost"] == pytest.approx(0.30) and usage["byok_llm"] is False
    assert usage["agent_name"] == "Receptionist" and usage["business_name"] == "Acme Dental"
    assert balance(org_id) == pytest.approx(before - 3)
    assert row.data["usage_id"] == usage["id"]


def test_second_start_for_the_same_call_is_rejected_and_bills_once(sfn, openai_fake, org):
    from chalicelib.storage.usage import UsageRepository
    from chalicelib.workflows.start import start_call_analysis

    org_id = org[0].id
    call = make_call(org_id, duration=61)
    before = balance(org_id)
    done, _ = analyse(org_id, call.id)
    assert done["status"] == "SUCCEEDED"
    assert start_call_analysis(org_id, call.id) is None  # same execution name: ExecutionAlreadyExists
    assert len(list(UsageRepository().iterate(org_id))) == 1
    assert balance(org_id) == pytest.approx(before - 2)


def test_below_min_messages_threshold_skips_the_llm_but_reports_and_bills(sfn, openai_fake, receiver, org):
    from chalicelib.storage.usage import UsageRepository

    org_id = org[0].id
    plan = {"min_messages_threshold": 3, "structured_data_plan": {"enabled": True, "schema": SCHEMA}}
    call = make_call(org_id, receiver=receiver, plan=plan, messages=TRANSCRIPT[:3], duration=20)
    done, row = analyse(org_id, call.id)
    assert done["status"] == "SUCCEEDED"
    assert openai_fake.completions == []
    assert row.data["summary"] == "" and row.data["analysis_skipped"].startswith("below min_messages_threshold (2 < 3)")
    assert "analysis_result" not in row.data
    [report] = receiver.wait_for("end-of-call-report")
    assert report.message["summary"] == "" and "analysis" not in report.message
    [(_, usage)] = list(UsageRepository().iterate(org_id))
    assert usage["minutes_used"] == 1


def test_voicemail_call_gets_a_voicemail_summary_without_the_llm(sfn, openai_fake, org):
    org_id = org[0].id
    call = make_call(org_id, end_reason="voicemail", voicemail_message="Please call us back.")
    done, row = analyse(org_id, call.id)
    assert done["status"] == "SUCCEEDED"
    assert row.data["summary"].startswith("Voicemail detected")
    assert "left a message" in row.data["summary"]
    assert openai_fake.completions == []


def test_analysis_template_resolved_by_template_id(sfn, openai_fake, api, org):
    org_id = org[0].id
    r = api.post("/analysis-templates", {"name": "Booking", "schema": SCHEMA,
                                         "system_prompt": "Template system. Schema: {{schema}}",
                                         "user_prompt": "Transcript please: {transcript} ({{ended_reason}})"})
    assert r.status_code == 201, r.body
    template_id = r.data["analysis_template"]["id"]
    plan = {"min_messages_threshold": 2, "structured_data_plan": {"enabled": True, "template_id": template_id}}
    call = make_call(org_id, plan=plan)
    done, row = analyse(org_id, call.id)
    assert done["status"] == "SUCCEEDED"
    [req] = structured_requests(openai_fake)
    assert req["response_format"]["json_schema"]["schema"] == SCHEMA
    assert req["messages"][0]["content"].startswith("Template system. Schema: {")
    assert req["messages"][1]["content"].startswith("Transcript please: Assistant: Hello, Acme Dental")
    assert req["messages"][1]["content"].endswith("(customer_hangup)")
    # the fake answers a schema-conforming example: stored and valid
    assert set(row.data["analysis_result"]) == {"name", "booked", "day"}
    assert row.data.get("analysis_error") is None


def test_missing_template_is_recorded_and_the_rest_still_runs(sfn, openai_fake, receiver, org):
    org_id = org[0].id
    plan = {"min_messages_threshold": 2, "structured_data_plan": {"enabled": True, "template_id": new_id()}}
    call = make_call(org_id, receiver=receiver, plan=plan)
    done, row = analyse(org_id, call.id)
    assert done["status"] == "SUCCEEDED"
    [failure] = row.data["analysis_failures"]
    assert failure["step"] == "structured_data" and failure["error"] == "NotFound"
    assert "not found" in failure["message"]
    assert row.data["summary"]  # the summary step still ran
    assert receiver.wait_for("end-of-call-report")


def test_schema_repair_round_trip_fixes_invalid_json(sfn, openai_fake, org):
    org_id = org[0].id

    def reply(body: dict) -> Reply:
        if not body.get("response_format"):
            return Reply(text="Summary.")
        if "does not match the schema" in json.dumps(body["messages"]):
            return Reply(json={"name": "Jane", "booked": True, "day": "tuesday"})
        return Reply(json={"name": "Jane", "booked": "yes", "day": "someday"})

    openai_fake.add_rule(reply=reply)
    plan = {"min_messages_threshold": 2, "structured_data_plan": {"enabled": True, "schema": SCHEMA}}
    call = make_call(org_id, plan=plan)
    done, row = analyse(org_id, call.id)
    assert done["status"] == "SUCCEEDED"
    assert row.data["analysis_result"] == {"name": "Jane", "booked": True, "day": "tuesday"}
    assert row.data.get("analysis_error") is None
    first, repair = structured_requests(openai_fake)
    assert repair["messages"][-2] == {"role": "assistant",
                                      "content": json.dumps({"name": "Jane", "booked": "yes", "day": "someday"})}
    assert "booked: 'yes' is not of type 'boolean'" in repair["messages"][-1]["content"]


def test_schema_still_invalid_after_repair_is_stored_with_the_validation_error(sfn, openai_fake, org):
    org_id = org[0].id
    openai_fake.add_rule(reply=lambda body: Reply(json={"name": "Jane"}) if body.get("response_format")
                         else Reply(text="Summary."))
    plan = {"min_messages_threshold": 2, "structured_data_plan": {"enabled": True, "schema": SCHEMA}}
    call = make_call(org_id, plan=plan)
    done, row = analyse(org_id, call.id)
    assert done["status"] == "SUCCEEDED"
    assert len(structured_requests(openai_fake)) == 2  # one repair attempt, no more
    assert row.data["analysis_result"] == {"name": "Jane"}
    assert row.data["analysis_error"].startswith("schema validation failed:")
    assert "'booked' is a required property" in row.data["analysis_error"]


def test_org_byok_openai_key_and_configured_model_are_used(sfn, openai_fake, api, org, monkeypatch):
    from chalicelib.settings import reset_settings
    from chalicelib.storage.usage import UsageRepository

    monkeypatch.setenv("ANALYSIS_MODEL", "gpt-4.1-mini")
    reset_settings()
    r = api.post("/byok", {"provider": "openai", "api_key": "sk-org-own-key"})
    assert r.status_code in (200, 201), r.body
    org_id = org[0].id
    call = make_call(org_id)
    done, _ = analyse(org_id, call.id)
    assert done["status"] == "SUCCEEDED"
    [summary] = openai_fake.completions
    assert summary.headers["authorization"] == "Bearer sk-org-own-key"
    assert summary.body["model"] == "gpt-4.1-mini"
    [(_, usage)] = list(UsageRepository().iterate(org_id))
    assert usage["byok_llm"] is True and usage["byok_stt"] is False


def test_webhook_failure_is_retried_by_the_delivery_module_and_recorded(sfn, openai_fake, receiver, org,
                                                                        monkeypatch):
    import boto3

    from chalicelib.settings import reset_settings
    from chalicelib.storage.webhooks import WebhookDeliveryRepository

    url = boto3.client("sqs", region_name="us-east-1").create_queue(QueueName="wf-webhooks")["QueueUrl"]
    monkeypatch.setenv("WEBHOOK_QUEUE_URL", url)
    reset_settings()
    receiver.fail_times = 1
    org_id = org[0].id
    call = make_call(org_id, receiver=receiver)
    done, _ = analyse(org_id, call.id)
    assert done["status"] == "SUCCEEDED"
    [delivery] = [d for d in WebhookDeliveryRepository().for_call(org_id, call.id)]
    assert delivery.event == "end-of-call-report" and delivery.status == "pending"
    assert delivery.data["attempts"][0]["status_code"] == 500
    from chalicelib.webhooks.delivery import retry_delivery

    retried = retry_delivery(org_id, delivery.id)  # what the SQS consumer runs
    assert retried is not None and retried.status == "delivered"
    reports = receiver.wait_for("end-of-call-report", count=2)
    assert [r.status for r in reports] == [500, 200]


def test_notification_email_through_the_verified_resend_domain(sfn, openai_fake, api, org, monkeypatch):
    from chalicelib.settings import reset_settings
    from sandbox.resend import FakeResend

    resend = FakeResend(api_keys={"re_wf_key"}).start()
    try:
        monkeypatch.setenv("RESEND_URL", resend.base_url)
        reset_settings()
        assert api.post("/byok", {"provider": "resend", "api_key": "re_wf_key"}).status_code in (200, 201)
        assert api.post("/domains", {"domain_name": "mail.acme.example"}).status_code in (200, 201)
        api.post("/domains/verify")
        openai_fake.add_rule(contains="book a cleaning", text="Jane booked Tuesday 3pm.")
        org_id = org[0].id
        call = make_call(org_id, notification_email="ops@acme.example")
        done, row = analyse(org_id, call.id)
        assert done["status"] == "SUCCEEDED"
        [email] = resend.emails
        assert email["to"] == ["ops@acme.example"]
        assert email["from"].endswith("@mail.acme.example>")
        assert "Receptionist" in email["subject"]
        assert "Jane booked Tuesday 3pm." in email["text"] and call.id in email["text"]
        assert row.data["notification_id"] == email["id"]
    finally:
        resend.stop()


def test_gdpr_mode_removes_transcript_and_analysis_after_delivery(sfn, openai_fake, receiver, org):
    from chalicelib.storage.usage import UsageRepository

    org_id = org[0].id
    openai_fake.add_rule(contains="book a cleaning", text="Private summary.")
    plan = {"min_messages_threshold": 2, "structured_data_plan": {"enabled": True, "schema": SCHEMA}}
    call = make_call(org_id, receiver=receiver, plan=plan, gdpr_mode=True, duration=30)
    done, row = analyse(org_id, call.id)
    assert done["status"] == "SUCCEEDED"
    [report] = receiver.wait_for("end-of-call-report")
    assert report.message["summary"] == "Private summary." and report.message["messages"]
    for key in ("messages", "summary", "analysis_result"):
        assert row.data.get(key) is None, key
    assert row.data["gdpr_cleaned_at"] and row.data["duration_seconds"] == 30 and row.status == "ended"
    assert len(list(UsageRepository().iterate(org_id))) == 1


def test_openai_outage_is_retried_then_recorded_and_the_report_still_goes_out(sfn, openai_fake, receiver, org):
    org_id = org[0].id
    openai_fake.add_rule(reply=Reply(status=500))
    call = make_call(org_id, receiver=receiver)
    done, row = analyse(org_id, call.id)
    assert done["status"] == "SUCCEEDED"
    [failure] = row.data["analysis_failures"]
    assert failure["step"] == "summarize" and failure["error"] == "UpstreamError"
    # SDK retries (2) x state machine attempts (1 + 2 retries)
    assert len(openai_fake.completions) == 9
    assert receiver.wait_for("end-of-call-report")[0].message["summary"] == ""


def test_unknown_call_fails_the_execution(sfn, org):
    from chalicelib.workflows.start import start_call_analysis

    arn = start_call_analysis(org[0].id, new_id())
    assert arn is not None
    done = wait_execution(arn)
    assert done["status"] == "FAILED" and done.get("error") == "CallAnalysisFailed"
