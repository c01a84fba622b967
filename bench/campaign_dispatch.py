"""Campaign dispatch throughput: the real campaign-run state machine in moto with the real task
handlers, 1,000 leads, calls that complete instantly, max_concurrent_calls 20.

Prints dials per second, duplicate dials (a lead attempt dialed more than once) and lost dials
(leads never dialed or not completed); both must be 0. The dialer stands in for
``chalicelib.services.calls.place_outbound_call``: it writes an ended call row and reports the
call's end through ``on_call_finished`` from another thread, as the Twilio callback would.

    .venv/bin/python bench/campaign_dispatch.py [--leads 1000] [--concurrency 20]
"""

from __future__ import annotations

import argparse
import collections
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()

    import ddbcalls

    ddbcalls.offline_aws_env(CAMPAIGN_MAX_WAIT_SECONDS="1", CAMPAIGN_WORKER_POLL_SECONDS="1")
    import logging

    logging.disable(logging.CRITICAL)  # moto logs every stopped execution; keep the figures readable
    from moto import mock_aws

    from devstack import sfn

    with mock_aws(config=sfn.MOTO_CONFIG):
        return run(args, sfn)


def run(args: argparse.Namespace, sfn) -> int:
    from chalicelib.models.campaigns import CampaignCreate, LeadCreate
    from chalicelib.services import campaigns, orgs
    from chalicelib.settings import get_settings, reset_settings
    from chalicelib.storage.calls import Call, CallRepository
    from chalicelib.storage.tables import create_tables
    from chalicelib.timeutil import new_id, now_iso
    from chalicelib.workflows import hooks

    reset_settings()
    create_tables()
    sfn.install_router()
    sfn.deploy()
    org, _ = orgs.create_org("Bench", None, minutes_balance=1_000_000)
    from chalicelib.models.assistant import AssistantCreate
    from chalicelib.services.assistants import create_assistant

    agent = create_assistant(org.id, AssistantCreate.model_validate({"name": "Bench"}))

    dials: collections.Counter[str] = collections.Counter()  # idempotency key -> times Twilio was asked
    lock = threading.Lock()
    calls = CallRepository()

    def fake_place(org_id, body, idempotency_key=None, *, campaign_id=None, lead_id=None, variables=None):
        with lock:
            dials[idempotency_key or ""] += 1
        now = now_iso()
        call = Call(org_id, new_id(), "ended", "outbound", now, now,
                    data={"campaign_id": campaign_id, "lead_id": lead_id, "end_reason": "customer_hangup",
                          "caller_phone": body["destination"], "duration_seconds": 1})
        calls.create(call)
        threading.Thread(target=hooks.on_call_finished, args=(call,), daemon=True).start()
        return {"success": True, "call_id": call.id, "status": "dialing"}

    import chalicelib.services.calls as calls_module

    calls_module.place_outbound_call = fake_place

    leads = [LeadCreate(phone_number=f"+3161{i:07d}") for i in range(args.leads)]
    t0 = time.perf_counter()
    body = CampaignCreate(name="Bench", agent_id=agent["id"], max_concurrent_calls=args.concurrency, max_attempts=1,
                          calling_days=[1, 2, 3, 4, 5, 6, 7], schedule_start_time="00:00:00",
                          schedule_end_time="23:59:59", timezone="UTC", leads=leads)
    c = campaigns.create_campaign(org.id, body)
    created = time.perf_counter()
    print(f"created campaign with {args.leads} leads in {created - t0:.1f} s", flush=True)
    campaigns.update_campaign(org.id, c["id"], campaigns.CampaignUpdate(status="scheduled"))
    start = time.perf_counter()
    deadline = start + args.timeout
    state = {}
    last_print = start
    peak = 0
    while time.perf_counter() < deadline:
        c_now = campaigns.repo().get(org.id, c["id"])
        if c_now is None:
            raise RuntimeError(f"campaign {c['id']} disappeared mid-run")
        peak = max(peak, c_now.in_flight)
        state = campaigns.public(c_now)
        if state["status"] == "completed":
            break
        if time.perf_counter() - last_print > 10:
            last_print = time.perf_counter()
            print(f"  {last_print - start:5.0f} s: {sum(dials.values())} dials, {state['completed_leads']} completed",
                  flush=True)
        time.sleep(0.05)
    elapsed = time.perf_counter() - start
    total_dials = sum(dials.values())
    duplicates = sum(n - 1 for n in dials.values() if n > 1)
    leads_dialed = {k.split(":lead:")[1].split(":")[0] for k in dials}
    unfinished = args.leads - state.get("completed_leads", 0) - state.get("failed_leads", 0)
    lost = args.leads - len(leads_dialed) + unfinished  # never dialed, or dialed but never recorded
    import boto3

    sfn_client = boto3.client("stepfunctions", region_name="us-east-1")
    arn = get_settings().campaign_state_machine_arn
    executions = [e for e in sfn_client.list_executions(stateMachineArn=arn)["executions"]]
    print(f"status {state.get('status')} after {elapsed:.1f} s")
    print(f"leads {args.leads}, concurrency {args.concurrency}, dials {total_dials}, "
          f"dials/s {total_dials / elapsed:.1f}, peak in-flight {peak}")
    print(f"duplicate dials {duplicates}, lost dials {lost}, "
          f"completed {state.get('completed_leads')}, failed {state.get('failed_leads')}")
    print(f"executions {len(executions)} (continue-as-new every {get_settings().campaign_rotate_after_dials} dials): "
          + ", ".join(sorted(e['name'].rsplit('-', 1)[-1] + '=' + e['status'] for e in executions)))
    for e in executions:
        if e["status"] == "RUNNING":
            sfn_client.stop_execution(executionArn=e["executionArn"])
    time.sleep(0.3)
    return 0 if duplicates == 0 and lost == 0 and state.get("status") == "completed" else 1


if __name__ == "__main__":
    sys.exit(main())
