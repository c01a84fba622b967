"""The campaign-run state machine (chalicelib/workflows/asl/campaign_run.asl.json) in moto with the
real task handlers, dialing through the real outbound service and twilio SDK against FakeTwilio,
whose signed status callbacks go through the Chalice app (which releases the task tokens)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest

from chalicelib.services.campaigns import window
from tests.workflows.conftest import executions, make_assistant, make_number, wait_until


@pytest.fixture
def setup(api, twilio, sfn, clock):
    agent = make_assistant(api, voicemail_detection=True)
    number = make_number(api, "+14155550199", agent["id"])
    return {"agent": agent, "number": number}


def phones(n: int, start: int = 0) -> list[str]:
    return [f"+316123450{i:02d}" for i in range(start, start + n)]


def start_campaign(api, setup, numbers: list[str], **fields) -> dict:
    body = {"name": "Run", "agent_id": setup["agent"]["id"], "number_id": setup["number"]["id"],
            "retry_delay_minutes": 0, "status": "scheduled",
            "leads": [{"phone_number": p, "name": f"Lead {i}", "variables": {"appointment": f"slot {i}"}}
                      for i, p in enumerate(numbers)], **fields}
    r = api.post("/campaigns", body)
    assert r.status_code == 201, r.body
    return r.data["campaign"]


def campaign(api, cid: str) -> dict:
    r = api.get(f"/campaigns/{cid}")
    assert r.status_code == 200, r.body
    return r.data["campaign"]


def leads_by_phone(api, cid: str) -> dict[str, dict]:
    return {x["phone_number"]: x for x in api.get(f"/campaigns/{cid}/leads").data["leads"]}


def wait_status(api, cid: str, status: str, timeout: float = 40.0) -> dict:
    return wait_until(lambda: (c := campaign(api, cid))["status"] == status and c, timeout, 0.1,
                      f"campaign status {status}")


class InFlightSampler:
    """Samples the campaign's dial slots in use (the run must never exceed max_concurrent_calls)."""

    def __init__(self, org_id: str, cid: str):
        from chalicelib.storage.campaigns import CampaignRepository

        self.repo, self.org_id, self.cid = CampaignRepository(), org_id, cid
        self.max = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            c = self.repo.get(self.org_id, self.cid)
            if c is not None:
                self.max = max(self.max, c.in_flight)
            time.sleep(0.01)

    def close(self) -> int:
        self.stop.set()
        self.thread.join()
        return self.max


def test_twenty_leads_at_concurrency_three_with_mixed_outcomes(api, org, setup, twilio):
    from chalicelib.storage.calls import CallRepository

    numbers = phones(20)
    plans = {10: ["no-answer", "completed"], 11: ["no-answer", "completed"], 12: ["busy"], 13: ["busy"],
             14: ["voicemail"], 15: ["voicemail"], 16: ["failed"], 17: ["no-answer"], 18: ["voicemail", "completed"]}
    for i, plan in plans.items():
        twilio.outcomes[numbers[i]] = plan
    c = start_campaign(api, setup, numbers, max_concurrent_calls=3, max_attempts=2,
                       system_message_template="Remind {{name}} ({{phone_number}}) about {{appointment}}.")
    sampler = InFlightSampler(org[0].id, c["id"])
    done = wait_status(api, c["id"], "completed", timeout=90)
    assert sampler.close() <= 3

    leads = leads_by_phone(api, c["id"])
    expected = {**{i: ("completed", 1) for i in range(20)}, 10: ("completed", 2), 11: ("completed", 2),
                12: ("busy", 2), 13: ("busy", 2), 14: ("voicemail", 2), 15: ("voicemail", 2), 16: ("failed", 2),
                17: ("no_answer", 2), 18: ("completed", 2)}
    for i, (status, attempts) in expected.items():
        lead = leads[numbers[i]]
        assert (lead["status"], lead["attempts"]) == (status, attempts), (i, lead)
        assert twilio.dials_to(numbers[i]) == attempts, i  # never dialed twice for one attempt
    assert (done["total_leads"], done["completed_leads"], done["failed_leads"]) == (20, 14, 6)
    assert done["active_calls"] == 0 and done["pending_leads"] == 0 and done["completed_at"]
    assert len(twilio.dial_log) == sum(a for _, a in expected.values()) == 29
    # the lead's variables filled the system message template, and the call carries the campaign ids
    call = CallRepository().get(org[0].id, leads[numbers[3]]["call_id"])
    assert call is not None
    assert call.data["context"] == f"Remind Lead 3 ({numbers[3]}) about slot 3."
    assert call.data["campaign_id"] == c["id"] and call.data["lead_id"] == leads[numbers[3]]["id"]
    assert call.data["caller_phone"] == numbers[3] and call.data["assistant_phone"] == "+14155550199"
    assert all(e["status"] == "SUCCEEDED" for e in executions_of(c["id"]))


