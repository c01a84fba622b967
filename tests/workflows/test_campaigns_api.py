"""REST API of campaigns and leads: fields, defaults, validation, conflicts, pagination, isolation."""

from __future__ import annotations

import pytest

from tests.workflows.conftest import executions, make_assistant, make_number, wait_until


@pytest.fixture
def agent(api):
    return make_assistant(api)


def create(api, agent, **fields):
    r = api.post("/campaigns", {"name": "Reminders", "agent_id": agent["id"], **fields})
    assert r.status_code == 201, r.body
    return r.data["campaign"]


def test_create_with_defaults_and_leads(api, org, agent):
    r = api.post("/campaigns", {"name": "Reminders", "agentId": agent["id"], "systemMessageTemplate": "Hi {{name}}",
                                "leads": [{"phone_number": "+31612345678", "name": "Jane", "variables": {"x": "1"}},
                                          {"phone_number": "+31612345679"}]})
    assert r.status_code == 201, r.body
    c = r.data["campaign"]
    assert c["status"] == "draft" and c["name"] == "Reminders" and c["agent_id"] == agent["id"]
    assert c["schedule_start_time"] == "09:00:00" and c["schedule_end_time"] == "17:00:00"
    assert c["timezone"] == "Europe/Amsterdam" and c["calling_days"] == [1, 2, 3, 4, 5]
    assert c["max_concurrent_calls"] == 5 and c["max_attempts"] == 3 and c["retry_delay_minutes"] == 60
    assert c["number_id"] is None and c["system_message_template"] == "Hi {{name}}"
    assert (c["total_leads"], c["completed_leads"], c["failed_leads"]) == (2, 0, 0)
    assert c["created_at"].endswith("Z")
    assert api.get(f"/campaigns/{c['id']}").data["campaign"] == c
    assert [x["id"] for x in api.get("/campaigns").data["campaigns"]] == [c["id"]]
    leads = api.get(f"/campaigns/{c['id']}/leads").data
    assert leads["pagination"] == {"total": 2, "limit": 100, "offset": 0}
    jane = next(x for x in leads["leads"] if x["name"] == "Jane")
    assert jane["status"] == "pending" and jane["attempts"] == 0 and jane["variables"] == {"x": "1"}
    assert jane["call_id"] is None and jane["campaign_id"] == c["id"]


def test_all_optional_fields_round_trip(api, agent):
    number = make_number(api, "+14155550123", agent["id"])
    c = create(api, agent, number_id=number["id"], max_concurrent_calls=3, max_attempts=5, retry_delay_minutes=15,
               calling_days=[6, 7, 6], schedule_start_time="08:30", schedule_end_time="20:00:00",
               timezone="America/New_York")
    assert c["number_id"] == number["id"] and c["max_concurrent_calls"] == 3 and c["max_attempts"] == 5
    assert c["retry_delay_minutes"] == 15 and c["calling_days"] == [6, 7]
    assert c["schedule_start_time"] == "08:30:00" and c["timezone"] == "America/New_York"
    r = api.patch(f"/campaigns/{c['id']}", {"name": "Renamed", "number_id": None, "max_attempts": 2})
    assert r.status_code == 200, r.body
    assert r.data["campaign"]["name"] == "Renamed" and r.data["campaign"]["number_id"] is None
    assert r.data["campaign"]["max_attempts"] == 2 and r.data["campaign"]["max_concurrent_calls"] == 3


@pytest.mark.parametrize("body,param", [
    ({"leads": [{"phone_number": "0612345678"}]}, "leads[0].phone_number"),
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"schedule_start_time": "25:00:00"}, "schedule_start_time"),
    ({"calling_days": [0, 8]}, "calling_days"),
    ({"max_concurrent_calls": 0}, "max_concurrent_calls"),
    ({"status": "running"}, "status"),
    ({"frist_name": "x"}, "frist_name"),
    ({"schedule_start_time": "10:00:00", "schedule_end_time": "10:00:00"}, "schedule_end_time"),
])
def test_invalid_fields_are_400_naming_the_field(api, agent, body, param):
    r = api.post("/campaigns", {"name": "X", "agent_id": agent["id"], **body})
    assert r.status_code == 400, r.body
    assert r.data["param"] == param


def test_missing_name_and_unknown_agent(api, other_api):
    other_agent = make_assistant(other_api)
    r = api.post("/campaigns", {"agent_id": other_agent["id"]})
    assert r.status_code == 400 and r.data["error"] == "missing_field"
    r = api.post("/campaigns", {"name": "X", "agent_id": other_agent["id"]})
    assert r.status_code == 404 and r.data["error"] == "not_found"


def test_duplicate_phone_is_409_on_create_and_on_add(api, agent):
    r = api.post("/campaigns", {"name": "X", "agent_id": agent["id"],
                                "leads": [{"phone_number": "+31612345678"}, {"phone_number": "+31 6 1234 5678"}]})
    assert r.status_code == 409 and r.data["param"] == "leads[1].phone_number"
    assert api.get("/campaigns").data["campaigns"] == []
    c = create(api, agent, leads=[{"phone_number": "+31612345678"}])
    r = api.post(f"/campaigns/{c['id']}/leads", {"phone_number": "+31612345678"})
    assert r.status_code == 409 and r.data["error"] == "conflict"
    r = api.post(f"/campaigns/{c['id']}/leads", {"phone_number": "+31612345679", "name": "Bob"})
    assert r.status_code == 201 and r.data["lead"]["status"] == "pending"
    assert api.get(f"/campaigns/{c['id']}").data["campaign"]["total_leads"] == 2
    # the same number in another campaign is fine
    other = create(api, agent)
    assert api.post(f"/campaigns/{other['id']}/leads", {"phone_number": "+31612345678"}).status_code == 201


