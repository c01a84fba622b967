"""Every list: limit/offset validation and cursors that only the org, list and filters that minted them accept."""

from __future__ import annotations

import pytest

from chalicelib.storage.calls import Call, CallRepository
from tests.calls.test_calls_api import _seed

# Every list endpoint, all of which take limit/offset/cursor ({cid}: a campaign of the org).
LISTS = ["/calls", "/campaigns", "/campaigns/{cid}/leads", "/usage", "/assistants", "/agents", "/tool-templates",
         "/analysis-templates", "/numbers", "/sip-trunks", "/voices", "/domains/sync",
         "/calls/00000000-0000-4000-8000-000000000000/webhooks"]


@pytest.fixture
def campaign_id(api):
    agent = api.post("/assistants", {"name": "A"}).data["assistant"]
    r = api.post("/campaigns", {"name": "C", "agent_id": agent["id"],
                                "leads": [{"phone_number": "+3161234567" + str(i)} for i in range(3)]})
    assert r.status_code == 201, r.body
    return r.data["campaign"]["id"]


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize("query,param", [
    ("cursor=eyJ4IjoxfQ", "cursor"), ("cursor=e30", "cursor"), ("cursor=%%%", "cursor"),
    ("cursor=eyJ4IjoxfQ.AAAAAAAAAAAAAAAAAAAAAA", "cursor"),
    ("limit=0", "limit"), ("limit=1001", "limit"), ("limit=-1", "limit"), ("limit=abc", "limit"),
    ("offset=-1", "offset"), ("offset=x", "offset")])
def test_bad_paging_parameters_are_400_naming_the_parameter(api, campaign_id, path, query, param):
    r = api.get(path.format(cid=campaign_id) + "?" + query)
    assert r.status_code == 400, (path, query, r.body)
    assert r.data["error"] == "invalid_request" and r.data["param"] == param


def test_a_cursor_from_another_org_is_refused_not_followed(api, other_api, org, other_org):
    _seed(org[0].id)
    _seed(other_org[0].id)
    cursor = api.get("/calls?limit=2").data["next_cursor"]
    assert cursor
    r = other_api.get(f"/calls?limit=2&cursor={cursor}")
    assert r.status_code == 400 and r.data["param"] == "cursor", r.body
    # ... and the owner can follow it
    assert api.get(f"/calls?limit=2&cursor={cursor}").status_code == 200


def test_a_cursor_is_bound_to_its_list_and_filters(api, org, campaign_id):
    _seed(org[0].id)
    CallRepository().create(Call(org[0].id, "00000000-0000-4000-8000-0000000000aa", "ended", "outbound",
                                 "2026-01-10T09:00:00.000Z", "2026-01-10T09:00:00.000Z", data={}))
    cursor = api.get("/calls?limit=1&status=ended").data["next_cursor"]
    assert cursor and api.get(f"/calls?limit=1&status=ended&cursor={cursor}").status_code == 200
    for other in ("/calls?limit=1", "/calls?status=failed", f"/campaigns/{campaign_id}/leads", "/assistants"):
        r = api.get(f"{other}&cursor={cursor}" if "?" in other else f"{other}?cursor={cursor}")
        assert r.status_code == 400 and r.data["param"] == "cursor", (other, r.body)


def test_lead_cursor_of_one_campaign_is_refused_on_another(api, campaign_id):
    agent = api.get("/assistants").data["assistants"][0]
    second = api.post("/campaigns", {"name": "D", "agent_id": agent["id"],
                                     "leads": [{"phone_number": "+31612345670"}]}).data["campaign"]["id"]
    cursor = api.get(f"/campaigns/{campaign_id}/leads?limit=1").data["next_cursor"]
    assert cursor and api.get(f"/campaigns/{campaign_id}/leads?cursor={cursor}").status_code == 200
    r = api.get(f"/campaigns/{second}/leads?cursor={cursor}")
    assert r.status_code == 400 and r.data["param"] == "cursor"


def test_campaigns_list_pages_by_limit_offset_and_cursor(api, campaign_id):
    agent = api.get("/assistants").data["assistants"][0]
    ids = [campaign_id] + [api.post("/campaigns", {"name": f"C{i}", "agent_id": agent["id"]}).data["campaign"]["id"]
                           for i in range(3)]
    r = api.get("/campaigns?limit=1")
    assert [c["id"] for c in r.data["campaigns"]] == ids[:1] and r.data["next_cursor"]
    assert [c["id"] for c in api.get("/campaigns?limit=2&offset=1").data["campaigns"]] == ids[1:3]
    seen, cursor = [], None
    while True:
        page = api.get("/campaigns?limit=3" + (f"&cursor={cursor}" if cursor else "")).data
        seen += [c["id"] for c in page["campaigns"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ids
    assert api.get("/campaigns").data["next_cursor"] is None
