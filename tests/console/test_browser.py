"""The web console in a real browser (Debian's Chromium through Playwright) against the whole dev stack.

Each test saves screenshots of the pages it visits (the `artifacts` fixture prints where).
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.console.conftest import SPOKEN, simulate

pytestmark = pytest.mark.e2e
# page.wait_for_function gets functions, never expression strings: Playwright eval()s a string in the page,
# which the console's CSP (no 'unsafe-eval') refuses.


def _api(devstack: dict[str, str], method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(devstack["BASE_URL"] + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Authorization": f"Bearer {devstack['API_KEY']}",
                                          "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _demo(devstack: dict[str, str]) -> dict[str, str]:
    return json.loads((Path(devstack["STATE_DIR"]) / "demo-org.json").read_text())


def sign_in(page, devstack, artifacts: Path | None = None) -> None:
    page.goto(devstack["CONSOLE_URL"])
    page.get_by_label("API key").fill(devstack["API_KEY"])
    if artifacts is not None:
        page.screenshot(path=artifacts / "01-sign-in.png")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Assistants").wait_for()


def test_sign_in_keeps_the_key_out_of_the_url_and_refuses_a_bad_key(page, devstack, artifacts):
    page.goto(devstack["CONSOLE_URL"])
    page.get_by_label("API key").fill("fl_live_not_a_real_key")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("That API key is not valid.").wait_for()
    page.screenshot(path=artifacts / "01-sign-in-refused.png")
    sign_in(page, devstack, artifacts)
    assert devstack["API_KEY"] not in page.url
    assert page.evaluate("sessionStorage.getItem('voice-console.api-key')") == devstack["API_KEY"]
    # the seeded demo assistant is listed
    page.get_by_role("cell", name=re.compile("Demo receptionist")).wait_for()
    page.screenshot(path=artifacts / "02-assistants.png", full_page=True)


def test_create_an_assistant_through_the_form(page, devstack, artifacts):
    # The form is checked by validators compiled at build time: nothing trips the page's CSP (no 'unsafe-eval').
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    sign_in(page, devstack)
    page.get_by_role("button", name="New assistant").click()
    form = page.get_by_role("form", name="Assistant")
    form.get_by_label("Name", exact=True).fill("Front desk")
    form.get_by_label("First message").fill("Hello, Front desk speaking.")
    form.get_by_label("System prompt").fill("You answer questions about opening hours.")
    form.get_by_label("Max duration (s)").fill("12.5")  # not an integer: the schema refuses it
    form.get_by_label("Speech-to-text").select_option("gladia")
    form.get_by_role("button", name="Create assistant").click()
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "max_duration_seconds" in alert.inner_text()
    page.screenshot(path=artifacts / "03-assistant-form-invalid.png", full_page=True)
    form.get_by_label("Max duration (s)").fill("600")
    form.get_by_role("button", name="Create assistant").click()
    page.get_by_role("heading", name="Front desk").wait_for()
    assistant_id = page.url.rsplit("/", 1)[1]
    status, body = _api(devstack, "GET", f"/assistants/{assistant_id}")
    assert status == 200
    stored = body["assistant"]
    assert (stored["name"], stored["first_message"], stored["max_duration_seconds"]) == (
        "Front desk", "Hello, Front desk speaking.", 600)
    assert stored["stt_config"]["provider"] == "gladia"
    assert stored["llm_config"]["messages"] == [
        {"role": "system", "content": "You answer questions about opening hours."}]
    page.screenshot(path=artifacts / "04-assistant-created.png", full_page=True)
    # duplicate: the form opens pre-filled with "(copy)"
    page.get_by_role("button", name="Duplicate").click()
    page.get_by_role("heading", name="Duplicate assistant").wait_for()
    assert page.get_by_label("Name", exact=True).input_value() == "Front desk (copy)"
    page.get_by_role("button", name="Create assistant").click()
    page.get_by_role("heading", name="Front desk (copy)").wait_for()
    names = sorted(a["name"] for a in _api(devstack, "GET", "/assistants")[1]["assistants"])
    assert names == ["Demo receptionist", "Front desk", "Front desk (copy)"]
    assert violations == []


def test_call_log_and_call_page_of_a_simulated_call(page, devstack, artifacts):
    demo = _demo(devstack)
    result = simulate(devstack, demo["assistant_id"], ["Can I book a cleaning next week?", "Thanks, goodbye"])
    call_id = result["call_id"]
    deadline = time.monotonic() + 60  # recording and analysis land just after the hang-up
    call: dict = {}
    while time.monotonic() < deadline:
        call = _api(devstack, "GET", f"/calls/{call_id}")[1]
        if call.get("recording_url") and call.get("summary"):
            break
        time.sleep(0.5)
    assert call.get("recording_url"), call

    sign_in(page, devstack)
    page.get_by_role("link", name="Calls").click()
    row = page.locator(f"tr[data-call-id='{call_id}']")
    row.wait_for()
    assert "ended" in row.inner_text() and "Demo receptionist" in row.inner_text()
    # the filters are GET /calls' own: each change asks the server again
    with page.expect_request(lambda r: "/api/v1/calls?" in r.url and "direction=inbound" in r.url):
        page.get_by_label("Direction").select_option("inbound")  # the simulated call is outbound
    row.wait_for(state="detached")
    with page.expect_request(lambda r: "direction=outbound" in r.url):
        page.get_by_label("Direction").select_option("outbound")
    row.wait_for()
    with page.expect_request(lambda r: f"assistant_id={demo['assistant_id']}" in r.url):
        page.locator("select[name=assistant]").select_option(label="Demo receptionist")
    row.wait_for()
    assert page.get_by_test_id("calls-total").inner_text() == "1 call"
    page.screenshot(path=artifacts / "05-calls.png", full_page=True)

    row.click()
    page.get_by_role("heading", name=re.compile("Call with Demo receptionist")).wait_for()
    lines = page.get_by_test_id("transcript").locator(".line")
    lines.first.wait_for()
    caller_lines = [line.split("\n", 2)[-1] for line in
                    page.get_by_test_id("transcript").locator(".line.user").all_inner_texts()]
    assert caller_lines == ["Can I book a cleaning next week?", "Thanks, goodbye"]
    # the waveform rendered and the lines were aligned to the recording: each has a start time
    page.wait_for_function("() => document.querySelectorAll('[data-seek]:not([data-seek=\"\"])').length >= 3",
                           timeout=30_000)
    seeks = [float(s) for s in page.locator("[data-seek]").evaluate_all("els => els.map(e => e.dataset.seek)")
             if s]
    assert seeks == sorted(seeks) and seeks[-1] > seeks[0]
    # click the last caller line: the player seeks there
    page.get_by_test_id("transcript").locator(".line.user").last.click()
    target = float(page.get_by_test_id("transcript").locator(".line.user").last.get_attribute("data-seek") or 0)
    page.wait_for_function(f"() => document.querySelector('.player-bar span').textContent.startsWith('{target:.1f}')"
                           f" || parseFloat(document.querySelector('.player-bar span').textContent) >= {target:.1f}")
    page.get_by_role("img", name="Per-turn latency chart").wait_for()
    page.get_by_role("heading", name="Webhook deliveries").wait_for()
    page.screenshot(path=artifacts / "06-call-page.png", full_page=True)


def _wait_call(devstack: dict[str, str], call_id: str, ready, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    call: dict = {}
    while time.monotonic() < deadline:
        call = _api(devstack, "GET", f"/calls/{call_id}")[1]
        if ready(call):
            return call
        time.sleep(0.5)
    raise AssertionError(f"call {call_id} never got there: {call}")


def test_talk_to_an_assistant_from_the_browser(page, devstack, artifacts):
    """Talk: the fake microphone speaks SPOKEN into a browser call; the agent answers in text and audio."""
    from sandbox.registry import RemoteRegistry

    demo = _demo(devstack)
    started: list[str] = []

    def register_the_caller(route) -> None:
        # The sandbox STT gives exact transcripts of what a caller registered for its call (the audio, its
        # timing and energy stay real). The mic loops the sentence, so it is registered a few times.
        response = route.fetch()
        if response.status == 201:
            started.append(response.json()["call_id"])
            RemoteRegistry(devstack["SANDBOX_CONTROL_URL"]).register(started[-1], [SPOKEN] * 6)
        route.fulfill(response=response)

    page.route("**/api/v1/calls/web", register_the_caller)
    sign_in(page, devstack)
    page.get_by_role("cell", name=re.compile("Demo receptionist")).click()
    panel = page.get_by_role("region", name="Talk")
    panel.get_by_role("button", name="Talk", exact=True).click()
    panel.get_by_role("button", name="Hang up").wait_for()
    transcript = page.get_by_test_id("talk-transcript")
    # the greeting, then the caller's sentence (as the STT heard it), then the agent's answer to it
    transcript.locator(".line.assistant", has_text="thanks for calling Acme Dental").wait_for(timeout=30_000)
    answer = f"Got it, you said: {SPOKEN.rstrip('.')}."
    transcript.locator(".line.assistant", has_text=answer).first.wait_for(timeout=30_000)
    assert transcript.locator(".line.user:not(.partial) > div:nth-child(2)").all_inner_texts() == [SPOKEN]
    # the agent's audio reached the page: well over a second of it (greeting plus answer)
    page.wait_for_function("() => Number(document.querySelector('[data-testid=talk-audio]').dataset.bytes) > 64000")
    page.get_by_text(re.compile(r"^\d+ ms$")).first.wait_for()  # a response time per turn was measured
    page.screenshot(path=artifacts / "13-talk.png", full_page=True)
    panel.get_by_role("button", name="Hang up").click()
    panel.get_by_role("button", name="Talk again").wait_for()
    assert len(started) == 1
    call_id = started[0]

    call = _wait_call(devstack, call_id, lambda c: c.get("status") == "ended" and c.get("recording_url"))
    assert (call["direction"], call["end_reason"], call["assistant_id"]) == (
        "web", "customer_hangup", demo["assistant_id"])
    said = [m["content"] for m in call["messages"] if m["role"] == "user"]
    assert said and said[0] == SPOKEN, call["messages"]

    page.get_by_role("link", name="Open the call record").click()
    page.get_by_role("heading", name=re.compile("Call with Demo receptionist")).wait_for()
    page.get_by_test_id("transcript").locator(".line.user", has_text=SPOKEN).first.wait_for()
    page.wait_for_function("() => document.querySelectorAll('[data-seek]:not([data-seek=\"\"])').length >= 2",
                           timeout=30_000)  # the recording's waveform loaded and the lines were placed on it
    page.screenshot(path=artifacts / "14-web-call-record.png", full_page=True)
    page.get_by_role("navigation").get_by_role("link", name="Calls", exact=True).click()
    page.get_by_label("Direction").select_option("web")
    row = page.locator(f"tr[data-call-id='{call_id}']")
    row.wait_for()
    assert "web" in row.inner_text() and "ended" in row.inner_text()


def test_live_view_says_a_line_into_a_live_simulated_call(page, devstack, artifacts):
    demo = _demo(devstack)
    lines = ["Hello there.", "I have a question about my appointment.", "Could you tell me the opening hours?",
             "And do you take new patients?", "Thank you, goodbye"]
    done: dict = {}
    runner = threading.Thread(target=lambda: done.update(simulate(devstack, demo["assistant_id"], lines)),
                              daemon=True)
    sign_in(page, devstack)
    runner.start()
    deadline = time.monotonic() + 60
    live = None
    while time.monotonic() < deadline and live is None:
        calls = _api(devstack, "GET", "/calls?status=in-progress")[1]["calls"]
        live = calls[0]["id"] if calls else None
        time.sleep(0.3)
    assert live, "no call went in progress"
    monitor_events: list[dict] = []

    def follow(ws) -> None:  # what the page's monitor socket receives (text frames: the call's events)
        if "/monitor/" in ws.url:
            ws.on("framereceived", lambda payload: monitor_events.append(json.loads(payload))
                  if isinstance(payload, str) else None)

    page.on("websocket", follow)
    page.goto(devstack["CONSOLE_URL"] + f"#/calls/{live}/live")
    page.get_by_role("heading", name=re.compile("Live:")).wait_for()
    # say first: later in the call the caller talks over it and only its first words are kept
    said = "This is the console speaking, one moment please."
    page.get_by_placeholder("Say something to the caller").fill(said)
    page.get_by_role("button", name="Say", exact=True).click()
    page.get_by_test_id("control-log").get_by_text("Say: sent (200)").wait_for()
    # The monitor socket: the caller's lines appear as they are spoken, then the agent's answers.
    transcript = page.get_by_test_id("live-transcript")
    transcript.locator(".line.user:not(.partial)").first.wait_for(timeout=30_000)
    transcript.locator(".line.assistant", has_text="Got it, you said:").first.wait_for(timeout=30_000)
    heard = transcript.locator(".line.user:not(.partial) > div:nth-child(2)").all_inner_texts()
    assert heard and all(line in lines for line in heard), heard
    status = "document.querySelector('[data-testid=speech-status]').dataset"  # audio received per side, in s
    page.wait_for_function(f"() => Number({status}.agentSeconds) > 0.5 && Number({status}.callerSeconds) > 0.5")
    page.get_by_role("button", name="Listen in").click()
    page.get_by_role("button", name="Stop listening").wait_for()  # the players started
    interims = [e for e in monitor_events if e.get("type") == "transcript" and e["final"] is False]
    assert interims and all(e["role"] == "user" for e in interims), monitor_events
    page.screenshot(path=artifacts / "07-live-view.png", full_page=True)
    runner.join(240)
    call = _api(devstack, "GET", f"/calls/{live}")[1]
    assert said in [m.get("content") for m in call["messages"] if m["role"] in ("assistant", "bot")], call["messages"]


def test_other_pages_render_and_byok_never_shows_a_key(page, devstack, artifacts):
    sign_in(page, devstack)
    for link, heading, shot in [("Campaigns", "Campaigns", "08-campaigns"), ("Numbers", "Phone numbers", "09-numbers"),
                                ("SIP trunks", "SIP trunks", "10-sip-trunks"), ("Usage", "Usage", "12-usage")]:
        page.get_by_role("link", name=link, exact=True).click()
        page.get_by_role("heading", name=heading, exact=True).wait_for()
        if link == "Numbers":
            page.get_by_role("cell", name="+12025550100").wait_for()
        if link == "Usage":  # the chart has drawn: its canvas has painted pixels
            page.wait_for_function("""() => { const c = document.querySelector("canvas[aria-label='Usage per day']");
                const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                for (let i = 3; i < d.length; i += 4) if (d[i]) return true; return false; }""")
        page.screenshot(path=artifacts / f"{shot}.png", full_page=True)

    page.get_by_role("link", name="Provider keys").click()
    secret = "sk-console-test-0123456789abcdef"
    page.get_by_label("mistral API key").fill(secret)
    page.get_by_role("row", name=re.compile("mistral")).get_by_role("button", name="Save").click()
    page.get_by_text("mistral key saved.").wait_for()
    assert page.get_by_label("mistral API key").input_value() == ""
    assert secret not in page.content()
    status, body = _api(devstack, "GET", "/byok")
    assert status == 200 and body["byok_keys"]["mistral_secret_id"]
    page.screenshot(path=artifacts / "11-provider-keys.png", full_page=True)
    page.get_by_role("row", name=re.compile("mistral")).get_by_role("button", name="Remove").click()
    page.get_by_text("mistral key removed.").wait_for()
    assert _api(devstack, "GET", "/byok")[1]["byok_keys"]["mistral_secret_id"] is None


def test_webhook_settings_page_sets_url_events_and_a_write_only_secret(page, devstack, artifacts):
    demo = _demo(devstack)
    sign_in(page, devstack)
    page.get_by_role("navigation").get_by_role("link", name="Webhooks").click()
    page.get_by_role("heading", name="Webhooks", exact=True).wait_for()
    row = page.locator(f"tr[data-assistant-id='{demo['assistant_id']}']")
    row.get_by_role("button", name="Edit").click()
    form = page.get_by_role("form", name="Webhook settings")
    form.get_by_label("Webhook URL").fill("not a url with spaces " * 100)  # over 2048 characters: the schema refuses
    form.get_by_role("button", name="Save webhook settings").click()
    assert "webhook_url" in page.get_by_role("alert").inner_text()
    secret = "whsec_console_test_0123456789"
    form.get_by_label("Webhook URL").fill("https://hooks.example.com/voice")
    form.get_by_label("New secret").fill(secret)
    form.get_by_label("status-update").check()
    form.get_by_label("end-of-call-report").check()
    page.screenshot(path=artifacts / "15-webhooks-edit.png", full_page=True)
    form.get_by_role("button", name="Save webhook settings").click()
    page.get_by_text("Webhook settings of Demo receptionist saved.").wait_for()
    assert "set" == row.locator("td").nth(2).inner_text()
    assert secret not in page.content()
    stored = _api(devstack, "GET", f"/assistants/{demo['assistant_id']}")[1]["assistant"]
    assert (stored["webhook_url"], stored["webhook_secret_set"]) == ("https://hooks.example.com/voice", True)
    assert sorted(stored["webhook_events"]) == ["end-of-call-report", "status-update"]
    assert secret not in json.dumps(stored)
    page.screenshot(path=artifacts / "16-webhooks.png", full_page=True)
