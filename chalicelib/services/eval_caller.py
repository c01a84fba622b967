"""Where a scenario's simulated caller is reached: the port and its adapters (docs/evals.md).

A test call is a real platform call (call row, the assistant's whole voice loop); only the other
party is simulated.

- ``MediaCallers`` (AWS and local; every persona): the call is a web call marked with the run, and a
  media task is asked (``media_client.start_caller``) to run the caller on the call's socket: the
  persona agent (``media.evalcaller``: LLM playing the persona, provider TTS) or the scripted lines.
  No phone number is involved at all.
- ``SandboxCallers`` (dev stack, scripted lines): the lines are posted to the sandbox control server
  for a fictional +1 202 555 number and the call is placed to it through the outbound service and
  TwiML; the fake Twilio answers that number with a ``SimulatedCaller`` speaking them over Twilio Media
  Streams. It refuses to run against Twilio's real API, so a test call never dials a real phone.

``backend()`` picks per scenario by ``EVAL_CALLER_BACKEND`` (``chalicelib.settings``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Protocol

from chalicelib import errors
from chalicelib.jsonvalue import as_list, as_object
from chalicelib.settings import Settings, get_settings


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
            raise CallerUnavailable("the sandbox's phone-path caller speaks scripted lines only")
        to = scenario_number(run_id, index)
        self._post_script(to, script_lines(caller, int(scenario.get("max_turns") or 10)),
                          {k: caller[k] for k in ("voice", "language", "pace") if caller.get(k) is not None})
        from chalicelib.services.calls import place_outbound_call

        body: dict[str, Any] = {"destination": to, "assistant_id": version["assistant_id"],
                                "metadata": {"test_run_id": run_id, "scenario": scenario.get("name")}}
        if version.get("assistant_overrides"):
            body["assistant_override"] = version["assistant_overrides"]
        # One idempotency key per scenario attempt: a retried task gets the first call back.
        result = place_outbound_call(org_id, body, f"eval:{run_id}:{index}", test_run_id=run_id)
        return str(result["call_id"])

    def _post_script(self, to: str, lines: list[dict[str, Any]], voice: dict[str, Any]) -> None:
        import requests

        try:
            resp = requests.post(f"{self.control_url.rstrip('/')}/sandbox/scripts",
                                 data=json.dumps({"to": to, "lines": lines, **voice}),
                                 headers={"Content-Type": "application/json"}, timeout=10)
        except requests.RequestException as exc:
            raise errors.UpstreamError(f"the sandbox control server is unreachable: {type(exc).__name__}") from exc
        if resp.status_code != 201:
            raise CallerUnavailable(f"the sandbox refused the script: HTTP {resp.status_code} {resp.text[:200]}")


@dataclass
class MediaCallers:
    """The caller runs in a media task against the test call's web-call socket (works on AWS)."""

    def place(self, org_id: str, run_id: str, index: int, scenario: dict[str, Any],
              version: dict[str, Any]) -> str:
        from chalicelib.models.media import CallerTurn, RunCaller
        from chalicelib.services import media_client
        from chalicelib.services.web_calls import create_web_call

        caller = as_object(scenario.get("caller"))
        max_turns = int(scenario.get("max_turns") or 10)
        body: dict[str, Any] = {"assistant_id": version["assistant_id"],
                                "metadata": {"test_run_id": run_id, "scenario": scenario.get("name")}}
        if version.get("assistant_overrides"):
            body["assistant_override"] = version["assistant_overrides"]
        web = create_web_call(org_id, body, test_run_id=run_id)
        call_id = str(web["call_id"])
        instructions = caller.get("instructions")
        message = RunCaller(
            call_id=call_id, org_id=org_id, websocket_url=str(web["websocket_url"]), max_turns=max_turns,
            instructions=str(instructions) if instructions else None,
            lines=None if instructions else [CallerTurn.model_validate(x) for x in script_lines(caller, max_turns)],
            voice=caller.get("voice"), language=caller.get("language"), pace=float(caller.get("pace") or 1.0))
        why = media_client.start_caller(message)
        if why is not None:
            # The call never started: fail its row now rather than when its token expires.
            from chalicelib.services.call_events import finalize

            finalize(org_id, call_id, "failed", end_reason="failed_to_connect", error=f"simulated caller: {why}")
            raise CallerUnavailable(f"no media task ran the simulated caller: {why}")
        return call_id


@dataclass
class RoutedCallers:
    """Each scenario to the backend the settings choose for it (``EVAL_CALLER_BACKEND``)."""

    settings: Settings

    def place(self, org_id: str, run_id: str, index: int, scenario: dict[str, Any],
              version: dict[str, Any]) -> str:
        return self.for_scenario(scenario).place(org_id, run_id, index, scenario, version)

    def for_scenario(self, scenario: dict[str, Any]) -> CallerBackend:
        s = self.settings
        persona = bool(as_object(scenario.get("caller")).get("instructions"))
        auto_media = s.eval_caller_backend == "auto" and (persona or not s.sandbox_control_url)
        if s.eval_caller_backend == "media" or auto_media:
            if not s.media_control_url:
                raise CallerUnavailable("no simulated-caller backend: the media callers need MEDIA_CONTROL_URL (the "
                                        "media service's control endpoint)")
            return MediaCallers()
        if persona:
            raise CallerUnavailable("persona callers (instructions) run in a media task: set EVAL_CALLER_BACKEND "
                                    "to auto or media")
        if not s.sandbox_control_url:
            raise CallerUnavailable("EVAL_CALLER_BACKEND=sandbox needs the dev stack's SANDBOX_CONTROL_URL")
        if not s.twilio_api_url or "twilio.com" in s.twilio_api_url:
            raise CallerUnavailable("the sandbox callers need the fake Twilio (TWILIO_API_URL); refusing to dial "
                                    "fictional numbers through Twilio's real API")
        return SandboxCallers(s.sandbox_control_url)


def backend() -> CallerBackend:
    """The deployment's simulated-caller backend: routes each scenario (CallerUnavailable says why not)."""
    return RoutedCallers(get_settings())
