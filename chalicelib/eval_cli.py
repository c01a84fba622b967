"""``python -m chalicelib.cli eval run suite.yaml --assistant-id ID``: a suite file run from CI (docs/evals.md).

Creates the suite (or updates the one of the same name), starts a run, polls it, prints a table,
optionally writes JUnit XML, and exits 0 when every scenario attempt passed, 1 when one failed or the
run failed, 2 on bad input. Talks to the REST API only (``--base-url``/``BASE_URL``,
``--api-key``/``API_KEY``), so it works against ``make dev`` and any deployment alike.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, TextIO
from xml.etree import ElementTree as ET


class EvalCliError(Exception):
    """A problem the user can fix (bad file, API refusal); printed without a trace."""


def suite_file_schema() -> dict[str, Any]:
    """JSON schema of a suite file: the API's suite body, with ``assistant_id`` optional (the CLI's
    ``--assistant-id`` gives it). Editors use it through ``docs/evals.schema.json``."""
    from chalicelib.models.evals import EvalSuiteCreate

    schema = EvalSuiteCreate.model_json_schema(by_alias=False)
    schema["required"] = [r for r in schema.get("required", []) if r != "assistant_id"]
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Voice platform test suite"
    return schema


def load_suite(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise EvalCliError(f"cannot read {path}: {exc.strerror}") from None
    if path.suffix.lower() == ".json":
        data = json.loads(text)
    else:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise EvalCliError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise EvalCliError(f"{path} must hold a mapping with name and scenarios")
    return data


class Api:
    def __init__(self, base_url: str, api_key: str, timeout: float = 30):
        self.base, self.key, self.timeout = base_url.rstrip("/"), api_key, timeout

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,  # noqa: S310 - the user's API URL
                                     headers={"Authorization": f"Bearer {self.key}",
                                              "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 - the user's API URL
                return resp.status, json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as exc:
            try:
                return exc.code, json.loads(exc.read() or b"{}")
            except ValueError:
                return exc.code, {}
        except urllib.error.URLError as exc:
            raise EvalCliError(f"cannot reach {self.base}: {exc.reason}") from None

    def ok(self, method: str, path: str, body: Any = None, expect: tuple[int, ...] = (200, 201, 202)) -> Any:
        status, data = self.call(method, path, body)
        if status not in expect:
            raise EvalCliError(f"{method} {path}: HTTP {status} {data.get('error', '')}: {data.get('message', '')}"
                               + (f" ({data['param']})" if data.get("param") else ""))
        return data


def upsert_suite(api: Api, suite: dict[str, Any]) -> dict[str, Any]:
    """Update the suite with the file's name, or create it."""
    cursor: str | None = None
    while True:
        page = api.ok("GET", "/test-suites?limit=1000" + (f"&cursor={urllib.parse.quote(cursor)}" if cursor else ""))
        for existing in page["test_suites"]:
            if existing["name"] == suite["name"]:
                return api.ok("PATCH", f"/test-suites/{existing['id']}", suite)["test_suite"]
        cursor = page.get("next_cursor")
        if not cursor:
            return api.ok("POST", "/test-suites", suite)["test_suite"]


def wait_run(api: Api, run_id: str, timeout: float, poll: float, out: TextIO) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        run = api.ok("GET", f"/test-runs/{run_id}")["test_run"]
        if run["status"] in ("completed", "failed"):
            return run
        progress = f"{run['status']}: {len(run.get('results') or [])} result(s)"
        if progress != last:
            out.write(progress + "\n")
            last = progress
        if time.monotonic() > deadline:
            raise EvalCliError(f"run {run_id} did not finish within {timeout:.0f} s")
        time.sleep(poll)


