"""A scripted scenario end to end: the eval-run workflow (moto Step Functions, real task handlers) places
a real test call through the outbound service and the twilio SDK to the fake Twilio, which answers with
the sandbox's SimulatedCaller speaking the lines over Twilio Media Streams to the media server (Pipecat
against the sandbox Deepgram, OpenAI and ElevenLabs); the run then checks the stored call and judges it."""

from __future__ import annotations

from tests.workflows.conftest import make_assistant, make_number, wait_execution, wait_until


def test_scripted_scenario_runs_as_a_real_call_and_stores_verdicts(sandbox, sfn, api, org):
    agent = make_assistant(api, first_message="Hi, thanks for calling Acme Dental.")
    make_number(api, "+14155550142", agent["id"])
    scenario = {"name": "Asks about a cleaning",
                "caller": {"lines": ["Can I book a cleaning?", "Thanks, bye!"]},
                "criteria": ["The assistant repeats 'book a cleaning'", "The assistant mentions 'insurance'"],
                "expect": [{"type": "transcript_contains", "text": "Acme Dental"},
                           {"type": "transcript_contains", "text": "book a cleaning", "role": "user"},
                           {"type": "no_unanswered_turn"}]}
    suite = api.post("/test-suites", {"name": "E2E", "assistant_id": agent["id"],
                                      "scenarios": [scenario]}).data["test_suite"]
    run_id = api.post(f"/test-suites/{suite['id']}/runs", {}).data["test_run"]["id"]

    run = wait_until(lambda: (r := api.get(f"/test-runs/{run_id}").data["test_run"])["status"]
                     in ("completed", "failed") and r, 120, 0.5, "the test run")
    assert run["status"] == "completed", run
    [result] = run["results"]
    assert result["error"] is None, result
    assert result["call_id"] and result["end_reason"]
    assert [c["passed"] for c in result["checks"]] == [True, True, True], result["checks"]
    # The sandbox judge: the first criterion's phrase was said, the second's never was.
    assert [c["passed"] for c in result["criteria"]] == [True, False]
    assert result["passed"] is False and run["summary"]["failed"] == 1
    assert result["latency"]["turns"] >= 1

    call = api.get(f"/calls/{result['call_id']}").data
    assert call["test_run_id"] == run_id
    assert any(m["role"] == "user" and "cleaning" in m["content"] for m in call["messages"])
    # The call's analysis ran (summary) but billed nothing: no usage row, balance untouched.
    from chalicelib.storage.orgs import OrgRepository
    from chalicelib.storage.usage import UsageRepository

    analysis = f"{sfn['call_analysis'].replace(':stateMachine:', ':execution:')}:call-{result['call_id']}"
    assert wait_execution(analysis, 60)["status"] == "SUCCEEDED"
    assert list(UsageRepository().iterate(org[0].id)) == []
    org_row = OrgRepository().get(org[0].id)
    assert org_row is not None and org_row.minutes_balance == 100
