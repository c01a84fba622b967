"""Place a simulated call through the local API and print what happened.

    python -m media.simulate --assistant-id ID --say "Hi, can I book a table?" --say "Thanks, bye!" [--json]

Needs a running ``make dev`` stack without provider keys: the sandbox Twilio answers the outbound call
by launching a simulated caller, which speaks each ``--say`` line (real espeak-ng audio) after the
agent's turn, then hangs up. A line can behave like people do: pause inside it
(``--say "My number is zero six, one two <pause 800ms> three four, five six"``), speak into the
agent's reply (``--say "<after 1s> mhm"`` backchannels or interrupts 1 s into the agent's audio) or
stay silent (``--say "<silence 5s>"``), or make a wordless sound such as a cough
(``--say "<after 1s> <noise 300ms>"``); the sandbox refuses any other ``<mark>``. The script is handed
to the sandbox first (``POST /sandbox/scripts`` on ``SANDBOX_CONTROL_URL``, keyed by the dialled
number); the caller's measurements come back from
``GET /sandbox/results``; agent texts and the end reason come from ``GET /calls/{id}``.

Configuration: ``BASE_URL`` (…/api/v1), ``API_KEY`` and ``SANDBOX_CONTROL_URL`` from the environment,
else from ``$DEV_STATE_DIR/dev.env`` (default ``.local/dev.env``), which ``make dev`` writes.
Output (``--json``): ``{"call_id", "turns": [{"caller", "agent", "voice_to_voice_ms"}], "end_reason",
"greeting"}``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, cast


class SimulateError(RuntimeError):
    pass


def load_config(environ: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if environ is None else environ)
    path = Path(env.get("DEV_STATE_DIR", ".local")) / "dev.env"
    if path.exists():
        for line in path.read_text().splitlines():
            key, sep, value = line.strip().partition("=")
            if sep and not key.startswith("#"):
                env.setdefault(key.strip(), value.strip())
    return env


def _request(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None,
             timeout: float = 15) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,  # noqa: S310 - local dev URLs
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - local dev URLs
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw)
        except ValueError:
            return exc.code, raw.decode(errors="replace")
    except urllib.error.URLError as exc:
        raise SimulateError(f"cannot reach {url}: {exc.reason} (is `make dev` running?)") from exc


def _json_object(value: object) -> dict[str, Any] | None:
    """A decoded JSON body as an object, or None when it is not one (a list, a string, nothing)."""
    return cast("dict[str, Any]", value) if isinstance(value, dict) else None


def agent_texts(messages: list[dict[str, Any]] | None) -> tuple[str, list[str]]:
    """(greeting, agent reply after each user message) from a call's transcript."""
    greeting: list[str] = []
    replies: list[list[str]] = []
    for msg in messages or []:
        role, content = msg.get("role"), msg.get("content") or ""
        if role == "user":
            replies.append([])
        elif role in ("assistant", "bot") and content:
            (replies[-1] if replies else greeting).append(content)
    return " ".join(greeting), [" ".join(r) for r in replies]


def simulate(assistant_id: str, lines: list[str], *, to: str | None = None, number_id: str | None = None,
             config: dict[str, str] | None = None, timeout_s: float | None = None) -> dict[str, Any]:
    cfg = config or load_config()
    base, key, control = cfg.get("BASE_URL"), cfg.get("API_KEY"), cfg.get("SANDBOX_CONTROL_URL")
    if not base or not key:
        raise SimulateError("BASE_URL and API_KEY are not set and no dev.env was found (run `make dev`)")
    if not control:
        raise SimulateError("SANDBOX_CONTROL_URL is not set: the dev stack is not using the sandbox providers")
    base, control = base.rstrip("/"), control.rstrip("/")
    # +1 202-555-01xx is the range reserved for fiction that still validates as E.164.
    to = to or "+1202555" + f"{secrets.randbelow(100):04d}"
    auth = {"Authorization": f"Bearer {key}"}

    status, body = _request("POST", f"{control}/sandbox/scripts", {"to": to, "lines": lines})
    if status != 201:
        raise SimulateError(f"sandbox refused the script: {status} {body}")
    payload: dict[str, Any] = {"destination": to, "assistant_id": assistant_id}
    if number_id:
        payload["number_id"] = number_id
    status, body = _request("POST", f"{base}/calls/outbound", payload, auth)
    created = _json_object(body)
    if status != 200 or created is None or not created.get("call_id"):
        raise SimulateError(f"outbound call failed: {status} {body}")
    call_id: str = created["call_id"]

    deadline = time.monotonic() + (timeout_s or 40 + 20 * len(lines))
    result = None
    while time.monotonic() < deadline:
        status, found = _request("GET", f"{control}/sandbox/results?call_id={urllib.parse.quote(call_id)}")
        if status != 200:
            status, found = _request("GET", f"{control}/sandbox/results?to={urllib.parse.quote(to)}")
        if status == 200:
            result = found
            break
        time.sleep(0.25)
    if result is None:
        raise SimulateError(f"call {call_id}: the simulated caller did not finish in time")

    call: dict[str, Any] = {}
    while time.monotonic() < deadline:  # the call row is finalised just after the hang-up
        status, found = _request("GET", f"{base}/calls/{call_id}", headers=auth)
        call = _json_object(found) or {}
        if status == 200 and call.get("status") in ("ended", "failed", "ended-with-error", "transferred"):
            break
        time.sleep(0.25)
    greeting, replies = agent_texts(call.get("messages"))
    turns: list[dict[str, Any]] = []
    for i, turn in enumerate(result.get("turns") or []):
        v2v = turn.get("voice_to_voice_ms")
        turns.append({"caller": turn.get("caller"), "agent": replies[i] if i < len(replies) else None,
                      "voice_to_voice_ms": round(v2v) if isinstance(v2v, (int, float)) else None})
    end_reason = call.get("end_reason") or result.get("end_reason")
    return {"call_id": call_id, "turns": turns, "end_reason": end_reason, "greeting": greeting or None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m media.simulate", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--assistant-id", required=True)
    parser.add_argument("--say", action="append", default=[],
                        help="a caller line (repeat for more turns); marks: <pause 800ms> and <noise 300ms> "
                        "(a wordless sound) inside, a leading <after 1s> (speak into the agent's audio), "
                        "<silence 5s> alone")
    parser.add_argument("--to", help="number to dial (default: a random +1 202-555-01xx number)")
    parser.add_argument("--number-id", help="caller-id number of the org (default: the API picks one)")
    parser.add_argument("--timeout", type=float, help="seconds to wait for the call to finish")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    lines = args.say or ["Hello, I would like some information please.", "Thank you, goodbye!"]
    try:
        out = simulate(args.assistant_id, lines, to=args.to, number_id=args.number_id, timeout_s=args.timeout)
    except SimulateError as exc:
        print(f"simulate: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"call {out['call_id']}")
    if out.get("greeting"):
        print(f"  agent:  {out['greeting']}")
    for turn in out["turns"]:
        v2v = f"{turn['voice_to_voice_ms']} ms" if turn["voice_to_voice_ms"] is not None else "n/a"
        print(f"  caller: {turn['caller']}")
        print(f"  agent:  {turn['agent'] or '(no transcript)'}   [voice-to-voice {v2v}]")
    print(f"ended: {out['end_reason']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