def executions_of(cid: str) -> list[dict]:
    import boto3

    client = boto3.client("stepfunctions", region_name="us-east-1")
    arn = [m["stateMachineArn"] for m in client.list_state_machines()["stateMachines"]
           if m["name"].endswith("campaign-run")][0]
    return [e for e in executions(arn) if cid in e["name"]]


def test_never_more_than_max_concurrent_calls_and_slots_refill(api, setup, twilio):
    twilio.default_outcome = "hold"
    numbers = phones(5)
    c = start_campaign(api, setup, numbers, max_concurrent_calls=3)
    wait_until(lambda: len(twilio.held) == 3, what="three calls in progress")
    time.sleep(1.5)
    assert len(twilio.dial_log) == 3 and campaign(api, c["id"])["active_calls"] == 3
    twilio.release(twilio.held[0])
    wait_until(lambda: len(twilio.held) == 4, what="a freed slot to be refilled")
    assert len(twilio.dial_log) == 4
    for sid in twilio.held[1:]:
        twilio.release(sid)
    wait_until(lambda: len(twilio.held) == 5, what="the last lead")
    twilio.release(twilio.held[4])
    done = wait_status(api, c["id"], "completed")
    assert (done["completed_leads"], done["failed_leads"]) == (5, 0) and len(twilio.dial_log) == 5


def test_pause_stops_new_dials_and_scheduled_resumes(api, setup, twilio):
    twilio.default_outcome = "hold"
    numbers = phones(5)
    c = start_campaign(api, setup, numbers, max_concurrent_calls=2)
    wait_until(lambda: len(twilio.held) == 2, what="two calls in progress")
    assert api.patch(f"/campaigns/{c['id']}", {"status": "paused"}).data["campaign"]["status"] == "paused"
    for sid in list(twilio.held):
        twilio.release(sid)  # calls in progress finish and are recorded
    wait_until(lambda: campaign(api, c["id"])["completed_leads"] == 2, what="in-progress calls recorded")
    wait_until(lambda: all(e["status"] != "RUNNING" for e in executions_of(c["id"])), what="the run to stop")
    time.sleep(1.2)
    assert len(twilio.dial_log) == 2 and campaign(api, c["id"])["status"] == "paused"
    twilio.default_outcome = "completed"
    assert api.patch(f"/campaigns/{c['id']}", {"status": "scheduled"}).status_code == 200
    done = wait_status(api, c["id"], "completed")
    assert (done["completed_leads"], done["failed_leads"]) == (5, 0)
    assert sorted(t for t, _ in twilio.dial_log) == sorted(numbers)  # each lead dialed exactly once
    assert sorted(e["name"].rsplit("-", 2)[-2] for e in executions_of(c["id"])) == ["g1", "g2"]


