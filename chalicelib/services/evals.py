"""Evals: test suites, test runs, and the eval-run workflow's tasks (docs/evals.md).

A run is a Step Functions execution (``chalicelib/workflows/asl/eval_run.asl.json``): ``run_prepare``
expands the run into items (scenario x attempt x assistant version), a Map state runs each with the
requested concurrency (``scenario_start`` places one real test call, ``scenario_poll`` waits for its
end, runs the deterministic checks and the judge, and stores one result row), and ``run_finish``
summarizes (pass rates, A/B comparison),
completes the run and sends ``test-run.completed``. Results live in their own rows, so concurrent
iterations never write the same item and a retried iteration overwrites only its own result.
"""

from __future__ import annotations

import logging
import time
from functools import lru_cache
from typing import Any

from chalicelib import errors
from chalicelib.jsonvalue import as_list, as_object
from chalicelib.models.common import is_uuid
from chalicelib.models.evals import (
    ACTIVE_RUN,
    EvalRunCreate,
    EvalSuiteCreate,
    EvalSuiteUpdate,
    Prepared,
    RunFailure,
    RunItem,
    RunRef,
    ScenarioState,
    TaskAck,
)
from chalicelib.settings import get_settings
from chalicelib.storage.documents import Document
from chalicelib.storage.evals import ResultRepository, Run, RunRepository, suites
from chalicelib.timeutil import new_id, now_iso

log = logging.getLogger("voice.evals")
SUITE = "Test suite"
FINAL_CALL = ("ended", "failed")
# After the call ends, how long a scenario with structured-data checks waits for the analysis.
ANALYSIS_WAIT_SECONDS = 120


@lru_cache(maxsize=1)
def runs() -> RunRepository:
    return RunRepository()


@lru_cache(maxsize=1)
def results() -> ResultRepository:
    return ResultRepository()


# ====================================================================== suites
def public_suite(doc: Document) -> dict[str, Any]:
    return {"id": doc.id, "org_id": doc.org_id, "name": doc.data.get("name"),
            "assistant_id": doc.data.get("assistant_id"), "description": doc.data.get("description"),
            "scenarios": doc.data.get("scenarios") or [], "created_at": doc.created_at, "updated_at": doc.updated_at}


def _get_suite(org_id: str, suite_id: str) -> Document:
    doc = suites().get(org_id, suite_id) if is_uuid(suite_id) else None
    if doc is None:
        raise errors.NotFound(f"{SUITE} {suite_id} not found.")
    return doc


def _check_assistant(org_id: str, assistant_id: str, param: str = "assistant_id") -> None:
    """Another org's (or an unknown) assistant is a 404, as everywhere."""
    from chalicelib.services.assistants import get_document

    try:
        get_document(org_id, assistant_id)
    except errors.NotFound:
        raise errors.NotFound(f"Assistant {assistant_id} not found.", param=param) from None


def create_suite(org_id: str, body: EvalSuiteCreate) -> dict[str, Any]:
    data = body.dump()
    _check_assistant(org_id, data["assistant_id"])
    now = now_iso()
    doc = Document(org_id, new_id(), data, now, now)
    suites().create(doc)
    return public_suite(doc)


def page_suites(org_id: str, limit: int, offset: int = 0,
                cursor: dict[str, Any] | None = None) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    page = suites().page(org_id, limit, offset, cursor)
    return [public_suite(d) for d in page.items], page.next_cursor


def get_suite(org_id: str, suite_id: str) -> dict[str, Any]:
    return public_suite(_get_suite(org_id, suite_id))


def update_suite(org_id: str, suite_id: str, body: EvalSuiteUpdate) -> dict[str, Any]:
    doc = _get_suite(org_id, suite_id)
    changes = body.dump(exclude_unset=True)
    for key in ("name", "assistant_id", "scenarios"):
        if key in changes and changes[key] is None:
            raise errors.InvalidRequest(f"'{key}' cannot be null.", param=key)
    if "assistant_id" in changes:
        _check_assistant(org_id, changes["assistant_id"])
    doc.data = {**doc.data, **changes}
    doc.updated_at = now_iso()
    if not suites().replace(doc):
        raise errors.NotFound(f"{SUITE} {suite_id} not found.")
    return public_suite(doc)


