"""Campaign dispatch throughput and exactly-once under faults: the real campaign-run state machine
in moto with the real task handlers, calls that complete instantly.

Prints, per run: dials per second, peak calls in flight (against ``max_concurrent_calls``),
duplicate dials (a lead Twilio was asked to call more than once: every run has ``max_attempts`` 1)
and lost dials (leads never dialed or never recorded); both must be 0. The dialer stands in for
``chalicelib.services.calls.place_outbound_call`` including its idempotency layer (a repeated key
returns the first call without a second Twilio create; while the first is in progress, 409): it
writes an ended call row and reports the call's end through ``on_call_finished`` from another
thread, as the Twilio callback would.

Faults (``--fault``, each in a fresh moto; ``all`` runs every one):
  retry     every other Dispatch task raises after it returned (Step Functions retries it)
  stranded  1 in 50 dials: DynamoDB fails after Twilio accepted the call, before the call id is stored
  conflict  every lead's first claim loses its conditional write (as if another writer won)
  throttle  1 in 10 Twilio creates answers 429 (UpstreamError) the first time
  restart   a second execution of the same run starts when 30 % of the leads are dialed

    .venv/bin/python bench/campaign_dispatch.py [--leads 1000] [--concurrency 20,100] [--fault none|all|...]
"""

from __future__ import annotations

import argparse
import collections
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FAULTS = ("retry", "stranded", "conflict", "throttle", "restart")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=1000)
    parser.add_argument("--concurrency", default="20", help="comma-separated: one run per value")
    parser.add_argument("--fault", default="none", help="none, all, or one of " + ", ".join(FAULTS))
    parser.add_argument("--timeout", type=float, default=900, help="per run; a run cut short reports what it did")
    args = parser.parse_args()

    import ddbcalls

    ddbcalls.offline_aws_env(CAMPAIGN_MAX_WAIT_SECONDS="1", CAMPAIGN_WORKER_POLL_SECONDS="1",
                             CAMPAIGN_DISPATCH_POLL_MS="50", CAMPAIGN_DISPATCH_SECONDS="20")
    import logging

    logging.disable(logging.CRITICAL)  # moto logs every stopped execution; keep the figures readable
    from moto import mock_aws

    from devstack import sfn

    faults = list(FAULTS) if args.fault == "all" else [args.fault]
    ok = True
    for concurrency in (int(x) for x in args.concurrency.split(",")):
        for fault in faults:
            with mock_aws(config=sfn.MOTO_CONFIG):
                ok = run(args.leads, concurrency, fault, args.timeout, sfn) and ok
    return 0 if ok else 1


def run(n_leads: int, concurrency: int, fault: str, timeout: float, sfn: Any) -> bool:
    from chalicelib import errors
    from chalicelib.models.assistant import AssistantCreate
    from chalicelib.models.campaigns import CampaignCreate, LeadCreate
    from chalicelib.services import campaigns, orgs
    from chalicelib.services.assistants import create_assistant
    from chalicelib.settings import get_settings, reset_settings
    from chalicelib.storage.calls import Call, CallRepository
    from chalicelib.storage.campaigns import LeadRepository
    from chalicelib.storage.tables import create_tables
    from chalicelib.timeutil import new_id, now_iso
    from chalicelib.workflows import hooks
    from chalicelib.workflows.start import start_campaign_run

    reset_settings()
    create_tables()
    sfn.install_router()
    sfn.after_hooks.clear()
    sfn.deploy()
    org, _ = orgs.create_org("Bench", None, minutes_balance=1_000_000)
    agent = create_assistant(org.id, AssistantCreate.model_validate({"name": "Bench"}))

    creates: collections.Counter[str] = collections.Counter()  # phone -> Twilio creates
    by_key: dict[str, dict[str, Any] | None] = {}  # the idempotency layer: key -> first result
    throttled_keys: set[str] = set()
    lock = threading.Lock()
    calls = CallRepository()
    counter = {"n": 0, "dispatch": 0, "faults": 0}

    def fake_place(org_id, body, idempotency_key=None, *, campaign_id=None, lead_id=None, variables=None):
        key = idempotency_key or new_id()
        with lock:
            if key in by_key:  # Powertools' record: the first result, or still in progress (409)
                if by_key[key] is None:
                    raise errors.Conflict("A request with this Idempotency-Key is still being processed.")
                return by_key[key]
            by_key[key] = None
            counter["n"] += 1
            throttled = fault == "throttle" and counter["n"] % 10 == 0 and key not in throttled_keys
            if throttled:
                counter["faults"] += 1
                throttled_keys.add(key)
        if throttled:
            with lock:
                del by_key[key]  # a failed request leaves no record: the retry runs again
            raise errors.UpstreamError("Twilio refused the call: Twilio 429: Too Many Requests")
        with lock:
            creates[body["destination"]] += 1
        now = now_iso()
        call = Call(org_id, new_id(), "ended", "outbound", now, now,
                    data={"campaign_id": campaign_id, "lead_id": lead_id, "end_reason": "customer_hangup",
                          "caller_phone": body["destination"], "duration_seconds": 1})
        calls.create(call)
        result = {"success": True, "call_id": call.id, "status": "dialing"}
        with lock:
            by_key[key] = result
        threading.Thread(target=hooks.on_call_finished, args=(call,), daemon=True).start()
        return result

    import chalicelib.services.calls as calls_module

    calls_module.place_outbound_call = fake_place  # type: ignore[assignment]
    if fault == "retry":
        def die_every_third(name: str, event: dict, result: Any) -> None:
            if name == "campaign_dispatch":
                counter["dispatch"] += 1
                if counter["dispatch"] % 2 == 0:
                    counter["faults"] += 1
                    raise ConnectionError("the dispatch Lambda died after its work")
        sfn.after_hooks.append(die_every_third)
    original_set_call, original_claim = LeadRepository.set_call, LeadRepository.claim
    if fault == "stranded":
        def flaky_set_call(self, org_id, campaign_id, lead_id, attempt, call_id):
            with lock:
                counter["dispatch"] += 1
                fail = counter["dispatch"] % 50 == 0
                counter["faults"] += fail
            if fail:
                raise ConnectionError("DynamoDB unreachable after Twilio accepted the call")
            return original_set_call(self, org_id, campaign_id, lead_id, attempt, call_id)
        LeadRepository.set_call = flaky_set_call  # type: ignore[method-assign]
    if fault == "conflict":
        seen: set[str] = set()

        def conflict_first(self, lead, **kw):
            with lock:
                first = lead.id not in seen
                seen.add(lead.id)
                counter["faults"] += first
            return "taken" if first else original_claim(self, lead, **kw)
        LeadRepository.claim = conflict_first  # type: ignore[method-assign]

    try:
        return _drive(n_leads, concurrency, fault, timeout, org, agent, creates, counter, campaigns,
                      CampaignCreate, LeadCreate, get_settings, start_campaign_run)
    finally:
        LeadRepository.set_call, LeadRepository.claim = original_set_call, original_claim  # type: ignore[method-assign]
        sfn.after_hooks.clear()