def test_cancel_stops_for_good(api, setup, twilio):
    twilio.default_outcome = "hold"
    c = start_campaign(api, setup, phones(4), max_concurrent_calls=1)
    wait_until(lambda: len(twilio.held) == 1, what="the first call")
    assert api.patch(f"/campaigns/{c['id']}", {"status": "cancelled"}).status_code == 200
    twilio.release(twilio.held[0])
    wait_until(lambda: campaign(api, c["id"])["completed_leads"] == 1, what="the call in progress to be recorded")
    wait_until(lambda: all(e["status"] != "RUNNING" for e in executions_of(c["id"])), what="the run to stop")
    time.sleep(1.2)
    final = campaign(api, c["id"])
    assert final["status"] == "cancelled" and len(twilio.dial_log) == 1
    assert (final["total_leads"], final["completed_leads"], final["failed_leads"]) == (4, 1, 0)
    assert api.patch(f"/campaigns/{c['id']}", {"status": "scheduled"}).status_code == 409


def test_waits_for_the_calling_window_then_dials(api, setup, twilio, clock):
    c = start_campaign(api, setup, phones(2), calling_days=[1])  # Mondays only; the clock says Tuesday
    time.sleep(2.5)
    assert twilio.dial_log == [] and campaign(api, c["id"])["status"] == "scheduled"
    clock.set(datetime(2026, 11, 30, 7, 59, 59, tzinfo=UTC))  # Monday 08:59:59 in Amsterdam: still closed
    time.sleep(1.5)
    assert twilio.dial_log == []
    clock.set(datetime(2026, 11, 30, 8, 0, 1, tzinfo=UTC))  # 09:00:01 CET: open
    done = wait_status(api, c["id"], "completed")
    assert done["completed_leads"] == 2 and done["started_at"]


def test_window_is_wall_clock_in_the_campaign_timezone_across_dst():
    data = {"timezone": "Europe/Amsterdam", "schedule_start_time": "09:00:00", "schedule_end_time": "17:00:00",
            "calling_days": [1, 2, 3, 4, 5, 6, 7]}
    # Sunday 29 March 2026: clocks go from CET (UTC+1) to CEST (UTC+2) at 02:00
    assert window(data, datetime(2026, 3, 29, 7, 30, tzinfo=UTC)) == (True, 0)  # 09:30 CEST
    assert window(data, datetime(2026, 3, 29, 6, 59, tzinfo=UTC))[0] is False  # 08:59 CEST
    # Saturday 17:00 CET (closed) -> Sunday 09:00 CEST is 15 h later, not 16
    assert window(data, datetime(2026, 3, 28, 16, 0, tzinfo=UTC)) == (False, 15 * 3600)
    weekdays = {**data, "calling_days": [1, 2, 3, 4, 5], "timezone": "America/New_York"}
    # Friday 17:00 EST -> Monday 09:00 EST
    assert window(weekdays, datetime(2026, 11, 27, 22, 0, tzinfo=UTC)) == (False, (2 * 24 + 16) * 3600)
    overnight = {**data, "schedule_start_time": "22:00:00", "schedule_end_time": "02:00:00"}
    assert window(overnight, datetime(2026, 11, 24, 0, 30, tzinfo=UTC))[0] is True  # 01:30 local
    assert window(overnight, datetime(2026, 11, 24, 12, 0, tzinfo=UTC))[0] is False


def test_leads_added_while_running_are_picked_up(api, setup, twilio):
    twilio.default_outcome = "hold"
    c = start_campaign(api, setup, phones(2), max_concurrent_calls=1)
    wait_until(lambda: len(twilio.held) == 1, what="the first call")
    r = api.post(f"/campaigns/{c['id']}/leads", {"phone_number": "+31612349999", "name": "Late"})
    assert r.status_code == 201
    for _ in range(3):
        n = len(twilio.held)
        twilio.release(twilio.held[-1])
        if n < 3:
            wait_until(lambda n=n: len(twilio.held) == n + 1, what="the next lead")
    done = wait_status(api, c["id"], "completed")
    assert (done["total_leads"], done["completed_leads"]) == (3, 3)
    assert "+31612349999" in [t for t, _ in twilio.dial_log]