def delete_suite(org_id: str, suite_id: str) -> None:
    """Runs stay readable by id after their suite is deleted (they carry the suite they ran)."""
    if not is_uuid(suite_id) or not suites().delete(org_id, suite_id):
        raise errors.NotFound(f"{SUITE} {suite_id} not found.")


# ====================================================================== runs
def _version(org_id: str, raw: dict[str, Any], default_assistant: str, param: str) -> dict[str, Any]:
    assistant_id = raw.get("assistant_id") or default_assistant
    _check_assistant(org_id, assistant_id, f"{param}assistant_id")
    return {"assistant_id": assistant_id, "assistant_overrides": raw.get("assistant_overrides") or None}


def public_run(run: Run, *, with_results: bool = True) -> dict[str, Any]:
    d = run.data
    out: dict[str, Any] = {
        "id": run.id, "org_id": run.org_id, "suite_id": run.suite_id, "suite_name": d.get("suite_name"),
        "status": run.status, "assistant_id": as_object(as_object(d.get("versions")).get("a")).get("assistant_id"),
        "versions": d.get("versions") or {}, "concurrency": d.get("concurrency"), "repeat": d.get("repeat"),
        "summary": d.get("summary") or {"passed": 0, "failed": 0, "total": 0, "pass_rate": None},
        "comparison": d.get("comparison"), "error": d.get("error"), "started_at": d.get("started_at"),
        "completed_at": d.get("completed_at"), "created_at": run.created_at, "updated_at": run.updated_at,
    }
    if with_results:
        out["results"] = [r.data for r in results().list(run.org_id, run.id)]
        out["webhook"] = _webhook_view(run)
    return out


def _webhook_view(run: Run) -> dict[str, Any] | None:
    """The test-run.completed delivery of a run with its attempts (None when none was sent)."""
    delivery_id = run.data.get("webhook_delivery_id")
    if not delivery_id:
        return None
    from chalicelib.storage.webhooks import WebhookDeliveryRepository

    d = WebhookDeliveryRepository().get(run.org_id, str(delivery_id))
    if d is None:
        return None
    return {"id": d.id, "status": d.status, "attempts": d.data.get("attempts") or [],
            "last_error": d.data.get("last_error")}


def _get_run(org_id: str, run_id: str) -> Run:
    run = runs().get(org_id, run_id) if is_uuid(run_id) else None
    if run is None:
        raise errors.NotFound(f"Test run {run_id} not found.")
    return run


def start_run(org_id: str, suite_id: str, body: EvalRunCreate) -> dict[str, Any]:
    """Create a queued run of the suite as it is now and start its execution."""
    doc = _get_suite(org_id, suite_id)
    raw = body.dump(exclude_unset=True)
    versions = {"a": _version(org_id, raw, doc.data["assistant_id"], "")}
    if body.compare is not None:
        b = _version(org_id, as_object(raw.get("compare")), versions["a"]["assistant_id"], "compare.")
        if b == versions["a"]:
            raise errors.InvalidRequest("'compare' names the same assistant version as the run; give another "
                                        "assistant_id or assistant_overrides.", param="compare")
        versions["b"] = b
    now = now_iso()
    run = Run(org_id, new_id(), doc.id, "queued", {
        "suite_name": doc.data.get("name"), "scenarios": doc.data.get("scenarios") or [], "versions": versions,
        "concurrency": body.concurrency, "repeat": body.repeat}, now, now)
    runs().create(run)
    from chalicelib.workflows.start import start_eval_run

    arn = start_eval_run(org_id, run.id)
    if arn is None and not get_settings().eval_state_machine_arn:
        runs().set_status(org_id, run.id, "failed", from_statuses=ACTIVE_RUN,
                          data_updates={"error": "this deployment has no eval-run workflow (EVAL_STATE_MACHINE_ARN)"})
    return public_run(_get_run(org_id, run.id))


def get_run(org_id: str, run_id: str) -> dict[str, Any]:
    return public_run(_get_run(org_id, run_id))


def page_runs(org_id: str, suite_id: str, limit: int, offset: int = 0,
              cursor: dict[str, Any] | None = None) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    _get_suite(org_id, suite_id)
    page = runs().page_for_suite(org_id, suite_id, limit, offset, cursor)
    return [public_run(r, with_results=False) for r in page.items], page.next_cursor