def _drive(n_leads, concurrency, fault, timeout, org, agent, creates, counter, campaigns, CampaignCreate,
           LeadCreate, get_settings, start_campaign_run) -> bool:
    import boto3

    phones = [f"+3161{i:07d}" for i in range(n_leads)]
    t0 = time.perf_counter()
    body = CampaignCreate(name="Bench", agent_id=agent["id"], max_concurrent_calls=concurrency, max_attempts=1,
                          calling_days=[1, 2, 3, 4, 5, 6, 7], schedule_start_time="00:00:00",
                          schedule_end_time="23:59:59", timezone="UTC",
                          leads=[LeadCreate(phone_number=p) for p in phones[:1000]])
    c = campaigns.create_campaign(org.id, body)
    for p in phones[1000:]:  # a create carries at most 1,000 leads (API limit); the rest as POST /leads does
        campaigns.add_lead(org.id, c["id"], LeadCreate(phone_number=p))
    print(f"[{fault} c={concurrency}] created campaign with {n_leads} leads in {time.perf_counter() - t0:.1f} s",
          flush=True)
    campaigns.update_campaign(org.id, c["id"], campaigns.CampaignUpdate(status="scheduled"))
    start = time.perf_counter()
    deadline, last_print, peak, restarted = start + timeout, start, 0, False
    state: dict[str, Any] = {}
    while time.perf_counter() < deadline:
        row = campaigns.repo().get(org.id, c["id"])
        if row is None:
            raise RuntimeError(f"campaign {c['id']} disappeared mid-run")
        peak = max(peak, row.in_flight)
        state = campaigns.public(row)
        if state["status"] == "completed":
            break
        if fault == "restart" and not restarted and row.dials >= n_leads * 0.3:
            restarted = True
            counter["faults"] += 1
            start_campaign_run(org.id, c["id"], row.generation, segment=99, dials_at_start=row.dials)
        if time.perf_counter() - last_print > 10:
            last_print = time.perf_counter()
            print(f"  {last_print - start:5.0f} s: {sum(creates.values())} dials, {state['completed_leads']} "
                  f"completed", flush=True)
        time.sleep(0.02)
    elapsed = time.perf_counter() - start
    total = sum(creates.values())
    duplicates = sum(n - 1 for n in creates.values() if n > 1)
    recorded = state.get("completed_leads", 0) + state.get("failed_leads", 0)
    lost = (n_leads - len(creates)) + (n_leads - recorded) if state.get("status") == "completed" else None
    client = boto3.client("stepfunctions", region_name="us-east-1")
    executions = client.list_executions(stateMachineArn=get_settings().campaign_state_machine_arn)["executions"]
    print(f"[{fault} c={concurrency}] status {state.get('status')} after {elapsed:.1f} s: leads {n_leads}, "
          f"dials {total}, dials/s {total / elapsed:.1f}, peak in flight {peak}/{concurrency}, "
          f"faults injected {counter['faults']}, duplicate dials {duplicates}, "
          f"lost dials {'(cut short)' if lost is None else lost}, executions {len(executions)}", flush=True)
    for e in executions:
        if e["status"] == "RUNNING":
            client.stop_execution(executionArn=e["executionArn"])
    time.sleep(0.3)
    return duplicates == 0 and lost == 0 and peak <= concurrency


if __name__ == "__main__":
    sys.exit(main())
