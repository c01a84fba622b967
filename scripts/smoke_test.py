"""Deployment smoke test: place one real outbound call through a deployed API and wait for its end.

Needs SMOKE_BASE_URL (the API base, ending in /api/v1), SMOKE_API_KEY, SMOKE_ASSISTANT_ID and
SMOKE_DESTINATION (an E.164 phone you can answer). Without them it says what is missing and exits 2
without calling anything. Exit 0 when the call ended normally, 1 otherwise.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request

REQUIRED = ("SMOKE_BASE_URL", "SMOKE_API_KEY", "SMOKE_ASSISTANT_ID", "SMOKE_DESTINATION")
TIMEOUT_SECONDS = 300.0
FINAL = {"ended", "failed"}


def _request(method: str, url: str, key: str, body: dict[str, object] | None = None) -> dict[str, object]:
    req = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body is not None else None,  # noqa: S310 - the operator's own API URL
                                 headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - the operator's own API URL
        return json.loads(resp.read())


def main(environ: dict[str, str] | None = None) -> int:
    env = dict(os.environ if environ is None else environ)
    missing = [name for name in REQUIRED if not env.get(name)]
    if missing:
        print(f"smoke test not run: set {', '.join(missing)} (see docs/deploy.md, 'Smoke test')", file=sys.stderr)
        return 2
    base, key = env["SMOKE_BASE_URL"].rstrip("/"), env["SMOKE_API_KEY"]
    try:
        placed = _request("POST", base + "/calls/outbound", key,
                          {"destination": env["SMOKE_DESTINATION"], "assistant_id": env["SMOKE_ASSISTANT_ID"]})
        call_id = str(placed["call_id"])
        print(f"call {call_id} placed: {placed.get('status')}")
        deadline = time.monotonic() + TIMEOUT_SECONDS
        call: dict[str, object] = {}
        while time.monotonic() < deadline:
            call = _request("GET", f"{base}/calls/{call_id}", key)
            if call.get("status") in FINAL:
                break
            time.sleep(3)
    except (urllib.error.URLError, OSError, KeyError, ValueError) as exc:
        print(f"smoke test failed: {exc}", file=sys.stderr)
        return 1
    print(f"call {call_id}: status={call.get('status')} end_reason={call.get('end_reason')}")
    return 0 if call.get("status") == "ended" else 1


if __name__ == "__main__":
    sys.exit(main())
