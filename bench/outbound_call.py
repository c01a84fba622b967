"""Outbound call handler latency and DynamoDB calls per request (moto + FakeTwilio, in process).

    .venv/bin/python bench/outbound_call.py [requests]

Runs the real app through chalice.test.Client against in-process moto; the real ``twilio`` SDK
dials FakeTwilio over local HTTP. Prints p50/p99 of POST /api/v1/calls/outbound (plain and with an
Idempotency-Key), of a replayed idempotent request, and of a signed /twilio/status callback, plus the
DynamoDB operations each one issues (a botocore event hook per client). Figures include moto's own
cost (about 1 ms per DynamoDB call in process), so they overstate the DynamoDB share on AWS.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import ddbcalls  # noqa: E402

ddbcalls.offline_aws_env(drop=("KMS_KEY_ID", "MEDIA_CONTROL_URL", "WEBHOOK_QUEUE_URL"),
                         POWERTOOLS_METRICS_NAMESPACE="Bench", PUBLIC_BASE_URL="https://bench.example.test/api",
                         RATE_LIMIT_PER_MINUTE="1000000")
from ddbcalls import pct  # noqa: E402

AUTH_TABLES = {"api_keys", "rate_limits"}
ddb_calls = ddbcalls.CALLS
ddbcalls.install("bench-")


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    from chalice.test import Client
    from moto import mock_aws

    from sandbox.twilio import FakeTwilio

    twilio = FakeTwilio(account_sid="AC" + "2" * 32, auth_token="bench-token").start()  # noqa: S106 - the fake Twilio's token for this benchmark
    os.environ.update(
        {
            "TWILIO_ACCOUNT_SID": twilio.account_sid,
            "TWILIO_AUTH_TOKEN": "bench-token",
            "TWILIO_API_URL": twilio.base_url,
        }
    )
    results: dict[str, list[float]] = {}
    per_request: dict[str, Counter] = {}
    try:
        with mock_aws():
            from chalicelib.settings import reset_settings

            reset_settings()
            import app as app_module
            from chalicelib.services.orgs import create_org
            from chalicelib.storage.tables import create_tables

            create_tables()
            _, key = create_org("Bench Org", None, minutes_balance=100)
            with Client(app_module.app) as client:
                headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

                def post(path: str, body: dict, extra: dict | None = None):
                    return client.http.post(
                        "/api/v1" + path, headers={**headers, **(extra or {})}, body=json.dumps(body)
                    )

                assistant = json.loads(
                    post(
                        "/assistants",
                        {
                            "name": "Bench",
                            "first_message": "Hello",
                            "stt_config": {"provider": "deepgram"},
                            "llm_config": {"provider": "openai"},
                            "tts_config": {"provider": "elevenlabs", "voice_id": "v"},
                        },
                    ).body
                )["assistant"]
                post("/numbers", {"phone_number": "+14155550100", "agent_id": assistant["id"]})
                body = {"destination": "+31612345678", "assistant_id": assistant["id"]}

                def measure(label: str, fn) -> None:
                    times: list[float] = []
                    ops: Counter = Counter()
                    for i in range(n):
                        ddb_calls.clear()
                        t0 = time.perf_counter()
                        resp = fn(i)
                        times.append((time.perf_counter() - t0) * 1000)
                        if resp.status_code != 200:
                            raise RuntimeError(f"{label}: {resp.status_code} {resp.body!r}")
                        ops.update(ddb_calls)
                    results[label] = times
                    per_request[label] = Counter({k: v / n for k, v in ops.items()})

                for _ in range(5):  # warm-up: imports, SDK clients, connection pools
                    post("/calls/outbound", body)
                measure("POST /calls/outbound", lambda i: post("/calls/outbound", body))
                measure(
                    "POST /calls/outbound + Idempotency-Key (new)",
                    lambda i: post("/calls/outbound", body, {"Idempotency-Key": f"k-{i}"}),
                )
                measure(
                    "POST /calls/outbound + Idempotency-Key (replay)",
                    lambda i: post("/calls/outbound", body, {"Idempotency-Key": f"k-{i}"}),
                )

                sids = list(twilio.calls)[-n:]
                base = "https://bench.example.test/api"

                def status_callback(i: int):
                    sid = sids[i]
                    url = twilio.call_form(sid)["StatusCallback"][0]
                    captured = {}

                    def sender(u, form, hdrs):
                        captured["r"] = client.http.post(
                            u[len(base) :],
                            body=urlencode(form),
                            headers={"Content-Type": "application/x-www-form-urlencoded", **hdrs},
                        )
                        return captured["r"].status_code, ""

                    twilio.callback_sender = sender
                    twilio.send_signed(url, twilio.status_form(sid, "ringing", 1))
                    return captured["r"]

                measure("POST /twilio/status (ringing)", status_callback)
    finally:
        twilio.stop()

    print(f"{n} requests each, in process (chalice.test.Client + moto + FakeTwilio over HTTP)\n")
    print(f"{'request':50} {'p50 ms':>7} {'p99 ms':>7} {'mean':>6}  {'ddb/req':>7} {'auth':>4}  feature calls")
    for label, times in results.items():
        ops = per_request[label]
        total = sum(ops.values())
        auth = sum(v for (op, t), v in ops.items() if t in AUTH_TABLES)
        feature = ", ".join(
            f"{op}:{t}" + (f"x{v:g}" if v != 1 else "") for (op, t), v in sorted(ops.items()) if t not in AUTH_TABLES
        )
        print(
            f"{label:50} {pct(times, 50):7.1f} {pct(times, 99):7.1f} {statistics.mean(times):6.1f}  "
            f"{total:7.2f} {auth:4.0f}  {feature}"
        )
    scans = [label for label, ops in per_request.items() if any(op == "Scan" for op, _ in ops)]
    if scans:
        print("SCAN on:", scans)
        return 1
    print("\nNo Scan on any request path.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
