"""/domains: the seven endpoints against the fake Resend, BYOK key required, isolation, notifications."""

from __future__ import annotations

import logging

import pytest

from chalicelib.storage.tables import DomainModel
from tests.resources.conftest import SECRET_RESEND


@pytest.fixture
def with_key(api, resend):
    assert api.post("/byok", {"provider": "resend", "api_key": SECRET_RESEND}).status_code == 200
    return resend


def test_without_resend_key_every_resend_call_is_400(api, resend, monkeypatch):
    monkeypatch.setenv("RESEND_API_KEY", "re_platform")  # a platform key does not own the org's domains
    for method, path, body in [("POST", "/domains", {"domain_name": "mail.acme.example"}),
                               ("GET", "/domains/sync", None), ("POST", "/domains/sync", {"domain_id": "x"})]:
        r = api.request(method, path, body)
        assert r.status_code == 400, (path, r.body)
        assert "POST /byok" in r.data["message"] and "Resend" in r.data["message"]
    assert resend.requests == []


def test_add_get_verify_refresh_delete(api, org, with_key, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    r = api.post("/domains", {"domain_name": "Mail.Acme.example"})
    assert r.status_code == 201, r.body
    d = r.data["domain"]
    assert d["domain_name"] == "mail.acme.example" and d["status"] == "not_started" and d["region"] == "us-east-1"
    assert d["resend_domain_id"] in with_key.domains and d["verified_at"] is None
    assert [rec["record"] for rec in d["records"]] == ["SPF", "SPF", "DKIM"]
    assert {"name", "type", "ttl", "status", "value"} <= set(d["records"][0])
    assert with_key.requests[0].headers["authorization"] == f"Bearer {SECRET_RESEND}"
    assert with_key.requests[0].json() == {"name": "mail.acme.example"}
    assert DomainModel.get(org[0].id).data["resend_domain_id"] == d["resend_domain_id"]

    assert api.get("/domains").data["domain"]["id"] == d["id"]
    assert api.post("/domains", {"domain": "other.acme.example"}).status_code == 409

    v = api.post("/domains/verify")
    assert v.status_code == 200, v.body
    # Resend verifies asynchronously; the fake finishes at the next read, which verify performs.
    assert v.data["verified"] is True and v.data["status"] == "verified"
    assert v.data["domain"]["verified_at"]
    assert [q.path for q in with_key.requests[-2:]] == [f"/domains/{d['resend_domain_id']}/verify",
                                                        f"/domains/{d['resend_domain_id']}"]

    with_key.domains[d["resend_domain_id"]]["status"] = "temporary_failure"
    assert api.post("/domains/refresh").data["domain"]["status"] == "temporary_failure"
    assert api.get("/domains").data["domain"]["status"] == "temporary_failure"

    assert api.delete("/domains").data == {"success": True}
    assert d["resend_domain_id"] not in with_key.domains  # created through us, so removed at Resend too
    assert api.get("/domains").status_code == 404
    out = capsys.readouterr()
    for resp in (r, v):
        assert SECRET_RESEND not in resp.body.decode()
    assert SECRET_RESEND not in caplog.text + out.out + out.err


def test_failed_verification_mirrors_resend(api, with_key):
    with_key.fail_verification.add("bad.acme.example")
    api.post("/domains", {"domain_name": "bad.acme.example", "region": "eu-west-1"})
    v = api.post("/domains/verify").data
    assert v["verified"] is False and v["status"] == "failed" and v["domain"]["region"] == "eu-west-1"


def test_sync_lists_and_selects_an_existing_resend_domain(api, with_key):
    existing = with_key.add_domain(SECRET_RESEND, "notify.acme.example", status="verified", region="eu-west-1")
    with_key.add_domain("re_other_account", "someone-else.example")
    r = api.get("/domains/sync")
    assert r.status_code == 200
    assert r.data == {"domains": [{"id": existing["id"], "name": "notify.acme.example", "status": "verified",
                                   "region": "eu-west-1", "created_at": existing["created_at"]}],
                      "selected_domain_id": None, "next_cursor": None}
    s = api.post("/domains/sync", {"resendDomainId": existing["id"]})
    assert s.status_code == 200, s.body
    assert s.data["success"] is True and s.data["domain"]["status"] == "verified"
    assert s.data["domain"]["records"] and s.data["domain"]["verified_at"]
    assert api.get("/domains/sync").data["selected_domain_id"] == existing["id"]
    # Unlinking a selected (pre-existing) domain leaves it in the Resend account.
    assert api.delete("/domains").status_code == 200
    assert existing["id"] in with_key.domains


def test_sync_with_another_accounts_domain_is_404(api, with_key):
    theirs = with_key.add_domain("re_other_account", "theirs.example")
    r = api.post("/domains/sync", {"domain_id": theirs["id"]})
    assert r.status_code == 404


def test_validation_errors(api, with_key):
    for body, param in [({"domain_name": "not a domain"}, "domain_name"), ({"domain_name": "x" * 300}, "domain_name"),
                        ({"domain_name": "a.example", "region": "mars-1"}, "region"),
                        ({"domain_name": "a.example", "typo": 1}, "typo")]:
        r = api.post("/domains", body)
        assert r.status_code == 400, (body, r.body)
        assert r.data["param"] == param
    assert api.post("/domains", {}).data["param"] == "domain_name"
    assert api.post("/domains/sync", {}).data["param"] == "domain_id"
    assert with_key.requests == []  # invalid input never reaches Resend


def test_resend_rejecting_the_stored_key_is_400(api, resend):
    api.post("/byok", {"provider": "resend", "api_key": "re_revoked"})
    r = api.post("/domains", {"domain_name": "mail.acme.example"})
    assert r.status_code == 400 and "rejected" in r.data["message"]
    assert "re_revoked" not in r.body.decode()


def test_resend_down_is_502(api, org):
    from chalicelib.services import byok

    api.post("/byok", {"provider": "resend", "api_key": SECRET_RESEND})
    byok.clear_cache()
    import os

    os.environ["RESEND_URL"] = "http://127.0.0.1:9"  # nothing listens on the discard port
    try:
        from chalicelib.settings import reset_settings

        reset_settings()
        r = api.get("/domains/sync")
    finally:
        del os.environ["RESEND_URL"]
    assert r.status_code == 502 and r.data["error"] == "upstream_error"


def test_404s_without_a_domain(api, with_key):
    for method, path in [("GET", "/domains"), ("DELETE", "/domains"), ("POST", "/domains/verify"),
                         ("POST", "/domains/refresh")]:
        assert api.request(method, path).status_code == 404, path


def test_tenant_isolation(api, other_api, with_key):
    api.post("/domains", {"domain_name": "mail.acme.example"})
    assert other_api.get("/domains").status_code == 404
    assert other_api.delete("/domains").status_code == 404
    assert api.get("/domains").status_code == 200
    # The other org's own Resend key sees its own account only.
    other_api.post("/byok", {"provider": "resend", "api_key": "re_other_account"})
    assert other_api.get("/domains/sync").data == {"domains": [], "selected_domain_id": None, "next_cursor": None}


def test_send_call_notification_from_the_verified_domain(api, org, with_key):
    from chalicelib.services.domains import send_call_notification

    assert send_call_notification(org[0].id, "ops@acme.example", "Call", "body") is None  # no domain yet
    api.post("/domains", {"domain_name": "mail.acme.example"})
    assert send_call_notification(org[0].id, "ops@acme.example", "Call", "body") is None  # not verified
    api.post("/domains/verify")
    email_id = send_call_notification(org[0].id, "ops@acme.example", "Call ended", "Summary: booked.")
    assert email_id
    sent = with_key.emails[-1]
    assert sent["id"] == email_id and sent["_account"] == SECRET_RESEND
    assert sent["from"] == "Call notifications <notifications@mail.acme.example>"
    assert sent["to"] == ["ops@acme.example"] and sent["subject"] == "Call ended" and sent["text"] == "Summary: booked."


def test_send_call_notification_never_raises(api, org, with_key, caplog):
    from chalicelib.services.domains import send_call_notification

    caplog.set_level(logging.INFO)
    api.post("/domains", {"domain_name": "mail.acme.example"})
    api.post("/domains/verify")
    with_key.api_keys.discard(SECRET_RESEND)  # the org's key was revoked at Resend
    assert send_call_notification(org[0].id, ["ops@acme.example"], "Call", "body") is None
    assert with_key.emails == []
    assert "call notification failed" in caplog.text and SECRET_RESEND not in caplog.text