def test_retry_waits_retry_delay_minutes(api, setup, twilio, clock):
    number = phones(1)[0]
    twilio.outcomes[number] = ["no-answer", "completed"]
    c = start_campaign(api, setup, [number], max_attempts=2, retry_delay_minutes=60)
    wait_until(lambda: leads_by_phone(api, c["id"])[number]["last_outcome"] == "no_answer", what="first attempt")
    lead = leads_by_phone(api, c["id"])[number]
    assert lead["status"] == "pending" and lead["attempts"] == 1
    assert lead["next_attempt_at"] == "2026-11-24T10:00:00.000Z"  # injected now + 60 min
    time.sleep(2)
    assert twilio.dials_to(number) == 1
    clock.advance(minutes=61)
    done = wait_status(api, c["id"], "completed")
    assert done["completed_leads"] == 1 and twilio.dials_to(number) == 2


def test_dispatch_task_retried_after_dialing_does_not_dial_again(api, setup, twilio):
    from devstack import sfn as devsfn

    failed: list[int] = []

    def die_once(name: str, event: dict, result: dict) -> None:
        if name == "campaign_dispatch" and result.get("dialed") and not failed:
            failed.append(result["dialed"])
            raise ConnectionError("Lambda died after Twilio accepted the calls")

    devsfn.after_hooks.append(die_once)
    numbers = phones(4)
    c = start_campaign(api, setup, numbers, max_concurrent_calls=2)
    done = wait_status(api, c["id"], "completed")
    assert failed
    assert {n: twilio.dials_to(n) for n in numbers} == dict.fromkeys(numbers, 1)
    assert (done["completed_leads"], done["failed_leads"]) == (4, 0)


def test_failure_before_the_call_id_was_stored_is_deduped_by_the_idempotency_key(api, setup, twilio, monkeypatch):
    from chalicelib.storage.campaigns import LeadRepository

    original = LeadRepository.set_call
    calls: list[str] = []

    def flaky_set_call(self, org_id, campaign_id, lead_id, attempt, call_id):
        calls.append(call_id)
        if len(calls) == 1:
            raise ConnectionError("DynamoDB unreachable after Twilio accepted the call")
        return original(self, org_id, campaign_id, lead_id, attempt, call_id)

    monkeypatch.setattr(LeadRepository, "set_call", flaky_set_call)
    twilio.default_outcome = "hold"  # the call is still live when the retried task dials again
    number = phones(1)[0]
    c = start_campaign(api, setup, [number])
    wait_until(lambda: len(calls) == 2, what="the retried dial")
    assert calls[0] == calls[1]  # the retry got the first call back
    twilio.release(twilio.held[0])
    wait_status(api, c["id"], "completed")
    assert twilio.dials_to(number) == 1


def test_lost_call_outcome_is_resolved_by_the_timeout(api, setup, twilio, clock, monkeypatch):
    from chalicelib.settings import reset_settings

    monkeypatch.setenv("CAMPAIGN_CALL_TIMEOUT_SECONDS", "2")
    reset_settings()
    twilio.default_outcome = "hold"  # the call never ends
    number = phones(1)[0]
    c = start_campaign(api, setup, [number], max_attempts=1)
    wait_until(lambda: len(twilio.held) == 1, what="the call in progress")
    clock.advance(seconds=5)  # past the lead's deadline (timeout 2 s + 2 s margin)
    done = wait_status(api, c["id"], "completed", timeout=30)
    lead = leads_by_phone(api, c["id"])[number]
    assert lead["status"] == "failed" and lead["last_outcome"] == "failed"
    assert (done["completed_leads"], done["failed_leads"]) == (0, 1)


def test_history_stays_bounded_by_continuing_in_new_executions(api, setup, twilio, monkeypatch):
    from chalicelib.settings import reset_settings

    monkeypatch.setenv("CAMPAIGN_ROTATE_AFTER_DIALS", "4")
    reset_settings()
    numbers = phones(10)
    c = start_campaign(api, setup, numbers, max_concurrent_calls=2)
    done = wait_status(api, c["id"], "completed", timeout=60)
    assert done["completed_leads"] == 10
    assert sorted(t for t, _ in twilio.dial_log) == sorted(numbers)
    segments = sorted(e["name"].rsplit("-", 1)[-1] for e in executions_of(c["id"]))
    assert segments[:3] == ["s0", "s1", "s2"] and all(e["status"] == "SUCCEEDED" for e in executions_of(c["id"]))





