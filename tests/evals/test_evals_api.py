"""/test-suites and /test-runs: validation, paging, tenant isolation, stored rows (docs/evals.md)."""

from __future__ import annotations

import json

import pytest

from tests.workflows.conftest import make_assistant

SCRIPTED = {"name": "Books a cleaning", "caller": {"lines": ["Hi, can I book a cleaning?", {"text": "Thanks, bye!",
                                                                                             "pause_ms": 400}]},
            "max_turns": 4, "criteria": ["The assistant mentions 'cleaning'"],
            "expect": [{"type": "end_reason", "equals": ["assistant_hangup", "customer_hangup"]},
                       {"type": "tool_called", "name": "endCall", "arguments_schema": {"type": "object"}},
                       {"type": "transcript_contains", "text": "cleaning"},
                       {"type": "voice_to_voice_p95_below_ms", "ms": 2000}, {"type": "no_unanswered_turn"}]}
PERSONA = {"name": "Impatient caller", "caller": {"instructions": "You are in a hurry and want a slot today.",
                                                  "voice": "en-us", "pace": 1.3, "interrupt_after_ms": 800},
           "criteria": ["The assistant offers a time slot"]}


@pytest.fixture
def assistant(api):
    return make_assistant(api)


def suite_body(assistant_id: str, **fields) -> dict:
    return {"name": "Front desk", "assistant_id": assistant_id, "scenarios": [SCRIPTED, PERSONA], **fields}


def test_create_get_update_delete_suite(api, assistant):
    r = api.post("/test-suites", suite_body(assistant["id"]))
    assert r.status_code == 201, r.body
    suite = r.data["test_suite"]
    assert suite["name"] == "Front desk" and suite["assistant_id"] == assistant["id"]
    assert [s["name"] for s in suite["scenarios"]] == ["Books a cleaning", "Impatient caller"]
    assert suite["scenarios"][0]["caller"]["lines"][1] == {"text": "Thanks, bye!", "pause_ms": 400,
                                                           "barge_in_after_ms": None, "dtmf": None}
    assert suite["scenarios"][1]["max_turns"] == 10  # the default, stored
    got = api.get(f"/test-suites/{suite['id']}")
    assert got.status_code == 200 and got.data["test_suite"] == suite

    r = api.patch(f"/test-suites/{suite['id']}", {"name": "Front desk v2", "scenarios": [SCRIPTED]})
    assert r.status_code == 200, r.body
    assert r.data["test_suite"]["name"] == "Front desk v2" and len(r.data["test_suite"]["scenarios"]) == 1
    assert api.get(f"/test-suites/{suite['id']}").data["test_suite"]["name"] == "Front desk v2"

    assert api.delete(f"/test-suites/{suite['id']}").data == {"success": True}
    assert api.get(f"/test-suites/{suite['id']}").status_code == 404
    assert api.delete(f"/test-suites/{suite['id']}").status_code == 404


@pytest.mark.parametrize(("change", "param"), [
    ({"scenarios": []}, "scenarios"),
    ({"scenarios": [{**SCRIPTED, "caller": {}}]}, "scenarios[0].caller"),
    ({"scenarios": [{**SCRIPTED, "caller": {"lines": ["hi"], "instructions": "x"}}]}, "scenarios[0].caller"),
    ({"scenarios": [{**SCRIPTED, "expect": [{"type": "tool_calld", "name": "x"}]}]}, "scenarios[0].expect[0]"),
    ({"scenarios": [{**SCRIPTED, "max_turns": 0}]}, "scenarios[0].max_turns"),
    ({"scenarios": [SCRIPTED, SCRIPTED]}, "scenarios"),
    ({"scenarios": [{**SCRIPTED, "critera": []}]}, "scenarios[0].critera"),
    ({"name": ""}, "name"),
])
def test_invalid_suites_are_400_naming_the_field(api, assistant, change, param):
    r = api.post("/test-suites", {**suite_body(assistant["id"]), **change})
    assert r.status_code == 400, r.body
    assert r.data["error"] in ("invalid_request", "missing_field")
    assert r.data.get("param", "").startswith(param) or any(param in d for d in r.data.get("details", [])), r.data


def test_unknown_or_other_orgs_assistant_is_404(api, other_api, assistant):
    theirs = make_assistant(other_api)
    r = api.post("/test-suites", suite_body(theirs["id"]))
    assert r.status_code == 404 and r.data["error"] == "not_found"
    suite = api.post("/test-suites", suite_body(assistant["id"])).data["test_suite"]
    assert api.patch(f"/test-suites/{suite['id']}", {"assistant_id": theirs["id"]}).status_code == 404
    assert api.post(f"/test-suites/{suite['id']}/runs", {"assistant_id": theirs["id"]}).status_code == 404
    assert api.post(f"/test-suites/{suite['id']}/runs", {"compare": {"assistant_id": theirs["id"]}}).status_code == 404


