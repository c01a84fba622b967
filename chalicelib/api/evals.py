"""/test-suites, /test-suites/{id}/runs and /test-runs/{id} (docs/evals.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint

from chalicelib.api.framework import ApiRouter, RequestContext
from chalicelib.api.openapi import register_component
from chalicelib.lazy import lazy_module
from chalicelib.models.evals import EvalRunCreate, EvalSuiteCreate, EvalSuiteUpdate

if TYPE_CHECKING:
    from chalicelib.services import evals as svc
else:  # imported on first use: keeps the cold start of every function short
    svc = lazy_module("chalicelib.services.evals")

bp = Blueprint(__name__)
router = ApiRouter(bp, "Evals")
SUITE = {"$ref": "#/components/schemas/TestSuite"}
RUN = {"$ref": "#/components/schemas/TestRun"}
NEXT = {"type": "string", "nullable": True}
PAGE_QUERY = [("limit", "integer", "Page size (default 100, max 1000)"),
              ("offset", "integer", "Items to skip"),
              ("cursor", "string", "next_cursor of the previous page (cheaper than offset)")]


def _register_schemas() -> None:
    register_component("TestSuite", {"type": "object", "properties": {
        "id": {"type": "string", "format": "uuid"}, "name": {"type": "string"},
        "assistant_id": {"type": "string", "format": "uuid"}, "description": {"type": "string", "nullable": True},
        "scenarios": {"type": "array", "items": {"type": "object"},
                      "description": "Scenarios as sent (see the request schema of POST /test-suites)"},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"}}})
    verdict = {"type": "object", "properties": {"criterion": {"type": "string"}, "passed": {"type": "boolean"},
                                                "reasoning": {"type": "string"}}}
    check = {"type": "object", "properties": {"type": {"type": "string"}, "passed": {"type": "boolean"},
                                              "detail": {"type": "string"}}}
    register_component("TestResult", {"type": "object", "properties": {
        "index": {"type": "integer"}, "scenario": {"type": "string"},
        "variant": {"type": "string", "enum": ["a", "b"]}, "attempt": {"type": "integer"},
        "assistant_id": {"type": "string"}, "passed": {"type": "boolean"},
        "criteria": {"type": "array", "items": verdict}, "checks": {"type": "array", "items": check},
        "call_id": {"type": "string", "nullable": True}, "duration_seconds": {"type": "integer", "nullable": True},
        "end_reason": {"type": "string", "nullable": True},
        "latency": {"type": "object", "nullable": True, "properties": {
            "turns": {"type": "integer"}, "voice_to_voice_p50_ms": {"type": "integer", "nullable": True},
            "voice_to_voice_p95_ms": {"type": "integer", "nullable": True}}},
        "error": {"type": "string", "nullable": True}}})
    register_component("TestRun", {"type": "object", "properties": {
        "id": {"type": "string", "format": "uuid"}, "suite_id": {"type": "string", "format": "uuid"},
        "suite_name": {"type": "string"},
        "status": {"type": "string", "enum": ["queued", "running", "completed", "failed"]},
        "assistant_id": {"type": "string", "format": "uuid"},
        "versions": {"type": "object", "description": "a: the run's assistant version; b: the compared one"},
        "concurrency": {"type": "integer"}, "repeat": {"type": "integer"},
        "summary": {"type": "object", "properties": {
            "passed": {"type": "integer"}, "failed": {"type": "integer"}, "total": {"type": "integer"},
            "pass_rate": {"type": "number", "nullable": True},
            "scenarios": {"type": "array", "items": {"type": "object"}}}},
        "comparison": {"type": "array", "nullable": True, "items": {"type": "object"},
                       "description": "Per scenario: a and b pass rates and latency_diff_ms (b - a)"},
        "results": {"type": "array", "items": {"$ref": "#/components/schemas/TestResult"},
                    "description": "GET /test-runs/{id} only"},
        "error": {"type": "string", "nullable": True},
        "webhook": {"type": "object", "nullable": True,
                    "description": "GET /test-runs/{id} only: the test-run.completed delivery (null when not sent)",
                    "properties": {"id": {"type": "string", "format": "uuid"},
                                   "status": {"type": "string", "enum": ["pending", "delivered", "failed"]},
                                   "attempts": {"type": "array", "items": {"type": "object"}},
                                   "last_error": {"type": "string", "nullable": True}}},
        "started_at": {"type": "string", "nullable": True}, "completed_at": {"type": "string", "nullable": True},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"}}})
    register_component("TestRunCompletedEnvelope", {
        "type": "object", "required": ["message"], "description": "Body of the test-run.completed webhook",
        "properties": {"message": {"type": "object", "required": ["type", "timestamp", "test_run"], "properties": {
            "type": {"const": "test-run.completed"},
            "timestamp": {"type": "string", "format": "date-time", "description": "When the run completed"},
            "test_run": {"allOf": [RUN], "properties": {"results_omitted": {
                "const": True, "description": "Present when the results would make the body larger than 300 KB: "
                                              "read them from GET /test-runs/{id}"}}}}}}})


_register_schemas()


@router.route("/test-suites", "GET", summary="List test suites (oldest first)", query=PAGE_QUERY,
              response_schema={"test_suites": {"type": "array", "items": SUITE}, "next_cursor": NEXT})
def list_suites(ctx: RequestContext) -> dict[str, Any]:
    page = ctx.page()
    items, nxt = svc.page_suites(ctx.org_id, page.limit, page.offset, page.cursor)
    return {"test_suites": items, "next_cursor": page.next_cursor(nxt)}


@router.route("/test-suites", "POST", status=201, summary="Create a test suite (scenarios for simulated calls)",
              request_model=EvalSuiteCreate, response_schema={"test_suite": SUITE})
def create_suite(ctx: RequestContext) -> dict[str, Any]:
    return {"test_suite": svc.create_suite(ctx.org_id, ctx.parse(EvalSuiteCreate))}


@router.route("/test-suites/{suite_id}", "GET", summary="Get a test suite", response_schema={"test_suite": SUITE})
def get_suite(ctx: RequestContext) -> dict[str, Any]:
    return {"test_suite": svc.get_suite(ctx.org_id, ctx.path_params["suite_id"])}


@router.route("/test-suites/{suite_id}", "PATCH", summary="Update a test suite (top-level fields replace)",
              request_model=EvalSuiteUpdate, response_schema={"test_suite": SUITE})
def update_suite(ctx: RequestContext) -> dict[str, Any]:
    body = ctx.parse(EvalSuiteUpdate)
    return {"test_suite": svc.update_suite(ctx.org_id, ctx.path_params["suite_id"], body)}


@router.route("/test-suites/{suite_id}", "DELETE", summary="Delete a test suite (its runs stay readable)",
              response_schema={"success": {"type": "boolean"}})
def delete_suite(ctx: RequestContext) -> dict[str, Any]:
    svc.delete_suite(ctx.org_id, ctx.path_params["suite_id"])
    return {"success": True}


@router.route("/test-suites/{suite_id}/runs", "POST", status=202,
              summary="Run a test suite (each scenario is a real call to a simulated caller)",
              request_model=EvalRunCreate, response_schema={"test_run": RUN})
def start_run(ctx: RequestContext) -> dict[str, Any]:
    raw = ctx.json(required=False)
    body = ctx.parse(EvalRunCreate, {} if raw is None else raw)  # every field is optional: no body is fine
    return {"test_run": svc.start_run(ctx.org_id, ctx.path_params["suite_id"], body)}


@router.route("/test-suites/{suite_id}/runs", "GET", summary="List a suite's runs (oldest first, without results)",
              query=PAGE_QUERY, response_schema={"test_runs": {"type": "array", "items": RUN}, "next_cursor": NEXT})
def list_runs(ctx: RequestContext) -> dict[str, Any]:
    page = ctx.page()
    items, nxt = svc.page_runs(ctx.org_id, ctx.path_params["suite_id"], page.limit, page.offset, page.cursor)
    return {"test_runs": items, "next_cursor": page.next_cursor(nxt)}


@router.route("/test-runs/{run_id}", "GET", summary="Get a test run with its per-scenario results",
              response_schema={"test_run": RUN})
def get_run(ctx: RequestContext) -> dict[str, Any]:
    return {"test_run": svc.get_run(ctx.org_id, ctx.path_params["run_id"])}
