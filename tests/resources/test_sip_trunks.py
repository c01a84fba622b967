"""/sip-trunks: create/list/get/delete, write-only password (encrypted), in-use 409, isolation."""

from __future__ import annotations

import logging

from chalicelib.storage.tables import SipTrunkModel
from tests.resources.conftest import SECRET_TRUNK


def test_create_defaults_and_password_never_returned(api, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    r = api.post("/sip-trunks", {"name": "Office PBX", "host": "pbx.acme.example", "username": "acme",
                                 "password": SECRET_TRUNK})
    assert r.status_code == 201, r.body
    t = r.data["trunk"]
    assert {k: t[k] for k in ("name", "host", "port", "transport", "username", "password_set")} == {
        "name": "Office PBX", "host": "pbx.acme.example", "port": 5060, "transport": "udp", "username": "acme",
        "password_set": True}
    assert "password" not in t
    row = SipTrunkModel.get(t["org_id"], t["id"])
    assert row.password_enc and SECRET_TRUNK not in row.password_enc and SECRET_TRUNK not in str(row.data)
    for resp in (r, api.get("/sip-trunks"), api.get(f"/sip-trunks/{t['id']}")):
        assert SECRET_TRUNK not in resp.body.decode()
    out = capsys.readouterr()
    assert SECRET_TRUNK not in caplog.text + out.out + out.err


def test_runtime_gets_the_decrypted_password(api, org):
    from chalicelib.services.sip_trunks import get_trunk

    t = api.post("/sip-trunks", {"name": "T", "host": "10.0.0.5", "port": 5061, "transport": "tls",
                                 "password": SECRET_TRUNK}).data["trunk"]
    assert t["port"] == 5061 and t["transport"] == "tls"
    assert get_trunk(org[0].id, t["id"], with_password=True)["password"] == SECRET_TRUNK
    assert "password" not in get_trunk(org[0].id, t["id"])
    no_pw = api.post("/sip-trunks", {"name": "Open", "host": "sip.example.com"}).data["trunk"]
    assert no_pw["password_set"] is False
    assert get_trunk(org[0].id, no_pw["id"], with_password=True)["password"] is None


def test_validation_errors(api):
    for body, param in [
        ({"host": "pbx.example.com"}, "name"),
        ({"name": "T"}, "host"),
        ({"name": "T", "host": "sip://pbx.example.com:5060"}, "host"),
        ({"name": "T", "host": "pbx.example.com", "port": 70000}, "port"),
        ({"name": "T", "host": "pbx.example.com", "transport": "sctp"}, "transport"),
        ({"name": "T", "host": "pbx.example.com", "provider": "twilio"}, "provider"),
        ({"name": "", "host": "pbx.example.com"}, "name"),
    ]:
        r = api.post("/sip-trunks", body)
        assert r.status_code == 400, (body, r.body)
        assert r.data["param"] == param, (body, r.data)
    assert api.get("/sip-trunks").data == {"trunks": [], "next_cursor": None}


def test_list_get_delete_and_404(api):
    a = api.post("/sip-trunks", {"name": "A", "host": "a.example.com"}).data["trunk"]
    b = api.post("/sip-trunks", {"name": "B", "host": "b.example.com"}).data["trunk"]
    assert {t["id"] for t in api.get("/sip-trunks").data["trunks"]} == {a["id"], b["id"]}
    assert api.get(f"/sip-trunks/{a['id']}").data["trunk"]["name"] == "A"
    assert api.delete(f"/sip-trunks/{a['id']}").data == {"success": True}
    assert api.get(f"/sip-trunks/{a['id']}").status_code == 404
    assert api.delete(f"/sip-trunks/{a['id']}").status_code == 404
    assert api.get("/sip-trunks/nope").status_code == 404


def test_trunk_in_use_cannot_be_deleted(api, trunk):
    n = api.post("/numbers", {"phone_number": "+31201234567", "transfer_trunk_id": trunk["id"]}).data["number"]
    r = api.delete(f"/sip-trunks/{trunk['id']}")
    assert r.status_code == 409 and r.data["error"] == "conflict"
    assert api.get(f"/sip-trunks/{trunk['id']}").status_code == 200
    api.patch(f"/numbers/{n['id']}", {"transfer_trunk_id": None})
    assert api.delete(f"/sip-trunks/{trunk['id']}").status_code == 200


def test_trunk_freed_when_number_deleted(api, trunk):
    n = api.post("/numbers", {"phone_number": "+31201234567", "transfer_trunk_id": trunk["id"]}).data["number"]
    assert api.delete(f"/sip-trunks/{trunk['id']}").status_code == 409
    api.delete(f"/numbers/{n['id']}")
    assert api.delete(f"/sip-trunks/{trunk['id']}").status_code == 200


def test_tenant_isolation(api, other_api, trunk):
    assert other_api.get(f"/sip-trunks/{trunk['id']}").status_code == 404
    assert other_api.delete(f"/sip-trunks/{trunk['id']}").status_code == 404
    assert other_api.get("/sip-trunks").data["trunks"] == []
    assert api.get(f"/sip-trunks/{trunk['id']}").status_code == 200


def test_list_pagination(api):
    made = [api.post("/sip-trunks", {"name": f"T{i}", "host": "pbx.example.com"}).data["trunk"] for i in range(3)]
    ids = [t["id"] for t in sorted(made, key=lambda t: (t["created_at"], t["id"]))]  # list order
    p1 = api.get("/sip-trunks?limit=2").data
    assert [t["id"] for t in p1["trunks"]] == ids[:2] and p1["next_cursor"]
    p2 = api.get(f"/sip-trunks?limit=2&cursor={p1['next_cursor']}").data
    assert [t["id"] for t in p2["trunks"]] == ids[2:] and p2["next_cursor"] is None
    assert [t["id"] for t in api.get("/sip-trunks?offset=1&limit=1").data["trunks"]] == ids[1:2]