def test_another_orgs_suite_and_run_are_404_everywhere(api, other_api, assistant):
    suite = api.post("/test-suites", suite_body(assistant["id"])).data["test_suite"]
    run = api.post(f"/test-suites/{suite['id']}/runs").data["test_run"]
    sid, rid = suite["id"], run["id"]
    for method, path, body in [("get", f"/test-suites/{sid}", None), ("patch", f"/test-suites/{sid}", {"name": "x"}),
                               ("delete", f"/test-suites/{sid}", None), ("post", f"/test-suites/{sid}/runs", {}),
                               ("get", f"/test-suites/{sid}/runs", None), ("get", f"/test-runs/{rid}", None)]:
        r = getattr(other_api, method)(path, body) if body is not None else getattr(other_api, method)(path)
        assert r.status_code == 404, (method, path, r.body)
        assert r.data["error"] == "not_found"
    assert other_api.get("/test-suites").data["test_suites"] == []
    assert api.get(f"/test-suites/{sid}").status_code == 200  # untouched


def test_list_suites_pages_by_limit_offset_and_cursor(api, assistant):
    ids = [api.post("/test-suites", suite_body(assistant["id"], name=f"S{i}")).data["test_suite"]["id"]
           for i in range(4)]
    first = api.get("/test-suites?limit=3").data
    assert [s["id"] for s in first["test_suites"]] == ids[:3] and first["next_cursor"]
    assert [s["id"] for s in api.get(f"/test-suites?cursor={first['next_cursor']}").data["test_suites"]] == ids[3:]
    assert [s["id"] for s in api.get("/test-suites?limit=2&offset=1").data["test_suites"]] == ids[1:3]
    assert api.get("/test-suites?limit=0").status_code == 400


def test_run_is_accepted_with_its_snapshot_and_listed_with_the_suite(api, assistant):
    suite = api.post("/test-suites", suite_body(assistant["id"])).data["test_suite"]
    other = make_assistant(api, name="Variant B")
    r = api.post(f"/test-suites/{suite['id']}/runs", {"concurrency": 2, "repeat": 3,
                                                       "compare": {"assistant_id": other["id"]}})
    assert r.status_code == 202, r.body
    run = r.data["test_run"]
    # No eval workflow in this deployment (no EVAL_STATE_MACHINE_ARN): the run says so instead of hanging.
    assert run["status"] == "failed" and "EVAL_STATE_MACHINE_ARN" in run["error"]
    assert run["versions"] == {"a": {"assistant_id": assistant["id"], "assistant_overrides": None},
                               "b": {"assistant_id": other["id"], "assistant_overrides": None}}
    assert (run["concurrency"], run["repeat"], run["results"]) == (2, 3, [])
    assert api.get(f"/test-runs/{run['id']}").data["test_run"]["id"] == run["id"]
    listed = api.get(f"/test-suites/{suite['id']}/runs").data
    assert [x["id"] for x in listed["test_runs"]] == [run["id"]] and "results" not in listed["test_runs"][0]
    # Editing the suite later does not change what the run ran.
    api.patch(f"/test-suites/{suite['id']}", {"scenarios": [PERSONA]})
    from chalicelib.storage.evals import RunRepository

    stored = RunRepository().get(run["org_id"], run["id"])
    assert stored is not None and [s["name"] for s in stored.data["scenarios"]] == ["Books a cleaning",
                                                                                    "Impatient caller"]


@pytest.mark.parametrize(("body", "param"), [
    ({"concurrency": 0}, "concurrency"), ({"repeat": 21}, "repeat"), ({"compare": {}}, "compare"),
    ({"assistant_id": "nope"}, "assistant_id"), ({"parallel": 2}, "parallel"),
])
def test_invalid_run_requests_are_400(api, assistant, body, param):
    suite = api.post("/test-suites", suite_body(assistant["id"])).data["test_suite"]
    r = api.post(f"/test-suites/{suite['id']}/runs", body)
    assert r.status_code == 400, r.body
    assert r.data.get("param", "").startswith(param) or any(param in d for d in r.data.get("details", []))


def test_runs_of_a_suite_page_with_a_cursor_bound_to_that_suite(api, assistant):
    suite = api.post("/test-suites", suite_body(assistant["id"])).data["test_suite"]
    other = api.post("/test-suites", suite_body(assistant["id"], name="Other")).data["test_suite"]
    ids = [api.post(f"/test-suites/{suite['id']}/runs").data["test_run"]["id"] for _ in range(3)]
    api.post(f"/test-suites/{other['id']}/runs")
    page = api.get(f"/test-suites/{suite['id']}/runs?limit=2").data
    assert [x["id"] for x in page["test_runs"]] == ids[:2] and page["next_cursor"]
    rest = api.get(f"/test-suites/{suite['id']}/runs?cursor={page['next_cursor']}").data
    assert [x["id"] for x in rest["test_runs"]] == ids[2:] and rest["next_cursor"] is None
    assert api.get(f"/test-suites/{other['id']}/runs?cursor={page['next_cursor']}").status_code == 400


def test_evals_in_openapi(client):
    doc = json.loads(client.http.get("/api/v1/openapi.json").body)
    paths = doc["paths"]
    assert {"get", "post"} <= set(paths["/test-suites"])
    assert {"get", "patch", "delete"} <= set(paths["/test-suites/{suite_id}"])
    assert {"get", "post"} <= set(paths["/test-suites/{suite_id}/runs"])
    assert "202" in paths["/test-suites/{suite_id}/runs"]["post"]["responses"]
    assert "get" in paths["/test-runs/{run_id}"]
    for name in ("TestSuite", "TestRun", "TestResult"):
        assert name in doc["components"]["schemas"], name