# ====================================================================== eval-run tasks
def run_prepare(ref: RunRef) -> Prepared:
    """queued -> running; the Map's items: every scenario x attempt, for each assistant version."""
    run = _get_run(ref.org_id, ref.run_id)
    runs().set_status(ref.org_id, ref.run_id, "running", from_statuses=("queued",),
                      data_updates={"started_at": now_iso()})
    items: list[RunItem] = []
    for variant in sorted(as_object(run.data.get("versions"))):
        for s_index in range(len(as_list(run.data.get("scenarios")))):
            for attempt in range(1, int(run.data.get("repeat") or 1) + 1):
                items.append(RunItem(org_id=run.org_id, run_id=run.id, index=len(items), scenario_index=s_index,
                                     variant=variant, attempt=attempt))  # type: ignore[arg-type]
    return Prepared(org_id=run.org_id, run_id=run.id, items=items, concurrency=int(run.data.get("concurrency") or 1))


def _result_base(item: RunItem, scenario: dict[str, Any], version: dict[str, Any]) -> dict[str, Any]:
    return {"index": item.index, "scenario": scenario.get("name"), "variant": item.variant, "attempt": item.attempt,
            "assistant_id": version.get("assistant_id"), "passed": False, "criteria": [], "checks": [],
            "call_id": None, "duration_seconds": None, "end_reason": None, "latency": None, "error": None}


def _parts(item: RunItem) -> tuple[dict[str, Any], dict[str, Any]]:
    run = _get_run(item.org_id, item.run_id)
    scenario = as_object(as_list(run.data.get("scenarios"))[item.scenario_index])
    return scenario, as_object(as_object(run.data.get("versions")).get(item.variant))


def _store(item: RunItem, result: dict[str, Any]) -> ScenarioState:
    result["passed"] = (result["error"] is None and all(c["passed"] for c in result["checks"])
                        and all(c["passed"] for c in result["criteria"]))
    results().put(item.org_id, item.run_id, item.index, result)
    # ``item`` may already be a ScenarioState: carry only the RunItem fields over.
    return ScenarioState(**item.model_dump(include=set(RunItem.model_fields)), call_id=result["call_id"], done=True,
                         passed=result["passed"])


def scenario_start(item: RunItem) -> ScenarioState:
    """Place the scenario attempt's test call (or record why it cannot run)."""
    from chalicelib.services import eval_caller

    done = results().get(item.org_id, item.run_id, item.index)
    if done is not None:  # a retried iteration: this attempt already ran
        return ScenarioState(**item.model_dump(), call_id=done.data.get("call_id"), done=True,
                             passed=bool(done.data.get("passed")))
    scenario, version = _parts(item)
    result = _result_base(item, scenario, version)
    try:
        call_id = eval_caller.backend().place(item.org_id, item.run_id, item.index, scenario, version)
    except eval_caller.CallerUnavailable as exc:
        result["error"] = str(exc)
        return _store(item, result)
    except errors.UpstreamError:
        raise  # transient: the state machine retries this task (same idempotency key, same call)
    except errors.ApiError as exc:  # refused for good (no number to call from, assistant incomplete ...)
        result["error"] = f"{exc.code}: {exc.message}"
        return _store(item, result)
    deadline = time.time() + get_settings().eval_call_timeout_seconds
    return ScenarioState(**item.model_dump(), call_id=call_id, deadline=deadline)


def _analysis_pending(call: Any) -> bool:
    return "analysis_result" not in call.data and "analysis_error" not in call.data


def scenario_poll(state: ScenarioState) -> ScenarioState:
    """Wait up to ``EVAL_POLL_SECONDS`` for the call to end (and, for structured-data checks, its
    analysis); then evaluate and store the result. Not done yet: the state machine polls again."""
    from chalicelib.services import eval_checks
    from chalicelib.storage.calls import CallRepository

    if state.done or not state.call_id:
        return state
    scenario, version = _parts(state)
    checks = [as_object(c) for c in as_list(scenario.get("expect"))]
    wants_analysis = eval_checks.needs_structured_data(checks)
    repo = CallRepository()
    stop = time.monotonic() + get_settings().eval_poll_seconds
    while True:
        call = repo.get(state.org_id, state.call_id)
        ended = call is not None and call.status in FINAL_CALL
        analysis_due = time.time() < state.deadline + ANALYSIS_WAIT_SECONDS
        if ended and not (wants_analysis and _analysis_pending(call) and analysis_due):
            break
        if call is None or time.time() >= state.deadline + (ANALYSIS_WAIT_SECONDS if ended else 0):
            break
        if time.monotonic() >= stop:
            return state
        time.sleep(0.25)
    result = _result_base(state, scenario, version)
    result["call_id"] = state.call_id
    if call is None or call.status not in FINAL_CALL:
        result["error"] = "the test call did not end in time"
        return _store(state, result)
    data = call.data
    result.update(duration_seconds=data.get("duration_seconds"), end_reason=data.get("end_reason"),
                  latency=eval_checks.latency_summary(data))
    result["checks"] = [eval_checks.run_check(c, data) for c in checks]
    from chalicelib.services.eval_judge import judge

    result["criteria"] = judge(state.org_id, [str(c) for c in as_list(scenario.get("criteria"))],
                               eval_checks.transcript(data))
    if call.status == "failed":
        result["error"] = str(data.get("error") or "the test call failed")
    return _store(state, result)


