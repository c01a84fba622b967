"""DynamoDB calls per request for the numbers / SIP trunks / BYOK / voices / domains / usage endpoints.

Runs the real app in process (chalice.test.Client) against moto, with the local fakes for
ElevenLabs and Resend. Every botocore client gets a ``before-parameter-build.dynamodb`` event hook that
records (operation, table); the run fails if any request path issues a Scan.

    .venv/bin/python bench/resources_ddb_calls.py

"auth" counts the API-key lookup and the rate-limit counter every authenticated request pays;
"feature" is what the endpoint itself costs.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import ddbcalls  # noqa: E402

ddbcalls.offline_aws_env(drop=("ELEVENLABS_API_KEY", "RESEND_API_KEY", "TWILIO_ACCOUNT_SID", "KMS_KEY_ID"),
                         POWERTOOLS_METRICS_NAMESPACE="Bench")

AUTH_TABLES = {"api_keys", "rate_limits"}
calls = ddbcalls.CALLS
ddbcalls.install("bench-")


def main() -> int:
    from chalice.test import Client
    from moto import mock_aws

    from sandbox.elevenlabs import FakeElevenLabs
    from sandbox.resend import FakeResend

    eleven = FakeElevenLabs(api_keys={"xi-bench"}).start()
    resend = FakeResend(api_keys={"re_bench"}).start()
    os.environ["ELEVENLABS_URL"] = eleven.base_url
    os.environ["RESEND_URL"] = resend.base_url
    rows: list[tuple[str, int, Counter]] = []
    try:
        with mock_aws():
            from chalicelib.settings import reset_settings

            reset_settings()
            import app as app_module
            from chalicelib.services.orgs import create_org
            from chalicelib.storage.tables import create_tables
            from chalicelib.storage.usage import UsageRepository

            create_tables()
            org, key = create_org("Bench Org", None, minutes_balance=100)
            with Client(app_module.app) as client:
                headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

                def req(label: str, method: str, path: str, body=None) -> dict:
                    calls.clear()
                    resp = client.http.request(
                        method, "/api/v1" + path, headers=headers,
                        body=json.dumps(body).encode() if body is not None else b"",
                    )
                    rows.append((label, resp.status_code, Counter(calls)))
                    return json.loads(resp.body) if resp.body else {}

                def run(label: str, fn) -> object:
                    calls.clear()
                    out = fn()
                    rows.append((label, 0, Counter(calls)))
                    return out

                # setup (not measured): an assistant
                a = json.loads(
                    client.http.post(
                        "/api/v1/assistants",
                        headers=headers,
                        body=json.dumps({"name": "Receptionist", "business_name": "Bench"}),
                    ).body
                )["assistant"]

                t = req(
                    "POST /sip-trunks",
                    "POST",
                    "/sip-trunks",
                    {"name": "PBX", "host": "pbx.example.com", "password": "pw"},
                )["trunk"]
                req("GET /sip-trunks", "GET", "/sip-trunks")
                req("GET /sip-trunks/{id}", "GET", f"/sip-trunks/{t['id']}")

                n = req(
                    "POST /numbers (agent + trunk)",
                    "POST",
                    "/numbers",
                    {"phone_number": "+31201234567", "agent_id": a["id"], "transfer_trunk_id": t["id"]},
                )["number"]
                req("POST /numbers (bare)", "POST", "/numbers", {"phone_number": "+31201234568"})
                req("POST /numbers (duplicate, 409)", "POST", "/numbers", {"phone_number": "+31201234568"})
                for i in range(8):
                    client.http.post(
                        "/api/v1/numbers",
                        headers=headers,
                        body=json.dumps({"phone_number": f"+3120123450{i}", "agent_id": a["id"]}),
                    )
                req("GET /numbers (10 numbers)", "GET", "/numbers")
                req("GET /numbers/{id}", "GET", f"/numbers/{n['id']}")
                req("PATCH /numbers/{id} (name)", "PATCH", f"/numbers/{n['id']}", {"name": "Main"})
                req("PATCH /numbers/{id} (unassign trunk)", "PATCH", f"/numbers/{n['id']}", {"transfer_trunk_id": None})
                req("DELETE /numbers/{id}", "DELETE", f"/numbers/{n['id']}")
                req("DELETE /sip-trunks/{id}", "DELETE", f"/sip-trunks/{t['id']}")

                from chalicelib.services import byok, numbers, sip_trunks

                req("GET /byok", "GET", "/byok")
                req("POST /byok", "POST", "/byok", {"provider": "elevenlabs", "api_key": "xi-bench"})
                req("GET /byok/config", "GET", "/byok/config")
                req("GET /voices (cold, BYOK key)", "GET", "/voices")
                req("GET /voices (cached)", "GET", "/voices")
                req("DELETE /byok", "DELETE", "/byok", {"provider": "elevenlabs"})

                req("POST /byok (resend)", "POST", "/byok", {"provider": "resend", "api_key": "re_bench"})
                req("POST /domains", "POST", "/domains", {"domain_name": "mail.bench.example"})
                req("GET /domains", "GET", "/domains")
                req("POST /domains/verify", "POST", "/domains/verify")
                req("POST /domains/refresh", "POST", "/domains/refresh")
                other = resend.add_domain("re_bench", "other.bench.example", status="verified")
                req("GET /domains/sync", "GET", "/domains/sync")
                req("POST /domains/sync", "POST", "/domains/sync", {"resendDomainId": other["id"]})
                run(
                    "send_call_notification()",
                    lambda: __import__("chalicelib.services.domains", fromlist=["x"]).send_call_notification(
                        org.id, "ops@bench.example", "Call", "Body"
                    ),
                )
                req("DELETE /domains", "DELETE", "/domains")

                repo = UsageRepository()
                for i in range(50):
                    run(
                        "UsageRepository.add()",
                        lambda i=i: repo.add(
                            org.id,
                            {
                                "call_id": f"c{i}",
                                "duration_seconds": 30 + i,
                                "minutes_used": 1,
                                "cost": 0.1,
                                "created_at": f"2026-01-{1 + i % 28:02d}T10:00:00.000Z",
                            },
                        ),
                    )
                rows[:] = [r for r in rows if r[0] != "UsageRepository.add()"] + [
                    ("UsageRepository.add()", 0, Counter(calls))
                ]
                page = req("GET /usage (50 logs, limit 20)", "GET", "/usage?limit=20")
                req("GET /usage (cursor page 2)", "GET", f"/usage?limit=20&cursor={page['next_cursor']}")
                req("GET /usage (date range)", "GET", "/usage?start_date=2026-01-05&end_date=2026-01-10")

                byok.clear_cache()
                run("provider_key() cold", lambda: byok.provider_key(org.id, "resend"))
                run("provider_key() warm", lambda: byok.provider_key(org.id, "resend"))
                run("lookup_inbound()", lambda: numbers.lookup_inbound("+31201234568"))
                t2 = sip_trunks.create_trunk(
                    org.id,
                    __import__("chalicelib.models.resources", fromlist=["x"]).SipTrunkCreate(
                        name="T", host="h.example.com"
                    ),
                )
                run("get_trunk(with_password)", lambda: sip_trunks.get_trunk(org.id, t2["id"], with_password=True))
                run("any_active_number()", lambda: numbers.any_active_number(org.id))
    finally:
        eleven.stop()
        resend.stop()

    scans = [label for label, _, c in rows if any(op == "Scan" for op, _ in c)]
    print(f"{'request':42} {'status':>6} {'total':>5} {'auth':>4} {'feature':>7}  feature calls")
    for label, status, c in rows:
        auth = sum(v for (op, table), v in c.items() if table in AUTH_TABLES)
        feature = {f"{op}:{table}": v for (op, table), v in sorted(c.items()) if table not in AUTH_TABLES}
        total = sum(c.values())
        print(
            f"{label:42} {status or '-':>6} {total:>5} {auth:>4} {total - auth:>7}  "
            + ", ".join(f"{k}x{v}" if v > 1 else k for k, v in feature.items())
        )
    if scans:
        print("SCAN on:", scans)
        return 1
    print("No Scan on any request path.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