def test_dispatch_dying_after_its_claim_dials_the_lead_once_on_the_retry(api, setup, twilio, monkeypatch):
    from chalicelib.services import campaigns as svc

    original = svc.dial_lead
    orphaned: list[str] = []

    def die_before_dialing(org_id, campaign_id, lead_id, attempt):
        if not orphaned:
            orphaned.append(lead_id)
            raise ConnectionError("Lambda died after claiming the lead")
        return original(org_id, campaign_id, lead_id, attempt)

    monkeypatch.setattr(svc, "dial_lead", die_before_dialing)
    numbers = phones(2)
    c = start_campaign(api, setup, numbers, max_concurrent_calls=2)
    done = wait_status(api, c["id"], "completed", timeout=40)
    assert (done["completed_leads"], done["failed_leads"], done["active_calls"]) == (2, 0, 0)
    leads = {x["id"]: x for x in leads_by_phone(api, c["id"]).values()}
    # the stranded claim was dialed by the retried task with the same attempt: no attempt spent
    assert leads[orphaned[0]]["attempts"] == 1
    assert {n: twilio.dials_to(n) for n in numbers} == dict.fromkeys(numbers, 1)


def test_conditional_write_conflicts_on_claims_lose_no_lead_and_dial_none_twice(api, setup, twilio, monkeypatch):
    from chalicelib.storage.campaigns import LeadRepository

    original = LeadRepository.claim
    conflicted: set[str] = set()

    def conflict_first(self, lead, **kw):
        # Another writer changed the lead between the read and the conditional write (the
        # transaction is cancelled with ConditionalCheckFailed): the claim reports it as taken.
        if lead.id not in conflicted:
            conflicted.add(lead.id)
            return "taken"
        return original(self, lead, **kw)

    monkeypatch.setattr(LeadRepository, "claim", conflict_first)
    numbers = phones(6)
    c = start_campaign(api, setup, numbers, max_concurrent_calls=3)
    done = wait_status(api, c["id"], "completed", timeout=40)
    assert len(conflicted) == 6 and (done["completed_leads"], done["failed_leads"]) == (6, 0)
    assert {n: twilio.dials_to(n) for n in numbers} == dict.fromkeys(numbers, 1)


def test_throttled_twilio_creates_are_dialed_again_once_accepted(api, setup, twilio):
    numbers = phones(4)
    twilio.throttle = {numbers[0]: 2, numbers[2]: 1}
    c = start_campaign(api, setup, numbers, max_concurrent_calls=4, max_attempts=1)
    done = wait_status(api, c["id"], "completed", timeout=40)
    assert sorted(twilio.throttled) == sorted([numbers[0], numbers[0], numbers[2]])
    assert (done["completed_leads"], done["failed_leads"]) == (4, 0)
    assert {n: twilio.dials_to(n) for n in numbers} == dict.fromkeys(numbers, 1)
    assert all(x["attempts"] == 1 for x in leads_by_phone(api, c["id"]).values())


def test_restarted_execution_running_beside_the_old_one_dials_each_lead_once(api, org, setup, twilio):
    from chalicelib.workflows.start import start_campaign_run

    twilio.default_outcome = "hold"
    numbers = phones(6)
    c = start_campaign(api, setup, numbers, max_concurrent_calls=3)
    wait_until(lambda: len(twilio.held) == 3, what="three calls in progress")
    from chalicelib.storage.campaigns import CampaignRepository

    row = CampaignRepository().get(org[0].id, c["id"])
    assert row is not None
    start_campaign_run(org[0].id, c["id"], row.generation, segment=7, dials_at_start=row.dials)  # a restart
    sampler = InFlightSampler(org[0].id, c["id"])
    time.sleep(1)
    assert len(twilio.dial_log) == 3  # both executions see the same slots: nobody dials a fourth
    released: set[str] = set()
    deadline = time.monotonic() + 30
    while len(released) < 6 and time.monotonic() < deadline:
        for sid in list(twilio.held):
            if sid not in released:
                released.add(sid)
                twilio.release(sid)
        time.sleep(0.1)
    done = wait_status(api, c["id"], "completed", timeout=40)
    assert sampler.close() <= 3
    assert (done["completed_leads"], done["failed_leads"]) == (6, 0)
    assert {n: twilio.dials_to(n) for n in numbers} == dict.fromkeys(numbers, 1)