def test_delete_lead_frees_its_number_and_uncounts_it(api, agent):
    c = create(api, agent, leads=[{"phone_number": "+31612345678"}])
    [lead] = api.get(f"/campaigns/{c['id']}/leads").data["leads"]
    assert api.delete(f"/campaigns/{c['id']}/leads/{lead['id']}").data == {"success": True}
    assert api.get(f"/campaigns/{c['id']}").data["campaign"]["total_leads"] == 0
    assert api.delete(f"/campaigns/{c['id']}/leads/{lead['id']}").status_code == 404
    assert api.post(f"/campaigns/{c['id']}/leads", {"phone_number": "+31612345678"}).status_code == 201


def test_leads_pagination_with_offset_and_cursor(api, agent):
    c = create(api, agent, leads=[{"phone_number": f"+3161234567{i}"} for i in range(7)])
    first = api.get(f"/campaigns/{c['id']}/leads?limit=3").data
    assert len(first["leads"]) == 3 and first["pagination"] == {"total": 7, "limit": 3, "offset": 0}
    second = api.get(f"/campaigns/{c['id']}/leads?limit=3&cursor={first['next_cursor']}").data
    by_offset = api.get(f"/campaigns/{c['id']}/leads?limit=3&offset=3").data
    assert [x["id"] for x in second["leads"]] == [x["id"] for x in by_offset["leads"]]
    third = api.get(f"/campaigns/{c['id']}/leads?limit=3&cursor={second['next_cursor']}").data
    seen = [x["id"] for x in first["leads"] + second["leads"] + third["leads"]]
    assert len(seen) == len(set(seen)) == 7 and third["next_cursor"] is None


def test_tenant_isolation(api, other_api, agent):
    c = create(api, agent, leads=[{"phone_number": "+31612345678"}])
    [lead] = api.get(f"/campaigns/{c['id']}/leads").data["leads"]
    for r in (other_api.get(f"/campaigns/{c['id']}"), other_api.patch(f"/campaigns/{c['id']}", {"name": "x"}),
              other_api.delete(f"/campaigns/{c['id']}"), other_api.get(f"/campaigns/{c['id']}/leads"),
              other_api.post(f"/campaigns/{c['id']}/leads", {"phone_number": "+31612345670"}),
              other_api.delete(f"/campaigns/{c['id']}/leads/{lead['id']}"), other_api.get("/campaigns/not-a-uuid")):
        assert r.status_code == 404, r.body
    assert other_api.get("/campaigns").data["campaigns"] == []
    assert api.get(f"/campaigns/{c['id']}").data["campaign"]["total_leads"] == 1


def test_cancelled_and_completed_campaigns_are_immutable(api, agent):
    c = create(api, agent, leads=[{"phone_number": "+31612345678"}])
    assert api.patch(f"/campaigns/{c['id']}", {"status": "cancelled"}).data["campaign"]["status"] == "cancelled"
    for r in (api.patch(f"/campaigns/{c['id']}", {"name": "again"}),
              api.patch(f"/campaigns/{c['id']}", {"status": "scheduled"}),
              api.post(f"/campaigns/{c['id']}/leads", {"phone_number": "+31612345679"})):
        assert r.status_code == 409 and r.data["error"] == "conflict", r.body
    done = create(api, agent, status="completed")
    assert done["status"] == "completed"
    assert api.patch(f"/campaigns/{done['id']}", {"name": "x"}).status_code == 409
    assert api.delete(f"/campaigns/{done['id']}").data == {"success": True}


def test_scheduling_starts_one_execution_per_generation(sfn, clock, api, agent):
    c = create(api, agent, calling_days=[6])  # window closed on the injected Tuesday: the run waits
    r = api.patch(f"/campaigns/{c['id']}", {"status": "scheduled"})
    assert r.status_code == 200 and r.data["campaign"]["status"] == "scheduled"
    names = [e["name"] for e in executions(sfn["campaign_run"])]
    assert names == [f"campaign-{c['id']}-g1-s0"]
    api.patch(f"/campaigns/{c['id']}", {"status": "paused"})
    api.patch(f"/campaigns/{c['id']}", {"status": "scheduled"})
    wait_until(lambda: {e["name"]: e["status"] for e in executions(sfn["campaign_run"])}.get(
        f"campaign-{c['id']}-g1-s0") == "SUCCEEDED", what="the paused generation to stop")
    running = [e["name"] for e in executions(sfn["campaign_run"]) if e["status"] == "RUNNING"]
    assert running == [f"campaign-{c['id']}-g2-s0"]


def test_deleting_a_running_campaign_cancels_it_first(sfn, clock, api, agent):
    c = create(api, agent, calling_days=[6], status="scheduled", leads=[{"phone_number": "+31612345678"}])
    [ex] = executions(sfn["campaign_run"])
    assert api.delete(f"/campaigns/{c['id']}").data == {"success": True}
    assert api.get(f"/campaigns/{c['id']}").status_code == 404
    wait_until(lambda: executions(sfn["campaign_run"])[0]["status"] == "SUCCEEDED", what="the run to stop")
    from chalicelib.storage.campaigns import LeadRepository

    assert LeadRepository().page(api_org_id(api), c["id"], limit=10)[0] == []


def api_org_id(api) -> str:
    return api.get("/organizations").data["id"]
