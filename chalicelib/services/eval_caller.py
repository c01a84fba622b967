"""Where a scenario's simulated caller is reached: the port and its adapters (docs/evals.md).

A test call is a real platform call (call row, TwiML, media stream, the assistant's whole voice
loop) placed through the outbound service; only its callee is simulated. ``SandboxCallers`` is the
dev stack's backend: the scenario's lines are posted to the sandbox control server for a
fictional +1 202 555 number, and the fake Twilio answers that number with a ``SimulatedCaller``
speaking them over Twilio Media Streams. It refuses to run against Twilio's real API, so a test
call never dials a real phone.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Protocol

from chalicelib import errors
from chalicelib.jsonvalue import as_list, as_object
from chalicelib.settings import get_settings


class CallerUnavailable(Exception):
    """No simulated-caller backend can run this scenario (the scenario fails with this reason)."""


class CallerBackend(Protocol):
    def place(self, org_id: str, run_id: str, index: int, scenario: dict[str, Any],
              version: dict[str, Any]) -> str:
        """Place the scenario's test call; returns its call id."""
        ...


def script_lines(caller: dict[str, Any], max_turns: int) -> list[dict[str, Any]]:
    """The caller's lines as sandbox script lines, with the caller-wide pause and barge-in defaults."""
    out: list[dict[str, Any]] = []
    for raw in as_list(caller.get("lines"))[:max_turns]:
        line = {"text": raw} if isinstance(raw, str) else dict(as_object(raw))
        if caller.get("pause_ms") is not None and "pause_ms" not in line:
            line["pause_ms"] = caller["pause_ms"]
        if caller.get("interrupt_after_ms") is not None and line.get("barge_in_after_ms") is None:
            line["barge_in_after_ms"] = caller["interrupt_after_ms"]
        out.append({k: v for k, v in line.items() if v is not None})
    return out


def scenario_number(run_id: str, index: int) -> str:
    """A fictional number per scenario attempt (the sandbox keys scripts by the dialled number)."""
    digest = int(hashlib.sha256(f"{run_id}:{index}".encode()).hexdigest(), 16)
    return "+1202555" + f"{digest % 10_000:04d}"


@dataclass
class SandboxCallers:
    control_url: str

    def place(self, org_id: str, run_id: str, index: int, scenario: dict[str, Any],
              version: dict[str, Any]) -> str:
        caller = as_object(scenario.get("caller"))
        if caller.get("instructions"):
            raise CallerUnavailable("persona callers (instructions) are not available in this deployment yet")
        to = scenario_number(run_id, index)
        self._post_script(to, script_lines(caller, int(scenario.get("max_turns") or 10)))
        from chalicelib.services.calls import place_outbound_call

        body: dict[str, Any] = {"destination": to, "assistant_id": version["assistant_id"],
                                "metadata": {"test_run_id": run_id, "scenario": scenario.get("name")}}
        if version.get("assistant_overrides"):
            body["assistant_override"] = version["assistant_overrides"]
        # One idempotency key per scenario attempt: a retried task gets the first call back.
        result = place_outbound_call(org_id, body, f"eval:{run_id}:{index}", test_run_id=run_id)
        return str(result["call_id"])

    def _post_script(self, to: str, lines: list[dict[str, Any]]) -> None:
        import requests

        try:
            resp = requests.post(f"{self.control_url.rstrip('/')}/sandbox/scripts",
                                 data=json.dumps({"to": to, "lines": lines}),
                                 headers={"Content-Type": "application/json"}, timeout=10)
        except requests.RequestException as exc:
            raise errors.UpstreamError(f"the sandbox control server is unreachable: {type(exc).__name__}") from exc
        if resp.status_code != 201:
            raise CallerUnavailable(f"the sandbox refused the script: HTTP {resp.status_code} {resp.text[:200]}")


def backend() -> CallerBackend:
    """The deployment's simulated-caller backend (CallerUnavailable when there is none)."""
    s = get_settings()
    if s.sandbox_control_url:
        if not s.twilio_api_url or "twilio.com" in s.twilio_api_url:
            raise CallerUnavailable("the sandbox callers need the fake Twilio (TWILIO_API_URL); refusing to dial "
                                    "fictional numbers through Twilio's real API")
        return SandboxCallers(s.sandbox_control_url)
    raise CallerUnavailable("no simulated-caller backend: run in the dev stack (SANDBOX_CONTROL_URL); web-call "
                            "callers on AWS are not available yet")
