"""Scenarios end to end through the eval-run workflow (moto Step Functions, real task handlers).

Scripted: a real test call through the outbound service and the twilio SDK to the fake Twilio, which
answers with the sandbox's SimulatedCaller speaking the lines over Twilio Media Streams to the media
server (Pipecat against the sandbox Deepgram, OpenAI and ElevenLabs). Persona: a web call marked with
the run, whose caller the media server runs on request (``POST /calls/{id}/caller``): the persona's LLM
(the OpenAI fake's caller replies) and TTS against the call's socket. The run then checks the stored
calls and judges them."""

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


def test_persona_and_scripted_scenarios_run_in_one_suite_with_the_personas_replies_judged(sandbox, sfn, api, org):
    agent = make_assistant(api, first_message="Hi, thanks for calling Acme Dental.")
    make_number(api, "+14155550143", agent["id"])  # the scripted scenario's caller id
    persona = {"name": "Books a cleaning (persona)",
               "caller": {"instructions": "You are Sam. Ask to 'book a cleaning', and when asked for a time say "
                                          "'Tuesday afternoon works'.", "voice": "caller-voice", "pace": 1.2},
               "max_turns": 5,
               "criteria": ["The assistant repeats 'Tuesday afternoon'", "The assistant mentions 'insurance'"],
               "expect": [{"type": "transcript_contains", "text": "Tuesday afternoon works", "role": "user"},
                          {"type": "transcript_contains", "text": "book a cleaning"},
                          {"type": "no_unanswered_turn"}]}
    scripted = {"name": "Asks the hours", "caller": {"lines": ["What are your opening hours?", "Bye for now"],
                                                     "voice": "f3", "pace": 0.6},
                "criteria": ["The assistant repeats 'opening hours'"]}
    suite = api.post("/test-suites", {"name": "E2E mixed", "assistant_id": agent["id"],
                                      "scenarios": [persona, scripted]}).data["test_suite"]
    run_id = api.post(f"/test-suites/{suite['id']}/runs", {"concurrency": 2}).data["test_run"]["id"]

    run = wait_until(lambda: (r := api.get(f"/test-runs/{run_id}").data["test_run"])["status"]
                     in ("completed", "failed") and r, 150, 0.5, "the test run")
    assert run["status"] == "completed", run
    by_name = {r["scenario"]: r for r in run["results"]}
    result = by_name["Books a cleaning (persona)"]
    assert result["error"] is None, result
    assert [c["passed"] for c in result["checks"]] == [True, True, True], result["checks"]
    assert [c["passed"] for c in result["criteria"]] == [True, False]  # the sandbox judge: quoted phrases said?
    assert result["end_reason"] == "customer_hangup" and result["latency"]["turns"] >= 2

    call = api.get(f"/calls/{result['call_id']}").data
    assert call["test_run_id"] == run_id and call["direction"] == "web"
    users = [m["content"] for m in call["messages"] if m["role"] == "user"]
    assert users[:2] == ["book a cleaning", "Tuesday afternoon works"]
    assert any(m["role"] == "assistant" and "Tuesday afternoon works" in m["content"] for m in call["messages"])
    # The persona spoke with its own voice and pace (the TTS requests of its lines).
    caller_tts = [r for r in sandbox.elevenlabs.http_requests if r["voice_id"] == "caller-voice"]
    assert [r["text"] for r in caller_tts][:2] == ["book a cleaning", "Tuesday afternoon works"]
    assert {r["body"]["voice_settings"]["speed"] for r in caller_tts} == {1.2}

    hours = by_name["Asks the hours"]
    assert hours["error"] is None and hours["passed"] is True, hours
    assert api.get(f"/calls/{hours['call_id']}").data["direction"] == "outbound"
    # The phone-path caller spoke with the espeak-ng voice picked for "f3" at 0.6 times the normal rate.
    from sandbox import audio

    [spoken] = [r for r in sandbox.book.results.values() if r.get("call_id") == hours["call_id"]]
    first = spoken["turns"][0]
    # Audio length, not the wall-clock time of sending it (that stretches on a loaded machine).
    expected = audio.duration_ms(audio.speak("What are your opening hours?", "en-us+f3", speed=0.6))
    normal = audio.duration_ms(audio.speak("What are your opening hours?", "en-us+f3"))
    assert first["audio_ms"] == expected and first["speech_end"] is not None and expected > 1.4 * normal