def table(run: dict[str, Any]) -> str:
    rows = [("scenario", "ver", "try", "result", "v2v p95", "call", "why")]
    for r in run.get("results") or []:
        failed = [c.get("detail") or c.get("type") for c in r.get("checks") or [] if not c.get("passed")]
        failed += [c.get("criterion") for c in r.get("criteria") or [] if not c.get("passed")]
        why = r.get("error") or "; ".join(str(x) for x in failed)
        p95 = (r.get("latency") or {}).get("voice_to_voice_p95_ms")
        rows.append((str(r.get("scenario")), str(r.get("variant")), str(r.get("attempt")),
                     "PASS" if r.get("passed") else "FAIL", f"{p95} ms" if p95 is not None else "-",
                     str(r.get("call_id") or "-"), why[:80]))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    s = run.get("summary") or {}
    lines.append(f"{s.get('passed', 0)} passed, {s.get('failed', 0)} failed (run {run['id']}, {run['status']})")
    for c in run.get("comparison") or []:
        lines.append(f"A/B {c['scenario']}: a {c['a'].get('pass_rate')} vs b {c['b'].get('pass_rate')}, "
                     f"latency difference {c.get('latency_diff_ms')} ms")
    return "\n".join(lines)


def junit(run: dict[str, Any]) -> bytes:
    """JUnit XML: one testsuite per run, one testcase per scenario attempt (failure message = why)."""
    results = run.get("results") or []
    failures = sum(1 for r in results if not r.get("passed"))
    suite = ET.Element("testsuite", name=str(run.get("suite_name") or "test suite"), tests=str(len(results)),
                       failures=str(failures), errors="1" if run["status"] == "failed" else "0")
    for r in results:
        name = f"{r.get('scenario')} [{r.get('variant')} #{r.get('attempt')}]"
        case = ET.SubElement(suite, "testcase", classname=str(run.get("suite_name") or "suite"), name=name,
                             time=str(r.get("duration_seconds") or 0))
        if not r.get("passed"):
            lines = [r["error"]] if r.get("error") else []
            lines += [f"check {c.get('type')}: {c.get('detail')}" for c in r.get("checks") or [] if not c.get("passed")]
            lines += [f"criterion {c.get('criterion')}: {c.get('reasoning')}"
                      for c in r.get("criteria") or [] if not c.get("passed")]
            fail = ET.SubElement(case, "failure", message=(lines[0] if lines else "failed")[:500])
            fail.text = "\n".join(lines)
        out = ET.SubElement(case, "system-out")
        out.text = json.dumps({"call_id": r.get("call_id"), "latency": r.get("latency"),
                               "criteria": r.get("criteria"), "checks": r.get("checks")}, indent=1)
    if run["status"] == "failed":
        ET.SubElement(suite, "error", message=str(run.get("error") or "the run failed"))
    return ET.tostring(suite, encoding="utf-8", xml_declaration=True)


def run_suite(path: Path, *, assistant_id: str | None, base_url: str, api_key: str, junit_path: Path | None,
              concurrency: int | None, repeat: int | None, timeout: float, poll: float,
              out: TextIO | None = None) -> int:
    sink: TextIO = out or sys.stdout
    suite = load_suite(path)
    if assistant_id:
        suite["assistant_id"] = assistant_id
    if not suite.get("assistant_id"):
        raise EvalCliError("no assistant: pass --assistant-id or set assistant_id in the suite file")
    api = Api(base_url, api_key)
    saved = upsert_suite(api, suite)
    body: dict[str, Any] = {}
    if concurrency:
        body["concurrency"] = concurrency
    if repeat:
        body["repeat"] = repeat
    run = api.ok("POST", f"/test-suites/{saved['id']}/runs", body)["test_run"]
    sink.write(f"suite {saved['id']} ({saved['name']}), run {run['id']}\n")
    run = wait_run(api, run["id"], timeout, poll, sink)
    sink.write(table(run) + "\n")
    if junit_path is not None:
        junit_path.write_bytes(junit(run))
    s = run.get("summary") or {}
    return 0 if run["status"] == "completed" and not s.get("failed") and s.get("total") else 1