def summarize(rows: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]] | None]:
    """The run's summary (per attempt, and per scenario and version with pass rates) and, when two
    versions ran, the comparison: per scenario which passed where and the latency difference."""
    from chalicelib.services.eval_checks import percentile

    passed = sum(1 for r in rows if r.get("passed"))
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((str(r.get("scenario")), str(r.get("variant") or "a")), []).append(r)
    per: list[dict[str, Any]] = []
    for (name, variant), rs in groups.items():
        ok = sum(1 for r in rs if r.get("passed"))
        p50s = [float(v) for r in rs if isinstance(v := as_object(r.get("latency")).get("voice_to_voice_p50_ms"),
                                                         (int, float))]
        p50 = percentile(p50s, 50)
        per.append({"scenario": name, "variant": variant, "attempts": len(rs), "passed": ok,
                    "pass_rate": round(ok / len(rs), 4),
                    "voice_to_voice_p50_ms": round(p50) if p50 is not None else None})
    summary = {"passed": passed, "failed": len(rows) - passed, "total": len(rows),
               "pass_rate": round(passed / len(rows), 4) if rows else None, "scenarios": per}
    variants = {v for _, v in groups}
    if variants != {"a", "b"}:
        return summary, None
    by = {(p["scenario"], p["variant"]): p for p in per}
    comparison: list[dict[str, Any]] = []
    keys = ("passed", "attempts", "pass_rate", "voice_to_voice_p50_ms")
    for name in dict.fromkeys(p["scenario"] for p in per):
        a, b = by.get((name, "a")), by.get((name, "b"))
        la, lb = (a or {}).get("voice_to_voice_p50_ms"), (b or {}).get("voice_to_voice_p50_ms")
        comparison.append({"scenario": name,
                           "a": {k: (a or {}).get(k) for k in keys}, "b": {k: (b or {}).get(k) for k in keys},
                           "latency_diff_ms": lb - la if la is not None and lb is not None else None})
    return summary, comparison


def run_finish(ref: RunRef) -> TaskAck:
    """Summarize, complete the run, then send ``test-run.completed`` (once: only the task that
    completed the run sends it)."""
    rows = [r.data for r in results().list(ref.org_id, ref.run_id)]
    summary, comparison = summarize(rows)
    if not runs().set_status(ref.org_id, ref.run_id, "completed", from_statuses=ACTIVE_RUN,
                             data_updates={"summary": summary, "comparison": comparison, "completed_at": now_iso()}):
        return TaskAck(ok=False, detail="already finished")
    from chalicelib.services.eval_webhook import send_run_completed

    run = _get_run(ref.org_id, ref.run_id)
    delivery = send_run_completed(run, public_run(run))
    if delivery is not None:
        runs().set_status(ref.org_id, ref.run_id, "completed", from_statuses=("completed",),
                          data_updates={"webhook_delivery_id": delivery.id})
    return TaskAck(detail=f"{summary['passed']}/{summary['total']} passed")


def run_failed(inp: RunFailure) -> TaskAck:
    """The run itself failed (after retries): keep the error on the run."""
    err = inp.error or {}
    message = f"test run failed: {err.get('Error') or 'unknown error'}"
    log.error("%s (run %s)", message, inp.run_id)
    runs().set_status(inp.org_id, inp.run_id, "failed", from_statuses=ACTIVE_RUN,
                      data_updates={"error": message, "completed_at": now_iso()})
    return TaskAck(detail=message)
