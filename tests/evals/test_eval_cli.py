"""``python -m chalicelib.cli eval run`` against the API served over HTTP (Chalice's local server on an
ephemeral port, moto Step Functions running the eval-run workflow with the real task handlers)."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from chalicelib import cli
from chalicelib.eval_cli import suite_file_schema
from tests.workflows.conftest import make_assistant, make_number

ROOT = Path(__file__).resolve().parents[2]
SUITE_YAML = """\
name: Front desk (CI)
scenarios:
  - name: Books a cleaning
    caller:
      lines: ["Hi, can I book a cleaning?", "Thanks, bye!"]
    criteria: ["The assistant mentions 'cleaning'"]
    expect:
      - {type: end_reason, equals: [assistant_hangup, customer_hangup]}
"""


@pytest.fixture
def no_caller_backend(monkeypatch):
    from chalicelib.settings import reset_settings

    monkeypatch.delenv("SANDBOX_CONTROL_URL", raising=False)
    reset_settings()


def test_cli_creates_then_updates_the_suite_runs_it_and_writes_junit(no_caller_backend, http_api, api, org, tmp_path,
                                                                      capsys):
    assistant = make_assistant(api)
    suite_file = tmp_path / "suite.yaml"
    suite_file.write_text(SUITE_YAML)
    junit_file = tmp_path / "out.xml"
    key = org[1]
    argv = ["eval", "run", str(suite_file), "--assistant-id", assistant["id"], "--base-url", http_api,
            "--api-key", key, "--junit", str(junit_file), "--poll", "0.2", "--timeout", "60"]

    # No simulated-caller backend in this deployment: the scenario fails, so the exit code is 1.
    assert cli.main(argv) == 1
    out = capsys.readouterr().out
    assert "Books a cleaning" in out and "FAIL" in out and "0 passed, 1 failed" in out
    suites = api.get("/test-suites").data["test_suites"]
    assert [s["name"] for s in suites] == ["Front desk (CI)"]

    root = ET.parse(junit_file).getroot()  # noqa: S314 - the file this test's CLI run just wrote
    assert (root.tag, root.get("tests"), root.get("failures")) == ("testsuite", "1", "1")
    [case] = root.findall("testcase")
    assert case.get("name") == "Books a cleaning [a #1]"
    failure = case.find("failure")
    assert failure is not None and "no simulated-caller backend" in (failure.get("message") or "")

    # Second run of the same file: the suite is updated in place, not duplicated.
    suite_file.write_text(SUITE_YAML.replace("Thanks, bye!", "Thanks, goodbye!"))
    assert cli.main(argv) == 1
    [suite] = api.get("/test-suites").data["test_suites"]
    assert suite["scenarios"][0]["caller"]["lines"][1] == "Thanks, goodbye!"
    assert len(api.get(f"/test-suites/{suite['id']}/runs").data["test_runs"]) == 2

    # Bad input is exit code 2 with the API's reason.
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nscenarios: []\n")
    assert cli.main(["eval", "run", str(bad), "--assistant-id", assistant["id"], "--base-url", http_api,
                     "--api-key", key]) == 2
    assert "HTTP 400" in capsys.readouterr().err
    assert cli.main(["eval", "run", str(tmp_path / "missing.yaml"), "--base-url", http_api, "--api-key", key]) == 2


PASSING_YAML = """\
name: Front desk (passing)
scenarios:
  - name: Asks about a cleaning
    caller:
      lines: ["Can I book a cleaning?", "Thanks, bye!"]
    criteria: ["The assistant repeats 'book a cleaning'"]
    expect:
      - {type: transcript_contains, text: Acme Dental}
      - {type: no_unanswered_turn}
"""


def test_cli_success_path_runs_real_test_calls_and_exits_zero(sandbox, http_api, api, org, tmp_path, capsys):
    """A passing suite through the whole stack: the CLI over HTTP, the eval-run workflow, a real test
    call to the sandbox's simulated caller, the sandbox judge; exit 0 and a JUnit file without failures."""
    agent = make_assistant(api, first_message="Hi, thanks for calling Acme Dental.")
    make_number(api, "+14155550143", agent["id"])
    suite_file = tmp_path / "suite.yaml"
    suite_file.write_text(PASSING_YAML)
    junit_file = tmp_path / "junit.xml"
    argv = ["eval", "run", str(suite_file), "--assistant-id", agent["id"], "--base-url", http_api,
            "--api-key", org[1], "--junit", str(junit_file), "--poll", "0.5", "--timeout", "120"]

    assert cli.main(argv) == 0, capsys.readouterr()
    out = capsys.readouterr().out
    [row] = [line for line in out.splitlines() if line.startswith("Asks about a cleaning")]
    assert " PASS " in row and " ms " in row  # the voice-to-voice p95 column is filled
    assert "1 passed, 0 failed" in out and "completed" in out
    [suite] = api.get("/test-suites").data["test_suites"]
    assert suite["name"] == "Front desk (passing)" and suite["assistant_id"] == agent["id"]
    [run] = api.get(f"/test-suites/{suite['id']}/runs").data["test_runs"]
    assert run["status"] == "completed" and run["summary"]["passed"] == 1

    root = ET.parse(junit_file).getroot()  # noqa: S314 - the file this test's CLI run just wrote
    assert (root.get("name"), root.get("tests"), root.get("failures"), root.get("errors")) == (
        "Front desk (passing)", "1", "0", "0")
    [case] = root.findall("testcase")
    assert case.get("name") == "Asks about a cleaning [a #1]" and case.find("failure") is None
    detail = json.loads(case.findtext("system-out") or "{}")
    assert detail["call_id"] and [c["passed"] for c in detail["checks"]] == [True, True]
    assert detail["criteria"][0]["passed"] is True
    call = api.get(f"/calls/{detail['call_id']}").data
    assert call["test_run_id"] == run["id"] and call["status"] == "ended"


def test_the_published_suite_schema_is_the_generated_one():
    published = json.loads((ROOT / "docs" / "evals.schema.json").read_text())
    assert published == suite_file_schema()
    assert "assistant_id" not in published["required"] and {"name", "scenarios"} <= set(published["required"])
