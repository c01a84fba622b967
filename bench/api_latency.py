"""Per-endpoint handler latency (p50/p99) against in-process moto, and DynamoDB calls per request.

    .venv/bin/python bench/api_latency.py [--iterations 200] [--items 50]

Requests go through chalice.test.Client (the full handler path: auth, rate limit, validation,
service, storage) into moto's in-process DynamoDB. DynamoDB calls are counted with a botocore
``before-call.dynamodb`` hook registered for every botocore session (pynamodb creates its own
sessions, so the hook joins botocore's built-in handler list, which each new session installs).
Prints a table; asserts nothing. Goal: a GET by id makes at most 3 calls (auth + rate limit + read), no Scan.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import ddbcalls  # noqa: E402

ddbcalls.offline_aws_env(RATE_LIMIT_PER_MINUTE="100000000")
from ddbcalls import pct  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--items", type=int, default=50, help="assistants in the org for the list endpoint")
    args = parser.parse_args()
    ddbcalls.install(os.environ["TABLE_PREFIX"])

    from chalice.test import Client
    from moto import mock_aws

    from devstack import gateway

    gateway.install()
    with mock_aws():
        from chalicelib.services.orgs import create_org
        from chalicelib.storage.tables import create_tables

        create_tables()
        import app as app_module

        org, key = create_org("Bench", None, minutes_balance=100)
        auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        with Client(app_module.app) as client:

            def call(method: str, path: str, body: dict | None = None, headers: dict | None = None):
                return client.http.request(
                    method,
                    "/api/v1" + path,
                    headers=headers if headers is not None else auth,
                    body=json.dumps(body).encode() if body is not None else b"",
                )

            full = {
                "name": "Bench",
                "first_message": "Hi",
                "webhook_secret": "s3cret",
                "llm_config": {
                    "provider": "openai",
                    "model": "gpt-4o-mini",
                    "messages": [{"role": "system", "content": "You are helpful. " * 50}],
                    "tools": [{"name": "lookup", "description": "d", "url": "https://x.example/t"}],
                },
                "stt_config": {"provider": "deepgram", "model": "nova-3", "language": "en"},
                "tts_config": {"provider": "elevenlabs", "voice_id": "abc"},
            }
            ids = [json.loads(call("POST", "/assistants", full).body)["assistant"]["id"] for _ in range(args.items)]
            tool = json.loads(
                call("POST", "/tool-templates", {"name": "T", "tool_type": "endCall", "tool_config": {}}).body
            )["tool_template"]["id"]
            victims = iter(
                [
                    json.loads(call("POST", "/assistants", {"name": "x"}).body)["assistant"]["id"]
                    for _ in range(args.iterations + 1)
                ]
            )  # +1: the warm-up call
            cases = [
                ("GET /health", lambda: call("GET", "/health", headers={})),
                ("GET /assistants/{id}", lambda: call("GET", f"/assistants/{ids[0]}")),
                (
                    "GET /assistants/{id} (other org's id -> 404)",
                    lambda: call("GET", "/assistants/3f2b7c4e-8d1a-4b6c-9e0f-123456789abc"),
                ),
                (
                    f"GET /assistants ({args.items + args.iterations + 1} in org, limit 100)",
                    lambda: call("GET", "/assistants"),
                ),
                ("GET /assistants?limit=10", lambda: call("GET", "/assistants?limit=10")),
                ("POST /assistants (full config + secret)", lambda: call("POST", "/assistants", full)),
                ("POST /assistants (400 invalid)", lambda: call("POST", "/assistants", {"name": ""})),
                ("PATCH /assistants/{id}", lambda: call("PATCH", f"/assistants/{ids[1]}", {"first_message": "Yo"})),
                ("DELETE /assistants/{id}", lambda: call("DELETE", f"/assistants/{next(victims)}")),
                ("GET /tool-templates/{id}", lambda: call("GET", f"/tool-templates/{tool}")),
                ("GET /organizations", lambda: call("GET", "/organizations")),
                (
                    "GET /assistants (401 bad key)",
                    lambda: call("GET", "/assistants", headers={"Authorization": "Bearer fl_live_" + "x" * 43}),
                ),
                ("GET /openapi.json", lambda: call("GET", "/openapi.json", headers={})),
            ]
            print(f"{'endpoint':52} {'p50 ms':>8} {'p99 ms':>8} {'DDB calls/req':>14}  operations per request")
            for name, fn in cases:
                fn()  # warm caches (pynamodb connection, openapi build)
                times = []
                ddbcalls.CALLS.clear()
                for _ in range(args.iterations):
                    start = time.perf_counter()
                    resp = fn()
                    times.append((time.perf_counter() - start) * 1000)
                    if resp.status_code >= 500:
                        raise RuntimeError(f"{name}: {resp.status_code} {resp.body!r}")
                ops = Counter(op for op, _table in ddbcalls.CALLS)
                per = {op: n / args.iterations for op, n in sorted(ops.items())}
                ops = ", ".join(f"{op} x{n:g}" for op, n in per.items()) or "-"
                scan = "  <-- SCAN" if "Scan" in per else ""
                print(
                    f"{name:52} {statistics.median(times):8.2f} {pct(times, 99):8.2f} "
                    f"{sum(per.values()):14.2f}  {ops}{scan}"
                )


if __name__ == "__main__":
    main()
