"""Organizations: view, children, child creation (key shown once), 403 for a foreign parent, /account."""

from __future__ import annotations


def test_get_organization(api, org):
    api.post("/assistants", {"name": "a"})
    r = api.get("/organizations")
    assert r.status_code == 200
    o = r.data
    assert o["id"] == org[0].id and o["name"] == "Acme Dental" and o["minutes_balance"] == 100
    assert o["active_agents"] == 1 and o["active_numbers"] == 0 and o["active_calls"] == 0
    assert o["monthly_usage_minutes"] == 0 and o["has_local_models_access"] is False
    assert o["parent_org_id"] is None and "children" not in o
    assert "organization" not in o  # bare object


def test_create_child_and_include_children(api, org, client):
    from tests.conftest import Api

    r = api.post("/organizations", {"name": "Dentist Office"})
    assert r.status_code == 201, r.body
    child = r.data
    assert child["parent_org_id"] == org[0].id and child["name"] == "Dentist Office"
    key = child["api_key"]
    assert key.startswith("fl_live_") and len(key) >= 40
    # the key works, for the child only; the parent sees none of the child's resources
    child_api = Api(client, key)
    me = child_api.get("/organizations").data
    assert me["id"] == child["id"] and me["parent_org_id"] == org[0].id
    a = child_api.post("/assistants", {"name": "child's"}).data["assistant"]
    assert api.get(f"/assistants/{a['id']}").status_code == 404
    assert api.get("/assistants").data["assistants"] == []
    # the key is shown once: never in any later response
    r = api.get("/organizations?include_children=true")
    assert r.data["children"] == [{"id": child["id"], "name": "Dentist Office", "created_at": child["created_at"]}]
    assert key not in r.body.decode()
    assert api.get("/organizations?include_children=false").data.get("children") is None
    # the key is stored only as a hash
    from chalicelib.storage.tables import ApiKeyModel

    rows = list(ApiKeyModel.by_org.query(child["id"]))
    assert len(rows) == 1 and rows[0].key_hash != key and key not in rows[0].key_hash
    assert key.startswith(rows[0].key_prefix)


def test_explicit_parent_must_be_own_org(api, org, other_org):
    r = api.post("/organizations", {"name": "Mine", "parentOrgId": org[0].id})
    assert r.status_code == 201 and r.data["parent_org_id"] == org[0].id
    r = api.post("/organizations", {"name": "Theirs", "parent_org_id": other_org[0].id})
    assert r.status_code == 403 and r.data["error"] == "forbidden" and r.data["param"] == "parent_org_id"
    assert api.get("/organizations?include_children=true").data["children"][0]["name"] == "Mine"


def test_create_validation(api):
    for body, param, code in (({}, "name", "missing_field"), ({"name": ""}, "name", "invalid_request"),
                              ({"name": "x" * 201}, "name", "invalid_request"),
                              ({"name": "a", "parent_org_id": "nope"}, "parent_org_id", "invalid_request"),
                              ({"name": "a", "balance": 5}, "balance", "invalid_request")):
        r = api.post("/organizations", body)
        assert r.status_code == 400 and r.data["param"] == param and r.data["error"] == code, r.body
    r = api.get("/organizations?include_children=perhaps")
    assert r.status_code == 400 and r.data["param"] == "include_children"


def test_account_alias(api, org):
    r = api.get("/account")
    assert r.status_code == 200 and r.headers["Deprecation"] == "true"
    assert r.data["id"] == org[0].id and r.data["minutes_balance"] == 100


def test_other_org_view_is_its_own(other_api, other_org):
    assert other_api.get("/organizations").data["id"] == other_org[0].id


def test_active_calls_counts_recent_live_calls_only(api, org, other_org):
    import uuid

    from chalicelib.storage.tables import CallModel
    from chalicelib.timeutil import now_iso

    def call(org_id, status, created_at=None):
        CallModel(org_id, str(uuid.uuid4()), created_at=created_at or now_iso(), updated_at=now_iso(),
                  status=status, direction="outbound", data={}).save()

    call(org[0].id, "in-progress")
    call(org[0].id, "ringing")
    call(org[0].id, "ended")
    call(org[0].id, "in-progress", "2020-01-01T00:00:00.000Z")  # stale row beyond any max duration
    call(other_org[0].id, "in-progress")
    assert api.get("/organizations").data["active_calls"] == 2
