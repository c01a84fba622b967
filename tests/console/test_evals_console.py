"""The console's Evals pages in a real browser (Debian's Chromium through Playwright) against the whole
dev stack: a suite made from docs/examples/front-desk.yaml is run with the suite page's Run button (real
test calls: the sandbox's phone caller and a persona on a web call), and the run page shows the verdict, the criteria
with the judge's reasoning, the checks, the transcript and recording, and the link to the call.

Screenshots go to the `artifacts` directory (tests/console/conftest.py prints where).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.console.test_browser import _api, _demo, sign_in

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def test_run_a_suite_from_the_console_and_read_its_verdicts(page, devstack, artifacts):
    demo = _demo(devstack)
    body = yaml.safe_load((ROOT / "docs" / "examples" / "front-desk.yaml").read_text())
    status, created = _api(devstack, "POST", "/test-suites", {**body, "assistant_id": demo["assistant_id"]})
    assert status == 201, created
    suite = created["test_suite"]

    sign_in(page, devstack)
    page.get_by_role("link", name="Evals").click()
    page.get_by_role("heading", name="Evals").wait_for()
    row = page.get_by_role("row", name=re.compile("Front desk \\(example\\)"))
    # The assistant's name replaces its id once the assistants list has loaded (a second request).
    row.get_by_text("Demo receptionist").wait_for(timeout=30_000)
    page.screenshot(path=artifacts / "20-evals-suites.png", full_page=True)

    page.get_by_role("link", name="Front desk (example)").click()
    page.get_by_role("heading", name="Front desk (example)").wait_for()
    page.get_by_role("cell", name="Asks to book a cleaning").wait_for()
    assert "persona" in page.get_by_role("row", name=re.compile("Impatient caller")).inner_text()
    page.get_by_text("No runs yet").wait_for()
    page.get_by_role("button", name="Run").click()

    # The run page: polls until the workflow finished the test call, the checks and the judge.
    page.get_by_role("heading", name=re.compile("Run of Front desk \\(example\\)")).wait_for()
    run_id = page.url.rsplit("/", 1)[1]
    page.get_by_role("heading", name=re.compile("completed")).wait_for(timeout=150_000)
    status, stored = _api(devstack, "GET", f"/test-runs/{run_id}")
    assert status == 200 and stored["test_run"]["suite_id"] == suite["id"]
    result, persona = stored["test_run"]["results"]
    assert result["passed"] is True and persona["passed"] is True, stored["test_run"]["results"]

    card = page.get_by_role("region", name="Result Asks to book a cleaning")
    assert "passed" in card.locator(".page-head").inner_text()
    criteria = card.get_by_role("table", name="Criteria")
    assert criteria.get_by_role("row").count() == 3  # header + two criteria
    first = criteria.get_by_role("row", name=re.compile("greets the caller"))
    assert "sandbox judge: 'Acme Dental' found in the transcript" in first.inner_text()
    checks = card.get_by_role("table", name="Checks")
    assert [checks.get_by_role("row").nth(i).locator("code").inner_text() for i in (1, 2, 3)] == [
        "transcript_contains", "transcript_contains", "no_unanswered_turn"]
    assert "0 caller turn(s) left unanswered" in checks.inner_text()
    link = card.get_by_role("link", name="open call page")
    assert link.get_attribute("href") == f"#/calls/{result['call_id']}"

    persona_card = page.get_by_role("region", name="Result Impatient caller asks about opening hours")
    assert "sandbox judge: 'opening hours' found" in persona_card.get_by_role("table", name="Criteria").inner_text()

    card.get_by_text("Transcript and recording").click()
    card.get_by_text("Hi, can I book a cleaning next week?").wait_for()
    card.get_by_text("Hi, thanks for calling Acme Dental. How can I help?").wait_for()
    page.screenshot(path=artifacts / "21-evals-run.png", full_page=True)

    link.click()
    page.get_by_role("heading", name=re.compile("Call with Demo receptionist")).wait_for()
    status, call = _api(devstack, "GET", f"/calls/{result['call_id']}")
    assert status == 200 and call["test_run_id"] == run_id

    # Back on the suite page the run is listed with its counts.
    page.goto(devstack["CONSOLE_URL"] + f"#/evals/{suite['id']}")
    run_row = page.locator(f"tr[data-run-id='{run_id}']")
    run_row.wait_for()
    assert "completed" in run_row.inner_text() and "100%" in run_row.inner_text()
    assert run_row.locator("td").nth(2).inner_text() == "2"  # passed
    page.screenshot(path=artifacts / "22-evals-suite.png", full_page=True)
