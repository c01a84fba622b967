"""The eval-run state machine (chalicelib/workflows/asl/eval_run.asl.json) in moto with the real task
handlers: Map over scenario attempts and assistant versions, stored results, summary, comparison, and the
signed test-run.completed webhook."""

from __future__ import annotations

import json

from tests.evals.test_evals_api import PERSONA, SCRIPTED
from tests.workflows.conftest import WEBHOOK_SECRET, make_assistant, sfn_client, wait_execution, wait_until


def test_run_without_a_caller_backend_fails_each_attempt_and_completes_with_webhook(api, org, sfn, receiver,
                                                                                     monkeypatch):
    from chalicelib.settings import reset_settings

    monkeypatch.delenv("SANDBOX_CONTROL_URL", raising=False)
    reset_settings()
    a = make_assistant(api, webhook_url=receiver.url(), webhook_events=["test-run.completed"],
                       webhook_secret=WEBHOOK_SECRET)
    b = make_assistant(api, name="Variant B")
    suite = api.post("/test-suites", {"name": "S", "assistant_id": a["id"],
                                      "scenarios": [SCRIPTED, PERSONA]}).data["test_suite"]
    r = api.post(f"/test-suites/{suite['id']}/runs", {"concurrency": 3, "repeat": 2,
                                                       "compare": {"assistant_id": b["id"]}})
    assert r.status_code == 202, r.body
    run_id = r.data["test_run"]["id"]
    assert r.data["test_run"]["status"] in ("queued", "running")

    [execution] = sfn_client().list_executions(stateMachineArn=sfn["eval_run"])["executions"]
    assert execution["name"] == f"eval-{run_id}"
    assert wait_execution(execution["executionArn"], 60)["status"] == "SUCCEEDED"

    run = api.get(f"/test-runs/{run_id}").data["test_run"]
    assert run["status"] == "completed" and run["completed_at"]
    assert len(run["results"]) == 8  # 2 scenarios x 2 attempts x 2 versions
    assert [(x["scenario"], x["variant"], x["attempt"]) for x in run["results"][:2]] == [
        ("Books a cleaning", "a", 1), ("Books a cleaning", "a", 2)]
    assert all(x["passed"] is False and x["call_id"] is None and "no simulated-caller backend" in x["error"]
               for x in run["results"])
    assert {x["assistant_id"] for x in run["results"] if x["variant"] == "b"} == {b["id"]}
    assert (run["summary"]["passed"], run["summary"]["failed"], run["summary"]["pass_rate"]) == (0, 8, 0.0)
    assert {(s["scenario"], s["variant"], s["attempts"]) for s in run["summary"]["scenarios"]} == {
        ("Books a cleaning", "a", 2), ("Books a cleaning", "b", 2), ("Impatient caller", "a", 2),
        ("Impatient caller", "b", 2)}
    assert [c["scenario"] for c in run["comparison"]] == ["Books a cleaning", "Impatient caller"]
    assert run["comparison"][0]["a"]["pass_rate"] == 0.0 and run["comparison"][0]["latency_diff_ms"] is None

    [hook] = wait_until(lambda: receiver.events("test-run.completed"), 10, what="test-run.completed")
    assert hook.signature_valid is True  # signed with the assistant's webhook secret
    message = json.loads(hook.body)["message"]
    assert message["type"] == "test-run.completed"
    assert message["test_run"]["id"] == run_id and message["test_run"]["summary"]["failed"] == 8
    assert len(message["test_run"]["results"]) == 8
    # the delivery is recorded and shown on the run
    webhook = wait_until(lambda: api.get(f"/test-runs/{run_id}").data["test_run"]["webhook"], 10, what="webhook")
    assert webhook["status"] == "delivered" and [x["status_code"] for x in webhook["attempts"]] == [200]