def test_deleting_a_campaign_with_a_call_in_progress_ends_its_run(api, setup, twilio):
    twilio.default_outcome = "hold"
    c = start_campaign(api, setup, phones(3), max_concurrent_calls=1)
    wait_until(lambda: len(twilio.held) == 1, what="the first call")
    assert api.delete(f"/campaigns/{c['id']}").data == {"success": True}
    # the parked worker is released at once (not after the 20 s outcome timeout) and the run ends
    wait_until(lambda: all(e["status"] != "RUNNING" for e in executions_of(c["id"])), timeout=8,
               what="the run to end")
    assert len(twilio.dial_log) == 1 and api.get(f"/campaigns/{c['id']}").status_code == 404


def test_out_of_minutes_pauses_the_campaign_without_spending_attempts(api, org, setup, twilio, monkeypatch):
    from chalicelib.settings import reset_settings
    from chalicelib.storage.orgs import OrgRepository

    monkeypatch.setenv("BILLING_ENFORCEMENT", "true")
    reset_settings()
    OrgRepository().add_usage(org[0].id, 100, "2026-11")  # balance 100 -> 0
    numbers = phones(3)
    c = start_campaign(api, setup, numbers, max_concurrent_calls=2)
    paused = wait_status(api, c["id"], "paused", timeout=20)
    assert "insufficient_credits" in paused["error"] or "minutes" in paused["error"]
    wait_until(lambda: campaign(api, c["id"])["active_calls"] == 0, what="claims handed back")
    assert twilio.dial_log == []
    assert all(x["status"] == "pending" and x["attempts"] == 0 for x in leads_by_phone(api, c["id"]).values())
    # topped up and resumed: every lead is dialed once
    OrgRepository().add_usage(org[0].id, -50, "2026-11")
    r = api.patch(f"/campaigns/{c['id']}", {"status": "scheduled"})
    assert r.status_code == 200 and r.data["campaign"]["error"] is None
    done = wait_status(api, c["id"], "completed")
    assert done["completed_leads"] == 3 and sorted(t for t, _ in twilio.dial_log) == sorted(numbers)


def test_full_media_fleet_makes_dispatch_wait_without_failing_leads(api, setup, twilio, clock):
    numbers = phones(2)
    control = twilio.control
    assert control is not None
    control.at_capacity = True  # every media task answers prepare with 503 capacity_exceeded
    c = start_campaign(api, setup, numbers, max_concurrent_calls=2)
    wait_until(lambda: len([r for r in control.requests if r.path.endswith("/prepare")]) >= 2,
               what="admission asked for both leads")
    wait_until(lambda: campaign(api, c["id"])["active_calls"] == 0, what="claims handed back")
    leads = leads_by_phone(api, c["id"])
    # Not dialed, not failed, attempt not spent: due again after Retry-After (30 s on the injected clock).
    assert twilio.dial_log == []
    from chalicelib.services.campaigns import leads as lead_store

    stored = [lead_store().get(setup["agent"]["org_id"], c["id"], x["id"]) for x in leads.values()]
    assert {(x.status, x.attempts, x.next_attempt_at) for x in stored if x} == {
        ("pending", 0, "2026-11-24T09:00:30.000Z")}
    assert campaign(api, c["id"])["status"] == "running" and campaign(api, c["id"])["failed_leads"] == 0
    # The fleet scaled out: the waiting leads are dialed once each.
    control.at_capacity = False
    clock.advance(seconds=31)
    done = wait_status(api, c["id"], "completed")
    assert (done["completed_leads"], done["failed_leads"]) == (2, 0)
    assert {n: twilio.dials_to(n) for n in numbers} == dict.fromkeys(numbers, 1)
